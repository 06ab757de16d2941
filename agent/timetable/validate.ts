import type { Contract } from '../contract/validate.js';
import type { Timetable } from '../contract/types.js';
import { isValidDate, isValidTimeZone } from '../contract/time.js';

export const MAX_TIMETABLE_BYTES = 256 * 1024;

const minutes = (clock: string): number => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/**
 * Checks a timetable as the platform sent it: the contract schema, then what a schema cannot
 * say (real dates, a known zone, bells that do not overlap, entries whose period has a bell,
 * unique ids and dates). Returns every problem found, each naming where it is; [] when valid.
 */
export function timetableProblems(contract: Contract, value: unknown, deviceId?: string): string[] {
  const schema = contract.validate('timetable', value);
  if (!schema.ok) return schema.problems;
  const t = value as Timetable;
  const problems: string[] = [];
  if (!isValidTimeZone(t.timezone)) problems.push(`/timezone: "${t.timezone}" is not a known IANA time zone`);
  for (const key of ['start', 'end'] as const) {
    if (!isValidDate(t.term[key])) problems.push(`/term/${key}: "${t.term[key]}" is not a calendar date`);
  }
  if (t.term.start > t.term.end) problems.push(`/term: starts (${t.term.start}) after it ends (${t.term.end})`);

  const bellByPeriod = new Map<number, number>();
  t.bells.forEach((b, i) => {
    if (bellByPeriod.has(b.period)) problems.push(`/bells/${i}/period: period ${b.period} has more than one bell`);
    else bellByPeriod.set(b.period, i);
    if (minutes(b.end) <= minutes(b.start)) problems.push(`/bells/${i}: period ${b.period} ends (${b.end}) before it starts (${b.start})`);
  });
  const sorted = t.bells.map((b, i) => ({ ...b, i })).sort((a, b) => minutes(a.start) - minutes(b.start));
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1];
    const cur = sorted[k];
    if (prev && cur && minutes(cur.start) < minutes(prev.end)) {
      problems.push(`/bells/${cur.i}: period ${cur.period} (${cur.start}) overlaps period ${prev.period} (until ${prev.end})`);
    }
  }

  const ids = new Set<string>();
  const slots = new Map<string, string>();
  t.entries.forEach((e, i) => {
    if (ids.has(e.id)) problems.push(`/entries/${i}/id: "${e.id}" is used by more than one entry`);
    // A lesson's id is deviceId:entryId:date and the contract allows 128 characters for it.
    if (deviceId && deviceId.length + e.id.length + 12 > 128) {
      problems.push(`/entries/${i}/id: "${e.id}" is too long for this device: lesson ids (${deviceId}:${e.id}:YYYY-MM-DD) may have at most 128 characters`);
    }
    ids.add(e.id);
    if (!bellByPeriod.has(e.period)) problems.push(`/entries/${i}/period: period ${e.period} has no bell in /bells`);
    const weeks = e.weeks ?? 'all';
    for (const w of weeks === 'all' ? ['odd', 'even'] : [weeks]) {
      const slot = `${e.weekday}/${e.period}/${w}`;
      const other = slots.get(slot);
      if (other && other !== e.id) {
        problems.push(`/entries/${i}: "${e.id}" is in the same slot (weekday ${e.weekday}, period ${e.period}, ${w} weeks) as "${other}"`);
        break;
      }
      slots.set(slot, e.id);
    }
  });

  const dates = new Set<string>();
  (t.exceptions ?? []).forEach((x, i) => {
    if (!isValidDate(x.date)) problems.push(`/exceptions/${i}/date: "${x.date}" is not a calendar date`);
    if (dates.has(x.date)) problems.push(`/exceptions/${i}/date: ${x.date} has more than one exception`);
    dates.add(x.date);
    if (x.type === 'holiday' && x.followsWeekday !== undefined) {
      problems.push(`/exceptions/${i}/followsWeekday: only a make-up workday follows another weekday`);
    }
  });
  return problems;
}
