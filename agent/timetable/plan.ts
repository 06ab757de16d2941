/**
 * The lesson lifecycle as desired state: given the time and what is known (the applied
 * timetable, manual starts and stops, the lessons already finished), what should the room be
 * doing now? Pure and stateless; a reconciler compares the answer with what the room does and
 * acts. A clock that jumps forward or back is just a different `now`.
 *
 * Phases of a timetabled lesson with slot [start, end):
 *   idle → readiness-check from start − readinessLeadSec (the pre-lesson check of camera,
 *   microphone, uplink …) → preparing from start − preRollSec (pipeline up, preset recalled)
 *   → live from start → over at end (the bell; exactly at `end` the lesson is over).
 *   When readinessLeadSec <= preRollSec there is no readiness window of its own.
 *
 * Rules:
 * 1. Late starts. A lesson whose slot is over is never started. A device that comes up (or a
 *    room that becomes free) inside a slot runs that lesson for the rest of the slot, under the
 *    same lessonId, so a restart mid-lesson continues the lesson.
 * 2. Finished lessons (final record written) are never run again, whatever the clock says.
 * 3. A manual stop names a lessonId and holds for that occurrence: a stopped timetabled lesson
 *    stays stopped for the rest of its slot (and a stop sent before the slot cancels it).
 * 4. A manual or platform start runs from `startedAt` for `durationMin` (default 45) minutes.
 * 5. Precedence: one lesson is live at a time; among the lessons that may be live now, the one
 *    that started first wins (the running one), the timetable winning an exact tie. The others
 *    are reported as `displaced`. A timetabled lesson displaced by a manual one starts, by
 *    rule 1, for what is left of its slot when the manual one ends.
 *    A start request is refused while a lesson is live or being prepared: see `canStart`.
 * 6. Back-to-back lessons: the live lesson holds the room until its end; the next lesson's
 *    readiness check and pre-roll happen only in whatever time is left between the two. With
 *    bells that touch, the next lesson is live from the instant the previous one ends.
 * 7. A lesson that has begun stays live until its end even when the wall clock steps back
 *    before its start (it is not un-begun). Timetabled: the reconciler passes it as `running`.
 * 8. Timetable replaced mid-lesson. If the new timetable still has the running lesson (same
 *    entry id on the same date, so the same lessonId) in a slot that has begun (or begins when
 *    the running one did), that slot's end applies: it ends at the new bell, at once when that
 *    bell is already past. If the new timetable no longer has it, or moved it to a slot later
 *    on, it continues to the end it had when it started rather than cutting a class off
 *    mid-sentence (the later slot does not run it again: it is finished by then). A new
 *    lesson whose slot has begun meanwhile is displaced until then (rules 5 and 1).
 */
import type { Timetable } from '../contract/types.js';
import { lessonsNear, nextLessonAfter, type ResolvedLesson } from './resolve.js';

export interface PlanSettings {
  /** Seconds before the bell to bring the pipeline up (default 120). */
  preRollSec: number;
  /** Seconds before the bell to run the readiness check (default 600). */
  readinessLeadSec: number;
}

export const DEFAULT_PLAN_SETTINGS: Readonly<PlanSettings> = { preRollSec: 120, readinessLeadSec: 600 };
export const DEFAULT_MANUAL_DURATION_MIN = 45;

/** A lesson started by `lesson.start` (trigger 'platform') or on the device (trigger 'manual'). */
export interface ManualStart {
  lessonId: string;
  subject: string;
  startedAt: Date;
  durationMin?: number;
  peerRoomIds: string[];
  preset?: number;
  trigger: 'manual' | 'platform';
}

/** A `lesson.stop` or local stop of one lesson occurrence. */
export interface ManualStop {
  lessonId: string;
  stoppedAt: Date;
}

export type LessonOverride = ManualStart | ManualStop;

/** A manual or platform-started lesson as planned. */
export interface AdHocLesson {
  trigger: 'manual' | 'platform';
  lessonId: string;
  subject: string;
  peerRoomIds: string[];
  preset?: number;
  start: Date;
  end: Date;
}

export type PlannedLesson = ResolvedLesson | AdHocLesson;

export interface PlanInput {
  now: Date;
  /** The applied timetable; null when none has ever been applied. */
  timetable: Timetable | null;
  deviceId: string;
  settings?: Partial<PlanSettings>;
  overrides?: readonly LessonOverride[];
  /** lessonIds whose final record (completed, interrupted, missed, cancelled) is written. */
  finished?: ReadonlySet<string>;
  /** The timetabled lesson the room is live with, as resolved when it started (rules 7, 8). */
  running?: ResolvedLesson | null;
}

