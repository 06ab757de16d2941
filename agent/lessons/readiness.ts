/**
 * The readiness check before a lesson (lessons.readinessLeadSec before the bell): a list of
 * named checks, each with its own time limit, run side by side. A check answers with the
 * problems it found, each one sentence saying what is wrong and what to do about it, or that it
 * does not apply to this kit. Adding a check (microphone, display …) is one more entry in
 * `standardReadinessChecks`.
 *
 * Checks run off the agent's work loop (the loop starts them and goes on); a check that
 * overruns its limit is aborted and reported as a failure of its own, so a hung device or an
 * unanswered network packet delays nothing but its own line in the result.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import net from 'node:net';
import type { DeviceHealth } from '../devices.js';
import { errorMessage } from '../errors.js';
import type { H264EncoderName, MediaConfig } from '../../pipelines/config.js';
import { descriptionWords } from '../../pipelines/describe.js';
import { testEncodeDescription } from '../../pipelines/encoders.js';
import { resolveMediaUrl, type MediaTarget } from '../../pipelines/urls.js';

/** The lesson a check is run for. */
export interface ReadinessLesson {
  lessonId: string;
  role: 'lecture' | 'listen';
  start: Date;
  end: Date;
  peerRoomIds: readonly string[];
}

export interface ReadinessContext {
  lesson: ReadinessLesson;
  /** Aborted when the check's time is up or the agent stops; long checks must stop then. */
  signal: AbortSignal;
}

/** The problems found ([] when all is well), or that the check does not apply to this kit. */
export type CheckOutcome = readonly string[] | 'not-applicable';

export interface ReadinessCheck {
  /** Short name, used in the failure reported when the check overruns or throws. */
  name: string;
  timeoutMs: number;
  run(ctx: ReadinessContext): Promise<CheckOutcome>;
}

export interface CheckResult {
  name: string;
  result: 'pass' | 'fail' | 'not-applicable';
  failures: string[];
  ms: number;
}

export interface ReadinessReport {
  /** Checks that applied. */
  checks: number;
  failures: string[];
  results: CheckResult[];
}

/** The contract allows 300 characters per failure. */
const MAX_FAILURE = 300;
const clip = (s: string): string => (s.length <= MAX_FAILURE ? s : `${s.slice(0, MAX_FAILURE - 3)}...`);

/** Runs every check at once, each bounded by its own time limit; never throws. */
export async function runReadinessChecks(checks: readonly ReadinessCheck[], lesson: ReadinessLesson, signal?: AbortSignal): Promise<ReadinessReport> {
  const results = await Promise.all(checks.map((c) => runOne(c, lesson, signal)));
  const applied = results.filter((r) => r.result !== 'not-applicable');
  return { checks: applied.length, failures: applied.flatMap((r) => r.failures), results };
}

async function runOne(check: ReadinessCheck, lesson: ReadinessLesson, outer: AbortSignal | undefined): Promise<CheckResult> {
  const t0 = Date.now();
  const abort = new AbortController();
  const onOuter = (): void => abort.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), check.timeoutMs);
  });
  const stopped = new Promise<'stopped'>((resolve) => abort.signal.addEventListener('abort', () => resolve('stopped'), { once: true }));
  const result = (result: CheckResult['result'], failures: string[]): CheckResult => ({ name: check.name, result, failures: failures.map(clip), ms: Date.now() - t0 });
  try {
    if (outer?.aborted) return result('fail', [`${check.name}: not checked (the agent is stopping)`]);
    const running = check.run({ lesson, signal: abort.signal });
    const outcome = await Promise.race([running, overrun, stopped]);
    if (outcome === 'timeout') {
      running.catch(() => undefined);
      return result('fail', [`${check.name}: no result within ${Math.round(check.timeoutMs / 1000)} s; the check was abandoned`]);
    }
    if (outcome === 'stopped') {
      running.catch(() => undefined);
      return result('fail', [`${check.name}: not finished (the agent is stopping)`]);
    }
    if (outcome === 'not-applicable') return result('not-applicable', []);
    return result(outcome.length ? 'fail' : 'pass', [...outcome]);
  } catch (e) {
    return result('fail', [`${check.name}: the check itself failed (${errorMessage(e)})`]);
  } finally {
    clearTimeout(timer);
    abort.abort();
    outer?.removeEventListener('abort', onOuter);
  }
}

