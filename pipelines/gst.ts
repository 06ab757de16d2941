/**
 * A typed layer over the `gstreamer-superficial` binding, and `ManagedPipeline`, which hides the
 * binding's sharp edges:
 *
 * - `pollBus` pops bus messages in a libuv thread-pool worker that blocks on the bus and queues
 *   itself again only while the pipeline is not in NULL. Every running pipeline therefore holds
 *   one worker thread of the pool (UV_THREADPOOL_SIZE, 4 by default): see `threadPoolSize()`.
 *   Calling `pollBus` while a loop is still alive would start a second loop, so this class keeps
 *   track of whether the loop is alive and starts one only when it is not.
 * - The binding never frees a pipeline. Restarts reuse the same native pipeline (NULL → PLAYING
 *   again) instead of building new ones; a start that failed before READY (after which the
 *   state of the bus loop cannot be known) and pipelines with run-time pads (`reusable: false`)
 *   cost a fresh pipeline per start (a few hundred kB).
 * - Message fields arrive as strings (64-bit integers, enums, arrays of the level element) and a
 *   structure field called `type` overwrites the message type; `BusMessage` normalises this.
 * - A bus callback that throws would be an uncaught exception in the daemon; callbacks here catch.
 */
import { createRequire } from 'node:module';
import type { Logger } from '../agent/log.js';
import { LecternError, errorMessage } from '../agent/errors.js';

/** An element found with `findChild`: its GObject properties, readable and (where allowed) writable. */
export type GstElementHandle = Record<string, unknown>;

/** A bus message as the binding delivers it. */
export interface RawBusMessage {
  type?: string;
  name?: string;
  message?: string;
  debug?: string;
  _src_element_name?: string;
  [field: string]: unknown;
}

/** The part of the binding's Pipeline used here. */
export interface NativePipeline {
  play(): void;
  pause(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElementHandle | undefined;
  pollBus(cb: (msg: RawBusMessage) => void): void;
}

export interface GstBinding {
  Pipeline: new (description: string) => NativePipeline;
}

/** Loads the native binding (it initialises GStreamer on first load; GST_* env must be set before). */
export function loadGstBinding(): GstBinding {
  const require = createRequire(import.meta.url);
  return require('gstreamer-superficial') as GstBinding;
}

/** The libuv thread pool size this process runs with (set by UV_THREADPOOL_SIZE before start). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}

export type GstState = 'VOID_PENDING' | 'NULL' | 'READY' | 'PAUSED' | 'PLAYING';

export type BusMessage =
  | { kind: 'error'; src: string; path: string; text: string; debug: string }
  | { kind: 'warning'; src: string; text: string; debug: string }
  | { kind: 'eos'; src: string }
  | { kind: 'state-changed'; src: string; oldState: GstState; newState: GstState }
  | { kind: 'element'; src: string; name: string; fields: Record<string, unknown> }
  | { kind: 'qos'; src: string; processed: number; dropped: number }
  | { kind: 'other'; src: string; type: string };

function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function state(v: unknown): GstState {
  const s = str(v).replace(/^GST_STATE_/, '');
  return (['VOID_PENDING', 'NULL', 'READY', 'PAUSED', 'PLAYING'] as const).find((x) => x === s) ?? 'VOID_PENDING';
}

/** Normalises one message from the binding. */
export function normalizeMessage(raw: RawBusMessage): BusMessage {
  const src = str(raw._src_element_name);
  const type = str(raw.type);
  switch (type) {
    case 'error':
      return { kind: 'error', src, path: str(raw.name), text: str(raw.message) || 'unknown error', debug: str(raw.debug) };
    case 'warning':
      return { kind: 'warning', src, text: str(raw.message) || str(raw.debug), debug: str(raw.debug) };
    case 'eos':
      return { kind: 'eos', src };
    case 'state-changed':
      return { kind: 'state-changed', src, oldState: state(raw['old-state']), newState: state(raw['new-state']) };
    case 'element': {
      const { type: _t, name, _src_element_name: _s, ...fields } = raw;
      return { kind: 'element', src, name: str(name), fields };
    }
    case 'qos':
      return { kind: 'qos', src, processed: num(raw.processed), dropped: num(raw.dropped) };
    default:
      return { kind: 'other', src, type: type || str(raw.name) };
  }
}

/** A running-time or other 64-bit nanosecond field (it arrives as a decimal string). */
export function nanos(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || !/^\d{1,20}$/.test(v)) return undefined;
  const n = BigInt(v);
  // GST_CLOCK_TIME_NONE
  if (n === 18446744073709551615n) return undefined;
  return Number(n);
}