/**
 * The desired room state. `changesAt` is the next instant at which the answer may change on
 * its own (absent when nothing lies ahead); the answer may also stay the same then.
 */
export type RoomPlan =
  | { kind: 'idle'; next?: ResolvedLesson; stopped?: ResolvedLesson; changesAt?: Date }
  | { kind: 'readiness-check'; lesson: ResolvedLesson; changesAt: Date }
  | { kind: 'preparing'; lesson: ResolvedLesson; changesAt: Date }
  | { kind: 'live'; lesson: PlannedLesson; endsAt: Date; next?: ResolvedLesson; displaced: PlannedLesson[]; changesAt: Date };

/** Settings with defaults filled in; negative or non-finite values fall back to the default. */
export function planSettings(settings: Partial<PlanSettings> = {}): PlanSettings {
  const pick = (value: number | undefined, fallback: number): number => (value !== undefined && Number.isFinite(value) && value >= 0 ? value : fallback);
  return {
    preRollSec: pick(settings.preRollSec, DEFAULT_PLAN_SETTINGS.preRollSec),
    readinessLeadSec: pick(settings.readinessLeadSec, DEFAULT_PLAN_SETTINGS.readinessLeadSec),
  };
}

function isStart(o: LessonOverride): o is ManualStart {
  return 'startedAt' in o;
}

/** The planned form of a manual start: it ends `durationMin` (default 45) after `startedAt`. */
export function adHocLesson(start: ManualStart): AdHocLesson {
  const minutes = start.durationMin !== undefined && Number.isFinite(start.durationMin) && start.durationMin > 0 ? start.durationMin : DEFAULT_MANUAL_DURATION_MIN;
  return {
    trigger: start.trigger,
    lessonId: start.lessonId,
    subject: start.subject,
    peerRoomIds: [...start.peerRoomIds],
    ...(start.preset !== undefined && { preset: start.preset }),
    start: start.startedAt,
    end: new Date(start.startedAt.getTime() + minutes * 60_000),
  };
}

const ms = (d: Date): number => d.getTime();

/** Earliest start first; on a tie the timetable first, then by lessonId (rule 5). */
function byPrecedence(a: PlannedLesson, b: PlannedLesson): number {
  const rank = (l: PlannedLesson): number => (l.trigger === 'timetable' ? 0 : 1);
  return ms(a.start) - ms(b.start) || rank(a) - rank(b) || (a.lessonId < b.lessonId ? -1 : a.lessonId > b.lessonId ? 1 : 0);
}

/** The desired state of the room at `input.now`; see the rules at the top of this file. */
export function planRoom(input: PlanInput): RoomPlan {
  const { now, timetable, deviceId } = input;
  const t = ms(now);
  const { preRollSec, readinessLeadSec } = planSettings(input.settings);
  const finished = input.finished ?? new Set<string>();
  const overrides = input.overrides ?? [];
  const stopped = new Set(overrides.filter((o) => !isStart(o)).map((o) => o.lessonId));
  const done = (lessonId: string): boolean => finished.has(lessonId) || stopped.has(lessonId);

  const near = timetable ? lessonsNear(timetable, now, now, deviceId) : [];
  const inSlot = near.filter((l) => ms(l.start) <= t && t < ms(l.end));

  // Every lesson that may be live now (rules 1, 4, 7, 8).
  const candidates: PlannedLesson[] = inSlot.filter((l) => !done(l.lessonId));
  const running = input.running;
  if (running && !done(running.lessonId) && !candidates.some((l) => l.lessonId === running.lessonId)) {
    // Rule 8: the applied timetable's slot for it counts when that slot has begun or begins
    // when the running one did (then the clock stepped back: rule 7); else the slot it began.
    const current = near.find((l) => l.lessonId === running.lessonId);
    const kept = current && (ms(current.start) <= t || ms(current.start) === ms(running.start)) ? current : running;
    if (t < ms(kept.end)) candidates.push(kept);
  }
  for (const o of overrides) {
    if (!isStart(o) || done(o.lessonId)) continue;
    const lesson = adHocLesson(o);
    if (t < ms(lesson.end)) candidates.push(lesson);
  }
  candidates.sort(byPrecedence);
  const [live, ...displaced] = candidates;

  const next = timetable ? nextLessonAfter(timetable, now, deviceId, (l) => !done(l.lessonId) && l.lessonId !== live?.lessonId) : undefined;
  const readinessAt = next ? ms(next.start) - Math.max(readinessLeadSec, preRollSec) * 1000 : Infinity;
  const prepareAt = next ? ms(next.start) - preRollSec * 1000 : Infinity;

  const heldStopped = inSlot.find((l) => stopped.has(l.lessonId));
  const changesAt = firstAfter(t, [
    ...candidates.map((l) => ms(l.end)),
    ...(next ? [readinessAt, prepareAt, ms(next.start)] : []),
    ...(heldStopped ? [ms(heldStopped.end)] : []),
  ]);

  if (live) {
    return { kind: 'live', lesson: live, endsAt: live.end, ...(next && { next }), displaced, changesAt: changesAt ?? live.end };
  }
  if (next && t >= prepareAt) return { kind: 'preparing', lesson: next, changesAt: changesAt ?? next.start };
  if (next && t >= readinessAt) return { kind: 'readiness-check', lesson: next, changesAt: changesAt ?? next.start };
  return {
    kind: 'idle',
    ...(next && { next }),
    ...(heldStopped && { stopped: heldStopped }),
    ...(changesAt && { changesAt }),
  };
}

