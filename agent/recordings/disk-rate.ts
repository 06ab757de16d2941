/**
 * Recording bitrate under disk pressure. When the disk (or the cache quota) cannot hold the rest
 * of the live lesson at the recording's full bitrate and nothing more may be evicted, the
 * recording's video bitrate is capped at what fits, so that the lesson is recorded to its end at
 * a lower quality instead of filling the disk part-way through. Recording never stops for it.
 *
 * The policy is a pure function (`recordingCapFor`); `RecordingRateGovernor` applies it to the
 * live lesson's media every disk check (twice a minute) and reports it.
 */
import type { Clock } from '../clock.js';
import type { EventPublisher } from '../events.js';
import type { Logger } from '../log.js';
import type { MediaSession } from '../lessons/media.js';
import type { DiskState } from './cache.js';

/**
 * What a recording takes on disk, by the way mpegtsmux writes MPEG-TS: video gains about a tenth
 * in packet and PES headers; each audio frame (1024 samples at 48 kHz) goes into its own PES,
 * padded to whole 188-byte packets, so 64 kbit/s of AAC takes about 140 kbit/s; the program
 * tables repeat about twenty packets a second. Measured on the test lesson (320x240 noise,
 * x264enc, 64 kbit/s AAC): 1396 kbit/s on disk at 1200 + 64, 490 at 300 + 64; this model gives
 * 1491 and 501, a little over, which errs on the side of the disk.
 */
const VIDEO_OVERHEAD = 1.1;
const AUDIO_FRAMES_PER_SEC = 48000 / 1024;
const TABLES_KBPS = 30;

function audioDiskKbps(audioKbps: number): number {
  const frameBytes = (audioKbps * 1000) / 8 / AUDIO_FRAMES_PER_SEC;
  // 4 bytes of packet header per 188; the PES header and the clock reference take about 22 more.
  const packets = Math.ceil((frameBytes + 22) / 184);
  return (AUDIO_FRAMES_PER_SEC * packets * 188 * 8) / 1000;
}

/** Kbit/s on disk for a recording at these encoder bitrates. */
export function diskKbps(videoKbps: number, audioKbps: number): number {
  return videoKbps * VIDEO_OVERHEAD + audioDiskKbps(audioKbps) + TABLES_KBPS;
}

/** The room (bytes) the policy wants for `remainingSec` more at these bitrates, slack included. */
export function roomNeeded(videoKbps: number, audioKbps: number, remainingSec: number): number {
  return (diskKbps(videoKbps, audioKbps) * 1000 * (Math.max(0, remainingSec) + END_SLACK_SEC)) / 8 / ROOM_SHARE;
}

/**
 * Slack: the rest of the lesson is planned into this share of the room (the rest covers the disk
 * model's error), and as lasting this many seconds longer than planned (the pipelines stop and
 * finalise the last segment after the bell).
 */
export const ROOM_SHARE = 0.95;
export const END_SLACK_SEC = 10;
/** A cap is raised only by at least this much (fewer encoder changes for small swings). */
const RAISE_MIN_RATIO = 1.1;
/** The cap is lifted only when the full bitrate fits with this margin to spare. */
const LIFT_MARGIN = 1.15;
/** Caps are whole multiples of this (kbit/s). */
const STEP_KBPS = 10;

export interface RecordingRateInput {
  /** What the recordings may still take, with everything evictable evicted (bytes). */
  roomBytes: number;
  /** Seconds of the live lesson still to record. */
  remainingSec: number;
  /** The recording's video bitrate without a cap (kbit/s). */
  fullVideoKbps: number;
  audioKbps: number;
  /** The lowest video bitrate worth recording at (kbit/s). */
  floorKbps: number;
  /** The cap in force now (null: none). */
  currentCapKbps: number | null;
}

export interface RecordingRateDecision {
  /** The cap to apply: null for none (full bitrate). */
  capKbps: number | null;
  /** The rest of the lesson fits at that bitrate (false: even the floor does not, recording goes on). */
  fits: boolean;
  /** What the planned share of the room allows for the rest of the lesson, audio and container included (kbit/s). */
  budgetKbps: number;
  /** At the decided bitrate, about how long the room lasts (seconds). */
  lastsSec: number;
}

/**
 * The recording's video cap for the rest of the lesson. The recording is planned at its full
 * bitrate (the most it can run at: an uplink that drops sends a shared encoder back to the
 * ceiling); when that does not fit, the cap is the video bitrate that does, not below the floor.
 * A cap is raised only by a tenth or more and lifted only with some margin, so that estimates
 * that wobble from one check to the next do not keep changing the encoder.
 */
export function recordingCapFor(i: RecordingRateInput): RecordingRateDecision {
  const remaining = Math.max(0, i.remainingSec) + END_SLACK_SEC;
  const budgetKbps = (Math.max(0, i.roomBytes) * ROOM_SHARE * 8) / 1000 / remaining;
  const lasts = (videoKbps: number): number => (Math.max(0, i.roomBytes) * 8) / 1000 / diskKbps(videoKbps, i.audioKbps);
  const full = diskKbps(i.fullVideoKbps, i.audioKbps);
  if (full * (i.currentCapKbps === null ? 1 : LIFT_MARGIN) <= budgetKbps) {
    return { capKbps: null, fits: true, budgetKbps, lastsSec: lasts(i.fullVideoKbps) };
  }
  const fitting = Math.floor((budgetKbps - audioDiskKbps(i.audioKbps) - TABLES_KBPS) / VIDEO_OVERHEAD / STEP_KBPS) * STEP_KBPS;
  let cap = Math.min(i.fullVideoKbps, Math.max(i.floorKbps, fitting));
  if (i.currentCapKbps !== null && cap > i.currentCapKbps && cap < i.currentCapKbps * RAISE_MIN_RATIO) cap = i.currentCapKbps;
  return { capKbps: cap, fits: diskKbps(cap, i.audioKbps) <= budgetKbps, budgetKbps, lastsSec: lasts(cap) };
}