/** The top-level pipeline's own messages come from its generated name. */
const TOP_LEVEL_RE = /^pipeline\d+$/;

export class PipelineError extends LecternError {
  constructor(
    readonly pipeline: string,
    message: string,
    /** The element that reported the error, when known. */
    readonly element?: string,
    options?: { cause?: unknown },
  ) {
    super(`${pipeline}: ${message}`, 'pipeline', options);
  }
}

export interface ManagedPipelineOptions {
  /** A short name for logs and errors (`main`, `uplink`, `video-source`). */
  id: string;
  description: string;
  binding: GstBinding;
  log: Logger;
  /** How long start() waits for PLAYING. */
  startTimeoutMs?: number;
  /** False: every start gets a fresh native pipeline (see PipelineSpec.reusable). */
  reusable?: boolean;
}

type Waiter = { resolve: () => void; timer: NodeJS.Timeout };

/**
 * One pipeline description and its native pipeline, started and stopped as many times as needed.
 *
 * Bus loop bookkeeping: the binding decides whether to poll again right after our callback and
 * every promise continuation and nextTick it triggered have run, by looking at the native state
 * then. So the native state is never changed during that window: stop() and start() called from
 * code that a bus message set off wait for the next turn of the event loop (`settle`). The state
 * at the end of our callback is then the state the binding sees, and `loopAlive` is exact.
 */
export class ManagedPipeline {
  private native: NativePipeline | undefined;
  /** The owner wants it running (between start() and stop()). */
  private active = false;
  private starting = false;
  /** Our last call on the native pipeline was stop() (or none yet). */
  private nativeNull = true;
  /** A bus loop is queued or blocked on the bus of `native`. */
  private loopAlive = false;
  /** Since the last play(): the pipeline reported READY or beyond, so it is not stuck in NULL. */
  private leftNull = false;
  /** The native pipeline cannot be reused safely (its bus loop state is unknown). */
  private tainted = false;
  private playing = false;
  /** A bus callback's turn of the event loop is in progress (see the class comment). */
  private draining: Promise<void> | undefined;
  private readonly listeners = new Set<(m: BusMessage) => void>();
  private readonly loopEndWaiters = new Set<Waiter>();
  private readonly handles = new Map<string, GstElementHandle>();
  private natives = 0;

  constructor(private readonly opts: ManagedPipelineOptions) {}

  get id(): string {
    return this.opts.id;
  }

  get description(): string {
    return this.opts.description;
  }

  /** True between reaching PLAYING and the next stop, an error or an end of stream. */
  get isPlaying(): boolean {
    return this.playing;
  }

  /** How many native pipelines this one has needed (1 unless starts failed before READY). */
  get nativeCount(): number {
    return this.natives;
  }