// ---------------------------------------------------------------------------------------------
// The checks.

/** Every configured camera reports itself usable (its driver polls it). */
export function camerasCheck(cameras: ReadonlyMap<string, { health(): DeviceHealth }>): ReadinessCheck {
  return {
    name: 'cameras',
    timeoutMs: 2000,
    run: async () => {
      if (!cameras.size) return 'not-applicable';
      const failures: string[] = [];
      for (const camera of cameras.values()) {
        const h = camera.health();
        const detail = h.detail ? ` (${h.detail})` : '';
        if (h.status === 'absent') failures.push(`camera ${h.id}: absent${detail}; plug its serial adapter or network cable back in`);
        else if (h.status === 'fault') failures.push(`camera ${h.id}: does not answer${detail}; check its power, cable, address and baud rate`);
      }
      return failures;
    },
  };
}

/**
 * A room device other than the cameras (the microphone, the display) is there and answering, by
 * its driver's health. A `degraded` microphone (silent in the last lesson, controls refused)
 * fails too: a lesson recorded without sound is the failure this check exists to prevent.
 */
export function deviceCheck(name: string, source: { health(): DeviceHealth }, fix: string): ReadinessCheck {
  return {
    name,
    timeoutMs: 1000,
    run: async () => {
      const h = source.health();
      const detail = h.detail ? ` (${h.detail})` : '';
      if (h.status === 'ok') return [];
      if (h.status === 'degraded' && h.kind !== 'microphone') return [];
      return [`${h.kind} ${h.id}: ${h.status}${detail}; ${fix}`];
    },
  };
}

/** The MQTT link to the platform is up (a lesson without it is still recorded and reported later). */
export function brokerCheck(linkConnected: () => boolean): ReadinessCheck {
  return {
    name: 'platform',
    timeoutMs: 1000,
    run: async () => (linkConnected() ? [] : ['platform broker not reachable (the lesson will be recorded and reported later); check the network and platform.mqttUrl']),
  };
}

/** The data dir's disk holds the lesson's recording at the given bitrate. */
export function diskCheck(dataDir: string, bitrateKbps: number, cacheProblem?: (neededBytes: number) => Promise<string | null>): ReadinessCheck {
  return {
    name: 'disk',
    timeoutMs: 5000,
    run: async ({ lesson }) => {
      const needed = ((bitrateKbps * 1000) / 8) * ((lesson.end.getTime() - lesson.start.getTime()) / 1000);
      // The recording cache counts what eviction can free and what must stay (not yet uploaded).
      if (cacheProblem) {
        const problem = await cacheProblem(needed);
        return problem ? [`${problem}; upload or free space before the lesson (lectern uploads list)`] : [];
      }
      const disk = await statfs(dataDir).catch(() => undefined);
      if (!disk) return [`disk: cannot read the free space of ${dataDir}; check that the data dir exists and is mounted`];
      const free = Number(disk.bavail) * Number(disk.bsize);
      return free < needed ? [`disk: ${(free / 1e9).toFixed(1)} GB free, the lesson needs about ${(needed / 1e9).toFixed(1)} GB; free space in ${dataDir}`] : [];
    },
  };
}

/** The system clock is NTP-synchronised (not applicable where that cannot be told). */
export function clockCheck(clockSynced: () => Promise<'yes' | 'no' | 'unknown'>): ReadinessCheck {
  return {
    name: 'clock',
    timeoutMs: 5000,
    run: async () => {
      const synced = await clockSynced();
      if (synced === 'unknown') return 'not-applicable';
      return synced === 'no' ? ['clock: not synchronised (NTP); lesson times and records may be wrong; check the NTP server and the network'] : [];
    },
  };
}

