/**
 * When the link is down, and how. An outage is started by hand (`start`) or by a schedule of
 * windows that may repeat; both can be active at once, and `reset` wins over `blackhole` since
 * a client that has seen its connections reset cannot be un-reset. The owner is told about each
 * change of the effective mode.
 */
import { ConfigError } from '../../agent/errors.js';
import { now } from './scheduler.js';

/**
 * `blackhole`: everything is silently dropped or held, new TCP connections are accepted and then
 * hang. `reset`: TCP connections are reset and new ones are reset on accept; UDP is dropped.
 */
export type OutageMode = 'blackhole' | 'reset';

export interface OutageSpec {
  /** How long the link stays down; Infinity means until `endOutage()` or another profile. */
  durationMs: number;
  mode: OutageMode;
}

export interface OutageWindow extends OutageSpec {
  /** Start of the window, from the start of the schedule (or of each cycle when repeating). */
  atMs: number;
}

export interface ScheduleOptions {
  /** Run the windows again and again. */
  repeat?: boolean;
  /** Length of one cycle when repeating; defaults to the end of the last window. */
  periodMs?: number;
}

export interface OutageState {
  mode: OutageMode;
  /** Until the current outage ends as far as is known now; Infinity when open-ended. */
  remainingMs: number;
}

interface Active {
  mode: OutageMode;
  until: number;
}

interface Plan {
  /** Sorted by time; `mode: null` ends the window that is open. */
  events: { t: number; mode: OutageMode | null; until: number }[];
  periodMs: number | null;
  cycleStart: number;
  index: number;
}

const MODES: readonly OutageMode[] = ['blackhole', 'reset'];

export class OutageControl {
  private manual: Active | null = null;
  private scheduled: Active | null = null;
  private manualTimer: NodeJS.Timeout | null = null;
  private planTimer: NodeJS.Timeout | null = null;
  private plan: Plan | null = null;
  private effective: OutageMode | null = null;
  private started = 0;

  constructor(private readonly onChange: (next: OutageMode | null, prev: OutageMode | null) => void) {}

  get mode(): OutageMode | null {
    return this.effective;
  }

  /** How many times the link went down (from up to an outage of any mode). */
  get count(): number {
    return this.started;
  }

  state(): OutageState | null {
    if (!this.effective) return null;
    const t = now();
    const untils = [this.manual, this.scheduled].filter((a): a is Active => a !== null).map((a) => a.until);
    return { mode: this.effective, remainingMs: Math.max(0, Math.max(...untils) - t) };
  }

  /** Takes the link down now, replacing any outage started by hand before. */
  start(spec: OutageSpec): void {
    const problems = specProblems(spec, 'outage');
    if (problems.length) throw new ConfigError('invalid outage', problems);
    this.clearManual();
    const until = now() + spec.durationMs;
    this.manual = { mode: spec.mode, until };
    if (Number.isFinite(spec.durationMs)) {
      this.manualTimer = setTimeout(() => {
        this.manualTimer = null;
        this.manual = null;
        this.update();
      }, spec.durationMs);
    }
    this.update();
  }

  /** Ends an outage started by hand; a scheduled window that is open stays open. */
  end(): void {
    this.clearManual();
    this.update();
  }

  /** Replaces the schedule; an empty list cancels it (and closes a window it had open). */
  schedule(windows: readonly OutageWindow[], opts: ScheduleOptions = {}): void {
    const sorted = [...windows].sort((a, b) => a.atMs - b.atMs);
    const problems = scheduleProblems(sorted, opts);
    if (problems.length) throw new ConfigError('invalid outage schedule', problems);
    this.clearPlan();
    this.scheduled = null;
    if (sorted.length > 0) {
      const lastEnd = Math.max(...sorted.map((w) => w.atMs + w.durationMs));
      const events: Plan['events'] = [];
      for (const w of sorted) {
        events.push({ t: w.atMs, mode: w.mode, until: w.atMs + w.durationMs });
        events.push({ t: w.atMs + w.durationMs, mode: null, until: 0 });
      }
      this.plan = {
        events,
        periodMs: opts.repeat ? (opts.periodMs ?? lastEnd) : null,
        cycleStart: now(),
        index: 0,
      };
      this.stepPlan();
    } else {
      this.update();
    }
  }

