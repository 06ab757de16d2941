/**
 * A lesson's pipelines in a process of their own (see LessonMediaProcess; the program is
 * worker-main.ts): the first line on stdin is the options (JSON), then commands, one a line:
 * `stop`, or `{"type":"recording-cap","kbps":N}` (`null` lifts the cap; see
 * LessonPipelines.setRecordingCapKbps). Out go JSON lines: `ready`, `event`, `snapshot` (pushed
 * every statistics interval, after each event and after each command), `stopped`, `error`.
 * Logs go to stderr.
 *
 * Why a process per lesson: the binding never frees a pipeline (a few MB per lesson at 720p
 * would pile up in a daemon that runs for months), each running pipeline holds a libuv pool
 * thread (the worker sets its own pool size), and a crash inside GStreamer ends the lesson's
 * media, not the agent.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { StreamNow } from '../agent/contract/types.js';
import type { DeviceHealth } from '../agent/devices.js';
import { createLogger, type Logger } from '../agent/log.js';
import { errorMessage } from '../agent/errors.js';
import type { Role } from './builder.js';
import type { AacEncoderName, MediaConfig } from './config.js';
import type { EncoderProbeResult } from './encoders.js';
import { LessonPipelines, type LessonPipelineEvents, type LessonStopResult, type PlaybackNow } from './runtime.js';

export interface WorkerOptions {
  config: MediaConfig;
  role: Role;
  deviceId: string;
  lessonId: string;
  peerRoomId?: string;
  encoders?: EncoderProbeResult;
  aacEncoder?: AacEncoderName;
  runDir?: string;
  stopTimeoutMs?: number;
  /** A cap on the recording's video bitrate from the start (a worker restarted mid-lesson keeps it). */
  recordingCapKbps?: number | null;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** What the parent can read synchronously (heartbeats) between events. */
export interface MediaSnapshot {
  stream: StreamNow | null;
  playback: PlaybackNow | null;
  devices: DeviceHealth[];
  encoder?: string;
  targetKbps: number;
  recordingDir?: string;
  /** The recording's video bitrate now, read from its encoder. */
  recordingKbps?: number;
  recordingCapKbps: number | null;
}

/** A command to the worker after its options, one JSON line each (`stop` is a bare word). */
export interface RecordingCapCommand {
  type: 'recording-cap';
  kbps: number | null;
}

export type WorkerMessage =
  | { type: 'ready'; snapshot: MediaSnapshot }
  | { type: 'event'; name: keyof LessonPipelineEvents; payload: unknown }
  | { type: 'snapshot'; snapshot: MediaSnapshot }
  | { type: 'stopped'; result: LessonStopResult }
  | { type: 'error'; message: string };

export const WORKER_EVENTS: readonly (keyof LessonPipelineEvents)[] = ['segment', 'stream.failed', 'stream.recovered', 'silence', 'device', 'bitrate', 'recording.bitrate', 'encoder.fallback'];

export interface WorkerIo {
  input: Readable;
  output: Writable;
  /** Logs of the worker (stderr in a real worker). */
  logStream: NodeJS.WritableStream;
  exit: (code: number) => void;
}

function snapshotOf(lesson: LessonPipelines): MediaSnapshot {
  return {
    stream: lesson.streamNow(),
    playback: lesson.playbackNow(),
    devices: lesson.deviceHealth(),
    encoder: lesson.currentEncoder,
    targetKbps: lesson.targetBitrateKbps,
    recordingDir: lesson.currentPlan?.recording?.dir,
    recordingKbps: lesson.recordingBitrateKbps,
    recordingCapKbps: lesson.recordingCap,
  };
}

/** Runs one lesson as a worker over the given streams. */
export async function runLessonWorker(io: WorkerIo): Promise<void> {
  const send = (m: WorkerMessage): void => {
    io.output.write(JSON.stringify(m) + '\n');
  };
  const lines = createInterface({ input: io.input });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  let opts: WorkerOptions;
  try {
    opts = JSON.parse(String(first.value)) as WorkerOptions;
  } catch (e) {
    send({ type: 'error', message: `bad worker options: ${errorMessage(e)}` });
    io.exit(2);
    return;
  }
  const log: Logger = createLogger(opts.logLevel ?? 'info', io.logStream).child({ lessonId: opts.lessonId });
  const lesson = new LessonPipelines({ ...opts, log });
  for (const name of WORKER_EVENTS) {
    lesson.on(name, (payload) => {
      send({ type: 'event', name, payload });
      send({ type: 'snapshot', snapshot: snapshotOf(lesson) });
    });
  }
  const command = (line: string): void => {
    if (!line.trim()) return;
    try {
      const c = JSON.parse(line) as Partial<RecordingCapCommand> | null;
      if (c?.type !== 'recording-cap' || (c.kbps !== null && typeof c.kbps !== 'number')) throw new Error('not a known command');
      lesson.setRecordingCapKbps(c.kbps);
      send({ type: 'snapshot', snapshot: snapshotOf(lesson) });
    } catch (e) {
      log.warn({ command: line.slice(0, 200), err: errorMessage(e) }, 'worker command refused');
    }
  };
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    const result = await lesson.stop();
    send({ type: 'stopped', result });
    io.exit(0);
  };
  const timer = setInterval(() => send({ type: 'snapshot', snapshot: snapshotOf(lesson) }), opts.config.monitor.statsIntervalMs);
  timer.unref();
  // Commands after the options; the parent going away (stdin closed) stops the lesson cleanly.
  void (async () => {
    for (;;) {
      const next = await it.next();
      if (next.done || next.value === 'stop') break;
      command(String(next.value));
    }
    await stop();
  })().catch((e: unknown) => log.error({ err: e }, 'worker command loop failed'));
  try {
    await lesson.start();
  } catch (e) {
    clearInterval(timer);
    send({ type: 'error', message: errorMessage(e) });
    io.exit(1);
    return;
  }
  send({ type: 'ready', snapshot: snapshotOf(lesson) });
}