function firstAfter(t: number, instants: readonly number[]): Date | undefined {
  const ahead = instants.filter((i) => i > t && Number.isFinite(i));
  return ahead.length ? new Date(Math.min(...ahead)) : undefined;
}

export type StartCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether a manual or platform start may begin in this state. Refused (the contract's
 * `conflict`) while a lesson is live, and while a timetabled lesson is being prepared: it
 * starts within preRollSec. Allowed when idle or during a readiness check; a manual lesson
 * started then displaces the timetabled one until it ends (rule 5).
 */
export function canStart(plan: RoomPlan): StartCheck {
  switch (plan.kind) {
    case 'live':
      return { ok: false, reason: `lesson ${plan.lesson.lessonId} (${plan.lesson.subject}) is live until ${plan.endsAt.toISOString()}` };
    case 'preparing':
      return { ok: false, reason: `lesson ${plan.lesson.lessonId} (${plan.lesson.subject}) starts at ${plan.lesson.scheduledStart}; the room is being prepared for it` };
    case 'readiness-check':
    case 'idle':
      return { ok: true };
  }
}

/**
 * Timetabled lessons the device was away for entirely: slot starting strictly after `from`
 * (the last time the device was known to be running; at `from` itself it could still have
 * started the lesson) and ending no later than `to` (now), not already finished. These get a
 * `missed` record. Callers first finalize any lesson they know had started (it is
 * `interrupted`, not missed) so that it is in `finished`.
 */
export function missedBetween(
  timetable: Timetable | null,
  from: Date,
  to: Date,
  deviceId: string,
  finished: ReadonlySet<string>,
): ResolvedLesson[] {
  if (!timetable || ms(to) <= ms(from)) return [];
  return lessonsNear(timetable, from, to, deviceId).filter(
    (l) => ms(l.start) > ms(from) && ms(l.end) <= ms(to) && !finished.has(l.lessonId),
  );
}

export interface BoundaryCrossing {
  lesson: ResolvedLesson;
  boundary: 'start' | 'end';
  at: Date;
}

export interface ClockJump {
  direction: 'forward' | 'backward' | 'none';
  /** Lesson starts and ends the clock went past, in time order. */
  crossed: BoundaryCrossing[];
}

/**
 * The lesson starts and ends between two readings of the wall clock, for logging a clock step.
 * Forward: boundaries b with previous < b <= current; backward: current < b <= previous (a
 * boundary is crossed when the clock goes from one side of [start, end) to the other).
 * Ordinary ticks cross boundaries too; the caller decides what counts as a jump.
 */
export function clockJump(timetable: Timetable | null, previous: Date, current: Date, deviceId: string): ClockJump {
  const [a, b] = [ms(previous), ms(current)];
  const direction = b > a ? 'forward' : b < a ? 'backward' : 'none';
  if (!timetable || direction === 'none') return { direction, crossed: [] };
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const crossed: BoundaryCrossing[] = [];
  for (const lesson of lessonsNear(timetable, new Date(lo), new Date(hi), deviceId)) {
    for (const boundary of ['start', 'end'] as const) {
      const at = lesson[boundary];
      if (ms(at) > lo && ms(at) <= hi) crossed.push({ lesson, boundary, at });
    }
  }
  crossed.sort((x, y) => ms(x.at) - ms(y.at) || (x.boundary === y.boundary ? 0 : x.boundary === 'end' ? -1 : 1));
  return { direction, crossed };
}