  close(): void {
    this.clearManual();
    this.clearPlan();
    this.scheduled = null;
    this.effective = null;
  }

  private stepPlan(): void {
    this.planTimer = null;
    // One scheduled instant at a time, so a late timer still shows every window (a reset window
    // still resets); events at the same instant go together, so a window that ends exactly when
    // the next one starts keeps the link down without a blip.
    for (let due = this.nextDue(); due !== null && due <= now() + 1; due = this.nextDue()) {
      for (let plan = this.plan; plan; plan = this.plan) {
        const ev = plan.events[plan.index];
        if (!ev || Math.abs(plan.cycleStart + ev.t - due) > 1e-6) break;
        this.scheduled = ev.mode ? { mode: ev.mode, until: plan.cycleStart + ev.until } : null;
        this.advance(plan);
      }
      this.update();
    }
    const due = this.nextDue();
    if (due !== null) this.planTimer = setTimeout(() => this.stepPlan(), Math.max(0, Math.ceil(due - now())));
  }

  private nextDue(): number | null {
    const plan = this.plan;
    const ev = plan?.events[plan.index];
    return plan && ev ? plan.cycleStart + ev.t : null;
  }

  private advance(plan: Plan): void {
    plan.index++;
    if (plan.index < plan.events.length) return;
    if (plan.periodMs === null) {
      this.plan = null;
    } else {
      plan.index = 0;
      plan.cycleStart += plan.periodMs;
    }
  }

  private update(): void {
    const modes = [this.manual?.mode, this.scheduled?.mode];
    const next: OutageMode | null = modes.includes('reset') ? 'reset' : modes.includes('blackhole') ? 'blackhole' : null;
    const prev = this.effective;
    if (next === prev) return;
    this.effective = next;
    if (prev === null) this.started++;
    this.onChange(next, prev);
  }

  private clearManual(): void {
    if (this.manualTimer) clearTimeout(this.manualTimer);
    this.manualTimer = null;
    this.manual = null;
  }

  private clearPlan(): void {
    if (this.planTimer) clearTimeout(this.planTimer);
    this.planTimer = null;
    this.plan = null;
  }
}

function specProblems(spec: OutageSpec, where: string): string[] {
  const problems: string[] = [];
  if (!MODES.includes(spec.mode)) problems.push(`${where}.mode: must be one of ${MODES.join(', ')}, got ${String(spec.mode)}`);
  if (typeof spec.durationMs !== 'number' || Number.isNaN(spec.durationMs) || spec.durationMs <= 0) {
    problems.push(`${where}.durationMs: must be a positive number of ms, got ${String(spec.durationMs)}`);
  }
  return problems;
}

function scheduleProblems(sorted: readonly OutageWindow[], opts: ScheduleOptions): string[] {
  const problems: string[] = [];
  let lastEnd = 0;
  sorted.forEach((w, i) => {
    const where = `schedule[${i}]`;
    problems.push(...specProblems(w, where));
    if (!Number.isFinite(w.durationMs)) problems.push(`${where}.durationMs: must be finite in a schedule`);
    if (typeof w.atMs !== 'number' || !Number.isFinite(w.atMs) || w.atMs < 0) {
      problems.push(`${where}.atMs: must be a number of ms >= 0, got ${String(w.atMs)}`);
    } else if (w.atMs < lastEnd) {
      problems.push(`${where}: starts at ${w.atMs} ms, before the previous window ends at ${lastEnd} ms`);
    }
    lastEnd = Math.max(lastEnd, w.atMs + w.durationMs);
  });
  if (opts.periodMs !== undefined) {
    if (!opts.repeat) problems.push('periodMs: only meaningful with repeat: true');
    if (!Number.isFinite(opts.periodMs) || opts.periodMs < lastEnd || opts.periodMs <= 0) {
      problems.push(`periodMs: must be at least the end of the last window (${lastEnd} ms), got ${opts.periodMs}`);
    }
  }
  return problems;
}
