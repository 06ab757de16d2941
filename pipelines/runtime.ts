/**
 * One running lesson's media: the pipelines of `buildLessonPlan`, each kept alive by a
 * Supervisor, plus what the agent needs from them while the lesson runs.
 *
 * Failure handling, per pipeline:
 * - video source (camera): restarted with backoff; meanwhile the main pipeline records and
 *   streams black with "camera offline" drawn on it, and audio continues (separate pipeline).
 *   A V4L2 device that is missing is not even tried until it reappears. No frame for 5 s also
 *   counts as a failure (an RTSP camera that stops sending, an HDMI source unplugged).
 * - audio source (microphone): restarted with backoff; the recording carries silence meanwhile.
 * - main (encode + record + hand-off): restarted with backoff after an error (a full disk); a
 *   hardware encoder that fails at start is replaced by the next usable one (x264enc last).
 * - uplink: restarted with backoff while the recording continues untouched; `stream.failed` at
 *   the start of an outage, `stream.recovered` when data is acknowledged again. The recording
 *   keeps full quality whatever the link does: with `recording.fullQuality` it has its own
 *   encoder at the ceiling bitrate; otherwise, while the uplink is down, the shared encoder goes
 *   back to the ceiling.
 * - playback (listening room): restarted with backoff; no decoded frame for `listen.stallSec`
 *   counts as a failure.
 *
 * Every running pipeline holds one libuv pool thread (the binding's bus wait), so the process
 * needs UV_THREADPOOL_SIZE of at least the number of pipelines plus a few (16 is ample): set it
 * in the environment before Node starts. `start()` logs a warning when it is smaller.
 */
import { TypedEmitter, type Listener } from '../agent/bus.js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../agent/log.js';
import type { StreamNow } from '../agent/contract/types.js';
import { clampDetail, type DeviceHealth } from '../agent/devices.js';
import { errorMessage } from '../agent/errors.js';
import { AbrController } from './abr.js';
import { NAMES, buildLessonPlan, segmentIndex, separateRecordingEncoder, type LessonPlan, type PipelineId, type PipelineSpec, type Role } from './builder.js';
import type { AacEncoderName, H264EncoderName, MediaConfig } from './config.js';
import { probeAacEncoder, probeH264Encoders, type EncoderProbeResult } from './encoders.js';
import { ManagedPipeline, PipelineError, loadGstBinding, nanos, threadPoolSize, type BusMessage, type GstBinding } from './gst.js';
import { parseGstStructure, parseRtmpStats, parseSrtStats } from './gst-structure.js';
import { SilenceDetector, parseLevelMessage, type LevelReading } from './level.js';
import { Supervisor } from './supervisor.js';

export interface SegmentEvent {
  kind: 'opened' | 'closed';
  lessonId: string;
  location: string;
  /** From the file name (`seg-00007.ts` → 7). */
  index: number;
  /** The main pipeline's running time at the fragment boundary, in ns. */
  runningTimeNs: number;
  /** Closed fragments: running time covered, in ns. */
  durationNs?: number;
  /** Wall clock, ISO 8601. */
  at: string;
}

export type StreamDirection = 'uplink' | 'playback';

export interface StreamFailedEvent {
  direction: StreamDirection;
  reason: string;
  at: string;
}

export interface StreamRecoveredEvent {
  direction: StreamDirection;
  /** How long the stream was down. */
  downMs: number;
  at: string;
}

export type SilenceEvent = { silent: true; levelDb: number; sinceMs: number; at: string } | { silent: false; levelDb: number; silentForMs: number; at: string };

export interface DeviceChangeEvent {
  now: DeviceHealth;
  before: DeviceHealth;
}

export interface BitrateEvent {
  kbps: number;
  reason: string;
}

/** The recording's bitrate cap changed (disk pressure): what the recording's video encoder runs at now. */
export interface RecordingBitrateEvent {
  /** The cap asked for; null when lifted. */
  capKbps: number | null;
  /** The recording's video bitrate now (its own encoder, or the encoder it shares with the stream). */
  kbps: number;
  encoder: 'recording' | 'shared';
  /** False when the encoder cannot change its bitrate while playing (v4l2h264enc). */
  applied: boolean;
  reason: string;
}

export interface EncoderFallbackEvent {
  from: H264EncoderName;
  to: H264EncoderName;
  reason: string;
}

export interface LessonPipelineEvents {
  segment: SegmentEvent;
  'stream.failed': StreamFailedEvent;
  'stream.recovered': StreamRecoveredEvent;
  silence: SilenceEvent;
  device: DeviceChangeEvent;
  bitrate: BitrateEvent;
  'recording.bitrate': RecordingBitrateEvent;
  'encoder.fallback': EncoderFallbackEvent;
  level: LevelReading;
}

export interface PlaybackNow {
  state: 'connecting' | 'playing' | 'reconnecting' | 'failed';
  framesRendered: number;
  framesDropped: number;
}

