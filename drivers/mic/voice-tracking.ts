/**
 * Voice tracking: the student camera turns to whoever speaks. The array microphone reports the
 * direction of arrival (degrees, 0–359) and whether it hears a voice; config maps angle ranges
 * (zones) to camera presets.
 *
 * So the camera does not jitter:
 * - hysteresis: while the speaker stays within the current zone widened by `hysteresisDeg` on
 *   each side, nothing moves (a voice on the border between two zones does not bounce);
 * - settle: a new zone must be heard continuously for `settleMs` before the camera turns to it
 *   (a cough or a slammed desk does not move it);
 * - hold: after a move the camera stays at least `holdMs` (a dialogue does not swing it back
 *   and forth faster than a viewer can follow);
 * - idle: after `idleMs` without voice it goes back to `idlePreset`, when one is set.
 *
 * `VoiceTracker` is a pure state machine fed with timestamps; `VoiceTrackingRunner` polls the
 * microphone and calls `goPreset` for each decision.
 */
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { errorMessage } from '../../agent/errors.js';

export interface VoiceZone {
  /** Clockwise from `fromDeg` up to (not including) `toDeg`; 300 → 30 wraps through 0. */
  fromDeg: number;
  toDeg: number;
  preset: number;
  /** A label for logs, e.g. "left rows". */
  name?: string;
}

export interface VoiceTrackerOptions {
  zones: readonly VoiceZone[];
  hysteresisDeg: number;
  settleMs: number;
  holdMs: number;
  idlePreset?: number;
  idleMs?: number;
}

export interface VoiceSample {
  /** Direction of arrival, degrees. */
  angle: number;
  voice: boolean;
  /** Milliseconds on any monotonic scale. */
  at: number;
}

export interface VoiceDecision {
  preset: number;
  zone: VoiceZone | undefined;
  reason: 'speaker' | 'idle';
}

function mod360(x: number): number {
  return ((x % 360) + 360) % 360;
}

/** The zone's width in degrees; equal ends mean the whole circle. */
export function zoneWidth(z: Pick<VoiceZone, 'fromDeg' | 'toDeg'>): number {
  const w = mod360(z.toDeg - z.fromDeg);
  return w === 0 ? 360 : w;
}

/** Whether `angle` lies in the zone widened by `margin` degrees on each side. */
export function inZone(angle: number, z: Pick<VoiceZone, 'fromDeg' | 'toDeg'>, margin = 0): boolean {
  const width = zoneWidth(z);
  if (width + 2 * margin >= 360) return true;
  return mod360(angle - (z.fromDeg - margin)) < width + 2 * margin;
}

/** Overlaps between zones, as messages (checked once per whole degree). */
export function zoneOverlaps(zones: readonly VoiceZone[]): string[] {
  // First degree at which each pair of zones overlaps.
  const pairs = new Map<string, number>();
  for (let d = 0; d < 360; d++) {
    const hit = zones.map((z, i) => (inZone(d + 0.5, z) ? i : -1)).filter((i) => i >= 0);
    for (let a = 0; a < hit.length; a++) {
      for (let b = a + 1; b < hit.length; b++) {
        const key = `${hit[a]} and ${hit[b]}`;
        if (!pairs.has(key)) pairs.set(key, d);
      }
    }
  }
  return [...pairs].map(([key, d]) => `zones ${key} overlap (for example at ${d}°)`);
}

export class VoiceTracker {
  private current: VoiceZone | undefined;
  private currentPreset: number | undefined;
  private movedAt = -Infinity;
  private candidate: { zone: VoiceZone; since: number } | undefined;
  private lastVoiceAt: number | undefined;

  constructor(private readonly opts: VoiceTrackerOptions) {}

  /** The preset the tracker last moved to. */
  get preset(): number | undefined {
    return this.currentPreset;
  }

  zoneOf(angle: number): VoiceZone | undefined {
    return this.opts.zones.find((z) => inZone(angle, z));
  }

  /** Feeds one reading; returns the move to make now, if any. */
  update(s: VoiceSample): VoiceDecision | undefined {
    const held = s.at - this.movedAt >= this.opts.holdMs;
    if (!s.voice || !Number.isFinite(s.angle)) {
      this.candidate = undefined;
      const idle = this.opts.idlePreset;
      const quietFor = s.at - (this.lastVoiceAt ?? s.at);
      if (idle !== undefined && this.lastVoiceAt !== undefined && this.currentPreset !== idle && held && quietFor >= (this.opts.idleMs ?? Infinity)) {
        return this.move(undefined, idle, s.at, 'idle');
      }
      return undefined;
    }
    this.lastVoiceAt = s.at;
    if (this.current && inZone(s.angle, this.current, this.opts.hysteresisDeg)) {
      this.candidate = undefined;
      return undefined;
    }
    const zone = this.zoneOf(s.angle);
    if (!zone) {
      // A voice from outside every zone (the teacher at the board, a door): stay put.
      this.candidate = undefined;
      return undefined;
    }
    if (zone.preset === this.currentPreset) {
      this.current = zone;
      this.candidate = undefined;
      return undefined;
    }
    if (this.candidate?.zone !== zone) this.candidate = { zone, since: s.at };
    if (s.at - this.candidate.since < this.opts.settleMs || !held) return undefined;
    return this.move(zone, zone.preset, s.at, 'speaker');
  }

  /** After a move failed: forget it, so the next readings try again. */
  moveFailed(): void {
    this.current = undefined;
    this.currentPreset = undefined;
    this.movedAt = -Infinity;
  }

  private move(zone: VoiceZone | undefined, preset: number, at: number, reason: VoiceDecision['reason']): VoiceDecision {
    this.current = zone;
    this.currentPreset = preset;
    this.movedAt = at;
    this.candidate = undefined;
    return { preset, zone, reason };
  }
}

export interface VoiceTrackingRunnerOptions {
  tracker: VoiceTracker;
  cameraId: string;
  /** One reading from the microphone; rejects while it is absent. */
  read: () => Promise<{ angle: number; voice: boolean }>;
  goPreset: (cameraId: string, preset: number) => Promise<void>;
  pollMs: number;
  now?: () => number;
  log?: Logger;
}

/** Polls the microphone while started, one reading (and at most one camera move) at a time. */
export class VoiceTrackingRunner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: VoiceTrackingRunnerOptions) {
    this.log = opts.log ?? silentLogger();
    this.now = opts.now ?? (() => Date.now());
  }

  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.loop;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.loop = this.round().finally(() => {
        if (this.running) this.schedule(this.opts.pollMs);
      });
    }, ms);
  }

  private async round(): Promise<void> {
    let reading: { angle: number; voice: boolean };
    try {
      reading = await this.opts.read();
      this.lastError = undefined;
    } catch (e) {
      const msg = errorMessage(e);
      // Once per kind of failure, not at every poll while the microphone is unplugged.
      if (msg !== this.lastError) this.log.debug({ err: e }, 'voice tracking: no reading from the microphone');
      this.lastError = msg;
      return;
    }
    if (!this.running) return;
    const decision = this.opts.tracker.update({ ...reading, at: this.now() });
    if (!decision) return;
    this.log.info({ camera: this.opts.cameraId, preset: decision.preset, zone: decision.zone?.name, angle: reading.angle, reason: decision.reason }, 'voice tracking: camera to preset');
    try {
      await this.opts.goPreset(this.opts.cameraId, decision.preset);
    } catch (e) {
      this.opts.tracker.moveFailed();
      this.log.warn({ err: e, camera: this.opts.cameraId, preset: decision.preset }, 'voice tracking: camera did not move');
    }
  }
}
