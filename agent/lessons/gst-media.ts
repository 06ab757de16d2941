import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { EventPublisher } from '../events.js';
import type { MediaConfig } from '../../pipelines/config.js';
import type { SegmentEvent, SilenceEvent } from '../../pipelines/runtime.js';
import { LessonMediaProcess } from '../../pipelines/process.js';
import type { LessonMedia, MediaLessonInfo, MediaSession, RecordingSummary } from './media.js';

/**
 * The lesson loop's media port on the GStreamer pipelines: each lesson's pipelines run in a
 * child process (the binding never frees a pipeline, and a GStreamer crash must not take the
 * daemon with it); a child that dies mid-lesson is started again, the recording continuing with
 * the next segment. Stream failures and recoveries become contract events, stream uptime is
 * sampled once a second, and the recording is summed up from the segment journal at the end.
 */
export class GstLessonMedia implements LessonMedia {
  constructor(
    private readonly deps: {
      config: MediaConfig;
      deviceId: string;
      log: Logger;
      events: EventPublisher;
      runDir: string;
      /** The program that runs the media worker (default: this Node with the built worker). */
      workerCommand?: { file: string; args: string[] };
      /** The pipeline's silence alarm and its end (the microphone's health). */
      onSilence?: (e: SilenceEvent) => void;
      /**
       * The ALSA capture device of the USB microphone now, used when the config names an ALSA
       * source without a device (card numbers change with plug order; the microphone knows its card).
       */
      audioDevice?: () => string | undefined;
      /** Each finalised segment, as it closes (the recording cache takes it in). */
      onSegmentClosed?: (lessonId: string, location: string, durationNs: number | undefined) => void;
    },
  ) {}

  /** The media config for a lesson starting now: the microphone's card filled in where none is configured. */
  private lessonConfig(): MediaConfig {
    const { config, audioDevice } = this.deps;
    if (config.audio.type !== 'alsa' || config.audio.device || !audioDevice) return config;
    const device = audioDevice();
    return device ? { ...config, audio: { ...config.audio, device } } : config;
  }

  async start(info: MediaLessonInfo): Promise<MediaSession> {
    const { deviceId, log, events, runDir } = this.deps;
    // The recording's bitrate cap (disk pressure), null when none.
    let recordingCap: number | null = null;
    const make = (): LessonMediaProcess =>
      new LessonMediaProcess({
        config: this.lessonConfig(),
        role: info.role,
        deviceId,
        lessonId: info.lessonId,
        runDir,
        ...(this.deps.workerCommand && { command: this.deps.workerCommand }),
        ...(info.peerRoomIds[0] !== undefined && { peerRoomId: info.peerRoomIds[0] }),
        // A worker started again mid-lesson keeps the recording's cap.
        recordingCapKbps: recordingCap,
        log: log.child({ lessonId: info.lessonId }),
      });
    let pipelines = make();
    let ending = false;
    const watch = (p: LessonMediaProcess): void => {
      p.on('exit', (e) => {
        if (e.expected || ending) return;
        log.error({ lessonId: info.lessonId, code: e.code, signal: e.signal }, 'lesson media process died; starting it again');
        setTimeout(() => {
          if (ending) return;
          const next = make();
          wire(next);
          pipelines = next;
          next.start().catch((err: unknown) => log.error({ err, lessonId: info.lessonId }, 'lesson media process did not restart'));
        }, 2000);
      });
    };
    const wire = (p: LessonMediaProcess): void => {
      watch(p);
      if (this.deps.onSilence) p.on('silence', this.deps.onSilence);
      p.on('segment', (s) => {
        if (s.kind !== 'closed') return;
        closed.push(s);
        this.deps.onSegmentClosed?.(info.lessonId, s.location, s.durationNs);
      });
      p.on('recording.bitrate', (e) => {
        const fields = { lessonId: info.lessonId, capKbps: e.capKbps, kbps: e.kbps, encoder: e.encoder };
        if (!e.applied) log.warn(fields, `the recording's encoder cannot change its bitrate while playing; the recording keeps ${e.kbps} kbit/s`);
        else if (e.capKbps === null) log.info(fields, `recording bitrate cap lifted; the recording's encoder runs at ${e.kbps} kbit/s`);
        else log.info(fields, `recording bitrate capped: the recording's encoder runs at ${e.kbps} kbit/s`);
      });
      p.on('stream.failed', (e) => {
        if (e.direction === 'uplink') info.onUplink?.({ up: false, at: instant(e.at) });
        events.emit({
          type: 'stream.failed',
          severity: 'warning',
          lessonId: info.lessonId,
          message: `${e.direction === 'uplink' ? 'stream to the media server' : 'remote lesson'} lost (${e.reason}); recording continues locally`,
          details: { direction: e.direction, reason: e.reason },
        });
      });
      p.on('stream.recovered', (e) => {
        if (e.direction === 'uplink') info.onUplink?.({ up: true, at: instant(e.at) });
        events.emit({
          type: 'stream.recovered',
          severity: 'info',
          lessonId: info.lessonId,
          message: `${e.direction === 'uplink' ? 'stream to the media server' : 'remote lesson'} back after ${Math.round(e.downMs / 1000)} s`,
          details: { direction: e.direction, downSec: Math.round(e.downMs / 1000) },
        });
      });
    };
    const closed: SegmentEvent[] = [];
    wire(pipelines);
    let upMs = 0;
    let last = Date.now();
    const sampler = setInterval(() => {
      const now = Date.now();
      if (pipelines.streamNow()?.state === 'live') upMs += Math.min(now - last, 5000);
      last = now;
    }, 1000);
    try {
      await pipelines.start();
    } catch (e) {
      ending = true;
      clearInterval(sampler);
      await pipelines.stop().catch(() => undefined);
      throw e;
    }
    return {
      stream: () => pipelines.streamNow(),
      streamUpMs: () => upMs,
      setRecordingCap: (kbps) => {
        recordingCap = kbps;
        if (!ending) pipelines.setRecordingCap(kbps);
      },
      stop: async () => {
        ending = true;
        clearInterval(sampler);
        const result = await pipelines.stop();
        for (const s of result.segments) if (s.kind === 'closed' && !closed.some((c) => c.location === s.location)) closed.push(s);
        return summarise(closed);
      },
    };
  }
}

/** The moment in a pipeline event (ISO text from the media process); now if it cannot be read. */
function instant(text: string): Date {
  const t = Date.parse(text);
  return Number.isNaN(t) ? new Date() : new Date(t);
}

async function summarise(segments: SegmentEvent[]): Promise<RecordingSummary> {
  let bytes = 0;
  let durationNs = 0;
  const sha256: string[] = [];
  for (const s of [...segments].sort((a, b) => a.index - b.index)) {
    const size = await stat(s.location).then((st) => st.size, () => undefined);
    if (size === undefined) continue;
    bytes += size;
    durationNs += s.durationNs ?? 0;
    sha256.push(await fileSha256(s.location));
  }
  return { segments: sha256.length, bytes, durationSec: Math.round(durationNs / 1e9), sha256 };
}

function fileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