export interface LessonPipelinesOptions {
  config: MediaConfig;
  role: Role;
  deviceId: string;
  lessonId: string;
  /** The lecture room (listen) or the peer whose return stream a lecture room plays. */
  peerRoomId?: string;
  log: Logger;
  /** The native binding; loaded on start when absent. */
  binding?: GstBinding;
  /** A previous probe's result (the agent probes once at startup); probed on start when absent. */
  encoders?: EncoderProbeResult;
  aacEncoder?: AacEncoderName;
  /** Where the private directory for the uplink socket is made (default: the OS temp dir). */
  runDir?: string;
  /** How long stop() waits for the last segment to be finalised before a hard stop. */
  stopTimeoutMs?: number;
  /** Connecting longer than this without data acknowledged restarts the uplink. */
  uplinkConnectTimeoutMs?: number;
  /** No camera frame for this long counts as a camera failure. */
  videoStallMs?: number;
  /** Replaces the existence check of encoder probing (tests). */
  factoryExists?: (factory: string) => Promise<boolean>;
  /** A cap on the recording's video bitrate from the start (see setRecordingCapKbps). */
  recordingCapKbps?: number | null;
}

export interface LessonStopResult {
  /** The last segment was finalised by end-of-stream (not cut by the timeout). */
  finalised: boolean;
  segments: SegmentEvent[];
}


type StreamState = StreamNow['state'];

interface UplinkStatus {
  state: StreamState;
  everLive: boolean;
  failedEmitted: boolean;
  downSince?: number;
  startedAt?: number;
  lastProgressAt?: number;
  lastAcks: number;
  lastBytes: number;
  lastBytesAt?: number;
  measuredKbps?: number;
  rttMs?: number;
  lossPct?: number;
}

interface PlaybackStatus {
  state: PlaybackNow['state'];
  everPlaying: boolean;
  failedEmitted: boolean;
  downSince?: number;
  startedAt?: number;
  lastFrames: number;
  lastProgressAt?: number;
  frames: number;
  dropped: number;
}

/**
 * For an ALSA PCM naming a card (`hw:1,0`, `plughw:CARD=Array,DEV=0`), why the card is absent
 * (from /proc/asound), or undefined when it is present or the name does not say (`default`).
 */
