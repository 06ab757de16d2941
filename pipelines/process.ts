/**
 * LessonPipelines in a child process (pipelines/worker-main.ts), with the same surface for the agent:
 * start/stop, the heartbeat figures (from the worker's latest snapshot), the same typed events,
 * plus `exit` when the worker ends without being asked (a crash: the agent can start a new one
 * for the same lesson; recording continues with the next segment number).
 */
import { TypedEmitter, type Listener } from '../agent/bus.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StreamNow } from '../agent/contract/types.js';
import type { DeviceHealth } from '../agent/devices.js';
import type { Logger } from '../agent/log.js';
import { LecternError } from '../agent/errors.js';
import type { LessonPipelineEvents, LessonStopResult, PlaybackNow } from './runtime.js';
import type { MediaSnapshot, RecordingCapCommand, WorkerMessage, WorkerOptions } from './worker.js';

export interface LessonMediaProcessOptions extends WorkerOptions {
  log: Logger;
  /** The program that runs the worker (default: this Node with ./worker-main.js next to this file). */
  command?: { file: string; args: string[] };
  /** libuv pool threads for the worker: one per pipeline plus spare (default 16). */
  threadPoolSize?: number;
  /** How long start() waits for the main pipeline. */
  startTimeoutMs?: number;
}

export interface ProcessEvents extends LessonPipelineEvents {
  exit: { code: number | null; signal: NodeJS.Signals | null; expected: boolean };
}


export class MediaWorkerError extends LecternError {
  constructor(message: string) {
    super(message, 'media-worker');
  }
}

export class LessonMediaProcess {
  private proc: ChildProcess | undefined;
  private snapshot: MediaSnapshot | undefined;
  private stopping = false;
  private stopped: Promise<LessonStopResult> | undefined;
  private resolveStopped: ((r: LessonStopResult) => void) | undefined;
  private readonly emitter = new TypedEmitter<ProcessEvents>((err, event) => this.opts.log.error({ err, event }, 'media worker listener failed'));

  constructor(private readonly opts: LessonMediaProcessOptions) {}

  on<K extends keyof ProcessEvents>(event: K, fn: Listener<ProcessEvents[K]>): () => void {
    return this.emitter.on(event, fn);
  }

  private emit<K extends keyof ProcessEvents>(event: K, payload: ProcessEvents[K]): void {
    this.emitter.emit(event, payload);
  }

  /** The worker's process id (after start). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts the worker; resolves when its main pipeline plays, rejects with its error. */
  async start(): Promise<void> {
    if (this.proc) throw new MediaWorkerError('media worker already started');
    const { log, command, threadPoolSize, startTimeoutMs, ...workerOpts } = this.opts;
    const cmd = command ?? { file: process.execPath, args: [fileURLToPath(new URL('./worker-main.js', import.meta.url))] };
    const proc = spawn(cmd.file, cmd.args, {
      env: { ...process.env, UV_THREADPOOL_SIZE: String(threadPoolSize ?? 16) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.stopped = new Promise<LessonStopResult>((resolve) => (this.resolveStopped = resolve));
    const wlog = log.child({ module: 'media-worker', lessonId: workerOpts.lessonId });
    // A worker that died leaves a closed pipe: a late command must not take the agent down with EPIPE.
    proc.stdin.on('error', (e) => wlog.warn({ err: e }, 'media worker input closed'));
    createInterface({ input: proc.stderr }).on('line', (line) => {
      // The worker logs pino JSON; keep its level, tag it as the worker's.
      try {
        const rec = JSON.parse(line) as { level?: number; msg?: string };
        const level = rec.level ?? 30;
        const fn = level >= 50 ? wlog.error : level >= 40 ? wlog.warn : level >= 30 ? wlog.info : wlog.debug;
        fn.call(wlog, { worker: rec }, rec.msg ?? 'media worker');
      } catch {
        if (line.trim()) wlog.warn({ line: line.slice(0, 2000) }, 'media worker output');
      }
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new MediaWorkerError('media worker did not start in time')), startTimeoutMs ?? 60_000);
      createInterface({ input: proc.stdout }).on('line', (line) => {
        let m: WorkerMessage;
        try {
          m = JSON.parse(line) as WorkerMessage;
        } catch {
          return;
        }
        switch (m.type) {
          case 'ready':
            this.snapshot = m.snapshot;
            clearTimeout(timer);
            resolve();
            break;
          case 'snapshot':
            this.snapshot = m.snapshot;
            break;
          case 'event':
            this.emit(m.name, m.payload as never);
            break;
          case 'stopped':
            this.resolveStopped?.(m.result);
            break;
          case 'error':
            clearTimeout(timer);
            reject(new MediaWorkerError(m.message));
            break;
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new MediaWorkerError(`media worker exited (${signal ?? code}) before starting`));
      });
    });
    proc.once('exit', (code, signal) => {
      this.resolveStopped?.({ finalised: false, segments: [] });
      this.emit('exit', { code, signal, expected: this.stopping });
    });
    proc.stdin.write(JSON.stringify(workerOpts) + '\n');
    try {
      await ready;
    } catch (e) {
      await this.kill();
      throw e;
    }
  }

  /** Ends the lesson (the worker finalises the last segment), then waits for the worker to exit. */
  async stop(timeoutMs = 30_000): Promise<LessonStopResult> {
    const proc = this.proc;
    if (!proc || !this.stopped) return { finalised: false, segments: [] };
    this.stopping = true;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.stdin?.write('stop\n');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    return this.stopped;
  }

  /** Ends the worker at once (no segment finalising). */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.stopping = true;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  streamNow(): StreamNow | null {
    return this.snapshot?.stream ?? null;
  }

  playbackNow(): PlaybackNow | null {
    return this.snapshot?.playback ?? null;
  }

  deviceHealth(): DeviceHealth[] {
    return this.snapshot?.devices ?? [];
  }

  get targetBitrateKbps(): number {
    return this.snapshot?.targetKbps ?? 0;
  }

  /** The recording's video bitrate as its encoder last reported it (undefined before start or without a recording). */
  get recordingBitrateKbps(): number | undefined {
    return this.snapshot?.recordingKbps;
  }

  /**
   * Caps the recording's video bitrate (kbit/s; null lifts the cap) in the worker; the worker
   * answers with a `recording.bitrate` event. Ignored once the worker is stopping or gone.
   */
  setRecordingCap(kbps: number | null): void {
    const proc = this.proc;
    if (!proc || this.stopping || proc.exitCode !== null || proc.signalCode !== null || !proc.stdin?.writable) return;
    const cmd: RecordingCapCommand = { type: 'recording-cap', kbps };
    proc.stdin.write(JSON.stringify(cmd) + '\n');
  }
}