/** The config has media settings at all; without them lessons are counted but neither streamed nor recorded. */
export function mediaConfiguredCheck(configured: boolean): ReadinessCheck {
  return {
    name: 'media',
    timeoutMs: 1000,
    run: async () => (configured ? [] : ['media: no media settings in the config; the lesson is counted but neither streamed nor recorded']),
  };
}

/** Runs a program to its end within the signal's life; resolves with its exit status and output. */
function runProgram(file: string, args: readonly string[], signal: AbortSignal): Promise<{ ok: boolean; output: string; spawnError?: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { signal, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e && e.code === 'ENOENT') resolve({ ok: false, output: '', spawnError: `${file} is not installed` });
      else if (signal.aborted) resolve({ ok: false, output: 'stopped' });
      else resolve({ ok: !err, output: `${String(stderr)}\n${String(stdout)}` });
    });
  });
}

/** The line of gst-launch-1.0's output that says what went wrong. */
function gstError(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => l.startsWith('ERROR:')) ?? lines.find((l) => /error|erroneous|no element/i.test(l)) ?? lines[0];
  return error?.replace(/^(ERROR|WARNING): (from element )?/, '') ?? 'it ended with an error';
}

/**
 * The H.264 encoder the lesson will use starts and encodes: the encoders of the preference in
 * order (then x264enc, as the pipelines fall back to it), the first that is installed running a
 * short test encode (videotestsrc → encoder → fakesink) in its own gst-launch-1.0 process, so a
 * driver that hangs or crashes takes nothing else with it.
 */
export function encoderCheck(opts: { preference: readonly H264EncoderName[]; fallback?: boolean; timeoutMs?: number }): ReadinessCheck {
  const candidates = [...new Set<H264EncoderName>([...opts.preference, ...(opts.fallback === false ? [] : (['x264enc'] as const))])];
  return {
    name: 'encoder',
    timeoutMs: opts.timeoutMs ?? 30_000,
    run: async ({ signal }) => {
      const tried: string[] = [];
      for (const encoder of candidates) {
        if (signal.aborted) break;
        const exists = await runProgram('gst-inspect-1.0', ['--exists', encoder], signal);
        if (exists.spawnError) return [`encoder: cannot check, ${exists.spawnError}; run provisioning/bootstrap.sh`];
        if (!exists.ok) {
          tried.push(`${encoder} is not installed`);
          continue;
        }
        const run = await runProgram('gst-launch-1.0', ['-q', ...descriptionWords(testEncodeDescription(encoder))], signal);
        if (run.ok) return [];
        tried.push(`${encoder} failed a test encode: ${gstError(run.output)}`);
      }
      return [`encoder: no H.264 encoder works, so the lesson can be neither streamed nor recorded (${tried.join('; ')}); check the GStreamer plugins and drivers (provisioning/bootstrap.sh) and media.encoder.preference`];
    },
  };
}

interface Target {
  target: MediaTarget;
  setting: string;
}

/**
 * Where this lesson's streams go, as the pipelines will resolve them: the uplink (both roles,
 * when enabled) and the peer room's stream (a listening lesson, or a lecture that also plays it).
 */
function mediaTargets(media: MediaConfig, deviceId: string, lesson: ReadinessLesson): { targets: Target[]; problems: string[] } {
  const targets: Target[] = [];
  const problems: string[] = [];
  const peerRoomId = lesson.peerRoomIds[0];
  const ids = { deviceId, ...(peerRoomId !== undefined && { peerRoomId }) };
  const add = (protocol: 'srt' | 'rtmp', template: string, setting: string): void => {
    try {
      targets.push({ target: resolveMediaUrl(protocol, template, ids, setting), setting });
    } catch (e) {
      problems.push(`media server: ${errorMessage(e)}; fix it in the config`);
    }
  };
  if (media.uplink.enabled) {
    if (!media.uplink.urlTemplate) problems.push("media server: media.uplink.urlTemplate is empty, so the lesson will not be streamed; set it to the platform's media server URL");
    else add(media.uplink.protocol, media.uplink.urlTemplate, 'media.uplink.urlTemplate');
  }
  if (lesson.role === 'listen' || media.listen.playInLecture) {
    const template = media.listen.urlTemplate;
    if (!template) problems.push("media server: media.listen.urlTemplate is empty, so the peer room's lesson cannot be played; set it to the platform's media server URL");
    else if (template.includes('{peerRoomId}') && peerRoomId === undefined) {
      problems.push("media server: the lesson has no peer room to play; add the lecturing room to the timetable entry's peerRoomIds");
    } else add(media.listen.protocol, template, 'media.listen.urlTemplate');
  }
  return { targets, problems };
}