/** The live lesson's recording, as the lesson loop has it. */
export interface LiveRecording {
  lessonId: string;
  /** When the lesson is planned to end. */
  end: Date;
  session: MediaSession;
}

export interface RecordingRates {
  fullVideoKbps: number;
  audioKbps: number;
  floorKbps: number;
}

export interface RecordingRateDeps {
  /** The cache's room after eviction (RecordingCache.headroom). */
  headroom(): Promise<DiskState & { roomBytes: number }>;
  /** The lesson being recorded now, if any. */
  live(): LiveRecording | null;
  /** The recording's bitrates from the media settings; undefined: nothing is recorded here. */
  rates: RecordingRates | undefined;
  clock: Clock;
  log: Logger;
  events: EventPublisher;
  /**
   * The disk.low episode shared with the recording cache: one event per episode, whichever of
   * the two sees the shortage first. `open()` returns false when an episode is already open (then
   * nothing is emitted); `hold(active)` keeps the episode open while the recording is capped.
   */
  episode?: { open(): boolean; hold(active: boolean): void };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const min = (sec: number): string => `${Math.max(0, Math.round(sec / 60))} min`;

/**
 * Applies `recordingCapFor` to the live lesson, once per check. A new lesson (or a new media
 * session of the same lesson) starts at full bitrate and is judged afresh. The first cap of a
 * session is reported as `disk.low`, and so is the moment even the floor stops fitting, unless
 * the disk.low episode is already open (the cache reported it); every change is logged.
 */
export class RecordingRateGovernor {
  private session: MediaSession | undefined;
  private capKbps: number | null = null;
  private reported = false;
  private reportedShort = false;

  constructor(private readonly deps: RecordingRateDeps) {}

  /** The cap now applied to the live lesson's recording (null: none). */
  get currentCap(): number | null {
    return this.capKbps;
  }

  async check(): Promise<void> {
    const live = this.deps.live();
    const rates = this.deps.rates;
    if (!live || !rates || !live.session.setRecordingCap) {
      this.session = undefined;
      this.capKbps = null;
      this.deps.episode?.hold(false);
      return;
    }
    if (live.session !== this.session) {
      this.session = live.session;
      this.capKbps = null;
      this.reported = false;
      this.reportedShort = false;
    }
    const remainingSec = (live.end.getTime() - this.deps.clock.now().getTime()) / 1000;
    // Past its planned end the lesson is about to stop: nothing left to plan for.
    if (remainingSec <= 0) return;
    const room = await this.deps.headroom();
    const d = recordingCapFor({ roomBytes: room.roomBytes, remainingSec, ...rates, currentCapKbps: this.capKbps });
    const before = this.capKbps;
    if (d.capKbps !== before) {
      live.session.setRecordingCap(d.capKbps);
      this.capKbps = d.capKbps;
    }
    this.deps.episode?.hold(d.capKbps !== null);
    const fields = { lessonId: live.lessonId, capKbps: d.capKbps, before, roomBytes: room.roomBytes, remainingSec: Math.round(remainingSec), budgetKbps: Math.round(d.budgetKbps) };
    if (d.capKbps === null) {
      if (before !== null) this.deps.log.info(fields, 'the disk holds the rest of the lesson at full bitrate again; recording cap lifted');
      return;
    }
    const what = d.fits
      ? `recording video bitrate ${before === null || d.capKbps <= before ? 'lowered' : 'raised'} to ${d.capKbps} kbit/s (full: ${rates.fullVideoKbps}) so that the remaining ${min(remainingSec)} of the lesson fit in the ${mb(room.roomBytes)} the recordings may still take`
      : `even at the lowest recording bitrate (${d.capKbps} kbit/s) the ${mb(room.roomBytes)} the recordings may still take last about ${min(d.lastsSec)} of the remaining ${min(remainingSec)}`;
    if (d.capKbps !== before) this.deps.log.warn(fields, what);
    const first = !this.reported;
    const short = !d.fits && !this.reportedShort;
    if (!first && !short) return;
    this.reported = true;
    if (!d.fits) this.reportedShort = true;
    if (this.deps.episode && !this.deps.episode.open()) return;
    this.deps.events.emit({
      type: 'disk.low',
      severity: d.fits ? 'warning' : 'error',
      lessonId: live.lessonId,
      message: `${what}; recording continues, nothing not yet uploaded is deleted`,
      details: {
        recordingCapKbps: d.capKbps,
        fullVideoKbps: rates.fullVideoKbps,
        audioKbps: rates.audioKbps,
        remainingSec: Math.round(remainingSec),
        roomBytes: room.roomBytes,
        lastsSec: Math.round(d.lastsSec),
        freeBytes: room.freeBytes,
        cacheBytes: room.cacheBytes,
        pendingBytes: room.pendingBytes,
      },
    });
  }
}
