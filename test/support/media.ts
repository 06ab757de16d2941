// Media test helpers: SRT receivers and relays, nginx with the RTMP module, gst-discoverer, an
// MPEG-TS timestamp reader, and a child process that runs one lesson's pipelines.
import { freePort } from '../../agent/broker.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { GstBinding, RawBusMessage } from '../../pipelines/gst.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const VITE_NODE = join(REPO, 'node_modules/.bin/vite-node');
const CHILD = join(REPO, 'test/pipelines/fixtures/lesson-child.ts');
const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

export function haveGst(...elements: string[]): boolean {
  return elements.every((e) => spawnSync('gst-inspect-1.0', ['--exists', e]).status === 0);
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function haveNginxRtmp(): boolean {
  return haveCommand('nginx') && existsSync(NGINX_RTMP_MODULE);
}

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A free TCP port on loopback (the broker harness's helper). */
export const freeTcpPort = freePort;

async function stopProcess(p: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * An SRT listener on loopback that writes what it receives (MPEG-TS) to a file: the stand-in
 * for the city media server.
 */
export class SrtReceiver {
  private proc: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly file: string,
  ) {}

  start(): void {
    this.proc = spawn('gst-launch-1.0', ['-q', 'srtsrc', `uri=srt://127.0.0.1:${this.port}?mode=listener`, 'latency=120', '!', 'filesink', `location=${this.file}`, 'sync=false'], {
      stdio: 'ignore',
    });
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc, 'SIGKILL');
    this.proc = undefined;
  }
}

/**
 * An SRT listener that, like a media server, accepts the next caller after one goes away (a
 * caller killed without closing is noticed after SRT's peer idle timeout, 5 s): appends what it
 * receives to a file.
 */
export class SrtServer {
  private proc: ChildProcess | undefined;
  private fd: number | undefined;

  constructor(
    readonly port: number,
    readonly file: string,
  ) {}

  start(): void {
    this.fd = openSync(this.file, 'a');
    this.proc = spawn('srt-live-transmit', ['-a:yes', '-q', `srt://127.0.0.1:${this.port}?mode=listener`, 'file://con'], { stdio: ['ignore', this.fd, 'ignore'] });
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
    this.proc = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** `srt-live-transmit` relaying an SRT listener port to a second listener port (a tiny media server). */
export class SrtRelay {
  private proc: ChildProcess | undefined;

  constructor(
    readonly inPort: number,
    readonly outPort: number,
  ) {}

  start(): void {
    this.proc = spawn('srt-live-transmit', ['-a:no', '-q', `srt://127.0.0.1:${this.inPort}?mode=listener`, `srt://127.0.0.1:${this.outPort}?mode=listener`], { stdio: 'ignore' });
  }

  async stop(): Promise<void> {
    await stopProcess(this.proc);
    this.proc = undefined;
  }
}

export interface NginxRtmp {
  port: number;
  url: string;
  recordDir: string;
  stop(): Promise<void>;
  log(): string;
}

/** nginx with the RTMP module on a free port, recording every published stream as FLV. */
export async function startNginxRtmp(dir: string, opts: { denyPublish?: boolean; port?: number } = {}): Promise<NginxRtmp> {
  const port = opts.port ?? (await freeTcpPort());
  const recordDir = join(dir, 'rtmp-rec');
  mkdirSync(recordDir, { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      `load_module ${NGINX_RTMP_MODULE};`,
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} info;`,
      'events { worker_connections 64; }',
      'rtmp {',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    application live {',
      '      live on;',
      opts.denyPublish ? '      deny publish all;' : '      allow publish all;',
      '      record all;',
      `      record_path ${recordDir};`,
      '      record_unique off;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const proc = spawn('nginx', ['-p', dir, '-c', conf], { stdio: 'ignore' });
  // Ready when the port accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`nginx did not start: ${readLog(join(dir, 'error.log'))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url: `rtmp://127.0.0.1:${port}/live`,
    recordDir,
    stop: () => stopProcess(proc, 'SIGQUIT'),
    log: () => readLog(join(dir, 'error.log')),
  };
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface Discovered {
  ok: boolean;
  durationSec?: number;
  container?: string;
  video?: { codec: string; width?: number; height?: number; fps?: string };
  audio?: { codec: string; channels?: number; rate?: number };
  output: string;
}

/** Runs `gst-discoverer-1.0 -v` on a file and reads what it found. */
export function discover(file: string): Discovered {
  const r = spawnSync('gst-discoverer-1.0', ['-v', file], { encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout}${r.stderr}`;
  const d: Discovered = { ok: r.status === 0 && /Done discovering/.test(out) && !/An error was encountered|Discovering failed/.test(out), output: out };
  const dur = /Duration: (\d+):(\d+):(\d+\.\d+)/.exec(out);
  if (dur) d.durationSec = Number(dur[1]) * 3600 + Number(dur[2]) * 60 + Number(dur[3]);
  const container = /container #\d+: ([^\s,]+)/.exec(out);
  if (container) d.container = container[1];
  const video = /video #\d+: ([^\s,]+)[^\n]*/.exec(out);
  if (video) {
    const line = video[0];
    d.video = {
      codec: video[1]!,
      width: Number(/width=\(int\)(\d+)/.exec(line)?.[1] ?? NaN) || undefined,
      height: Number(/height=\(int\)(\d+)/.exec(line)?.[1] ?? NaN) || undefined,
      fps: /framerate=\(fraction\)(\d+\/\d+)/.exec(line)?.[1],
    };
  }
  const audio = /audio #\d+: ([^\s,]+)[^\n]*/.exec(out);
  if (audio) {
    const line = audio[0];
    d.audio = { codec: audio[1]!, channels: Number(/channels=\(int\)(\d+)/.exec(line)?.[1] ?? NaN) || undefined, rate: Number(/rate=\(int\)(\d+)/.exec(line)?.[1] ?? NaN) || undefined };
  }
  return d;
}

export interface TsStream {
  pid: number;
  streamType: number;
  /** PTS of each PES start, in seconds (90 kHz clock), in file order. */
  pts: number[];
}

export interface TsTimeline {
  packets: number;
  /** Packets whose sync byte was wrong (a cut at the end is not counted). */
  badPackets: number;
  streams: TsStream[];
  video?: TsStream;
  audio?: TsStream;
}

/**
 * Reads an MPEG-TS file's PAT/PMT and the PTS of every PES start: enough to measure a segment's
 * duration and frame count and the gap to the next segment without decoding. A file cut in the
 * middle of a packet (power loss) is read up to the cut.
 */
export function tsTimeline(file: string): TsTimeline {
  const buf = readFileSync(file);
  const streams = new Map<number, TsStream>();
  let pmtPid: number | undefined;
  let packets = 0;
  let bad = 0;
  for (let off = 0; off + 188 <= buf.length; off += 188) {
    packets++;
    if (buf[off] !== 0x47) {
      bad++;
      continue;
    }
    const b1 = buf[off + 1]!;
    const pusi = (b1 & 0x40) !== 0;
    const pid = ((b1 & 0x1f) << 8) | buf[off + 2]!;
    const afc = (buf[off + 3]! >> 4) & 0x3;
    let p = off + 4;
    if (afc === 2) continue;
    if (afc === 3) p += 1 + buf[p]!;
    if (p >= off + 188) continue;
    if (pid === 0 && pusi) {
      p += 1 + buf[p]!; // pointer field
      const sectionLength = ((buf[p + 1]! & 0x0f) << 8) | buf[p + 2]!;
      for (let q = p + 8; q + 4 <= p + 3 + sectionLength - 4; q += 4) {
        const program = (buf[q]! << 8) | buf[q + 1]!;
        if (program !== 0) pmtPid = ((buf[q + 2]! & 0x1f) << 8) | buf[q + 3]!;
      }
      continue;
    }
    if (pid === pmtPid && pusi) {
      p += 1 + buf[p]!;
      const sectionLength = ((buf[p + 1]! & 0x0f) << 8) | buf[p + 2]!;
      const programInfoLength = ((buf[p + 10]! & 0x0f) << 8) | buf[p + 11]!;
      const end = p + 3 + sectionLength - 4;
      for (let q = p + 12 + programInfoLength; q + 5 <= end; ) {
        const type = buf[q]!;
        const esPid = ((buf[q + 1]! & 0x1f) << 8) | buf[q + 2]!;
        const esInfo = ((buf[q + 3]! & 0x0f) << 8) | buf[q + 4]!;
        if (!streams.has(esPid)) streams.set(esPid, { pid: esPid, streamType: type, pts: [] });
        q += 5 + esInfo;
      }
      continue;
    }
    const s = streams.get(pid);
    if (!s || !pusi) continue;
    if (buf[p] !== 0 || buf[p + 1] !== 0 || buf[p + 2] !== 1) continue;
    const flags = buf[p + 7]!;
    if ((flags & 0x80) === 0) continue;
    const t = p + 9;
    const pts = ((buf[t]! & 0x0e) * 536870912) + (buf[t + 1]! << 22) + ((buf[t + 2]! & 0xfe) << 14) + (buf[t + 3]! << 7) + (buf[t + 4]! >> 1);
    s.pts.push(pts / 90000);
  }
  const list = [...streams.values()];
  return {
    packets,
    badPackets: bad,
    streams: list,
    video: list.find((s) => s.streamType === 0x1b),
    audio: list.find((s) => s.streamType === 0x0f || s.streamType === 0x06 || s.streamType === 0x11),
  };
}

/** Duration covered by a stream's PTS (first to last, plus one frame at `fps`). */
export function ptsSpan(s: TsStream | undefined, fps: number): number {
  if (!s || s.pts.length === 0) return 0;
  const sorted = [...s.pts].sort((a, b) => a - b);
  return sorted[sorted.length - 1]! - sorted[0]! + 1 / fps;
}

/**
 * The element names a description creates, as GStreamer's parser built them: the pipeline is
 * set to PAUSED and every element that changes state reports its name on the bus. Elements that
 * live inside bins (splitmuxsink's muxer and sink) are reported too.
 */
export async function parsedElementNames(binding: GstBinding, description: string, timeoutMs = 5000): Promise<Set<string>> {
  const pipeline = new binding.Pipeline(description);
  const names = new Set<string>();
  await new Promise<void>((resolvePromise) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      pipeline.stop();
      resolvePromise();
    };
    const timer = setTimeout(finish, timeoutMs);
    pipeline.pollBus((m: RawBusMessage) => {
      const src = typeof m._src_element_name === 'string' ? m._src_element_name : '';
      if (m.type === 'state-changed' && src) {
        if (/^pipeline\d+$/.test(src)) {
          if (m['new-state'] === 'GST_STATE_READY') finish();
        } else {
          names.add(src);
        }
      }
    });
    pipeline.pause();
  });
  return names;
}

export interface ChildEvent {
  type: string;
  name?: string;
  payload?: unknown;
  [k: string]: unknown;
}

export interface LessonChildOptions {
  config: unknown;
  role: 'lecture' | 'listen';
  deviceId: string;
  lessonId: string;
  peerRoomId?: string;
  encoders?: unknown;
  /** Encoder factories the probe must treat as missing. */
  missingFactories?: string[];
  /** Encoder factories the probe must treat as present (to exercise the test encode). */
  presentFactories?: string[];
  /** Extra environment (GST_TRACERS, GST_DEBUG…) for the child. */
  env?: Record<string, string>;
  /** Also append the child's stderr to this file (benchmarks parse tracer output from it). */
  stderrFile?: string;
  stopTimeoutMs?: number;
  /** Where the lesson makes its private directory (uplink socket); a test's temp dir. */
  runDir?: string;
  uplinkConnectTimeoutMs?: number;
  videoStallMs?: number;
}

/** One lesson's pipelines in their own Node process (as in the daemon), driven over stdio. */
export class LessonChild {
  readonly events: ChildEvent[] = [];
  stderr = '';
  private proc: ChildProcess | undefined;
  private waiters: { match: (e: ChildEvent) => boolean; resolve: (e: ChildEvent) => void }[] = [];

  constructor(private readonly opts: LessonChildOptions) {}

  start(): void {
    const { env, stderrFile, ...childOpts } = this.opts;
    const proc = spawn(VITE_NODE, [CHILD], {
      cwd: REPO,
      env: { ...process.env, ...env, UV_THREADPOOL_SIZE: '16', LECTERN_CHILD_OPTS: JSON.stringify(childOpts) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (stderrFile) proc.stderr.pipe(createWriteStream(stderrFile, { flags: 'a' }));
    this.proc = proc;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        return;
      }
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (w.match(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
    proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Waits for a matching message (also one that already came). */
  wait(match: (e: ChildEvent) => boolean, what: string, timeoutMs = 30_000): Promise<ChildEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<ChildEvent>((resolvePromise, reject) => {
      const w = { match, resolve: (e: ChildEvent) => (clearTimeout(timer), resolvePromise(e)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; child stderr:\n${this.stderr.slice(-3000)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Waits for the n-th event with this name (counting from the first). */
  async waitEvent(name: string, what: string, timeoutMs = 30_000, n = 1): Promise<ChildEvent> {
    return this.wait((e) => e.type === 'event' && e.name === name && this.events.filter((x) => x.type === 'event' && x.name === name).indexOf(e) === n - 1, what, timeoutMs);
  }

  eventsNamed(name: string): ChildEvent[] {
    return this.events.filter((e) => e.type === 'event' && e.name === name);
  }

  /** Asks the child for its statistics now. */
  async stats(): Promise<ChildEvent> {
    const before = this.events.length;
    this.proc?.stdin?.write('stats\n');
    return this.wait((e) => e.type === 'stats' && this.events.indexOf(e) >= before, 'stats', 10_000);
  }

  /** A clean stop (EOS, last segment finalised); resolves with the child's result message. */
  async stop(timeoutMs = 30_000): Promise<ChildEvent> {
    this.proc?.stdin?.write('stop\n');
    const r = await this.wait((e) => e.type === 'stopped', 'stop', timeoutMs);
    await this.exited(10_000);
    return r;
  }

  /** Polls statistics until `match` accepts them. */
  async waitStats(match: (s: ChildEvent) => boolean, what: string, timeoutMs = 30_000): Promise<ChildEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (match(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last stats: ${JSON.stringify(s).slice(0, 1500)}\n${this.stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopProcess(this.proc, signal);
  }

  private async exited(timeoutMs: number): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await once(p, 'exit');
    clearTimeout(timer);
  }
}

/** The segment files of a lesson directory, in order. */
export function segmentFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^seg-\d+\.ts$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Media settings for tests: test sources at 320x240, 15 fps, cheap x264, 2 s segments. */
export function testMediaInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, Record<string, unknown>> = {
    video: { type: 'test', pattern: 'ball', overlay: 'clock' },
    audio: { type: 'test', testWave: 'sine' },
    output: { width: 320, height: 240, fps: 15 },
    encoder: { preference: ['x264enc'], keyframeSec: 1, x264Preset: 'ultrafast' },
    audioEncoder: { bitrateKbps: 64 },
    uplink: { urlTemplate: '', latencyMs: 120, bitrate: { floorKbps: 200, startKbps: 400, ceilingKbps: 600 }, reconnectMinMs: 300, reconnectMaxMs: 1500 },
    recording: { segmentSec: 2 },
    sourceRestart: { minMs: 300, maxMs: 1500 },
    monitor: { statsIntervalMs: 500 },
  };
  for (const [k, v] of Object.entries(overrides)) {
    base[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...(base[k] ?? {}), ...(v as Record<string, unknown>) } : (v as Record<string, unknown>);
  }
  return base;
}

/** Decodes a segment's video to 8-bit grey frames; returns the frames (width × height bytes each). */
export function decodeGrayFrames(file: string, outFile: string, width: number, height: number): Buffer[] {
  const r = spawnSync(
    'gst-launch-1.0',
    ['-q', 'filesrc', `location=${file}`, '!', 'tsdemux', '!', 'h264parse', '!', 'avdec_h264', '!', 'videoconvert', '!', `video/x-raw,format=GRAY8,width=${width},height=${height}`, '!', 'filesink', `location=${outFile}`],
    { timeout: 30_000 },
  );
  if (r.status !== 0) throw new Error(`decoding ${file} failed: ${String(r.stderr)}`);
  const data = readFileSync(outFile);
  const size = width * height;
  const frames: Buffer[] = [];
  for (let off = 0; off + size <= data.length; off += size) frames.push(data.subarray(off, off + size));
  return frames;
}