/**
 * The media server answers where this lesson's streams go: for SRT a real handshake's first
 * step (an induction request, which any SRT listener answers with its cookie; the stream id is
 * not sent, so no stream is opened or claimed on the server); for RTMP a TCP connection and the
 * first bytes of the RTMP handshake.
 */
export function mediaServerCheck(opts: { media: MediaConfig; deviceId: string; timeoutMs?: number; attemptMs?: number }): ReadinessCheck {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // Leave the check's own limit some room to report a clear reason rather than a bare overrun.
  const attemptMs = opts.attemptMs ?? Math.max(500, timeoutMs - 2000);
  return {
    name: 'media server',
    timeoutMs,
    run: async ({ lesson, signal }) => {
      const { targets, problems } = mediaTargets(opts.media, opts.deviceId, lesson);
      if (!targets.length && !problems.length) return 'not-applicable';
      const seen = new Set<string>();
      const unique = targets.filter(({ target: t }) => !seen.has(`${t.protocol}:${t.host}:${t.port}`) && seen.add(`${t.protocol}:${t.host}:${t.port}`));
      const failures = await Promise.all(
        unique.map(async ({ target, setting }) => {
          const failure =
            target.protocol === 'srt' ? await srtInduction(target.host, target.port, attemptMs, signal) : await rtmpHello(target.host, target.port, attemptMs, signal);
          if (!failure) return undefined;
          const transport = target.protocol === 'srt' ? 'UDP' : 'TCP';
          return `media server ${target.host}:${target.port} (${target.protocol.toUpperCase()}): ${failure}; check that the media server is up, that ${transport} port ${target.port} is open on the way, and ${setting}`;
        }),
      );
      return [...problems, ...failures.filter((f): f is string => f !== undefined)];
    },
  };
}

// SRT handshake, first step (caller → listener "induction"), as the SRT protocol specifies it:
// a 16-byte control header (handshake type) and a 48-byte handshake body.
const SRT_HANDSHAKE = 0x8000;
const SRT_INDUCTION = 1;
const SRT_MAGIC = 0x4a17;

/** Sends SRT induction requests and waits for the listener's answer; undefined when it answered. */
export function srtInduction(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const family = net.isIPv6(host.replace(/^\[|\]$/g, '')) ? 'udp6' : 'udp4';
    const socket = dgram.createSocket(family);
    const socketId = randomInt(1, 0x7fffffff);
    const packet = Buffer.alloc(64);
    packet.writeUInt16BE(SRT_HANDSHAKE, 0);
    packet.writeUInt32BE(4, 16); // version: a caller's induction says 4
    packet.writeUInt16BE(2, 22); // extension field: 2 asks an HSv5 listener for its magic
    packet.writeUInt32BE(randomInt(0, 0x7fffffff), 24); // initial packet sequence number
    packet.writeUInt32BE(1500, 28); // MTU
    packet.writeUInt32BE(8192, 32); // flow window
    packet.writeInt32BE(SRT_INDUCTION, 36);
    packet.writeUInt32BE(socketId, 40);
    let settled = false;
    let resend: NodeJS.Timeout | undefined;
    const finish = (failure: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(resend);
      signal?.removeEventListener('abort', onAbort);
      socket.close();
      resolve(failure);
    };
    const onAbort = (): void => finish('the check was stopped');
    const timer = setTimeout(() => finish(`no SRT answer within ${(timeoutMs / 1000).toFixed(1)} s`), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('message', (msg) => {
      // The listener's induction answer: a handshake addressed to our socket, of type induction.
      if (msg.length < 48 || msg.readUInt16BE(0) !== SRT_HANDSHAKE || msg.readUInt32BE(12) !== socketId) return;
      const version = msg.readUInt32BE(16);
      const type = msg.readInt32BE(36);
      if (type === SRT_INDUCTION && (version === 4 || (version === 5 && msg.readUInt16BE(22) === SRT_MAGIC))) finish(undefined);
      else if (type >= 1000) finish(`the SRT listener refused the handshake (reject code ${type})`);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') finish(`nothing listens there (the host answered "port unreachable")`);
      else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') finish(`cannot resolve the host name "${host}" (DNS)`);
      else finish(`cannot send to it (${e.code ?? errorMessage(e)})`);
    });
    // Without a callback to connect(), a failed name lookup arrives as an 'error' event.
    socket.once('connect', () => {
      const send = (): void => {
        if (!settled) socket.send(packet, (e) => e && finish(`cannot send to it (${errorMessage(e)})`));
      };
      send();
      // UDP: ask again now and then, as an SRT caller does, in case a packet is lost.
      resend = setInterval(send, 250);
    });
    socket.connect(port, host);
  });
}