export async function alsaCardMissing(device: string, procAsound = '/proc/asound'): Promise<string | undefined> {
  const m = /CARD=([A-Za-z0-9_-]+)/.exec(device) ?? /^(?:plug)?hw:([A-Za-z0-9_-]+)/.exec(device);
  const card = m?.[1];
  if (!card) return undefined;
  const entry = /^\d+$/.test(card) ? `card${card}` : card;
  try {
    await stat(join(procAsound, entry));
    return undefined;
  } catch {
    return `ALSA card ${card} is not present`;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A recording cap as given by the agent: a whole number of kbit/s an encoder can take. */
function checkCapKbps(kbps: number): number {
  if (typeof kbps !== 'number' || !Number.isFinite(kbps) || kbps < 50 || kbps > 100_000) {
    throw new RangeError(`recording bitrate cap must be 50 to 100000 kbit/s, not ${String(kbps)}`);
  }
  return Math.round(kbps);
}

function numberProp(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export class LessonPipelines {
  private readonly emitter = new TypedEmitter<LessonPipelineEvents>((err, event) => this.opts.log.error({ err, event }, 'lesson pipeline listener failed'));
  private plan: LessonPlan | undefined;
  private readonly pipes = new Map<PipelineId, ManagedPipeline>();
  private readonly supervisors = new Map<PipelineId, Supervisor>();
  private abort: AbortController | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private socketDir: string | undefined;
  private encoders: EncoderProbeResult | undefined;
  private encoder: H264EncoderName | undefined;
  private aac: AacEncoderName | undefined;
  private instance = '';
  private nextSegment = 1;
  private readonly openSegments = new Map<string, number>();
  private readonly segments: SegmentEvent[] = [];
  private readonly devices = new Map<string, DeviceHealth>();
  private readonly qosDropped = new Map<string, number>();
  private cameraDown = false;
  private abr: AbrController | undefined;
  /** The shared (or stream) encoder's bitrate as set: `wantedKbps`, capped for the recording when it shares it. */
  private encoderKbps = 0;
  /** What the adaptive bitrate and the uplink logic last asked of the stream's encoder. */
  private wantedKbps = 0;
  /** Most kbit/s the recording's video may take (disk pressure); null: no cap. */
  private recordingCapKbps: number | null = null;
  private silence: SilenceDetector | undefined;
  private videoFrames = { count: -1, at: 0 };
  private mainStartedAt = 0;
  private uplink: UplinkStatus = { state: 'connecting', everLive: false, failedEmitted: false, lastAcks: 0, lastBytes: 0 };
  private playback: PlaybackStatus = { state: 'connecting', everPlaying: false, failedEmitted: false, lastFrames: 0, frames: 0, dropped: 0 };
  private running = false;
  private started = false;

  constructor(private readonly opts: LessonPipelinesOptions) {
    if (opts.recordingCapKbps != null) this.recordingCapKbps = checkCapKbps(opts.recordingCapKbps);
  }

  on<K extends keyof LessonPipelineEvents>(event: K, fn: Listener<LessonPipelineEvents[K]>): () => void {
    return this.emitter.on(event, fn);
  }

  private emit<K extends keyof LessonPipelineEvents>(event: K, payload: LessonPipelineEvents[K]): void {
    this.emitter.emit(event, payload);
  }

  private now(): number {
    return Date.now();
  }

  /** The plan in use (after start). */
  get currentPlan(): LessonPlan | undefined {
    return this.plan;
  }

  /** The H.264 encoder in use (after start). */
  get currentEncoder(): H264EncoderName | undefined {
    return this.encoder;
  }

  get probe(): EncoderProbeResult | undefined {
    return this.encoders;
  }

  /** Segments journaled so far (opened and closed events, in order). */
  get segmentEvents(): readonly SegmentEvent[] {
    return this.segments;
  }

  /**
   * Builds and starts the lesson's pipelines. Resolves once the main pipeline (encode, record,
   * hand-off) plays; sources, uplink and playback come up on their own and keep retrying. Throws
   * when the main pipeline cannot start with any usable encoder.
   */
  async start(): Promise<void> {
    // One lesson, one run: a stopped instance is not started again (its native pipelines stay
    // with it); a resumed lesson gets a new instance and continues the segment numbering.
    if (this.started) throw new Error('lesson pipelines already started');
    this.started = true;
    const o = this.opts;
    const c = o.config;
    const binding = o.binding ?? loadGstBinding();
    const given = o.encoders;
    this.encoders = given
      ? { chosen: given.chosen, usable: [...given.usable], attempts: given.attempts.map((a) => ({ ...a })) }
      : await probeH264Encoders(c.encoder.preference, { binding, log: o.log, exists: o.factoryExists });
    this.encoder = this.encoders.chosen;
    this.aac = o.aacEncoder ?? (c.audioEncoder.codec === 'aac' ? await probeAacEncoder(c.audioEncoder.aacPreference, o.factoryExists) : 'avenc_aac');
    this.instance = randomBytes(6).toString('hex');
    this.socketDir = await mkdtemp(join(o.runDir ?? tmpdir(), 'lectern-'));
    this.running = true;
    this.abort = new AbortController();
    try {
      this.plan = this.buildPlan();
      if (this.plan.recording) {
        await mkdir(this.plan.recording.dir, { recursive: true, mode: 0o750 });
        this.nextSegment = Math.max(1, await this.nextFreeSegment(this.plan.recording.dir));
        this.plan = this.buildPlan();
      }
      for (const n of this.plan.notes) o.log.info({ lessonId: o.lessonId }, `lesson media: ${n}`);
      const needed = this.plan.pipelines.length + 2;
      if (threadPoolSize() < needed) {
        o.log.warn(
          { threadPool: threadPoolSize(), pipelines: this.plan.pipelines.length },
          `UV_THREADPOOL_SIZE is ${threadPoolSize()}: each pipeline holds a pool thread, so file and DNS work will wait; start Node with UV_THREADPOOL_SIZE=${Math.max(16, needed)}`,
        );
      }
      this.abr = new AbrController(c.uplink.bitrate);
      this.wantedKbps = c.uplink.bitrate.startKbps;
      this.encoderKbps = this.cappedForRecording(this.wantedKbps);
      if (this.recordingCapKbps !== null) this.opts.log.info({ capKbps: this.recordingCapKbps, kbps: this.recordingTargetKbps() }, 'recording bitrate capped from the start');
      this.silence = new SilenceDetector({ thresholdDb: c.monitor.silenceThresholdDb, afterMs: c.monitor.silenceAfterSec * 1000 });
      for (const spec of this.plan.pipelines) this.pipes.set(spec.id, this.makePipeline(binding, spec));
      this.initDevices();

      // The echo probe must exist before webrtcdsp starts: parse the playback pipeline first.
      const playback = this.pipes.get('playback');
      if (playback) await playback.prepare();

      const signal = this.abort.signal;
      const sup = (id: PipelineId, s: Supervisor): Supervisor => {
        this.supervisors.set(id, s);
        return s;
      };
      const restart = { minMs: c.sourceRestart.minMs, maxMs: c.sourceRestart.maxMs };
      if (playback) sup('playback', this.playbackSupervisor(signal)).start();
      sup('audio-source', this.sourceSupervisor('audio-source', restart, signal)).start();
      sup('video-source', this.sourceSupervisor('video-source', restart, signal)).start();
      const main = sup('main', this.mainSupervisor(binding, signal)).start();
      const failure = await main.first;
      if (failure !== undefined) throw new PipelineError('main', failure);
      if (this.pipes.has('uplink')) sup('uplink', this.uplinkSupervisor(signal)).start();
      this.statsTimer = setInterval(() => this.pollStats(), c.monitor.statsIntervalMs);
      this.statsTimer.unref();
    } catch (e) {
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Ends the lesson: end-of-stream through the main pipeline so the open segment is finalised
   * (at most `stopTimeoutMs`, then a hard stop), then stops everything else.
   */
  async stop(): Promise<LessonStopResult> {
    if (!this.running) return { finalised: false, segments: [...this.segments] };
    this.running = false;
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    this.abort?.abort();
    await Promise.all([...this.supervisors.values()].map((s) => s.done()));
    // The uplink first: it would otherwise report the hand-off socket closing under it.
    await this.pipes.get('uplink')?.stop();
    let finalised = false;
    const main = this.pipes.get('main');
    if (main?.isPlaying) finalised = await main.finish(this.opts.stopTimeoutMs ?? 10_000);
    else await main?.stop();
    for (const id of ['video-source', 'audio-source', 'playback'] as const) await this.pipes.get(id)?.stop();
    if (this.socketDir) await rm(this.socketDir, { recursive: true, force: true }).catch(() => undefined);
    this.socketDir = undefined;
    this.opts.log.info({ lessonId: this.opts.lessonId, finalised, segments: this.segments.filter((s) => s.kind === 'closed').length }, 'lesson media stopped');
    return { finalised, segments: [...this.segments] };
  }

  /** The heartbeat's stream object; null when this lesson has no uplink. */
  streamNow(): StreamNow | null {
    if (!this.plan?.uplink) return null;
    const u = this.uplink;
    const srt = this.plan.uplink.protocol === 'srt';
    const live = u.state === 'live';
    return {
      state: u.state,
      bitrateKbps: Math.max(0, Math.round(live ? (u.measuredKbps ?? this.encoderKbps) : 0)),
      rttMs: srt && live && u.rttMs !== undefined ? Math.round(u.rttMs * 10) / 10 : null,
      lossPct: srt && live && u.lossPct !== undefined ? Math.round(u.lossPct * 100) / 100 : null,
      droppedFrames: this.droppedFrames(),
    };
  }

  /** Playback in a listening room; null when this lesson plays nothing. */
  playbackNow(): PlaybackNow | null {
    if (!this.plan?.playback) return null;
    const p = this.playback;
    return { state: p.state, framesRendered: p.frames, framesDropped: p.dropped };
  }

  /** The encoder's current target bitrate. */
  get targetBitrateKbps(): number {
    return this.encoderKbps;
  }

  /** The cap on the recording's bitrate now (null: none). */
  get recordingCap(): number | null {
    return this.recordingCapKbps;
  }

  /**
   * The recording's video bitrate now, as its encoder element reports it (its own encoder, or
   * the one it shares with the stream); the intended value where the element has no `bitrate`
   * property (v4l2h264enc) or is not there. Undefined without a recording.
   */
  get recordingBitrateKbps(): number | undefined {
    if (!this.plan?.recording) return undefined;
    const name = this.recordingHasOwnEncoder() ? NAMES.recordingEncoder : NAMES.videoEncoder;
    const enc = this.encoder === 'v4l2h264enc' ? undefined : this.pipes.get('main')?.element(name);
    return numberProp(enc?.bitrate) ?? this.recordingTargetKbps();
  }

  /**
   * Caps the recording's video bitrate (kbit/s), or lifts the cap (null): how a lesson keeps
   * recording on a disk that would not hold the rest of it at full rate. Takes effect while
   * playing. With its own encoder (`recording.fullQuality` and an adaptive uplink) that encoder
   * runs at the cap instead of the ceiling; an encoder shared with the stream is held at or
   * below the cap whatever the adaptive bitrate and the uplink logic ask (the stream gets the
   * lower bitrate too). v4l2h264enc cannot change its bitrate while playing: the cap is then
   * only reported. Before start it is kept and applied when the pipelines start.
   */
  setRecordingCapKbps(kbps: number | null): void {
    const cap = kbps === null ? null : checkCapKbps(kbps);
    const before = this.recordingCapKbps;
    this.recordingCapKbps = cap;
    if (!this.plan?.recording || !this.running) return;
    const own = this.recordingHasOwnEncoder();
    const reason = cap === null ? 'recording cap lifted' : `recording capped at ${cap} kbit/s (disk)`;
    if (this.encoder === 'v4l2h264enc') {
      this.opts.log.warn({ capKbps: cap }, 'v4l2h264enc cannot change its bitrate while playing; the recording keeps its bitrate');
      this.emit('recording.bitrate', { capKbps: cap, kbps: this.recordingTargetKbps(), encoder: own ? 'recording' : 'shared', applied: false, reason });
      return;
    }
    if (own) {
      const enc = this.pipes.get('main')?.element(NAMES.recordingEncoder);
      if (enc) enc.bitrate = this.recordingTargetKbps();
    } else {
      this.applyEncoderBitrate(reason);
    }
    const kbpsNow = this.recordingTargetKbps();
    this.opts.log.info({ capKbps: cap, before, kbps: kbpsNow, encoder: own ? NAMES.recordingEncoder : NAMES.videoEncoder }, cap === null ? 'recording bitrate cap lifted' : 'recording bitrate capped');
    this.emit('recording.bitrate', { capKbps: cap, kbps: kbpsNow, encoder: own ? 'recording' : 'shared', applied: true, reason });
  }

  /** The cap as the encoder can follow it: none for an encoder that cannot change its bitrate while playing. */
  private capInEffect(): number | null {
    return this.encoder === 'v4l2h264enc' ? null : this.recordingCapKbps;
  }

  /** What the recording's video encoder is meant to run at now. */
  private recordingTargetKbps(): number {
    if (!this.recordingHasOwnEncoder()) return this.encoderKbps;
    const ceiling = this.opts.config.uplink.bitrate.ceilingKbps;
    const cap = this.capInEffect();
    return cap === null ? ceiling : Math.min(ceiling, cap);
  }

  /** The stream encoder's bitrate for a wanted one: capped when the recording shares that encoder. */
  private cappedForRecording(kbps: number): number {
    const k = Math.round(kbps);
    const cap = this.capInEffect();
    if (cap === null || !this.plan?.recording || this.recordingHasOwnEncoder()) return k;
    return Math.min(k, cap);
  }

  /** Health of the media devices (camera, microphone, encoder, uplink) in the contract's shape. */
  deviceHealth(): DeviceHealth[] {
    return [...this.devices.values()].map((d) => ({ ...d }));
  }

  /** Frames lost before encoding: QoS drops reported by any element, plus videorate drops. */
  droppedFrames(): number {
    let n = 0;
    for (const v of this.qosDropped.values()) n += v;
    const rate = numberProp(this.pipes.get('video-source')?.element('camrate')?.drop);
    return n + (rate ?? 0);
  }

  private buildPlan(): LessonPlan {
    const o = this.opts;
    return buildLessonPlan(o.config, {
      role: o.role,
      deviceId: o.deviceId,
      lessonId: o.lessonId,
      peerRoomId: o.peerRoomId,
      encoder: this.encoder!,
      aacEncoder: this.aac,
      instance: this.instance,
      uplinkSocket: join(this.socketDir!, 'uplink.sock'),
      segmentStartIndex: this.nextSegment,
      startBitrateKbps: this.encoderKbps || o.config.uplink.bitrate.startKbps,
    });
  }

  private async nextFreeSegment(dir: string): Promise<number> {
    let max = 0;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const i = segmentIndex(f);
      if (i !== undefined && i > max) max = i;
    }
    return max + 1;
  }

  private makePipeline(binding: GstBinding, spec: PipelineSpec): ManagedPipeline {
    const sources = spec.id === 'video-source' || spec.id === 'audio-source';
    const p = new ManagedPipeline({
      id: spec.id,
      description: spec.description,
      binding,
      log: this.opts.log,
      // An RTSP camera may take a while to answer; local sources start in milliseconds.
      startTimeoutMs: spec.id === 'video-source' && this.opts.config.video.type === 'rtsp' ? 20_000 : sources ? 8_000 : 15_000,
      reusable: spec.reusable,
    });
    p.onMessage((m) => this.onMessage(spec.id, m));
    return p;
  }

  private onMessage(id: PipelineId, m: BusMessage): void {
    switch (m.kind) {
      case 'element':
        if (id === 'main' && m.name.startsWith('splitmuxsink-fragment-')) this.onFragment(m.name, m.fields);
        else if (id === 'audio-source' && m.name === 'level') this.onLevel(m.fields);
        break;
      case 'qos':
        if (m.dropped > 0) this.qosDropped.set(`${id}/${m.src}`, m.dropped);
        break;
      case 'warning':
        this.opts.log.warn({ pipeline: id, element: m.src, warning: m.text }, 'pipeline warning');
        break;
      case 'error':
        this.opts.log.warn({ pipeline: id, element: m.src, error: m.text, debug: m.debug }, 'pipeline error');
        break;
      default:
        break;
    }
  }

  private onFragment(name: string, fields: Record<string, unknown>): void {
    const location = typeof fields.location === 'string' ? fields.location : '';
    const rt = nanos(fields['running-time']) ?? 0;
    const file = location.slice(location.lastIndexOf('/') + 1);
    const index = segmentIndex(file) ?? -1;
    const opened = name === 'splitmuxsink-fragment-opened';
    if (opened) {
      this.openSegments.set(location, rt);
      if (index >= this.nextSegment) this.nextSegment = index + 1;
    }
    const start = this.openSegments.get(location);
    if (!opened) this.openSegments.delete(location);
    const ev: SegmentEvent = {
      kind: opened ? 'opened' : 'closed',
      lessonId: this.opts.lessonId,
      location,
      index,
      runningTimeNs: rt,
      durationNs: !opened && start !== undefined ? rt - start : undefined,
      at: iso(this.now()),
    };
    this.segments.push(ev);
    this.emit('segment', ev);
  }

  private onLevel(fields: Record<string, unknown>): void {
    const reading = parseLevelMessage(fields);
    if (!reading) return;
    this.emit('level', reading);
    const armed = this.running && (this.pipes.get('main')?.isPlaying ?? false);
    const change = this.silence?.update(reading.loudestRmsDb, this.now(), armed);
    if (!change) return;
    const at = iso(this.now());
    if (change.silent) {
      this.opts.log.warn({ levelDb: change.levelDb }, 'microphone silent');
      this.emit('silence', { silent: true, levelDb: change.levelDb, sinceMs: change.sinceMs, at });
    } else {
      this.emit('silence', { silent: false, levelDb: change.levelDb, silentForMs: change.silentForMs, at });
    }
  }

  private initDevices(): void {
    const c = this.opts.config;
    const add = (d: DeviceHealth): void => {
      this.devices.set(d.id, d);
    };
    const v = c.video;
    add({ kind: 'camera', id: 'video-source', model: v.type === 'rtsp' ? 'rtsp' : v.type === 'test' ? 'test pattern' : v.device, status: 'degraded', detail: 'starting' });
    add({ kind: 'microphone', id: 'audio-source', model: c.audio.type === 'test' ? 'test tone' : (c.audio.device ?? `${c.audio.type} default`), status: 'degraded', detail: 'starting' });
    add({ kind: 'encoder', id: 'video-encoder', model: this.encoder, status: 'ok', detail: this.encoderDetail() });
    if (this.plan?.uplink) add({ kind: 'uplink', id: 'uplink', model: this.plan.uplink.protocol, status: 'degraded', detail: 'connecting' });
  }

  private encoderDetail(): string {
    const failed = this.encoders?.attempts.filter((a) => !a.ok).map((a) => `${a.encoder}: ${a.reason ?? 'failed'}`) ?? [];
    return clampDetail(failed.length ? `using ${this.encoder}; not used: ${failed.join('; ')}` : `using ${this.encoder}`);
  }

  private setDevice(id: string, status: DeviceHealth['status'], detail?: string): void {
    const before = this.devices.get(id);
    if (!before) return;
    const now: DeviceHealth = { ...before, status, detail: detail === undefined ? undefined : clampDetail(detail) };
    if (now.detail === undefined) delete now.detail;
    this.devices.set(id, now);
    if (before.status !== now.status) this.emit('device', { now: { ...now }, before });
  }

  private setCameraNote(show: boolean): void {
    const note = this.pipes.get('main')?.element(NAMES.cameraNote);
    if (note) note.silent = !show;
  }

  private sourceSupervisor(id: 'video-source' | 'audio-source', restart: { minMs: number; maxMs: number }, signal: AbortSignal): Supervisor {
    const c = this.opts.config;
    const video = id === 'video-source';
    const preflight = async (): Promise<string | undefined> => {
      // A device that is not there would fail before READY, which costs a fresh native pipeline
      // each try; checking for it first is cheaper and gives a clearer reason.
      if (!video) return c.audio.type === 'alsa' && c.audio.device ? alsaCardMissing(c.audio.device) : undefined;
      if (c.video.type !== 'v4l2' && c.video.type !== 'hdmi') return undefined;
      try {
        const s = await stat(c.video.device);
        return s.isCharacterDevice() ? undefined : `${c.video.device} is not a device node`;
      } catch (e) {
        return `${c.video.device}: ${errorMessage(e)}`;
      }
    };
    return new Supervisor({ name: id, log: this.opts.log, ...restart }, {
      pipeline: () => this.pipes.get(id)!,
      preflight,
      onUp: () => {
        this.setDevice(id, 'ok');
        if (video) {
          this.cameraDown = false;
          this.videoFrames = { count: -1, at: this.now() };
          this.setCameraNote(false);
        }
      },
      onDown: (reason) => {
        this.setDevice(id, 'fault', reason);
        if (video) {
          this.cameraDown = true;
          this.setCameraNote(true);
        }
      },
    }, signal);
  }

  private mainSupervisor(binding: GstBinding, signal: AbortSignal): Supervisor {
    const c = this.opts.config;
    return new Supervisor({ name: 'main', log: this.opts.log, minMs: c.sourceRestart.minMs, maxMs: c.sourceRestart.maxMs }, {
      pipeline: () => this.pipes.get('main')!,
      beforeStart: (p) => {
        const rec = p.element(NAMES.recorder);
        if (rec) rec['start-index'] = this.nextSegment;
        const enc = p.element(NAMES.videoEncoder);
        if (enc && this.encoder !== 'v4l2h264enc') enc.bitrate = this.encoderKbps;
        // The recording's own encoder is built at the ceiling: a disk cap holds across restarts.
        const recEnc = p.element(NAMES.recordingEncoder);
        if (recEnc && this.encoder !== 'v4l2h264enc') recEnc.bitrate = this.recordingTargetKbps();
        const note = p.element(NAMES.cameraNote);
        if (note) note.silent = !this.cameraDown;
      },
      onUp: () => {
        this.mainStartedAt = this.now();
        this.setDevice('video-encoder', 'ok', this.encoderDetail());
      },
      onDown: (reason) => {
        this.setDevice('video-encoder', 'fault', reason);
        this.maybeFallBack(binding, reason, undefined);
      },
      retryNow: (err) => this.maybeFallBack(binding, errorMessage(err), err),
    }, signal);
  }

  /**
   * A hardware encoder can pass the probe and still fail with the real format (or fail at the
   * first frame): an error from the encoder element at start switches to the next usable encoder
   * and rebuilds the main pipeline. Returns whether it switched.
   */
  private maybeFallBack(binding: GstBinding, reason: string, err: unknown): boolean {
    // The encoder reported the error, or the description could not even be built because the
    // encoder's element is gone (a plugin that found no device this time).
    const fromEncoder =
      (err instanceof PipelineError && (err.element === NAMES.videoEncoder || err.element === NAMES.recordingEncoder)) ||
      reason.startsWith(`${NAMES.videoEncoder}:`) ||
      reason.startsWith(`${NAMES.recordingEncoder}:`) ||
      (this.encoder !== undefined && reason.includes(`no element "${this.encoder}"`));
    const early = err !== undefined || this.now() - this.mainStartedAt < 10_000;
    if (!fromEncoder || !early || !this.encoders || !this.encoder) return false;
    const order = this.encoders.usable.includes('x264enc') ? this.encoders.usable : [...this.encoders.usable, 'x264enc' as const];
    const next = order[order.indexOf(this.encoder) + 1];
    if (!next) return false;
    const from = this.encoder;
    this.encoder = next;
    this.encoders.attempts.push({ encoder: from, ok: false, reason: `failed in the lesson pipeline: ${reason}`, ms: 0 });
    this.opts.log.warn({ from, to: next, reason }, 'H.264 encoder failed; falling back');
    this.plan = this.buildPlan();
    const spec = this.plan.pipelines.find((p) => p.id === 'main')!;
    this.pipes.set('main', this.makePipeline(binding, spec));
    const d = this.devices.get('video-encoder');
    if (d) d.model = next;
    this.emit('encoder.fallback', { from, to: next, reason });
    return true;
  }

  private uplinkSupervisor(signal: AbortSignal): Supervisor {
    const c = this.opts.config;
    return new Supervisor({ name: 'uplink', log: this.opts.log, minMs: c.uplink.reconnectMinMs, maxMs: c.uplink.reconnectMaxMs, healthyAfterMs: 10_000 }, {
      pipeline: () => this.pipes.get('uplink')!,
      onUp: () => {
        const u = this.uplink;
        u.startedAt = this.now();
        u.lastAcks = 0;
        u.lastBytes = 0;
        u.lastBytesAt = undefined;
        u.lastProgressAt = undefined;
        u.measuredKbps = undefined;
        if (u.everLive || u.failedEmitted) u.state = 'reconnecting';
      },
      onDown: (reason) => this.uplinkDown(reason),
    }, signal);
  }

  /** The uplink is down: `stopped` when its pipeline has stopped (else it only stalled). */
  private uplinkDown(reason: string, stopped = true): void {
    const u = this.uplink;
    const now = this.now();
    const wasLive = u.state === 'live';
    if (wasLive || !u.failedEmitted) {
      u.downSince = now;
      u.failedEmitted = true;
      this.opts.log.warn({ reason }, 'uplink down');
      this.emit('stream.failed', { direction: 'uplink', reason, at: iso(now) });
    }
    u.downSince ??= now;
    u.state = now - u.downSince >= this.opts.config.uplink.failedAfterSec * 1000 ? 'failed' : 'reconnecting';
    if (stopped) u.startedAt = undefined;
    this.setDevice('uplink', 'fault', reason);
    // Nobody watches the stream now: when the recording shares the stream's encoder, give it the
    // full bitrate until the link returns.
    if (this.opts.config.uplink.adaptive && !this.recordingHasOwnEncoder()) this.setEncoderBitrate(this.opts.config.uplink.bitrate.ceilingKbps, 'uplink down: full quality for the recording');
  }

  private uplinkLive(): void {
    const u = this.uplink;
    if (u.state === 'live') return;
    const now = this.now();
    u.state = 'live';
    u.everLive = true;
    this.setDevice('uplink', 'ok');
    if (this.opts.config.uplink.adaptive) {
      this.abr?.reset();
      this.setEncoderBitrate(this.opts.config.uplink.bitrate.startKbps, 'uplink connected');
    }
    if (u.failedEmitted) {
      const downMs = u.downSince !== undefined ? now - u.downSince : 0;
      u.failedEmitted = false;
      u.downSince = undefined;
      this.opts.log.info({ downMs }, 'uplink recovered');
      this.emit('stream.recovered', { direction: 'uplink', downMs, at: iso(now) });
    }
  }

  private recordingHasOwnEncoder(): boolean {
    return this.plan !== undefined && separateRecordingEncoder(this.opts.config, this.plan.recording !== undefined, this.plan.uplink !== undefined);
  }

  private setEncoderBitrate(kbps: number, reason: string): void {
    this.wantedKbps = Math.round(kbps);
    this.applyEncoderBitrate(reason);
  }

  /** Sets the stream's encoder to the wanted bitrate, within the recording's cap when it shares it. */
  private applyEncoderBitrate(reason: string): void {
    const k = this.cappedForRecording(this.wantedKbps);
    if (k === this.encoderKbps) return;
    this.encoderKbps = k;
    const enc = this.pipes.get('main')?.element(NAMES.videoEncoder);
    if (enc && this.encoder !== 'v4l2h264enc') enc.bitrate = k;
    this.emit('bitrate', { kbps: k, reason: k < this.wantedKbps ? `${reason}; held at the recording's cap of ${k} kbit/s` : reason });
  }

  private playbackSupervisor(signal: AbortSignal): Supervisor {
    const c = this.opts.config;
    return new Supervisor({ name: 'playback', log: this.opts.log, minMs: c.uplink.reconnectMinMs, maxMs: c.uplink.reconnectMaxMs, healthyAfterMs: 10_000 }, {
      pipeline: () => this.pipes.get('playback')!,
      onUp: () => {
        const p = this.playback;
        p.startedAt = this.now();
        p.lastFrames = 0;
        p.lastProgressAt = undefined;
      },
      onDown: (reason) => {
        const p = this.playback;
        const now = this.now();
        if (p.state === 'playing' || !p.failedEmitted) {
          p.failedEmitted = true;
          p.downSince = now;
          this.emit('stream.failed', { direction: 'playback', reason, at: iso(now) });
        }
        p.downSince ??= now;
        p.state = now - p.downSince >= c.uplink.failedAfterSec * 1000 ? 'failed' : 'reconnecting';
        p.startedAt = undefined;
      },
    }, signal);
  }

  /** Once per stats interval: uplink statistics and ABR, playback progress, camera progress. */
  private pollStats(): void {
    try {
      this.pollUplink();
      this.pollPlayback();
      this.pollVideoSource();
    } catch (e) {
      this.opts.log.error({ err: e }, 'media statistics failed');
    }
  }

  private pollUplink(): void {
    const pipe = this.pipes.get('uplink');
    const target = this.plan?.uplink;
    const u = this.uplink;
    const now = this.now();
    if (u.state !== 'live' && u.downSince !== undefined && now - u.downSince >= this.opts.config.uplink.failedAfterSec * 1000) u.state = 'failed';
    if (!pipe?.isPlaying || !target || u.startedAt === undefined) return;
    const raw = pipe.element(NAMES.uplinkSink)?.stats;
    let progress = false;
    if (target.protocol === 'srt') {
      const s = parseSrtStats(raw);
      if (s.connected) {
        progress = s.acksReceived > u.lastAcks;
        u.lastAcks = s.acksReceived;
        u.rttMs = s.rttMs;
        if (progress) this.uplinkLive();
        if (u.state === 'live') {
          const d = this.abr?.update(s, now);
          if (d) {
            if (d.sendKbps !== undefined) u.measuredKbps = d.sendKbps;
            if (d.lossPct !== undefined) u.lossPct = d.lossPct;
            if (d.changed && this.opts.config.uplink.adaptive) this.setEncoderBitrate(d.bitrateKbps, `${d.condition}: ${d.reason}`);
          }
        }
      } else {
        u.lastAcks = 0;
      }
    } else {
      const s = parseRtmpStats(raw);
      if (s.outBytes > u.lastBytes) {
        if (u.lastBytesAt !== undefined) u.measuredKbps = ((s.outBytes - u.lastBytes) * 8) / Math.max(1, now - u.lastBytesAt);
        progress = u.lastBytesAt !== undefined;
        u.lastBytes = s.outBytes;
        u.lastBytesAt = now;
        if (progress) this.uplinkLive();
      }
    }
    if (progress) u.lastProgressAt = now;
    const interval = this.opts.config.monitor.statsIntervalMs;
    if (u.state === 'live' && u.lastProgressAt !== undefined && now - u.lastProgressAt > 2 * interval + 1000) {
      // Nothing acknowledged for a while: the outage starts now, although SRT declares the peer
      // gone only after its own timeout (then the pipeline restarts).
      this.uplinkDown(`no data acknowledged for ${Math.round((now - u.lastProgressAt) / 1000)} s`, false);
    }
    const connectTimeout = this.opts.uplinkConnectTimeoutMs ?? 15_000;
    const since = u.lastProgressAt ?? u.startedAt;
    if (now - since > connectTimeout) this.supervisors.get('uplink')?.kick(`no data acknowledged for ${Math.round((now - since) / 1000)} s`);
  }

  private pollPlayback(): void {
    const pipe = this.pipes.get('playback');
    const p = this.playback;
    const now = this.now();
    if (!pipe?.isPlaying || p.startedAt === undefined) return;
    const sink = pipe.element(NAMES.playbackVideoSink);
    const frames = numberProp(sink?.['frames-rendered']) ?? 0;
    p.dropped = numberProp(sink?.['frames-dropped']) ?? p.dropped;
    if (frames > p.lastFrames) {
      p.frames += frames - p.lastFrames;
      p.lastFrames = frames;
      p.lastProgressAt = now;
      if (p.state !== 'playing') {
        p.state = 'playing';
        p.everPlaying = true;
        if (p.failedEmitted) {
          const downMs = p.downSince !== undefined ? now - p.downSince : 0;
          p.failedEmitted = false;
          p.downSince = undefined;
          this.emit('stream.recovered', { direction: 'playback', downMs, at: iso(now) });
        }
      }
    }
    const since = p.lastProgressAt ?? p.startedAt;
    if (now - since > this.opts.config.listen.stallSec * 1000) this.supervisors.get('playback')?.kick(`no frame decoded for ${Math.round((now - since) / 1000)} s`);
  }

  private pollVideoSource(): void {
    const pipe = this.pipes.get('video-source');
    if (!pipe?.isPlaying) return;
    const stats = parseGstStructure(pipe.element(NAMES.videoSink)?.stats);
    const rendered = stats.fields.rendered;
    if (typeof rendered !== 'number') return;
    const now = this.now();
    if (rendered !== this.videoFrames.count) {
      this.videoFrames = { count: rendered, at: now };
      return;
    }
    const stallMs = this.opts.videoStallMs ?? 5000;
    if (now - this.videoFrames.at > stallMs) this.supervisors.get('video-source')?.kick(`no camera frame for ${Math.round((now - this.videoFrames.at) / 1000)} s`);
  }
}
