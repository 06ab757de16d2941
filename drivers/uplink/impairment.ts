/**
 * What the emulator does to one direction of the link, and the checks on it. A profile, a CLI
 * option and a runtime change all go through the same validation.
 */
import { ConfigError } from '../../agent/errors.js';

/** `up` is client → target (the classroom's uplink), `down` is target → client. */
export type Direction = 'up' | 'down';

export interface Impairment {
  /** One-way delay added to every packet or chunk, in ms. */
  delayMs: number;
  /** Uniform jitter: each packet's delay is delayMs ± jitterMs (never below zero), in ms. */
  jitterMs: number;
  /**
   * Loss probability 0..1 per packet. UDP datagrams are dropped; TCP never loses bytes, so a
   * TCP chunk is instead held back for `stallMs`, like a retransmission.
   */
  loss: number;
  /** Bandwidth cap in bit/s; 0 means uncapped. */
  rateBps: number;
  /**
   * How many bytes may wait for the bandwidth cap. When full, UDP datagrams are dropped and TCP
   * sources are paused. Unused while uncapped.
   */
  queueBytes: number;
  /** Extra hold for a TCP chunk hit by loss, in ms; 0 means max(200, 3 × delayMs). */
  stallMs: number;
  /**
   * UDP only: let jitter reorder datagrams, as netem does. Off by default: a cellular link's
   * radio layer delivers a flow in order, so jitter there bunches datagrams up instead, and
   * reordering would make SRT or RTP see losses that a real 5G link does not cause.
   */
  reorder: boolean;
}

type NumericKey = Exclude<keyof Impairment, 'reorder'>;

export const NO_IMPAIRMENT: Readonly<Impairment> = Object.freeze({
  delayMs: 0,
  jitterMs: 0,
  loss: 0,
  rateBps: 0,
  queueBytes: 256 * 1024,
  stallMs: 0,
  reorder: false,
});

const LIMITS: Record<NumericKey, { min: number; max: number; integer?: boolean }> = {
  delayMs: { min: 0, max: 60_000 },
  jitterMs: { min: 0, max: 60_000 },
  loss: { min: 0, max: 1 },
  rateBps: { min: 0, max: 100e9 },
  queueBytes: { min: 1, max: 1024 * 1024 * 1024, integer: true },
  stallMs: { min: 0, max: 600_000 },
};

const KEYS = [...(Object.keys(LIMITS) as NumericKey[]), 'reorder'] as const;

/** Every problem with a partial impairment, each prefixed with `where` (for example `up`). */
export function impairmentProblems(patch: Readonly<Partial<Impairment>> | Readonly<Record<string, unknown>>, where: string): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries<unknown>(patch)) {
    if (value === undefined) continue;
    if (key === 'reorder') {
      if (typeof value !== 'boolean') problems.push(`${where}.reorder: must be true or false, got ${JSON.stringify(value)}`);
      continue;
    }
    const limit = LIMITS[key as NumericKey] as (typeof LIMITS)[NumericKey] | undefined;
    if (!limit) {
      problems.push(`${where}.${key}: unknown setting (known: ${KEYS.join(', ')})`);
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${where}.${key}: must be a finite number, got ${typeof value === 'number' ? value : JSON.stringify(value)}`);
    } else if (value < limit.min || value > limit.max) {
      problems.push(`${where}.${key}: must be between ${limit.min} and ${limit.max}, got ${value}`);
    } else if (limit.integer && !Number.isInteger(value)) {
      problems.push(`${where}.${key}: must be a whole number, got ${value}`);
    }
  }
  return problems;
}

/** `base` with `patch` applied; throws ConfigError naming every bad setting. */
export function applyImpairment(base: Readonly<Impairment>, patch: Partial<Impairment>, where: string): Impairment {
  const problems = impairmentProblems(patch, where);
  if (problems.length) throw new ConfigError('invalid link impairment', problems);
  const next: Impairment = { ...base };
  for (const key of Object.keys(LIMITS) as NumericKey[]) {
    const value = patch[key];
    if (value !== undefined) next[key] = value;
  }
  if (patch.reorder !== undefined) next.reorder = patch.reorder;
  return next;
}

/** The hold applied to a TCP chunk hit by loss: a retransmission timeout is at least ~200 ms. */
export function stallFor(imp: Readonly<Impairment>): number {
  return imp.stallMs > 0 ? imp.stallMs : Math.max(200, 3 * imp.delayMs);
}