/** Opens a TCP connection and starts the RTMP handshake (C0+C1), expecting S0; undefined when it answered. */
export function rtmpHello(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let settled = false;
    let connected = false;
    const finish = (failure: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(failure);
    };
    const onAbort = (): void => finish('the check was stopped');
    const timer = setTimeout(
      () => finish(connected ? `accepted a TCP connection but sent no RTMP answer within ${(timeoutMs / 1000).toFixed(1)} s` : `no TCP connection within ${(timeoutMs / 1000).toFixed(1)} s`),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      connected = true;
      // C0 (version 3) and C1 (time, zero, 1528 bytes of anything).
      const hello = Buffer.alloc(1537);
      hello[0] = 3;
      socket.write(hello);
    });
    socket.once('data', (data: Buffer) => finish(data[0] === 3 ? undefined : `answered, but not as an RTMP server (first byte ${data[0]})`));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') finish('refused the connection (nothing listens on that port)');
      else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') finish(`cannot resolve the host name "${host}" (DNS)`);
      else finish(`cannot connect (${e.code ?? errorMessage(e)})`);
    });
    socket.on('close', () => finish(connected ? 'closed the connection without an RTMP answer' : 'closed the connection'));
  });
}

export interface StandardCheckDeps {
  cameras: ReadonlyMap<string, { health(): DeviceHealth }>;
  linkConnected: () => boolean;
  clockSynced: () => Promise<'yes' | 'no' | 'unknown'>;
  dataDir: string;
  /** Bitrate assumed when checking that the disk holds a lesson. */
  lessonBitrateKbps: number;
  /** The resolved media settings: the encoder and media server checks need them. */
  media?: MediaConfig;
  /** Whether lessons have pipelines at all (default: whether `media` is given). */
  mediaConfigured?: boolean;
  deviceId: string;
  microphone?: { health(): DeviceHealth };
  display?: { health(): DeviceHealth };
  /** The recording cache's view of the disk (quota, what may be evicted); plain free space without it. */
  cacheProblem?: (neededBytes: number) => Promise<string | null>;
}

/** The checks run before every lesson, in the order their results are listed. */
export function standardReadinessChecks(deps: StandardCheckDeps): ReadinessCheck[] {
  return [
    camerasCheck(deps.cameras),
    ...(deps.microphone ? [deviceCheck('microphone', deps.microphone, 'check its USB cable and mute switch (lectern mic info)')] : []),
    ...(deps.display ? [deviceCheck('display', deps.display, 'check its power and RS-232 cable (lectern display power status)')] : []),
    brokerCheck(deps.linkConnected),
    diskCheck(deps.dataDir, deps.lessonBitrateKbps, deps.cacheProblem),
    clockCheck(deps.clockSynced),
    mediaConfiguredCheck(deps.mediaConfigured ?? deps.media !== undefined),
    ...(deps.media
      ? [encoderCheck({ preference: deps.media.encoder.preference }), mediaServerCheck({ media: deps.media, deviceId: deps.deviceId })]
      : []),
  ];
}
