/**
 * Turns the weekly timetable (周课表) into concrete lesson occurrences on calendar dates.
 *
 * Pure: no I/O, no wall clock. Every local date and time is read in the timetable's own IANA
 * zone, never the machine's, so the answer is the same whatever TZ the process runs with.
 *
 * Calendar rules (from the platform contract):
 * - Nothing runs outside the term (`term.start` .. `term.end`, both inclusive).
 * - Teaching week 1 is the Monday-to-Sunday week that contains `term.start`; every following
 *   Monday starts the next week. `weeks: odd|even` entries run only in odd|even teaching weeks.
 * - A `holiday` exception: no lessons that day.
 * - A `workday` exception (调休) runs the entries of `followsWeekday` instead of the date's own
 *   weekday, with the odd/even parity of the teaching week that contains the date itself.
 *   A workday without `followsWeekday` (the schema forbids it) runs the date's own weekday.
 * - lessonId = `${deviceId}:${entryId}:${date}`, stable across restarts so that a device that
 *   comes back mid-lesson continues the same lesson.
 */
import type { Role, Timetable, TimetableBell, TimetableEntry, TimetableException } from '../contract/types.js';
import { isValidDate, isoInZone, localDate, localParts } from '../contract/time.js';

/** One occurrence of a timetable entry on a date. */
export interface ResolvedLesson {
  /** Always 'timetable': tells it apart from a manual or platform-started lesson. */
  trigger: 'timetable';
  lessonId: string;
  entryId: string;
  timetableVersion: string;
  /** Local date (`YYYY-MM-DD`) in the timetable's zone. */
  date: string;
  /** The weekday whose entries ran that date: `followsWeekday` on a make-up workday (调休). */
  weekday: number;
  teachingWeek: number;
  period: number;
  subject: string;
  role: Role;
  peerRoomIds: string[];
  preset?: number;
  grade?: string;
  className?: string;
  teacher?: string;
  /** The slot as instants: the lesson runs for start <= t < end. */
  start: Date;
  end: Date;
  /** The same instants as contract timestamps with the zone's offset at that instant. */
  scheduledStart: string;
  scheduledEnd: string;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic on `YYYY-MM-DD` strings, as whole days since 1970-01-01 (zone-free).

function dayNumber(date: string): number {
  if (!isValidDate(date)) throw new RangeError(`"${date}" is not a calendar date (YYYY-MM-DD)`);
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / DAY_MS;
}

function dateOfDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** ISO weekday, 1 = Monday … 7 = Sunday; day 0 (1970-01-01) was a Thursday. */
function weekdayOfDay(day: number): number {
  return ((((day + 3) % 7) + 7) % 7) + 1;
}

/** `date` moved by `days` calendar days. */
export function addDays(date: string, days: number): string {
  return dateOfDay(dayNumber(date) + days);
}

/** ISO weekday of a calendar date, 1 = Monday … 7 = Sunday. */
export function isoWeekday(date: string): number {
  return weekdayOfDay(dayNumber(date));
}

// ---------------------------------------------------------------------------------------------
// Local wall time → instant.

/** Milliseconds the zone's wall clock is ahead of UTC at instant `t`. */
function offsetAt(t: number, timeZone: string): number {
  const p = localParts(new Date(t), timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(t / 1000) * 1000;
}

/**
 * The instant at which the wall clock in `timeZone` reads `clock` (`HH:MM`) on `date`.
 *
 * Around daylight-saving changes a wall time can name no instant or two:
 * - in a spring-forward gap (the clock skips it) the time is read with the offset in force
 *   before the gap, i.e. shifted forward by the gap's length: 02:30 on a day New York skips
 *   02:00→03:00 becomes 03:30 EDT;
 * - in a fall-back overlap (the clock shows it twice) the first occurrence wins: 01:30 on the
 *   day New York repeats 01:00–02:00 is 01:30 EDT, not 01:30 EST.
 * (Temporal calls this the 'compatible' disambiguation.) Assumes at most one offset change
 * within a day either side of the time, which holds for every zone in use.
 */
export function localDateTimeToInstant(date: string, clock: string, timeZone: string): Date {
  const m = CLOCK.exec(clock);
  if (!m) throw new RangeError(`"${clock}" is not a time of day (HH:MM)`);
  const wall = dayNumber(date) * DAY_MS + (Number(m[1]) * 60 + Number(m[2])) * MINUTE_MS;
  // The offsets in force a day before and a day after bracket any change near this wall time.
  const before = offsetAt(wall - DAY_MS, timeZone);
  const after = offsetAt(wall + DAY_MS, timeZone);
  const valid = [...new Set([before, after])]
    .map((offset) => wall - offset)
    .filter((t) => offsetAt(t, timeZone) === wall - t)
    .sort((a, b) => a - b);
  return new Date(valid[0] ?? wall - before);
}

// ---------------------------------------------------------------------------------------------
// Resolution.

/** A timetable indexed once per call, so that resolving a whole term stays cheap. */
interface Calendar {
  timetable: Timetable;
  termStart: number;
  termEnd: number;
  /** The Monday of teaching week 1. */
  firstMonday: number;
  exceptions: Map<string, TimetableException>;
  bells: Map<number, TimetableBell>;
}

function calendarOf(timetable: Timetable): Calendar {
  const termStart = dayNumber(timetable.term.start);
  const exceptions = new Map<string, TimetableException>();
  // validate.ts rejects duplicates; should one slip through, the first one listed counts.
  for (const x of timetable.exceptions ?? []) if (!exceptions.has(x.date)) exceptions.set(x.date, x);
  const bells = new Map<number, TimetableBell>();
  for (const b of timetable.bells) if (!bells.has(b.period)) bells.set(b.period, b);
  return {
    timetable,
    termStart,
    termEnd: dayNumber(timetable.term.end),
    firstMonday: termStart - (weekdayOfDay(termStart) - 1),
    exceptions,
    bells,
  };
}

function weekOfDay(cal: Calendar, day: number): number | null {
  if (day < cal.termStart || day > cal.termEnd) return null;
  return Math.floor((day - cal.firstMonday) / 7) + 1;
}

/** The teaching week (1-based) that contains `date`, or null when `date` is outside the term. */
export function teachingWeek(timetable: Timetable, date: string): number | null {
  return weekOfDay(calendarOf(timetable), dayNumber(date));
}

function runsInWeek(entry: TimetableEntry, week: number): boolean {
  const weeks = entry.weeks ?? 'all';
  return weeks === 'all' || weeks === (week % 2 === 1 ? 'odd' : 'even');
}

function byStart(a: ResolvedLesson, b: ResolvedLesson): number {
  return a.start.getTime() - b.start.getTime() || a.period - b.period || (a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0);
}

function lessonsOfDay(cal: Calendar, day: number, deviceId: string): ResolvedLesson[] {
  const week = weekOfDay(cal, day);
  if (week === null) return [];
  const date = dateOfDay(day);
  const exception = cal.exceptions.get(date);
  if (exception?.type === 'holiday') return [];
  const weekday = exception?.type === 'workday' && exception.followsWeekday !== undefined ? exception.followsWeekday : weekdayOfDay(day);
  const { timetable } = cal;
  const lessons: ResolvedLesson[] = [];
  for (const entry of timetable.entries) {
    if (entry.weekday !== weekday || !runsInWeek(entry, week)) continue;
    // validate.ts rejects an entry whose period has no bell; without one it has no time.
    const bell = cal.bells.get(entry.period);
    if (!bell) continue;
    const start = localDateTimeToInstant(date, bell.start, timetable.timezone);
    let end = localDateTimeToInstant(date, bell.end, timetable.timezone);
    if (end.getTime() <= start.getTime()) {
      // Only when the bell starts inside a spring-forward gap and ends just after it: the start
      // was shifted forward past the end. Keep the bell's nominal length rather than lose it.
      end = new Date(start.getTime() + (minutesOf(bell.end) - minutesOf(bell.start)) * MINUTE_MS);
    }
    lessons.push({
      trigger: 'timetable',
      lessonId: `${deviceId}:${entry.id}:${date}`,
      entryId: entry.id,
      timetableVersion: timetable.version,
      date,
      weekday,
      teachingWeek: week,
      period: entry.period,
      subject: entry.subject,
      role: entry.role,
      peerRoomIds: [...(entry.peerRoomIds ?? [])],
      ...(entry.preset !== undefined && { preset: entry.preset }),
      ...(entry.grade !== undefined && { grade: entry.grade }),
      ...(entry.className !== undefined && { className: entry.className }),
      ...(entry.teacher !== undefined && { teacher: entry.teacher }),
      start,
      end,
      scheduledStart: isoInZone(start, timetable.timezone),
      scheduledEnd: isoInZone(end, timetable.timezone),
    });
  }
  return lessons.sort(byStart);
}

function minutesOf(clock: string): number {
  return Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
}

/** The lessons that run on local `date` (`YYYY-MM-DD`), earliest first. */
export function lessonsOn(timetable: Timetable, date: string, deviceId: string): ResolvedLesson[] {
  return lessonsOfDay(calendarOf(timetable), dayNumber(date), deviceId);
}

/** The lessons on every local date from `from` to `to`, both inclusive, earliest first. */
export function lessonsBetween(timetable: Timetable, from: string, to: string, deviceId: string): ResolvedLesson[] {
  const cal = calendarOf(timetable);
  const first = Math.max(dayNumber(from), cal.termStart);
  const last = Math.min(dayNumber(to), cal.termEnd);
  const lessons: ResolvedLesson[] = [];
  for (let day = first; day <= last; day++) lessons.push(...lessonsOfDay(cal, day, deviceId));
  return lessons;
}

/**
 * Every lesson on the local dates from the day before instant `from` to the day after instant
 * `to`: a superset of the lessons whose slots touch [from, to], for callers to filter.
 */
export function lessonsNear(timetable: Timetable, from: Date, to: Date, deviceId: string): ResolvedLesson[] {
  const zone = timetable.timezone;
  return lessonsBetween(timetable, addDays(localDate(from, zone), -1), addDays(localDate(to, zone), 1), deviceId);
}

/**
 * The first lesson that starts strictly after instant `after` and that `accept` takes (all by
 * default), searching forward to the end of the term; undefined when there is none.
 */
export function nextLessonAfter(
  timetable: Timetable,
  after: Date,
  deviceId: string,
  accept: (lesson: ResolvedLesson) => boolean = () => true,
): ResolvedLesson | undefined {
  const cal = calendarOf(timetable);
  const t = after.getTime();
  // Lessons of a local date lie inside that date, so the first match in date order is the earliest.
  for (let day = Math.max(dayNumber(localDate(after, timetable.timezone)) - 1, cal.termStart); day <= cal.termEnd; day++) {
    const found = lessonsOfDay(cal, day, deviceId).find((l) => l.start.getTime() > t && accept(l));
    if (found) return found;
  }
  return undefined;
}
