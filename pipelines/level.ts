/**
 * Audio level monitoring. The `level` element posts `level` element messages whose `rms`, `peak`
 * and `decay` fields (dB, one per channel) reach Node as strings like `"< -4.948500 >"` or
 * `"< -20.1, -19.8 >"` (GValueArray turned into text); a binding that converted them would give
 * arrays. Both are accepted. Silence shows as very negative numbers or `-inf`.
 */

/** Parses one per-channel dB field; unreadable entries are dropped, `-inf` becomes -Infinity. */
export function parseLevelArray(v: unknown): number[] {
  const items: unknown[] = Array.isArray(v) ? v : typeof v === 'string' ? v.replace(/^\s*[<{[]|[>}\]]\s*$/g, '').split(',') : [];
  const out: number[] = [];
  for (const item of items) {
    if (typeof item === 'number') {
      if (!Number.isNaN(item)) out.push(item);
      continue;
    }
    if (typeof item !== 'string') continue;
    const t = item.trim().replace(/^\((?:g?double|g?float)\)/i, '');
    if (/^-inf(inity)?$/i.test(t)) out.push(-Infinity);
    else if (/^\+?inf(inity)?$/i.test(t)) out.push(Infinity);
    else if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) out.push(Number(t));
  }
  return out;
}

export interface LevelReading {
  rmsDb: number[];
  peakDb: number[];
  /** The loudest channel's RMS, the figure silence detection uses. */
  loudestRmsDb: number;
  /** The message's running time in ns, when present. */
  runningTimeNs?: number;
}

/** Reads a `level` element message's fields; undefined when it has no usable RMS. */
export function parseLevelMessage(fields: Record<string, unknown>): LevelReading | undefined {
  const rmsDb = parseLevelArray(fields.rms);
  if (rmsDb.length === 0) return undefined;
  const peakDb = parseLevelArray(fields.peak);
  const rt = typeof fields['running-time'] === 'string' ? Number(fields['running-time']) : undefined;
  return { rmsDb, peakDb, loudestRmsDb: Math.max(...rmsDb), runningTimeNs: rt !== undefined && Number.isFinite(rt) ? rt : undefined };
}

export interface SilenceOptions {
  thresholdDb: number;
  afterMs: number;
}

export type SilenceChange = { silent: true; sinceMs: number; levelDb: number } | { silent: false; silentForMs: number; levelDb: number };

/**
 * Raises an alarm after the level stayed below the threshold for `afterMs` while monitoring is
 * armed (the lesson is live), and clears it at the first reading above. Readings while disarmed
 * restart the count, so a pause in the stream never counts as silence.
 */
export class SilenceDetector {
  private quietSince: number | undefined;
  private alarmed = false;

  constructor(private readonly opts: SilenceOptions) {}

  get isSilent(): boolean {
    return this.alarmed;
  }

  /** Feeds one reading; returns a change when the alarm is raised or cleared. */
  update(levelDb: number, nowMs: number, armed: boolean): SilenceChange | undefined {
    if (!armed) {
      this.quietSince = undefined;
      if (this.alarmed) {
        this.alarmed = false;
        return { silent: false, silentForMs: 0, levelDb };
      }
      return undefined;
    }
    if (levelDb < this.opts.thresholdDb) {
      this.quietSince ??= nowMs;
      if (!this.alarmed && nowMs - this.quietSince >= this.opts.afterMs) {
        this.alarmed = true;
        return { silent: true, sinceMs: this.quietSince, levelDb };
      }
      return undefined;
    }
    const since = this.quietSince;
    this.quietSince = undefined;
    if (this.alarmed) {
      this.alarmed = false;
      return { silent: false, silentForMs: since === undefined ? 0 : nowMs - since, levelDb };
    }
    return undefined;
  }
}