  /** Receives every message of the current run; returns the unsubscribe function. */
  onMessage(fn: (m: BusMessage) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** An element of the current native pipeline by name, or undefined. */
  element(name: string): GstElementHandle | undefined {
    if (!this.native) return undefined;
    let h = this.handles.get(name);
    if (!h) {
      h = this.native.findChild(name);
      if (h) this.handles.set(name, h);
    }
    return h;
  }

  private async settle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * Makes sure there is a native pipeline ready to play (parsing the description the first time:
   * PipelineError on a syntax error or a missing element). Properties set on its elements after
   * this stay for the next start().
   */
  async prepare(): Promise<void> {
    if (this.active || this.starting) return;
    await this.settle();
    await this.ensureNative();
  }

  private async ensureNative(): Promise<void> {
    if (this.loopAlive && !this.tainted) await this.waitLoopEnd(2000);
    // A loop that did not end after the stop cannot be told apart from one that ended, so the
    // next run gets its own native pipeline and loop.
    if (this.loopAlive) this.tainted = true;
    if (this.native && !this.tainted) return;
    try {
      this.native = new this.opts.binding.Pipeline(this.opts.description);
    } catch (e) {
      throw new PipelineError(this.opts.id, `cannot build: ${errorMessage(e)}`, undefined, { cause: e });
    }
    this.natives++;
    this.tainted = false;
    this.loopAlive = false;
    this.nativeNull = true;
    this.handles.clear();
  }

  /**
   * Sets the pipeline playing and resolves once it is PLAYING; rejects with PipelineError on an
   * error message, on `signal`, or when PLAYING does not come within the start timeout (the
   * pipeline is then stopped again).
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.active || this.starting) throw new PipelineError(this.opts.id, 'already started');
    this.starting = true;
    try {
      await this.settle();
      await this.ensureNative();
    } finally {
      this.starting = false;
    }
    if (signal?.aborted) throw new PipelineError(this.opts.id, 'start cancelled');
    this.active = true;
    const native = this.native!;
    const timeoutMs = this.opts.startTimeoutMs ?? 10_000;
    const result = new Promise<void>((resolve, reject) => {
      const done = (err?: PipelineError): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => done(new PipelineError(this.opts.id, 'start cancelled'));
      const timer = setTimeout(() => done(new PipelineError(this.opts.id, `did not reach PLAYING within ${timeoutMs} ms`)), timeoutMs);
      const off = this.onMessage((m) => {
        if (m.kind === 'state-changed' && TOP_LEVEL_RE.test(m.src) && m.newState === 'PLAYING') done();
        else if (m.kind === 'error') done(new PipelineError(this.opts.id, m.text, m.src));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
    this.leftNull = false;
    this.playing = false;
    this.nativeNull = false;
    native.play();
    if (!this.loopAlive) {
      this.loopAlive = true;
      native.pollBus((raw) => this.onRaw(native, raw));
    }
    try {
      await result;
      this.playing = true;
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Sets the pipeline to NULL (a hard stop: open files are closed as they are). */
  async stop(): Promise<void> {
    if (!this.native || !this.active) return;
    this.active = false;
    this.playing = false;
    await this.settle();
    const native = this.native;
    this.nativeNull = true;
    native.stop();
    // The bus loop ends with the next message (the children's state changes always post some)
    // unless the start never left NULL, in which case it may already have ended unseen.
    if (!this.leftNull || this.opts.reusable === false) this.tainted = true;
    else await this.waitLoopEnd(2000);
  }

  /**
   * Sends EOS and waits for it to reach every sink (splitmuxsink then closes its fragment), at most
   * `timeoutMs`, then stops. Resolves with whether EOS arrived in time.
   */
  async finish(timeoutMs: number): Promise<boolean> {
    const native = this.native;
    if (!native || !this.active) return false;
    const eos = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.onMessage((m) => {
        if ((m.kind === 'eos' && TOP_LEVEL_RE.test(m.src)) || m.kind === 'error') {
          clearTimeout(timer);
          off();
          resolve(m.kind === 'eos');
        }
      });
    });
    native.sendEOS();
    const ok = await eos;
    await this.stop();
    return ok;
  }

  private onRaw(native: NativePipeline, raw: RawBusMessage): void {
    if (!this.draining) {
      this.draining = new Promise<void>((resolve) =>
        setImmediate(() => {
          this.draining = undefined;
          resolve();
        }),
      );
    }
    try {
      if (native === this.native && this.active) {
        const m = normalizeMessage(raw);
        if (m.kind === 'state-changed' && TOP_LEVEL_RE.test(m.src) && m.newState !== 'NULL') this.leftNull = true;
        if (m.kind === 'error' || m.kind === 'eos') this.playing = false;
        for (const fn of [...this.listeners]) {
          try {
            fn(m);
          } catch (e) {
            this.opts.log.error({ err: e, pipeline: this.opts.id }, 'bus message handler failed');
          }
        }
      }
    } catch (e) {
      this.opts.log.error({ err: e, pipeline: this.opts.id }, 'bus message could not be handled');
    } finally {
      // The binding polls again only if the pipeline is not NULL now (nothing changes the
      // state before it looks: see settle()).
      if (native === this.native && this.nativeNull) {
        this.loopAlive = false;
        for (const w of this.loopEndWaiters) {
          clearTimeout(w.timer);
          w.resolve();
        }
        this.loopEndWaiters.clear();
      }
    }
  }

  private waitLoopEnd(ms: number): Promise<void> {
    if (!this.loopAlive) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const w: Waiter = {
        resolve,
        timer: setTimeout(() => {
          this.loopEndWaiters.delete(w);
          resolve();
        }, ms),
      };
      this.loopEndWaiters.add(w);
    });
  }
}
