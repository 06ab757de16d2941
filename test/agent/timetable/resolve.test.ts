import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Timetable } from '../../../agent/contract/types.js';
import { Contract } from '../../../agent/contract/validate.js';
import { timetableProblems } from '../../../agent/timetable/validate.js';
import {
  addDays,
  isoWeekday,
  lessonsBetween,
  lessonsOn,
  localDateTimeToInstant,
  nextLessonAfter,
  teachingWeek,
} from '../../../agent/timetable/resolve.js';
import { SHARED_EXAMPLES_DIR } from '../../support/contract.js';
import { DEVICE, at, fallTerm } from './fixtures.js';

const contract = new Contract();
const brief = (t: Timetable, from: string, to: string): string[][] =>
  lessonsBetween(t, from, to, DEVICE).map((l) => [l.date, l.entryId, l.scheduledStart, l.scheduledEnd]);

describe('calendar helpers', () => {
  it('names ISO weekdays and moves dates across month and year ends', () => {
    expect(isoWeekday('2026-09-01')).toBe(2); // Tuesday
    expect(isoWeekday('2026-09-06')).toBe(7); // Sunday
    expect(isoWeekday('2026-10-10')).toBe(6); // Saturday
    expect(isoWeekday('1969-12-28')).toBe(7); // before the epoch
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2028-03-01', -1)).toBe('2028-02-29');
    expect(() => addDays('2026-02-30', 1)).toThrow(RangeError);
  });
});

describe('teaching weeks', () => {
  const t = fallTerm();
  it('week 1 is the Monday-to-Sunday week containing term.start, inside the term only', () => {
    const table: [string, number | null][] = [
      ['2026-08-30', null],
      ['2026-08-31', null], // the Monday of week 1, but before the term
      ['2026-09-01', 1],
      ['2026-09-06', 1],
      ['2026-09-07', 2],
      ['2026-09-20', 3],
      ['2026-09-21', 4],
      ['2026-10-10', 6],
      ['2026-12-28', 18],
      ['2027-01-18', 21],
      ['2027-01-22', 21],
      ['2027-01-23', null],
    ];
    for (const [date, week] of table) expect(teachingWeek(t, date), date).toBe(week);
  });

  it('a term starting on a Monday or a Sunday', () => {
    expect(teachingWeek({ ...t, term: { start: '2026-09-07', end: '2026-12-31' } }, '2026-09-13')).toBe(1);
    expect(teachingWeek({ ...t, term: { start: '2026-09-07', end: '2026-12-31' } }, '2026-09-14')).toBe(2);
    expect(teachingWeek({ ...t, term: { start: '2026-09-06', end: '2026-12-31' } }, '2026-09-06')).toBe(1);
    expect(teachingWeek({ ...t, term: { start: '2026-09-06', end: '2026-12-31' } }, '2026-09-07')).toBe(2);
  });
});

describe('lessons on a date', () => {
  const t = fallTerm();

  it('the test timetable passes the agent’s own validation', () => {
    expect(timetableProblems(contract, t)).toEqual([]);
    expect(timetableProblems(contract, fallTerm('Europe/Berlin'))).toEqual([]);
  });

  it('matches the contract’s example lesson record for the contract’s example timetable', () => {
    const example = JSON.parse(readFileSync(join(SHARED_EXAMPLES_DIR, 'timetable.json'), 'utf8')) as Timetable;
    const record = JSON.parse(readFileSync(join(SHARED_EXAMPLES_DIR, 'lesson-record.json'), 'utf8')) as Record<string, unknown>;
    const [lesson, ...rest] = lessonsOn(example, record.date as string, record.deviceId as string);
    expect(rest).toEqual([]);
    expect(lesson).toMatchObject({
      lessonId: record.lessonId,
      entryId: record.entryId,
      timetableVersion: record.timetableVersion,
      date: record.date,
      subject: record.subject,
      role: record.role,
      grade: record.grade,
      className: record.className,
      teacher: record.teacher,
      peerRoomIds: record.peerRoomIds,
      scheduledStart: record.scheduledStart,
      scheduledEnd: record.scheduledEnd,
    });
    expect(lesson?.lessonId).toBe('QZ-FZ-0101-R201:mon-2-math:2026-09-07');
  });

  it('resolves every field of an occurrence', () => {
    expect(lessonsOn(t, '2026-09-07', DEVICE)).toEqual([
      {
        trigger: 'timetable',
        lessonId: 'QZ-FZ-0101-R201:mon-2-math:2026-09-07',
        entryId: 'mon-2-math',
        timetableVersion: '2026-fall.4',
        date: '2026-09-07',
        weekday: 1,
        teachingWeek: 2,
        period: 2,
        subject: '数学',
        role: 'lecture',
        peerRoomIds: ['QZ-AX-0312-R101', 'QZ-AX-0318-R102'],
        preset: 1,
        grade: '3',
        className: '3(2)班',
        teacher: '陈老师',
        start: new Date('2026-09-07T00:50:00.000Z'),
        end: new Date('2026-09-07T01:30:00.000Z'),
        scheduledStart: '2026-09-07T08:50:00+08:00',
        scheduledEnd: '2026-09-07T09:30:00+08:00',
      },
    ]);
    const [art] = lessonsOn(t, '2026-09-10', DEVICE);
    expect(art?.peerRoomIds).toEqual([]); // absent in the entry
    expect(art && 'preset' in art).toBe(false);
    expect(art && 'teacher' in art).toBe(false);
  });

  it('sorts a day by start and uses the device id in lesson ids', () => {
    expect(lessonsOn(t, '2026-09-11', 'QZ-FZ-0101-R999').map((l) => [l.lessonId, l.scheduledStart])).toEqual([
      ['QZ-FZ-0101-R999:fri-1-science:2026-09-11', '2026-09-11T08:00:00+08:00'],
      ['QZ-FZ-0101-R999:fri-6-music-even:2026-09-11', '2026-09-11T15:20:00+08:00'],
    ]);
  });

  it('the first six weeks, lesson by lesson (holidays, 调休, odd and even weeks)', () => {
    expect(brief(t, '2026-08-24', '2026-10-11')).toEqual([
      // week 1 (odd): Monday 08-31 is before the term
      ['2026-09-01', 'tue-6-reading-odd', '2026-09-01T15:20:00+08:00', '2026-09-01T16:00:00+08:00'],
      ['2026-09-02', 'wed-3-chinese', '2026-09-02T09:55:00+08:00', '2026-09-02T10:35:00+08:00'],
      ['2026-09-03', 'thu-5-english-odd', '2026-09-03T14:30:00+08:00', '2026-09-03T15:10:00+08:00'],
      ['2026-09-04', 'fri-1-science', '2026-09-04T08:00:00+08:00', '2026-09-04T08:40:00+08:00'],
      // week 2 (even)
      ['2026-09-07', 'mon-2-math', '2026-09-07T08:50:00+08:00', '2026-09-07T09:30:00+08:00'],
      ['2026-09-09', 'wed-3-chinese', '2026-09-09T09:55:00+08:00', '2026-09-09T10:35:00+08:00'],
      ['2026-09-10', 'thu-5-art-even', '2026-09-10T14:30:00+08:00', '2026-09-10T15:10:00+08:00'],
      ['2026-09-11', 'fri-1-science', '2026-09-11T08:00:00+08:00', '2026-09-11T08:40:00+08:00'],
      ['2026-09-11', 'fri-6-music-even', '2026-09-11T15:20:00+08:00', '2026-09-11T16:00:00+08:00'],
      // week 3 (odd); Sunday 09-20 is a make-up day running Thursday's odd-week entry
      ['2026-09-14', 'mon-2-math', '2026-09-14T08:50:00+08:00', '2026-09-14T09:30:00+08:00'],
      ['2026-09-15', 'tue-6-reading-odd', '2026-09-15T15:20:00+08:00', '2026-09-15T16:00:00+08:00'],
      ['2026-09-16', 'wed-3-chinese', '2026-09-16T09:55:00+08:00', '2026-09-16T10:35:00+08:00'],
      ['2026-09-17', 'thu-5-english-odd', '2026-09-17T14:30:00+08:00', '2026-09-17T15:10:00+08:00'],
      ['2026-09-18', 'fri-1-science', '2026-09-18T08:00:00+08:00', '2026-09-18T08:40:00+08:00'],
      ['2026-09-20', 'thu-5-english-odd', '2026-09-20T14:30:00+08:00', '2026-09-20T15:10:00+08:00'],
      // week 4 (even): Friday 09-25 is 中秋节
      ['2026-09-21', 'mon-2-math', '2026-09-21T08:50:00+08:00', '2026-09-21T09:30:00+08:00'],
      ['2026-09-23', 'wed-3-chinese', '2026-09-23T09:55:00+08:00', '2026-09-23T10:35:00+08:00'],
      ['2026-09-24', 'thu-5-art-even', '2026-09-24T14:30:00+08:00', '2026-09-24T15:10:00+08:00'],
      // week 5 (odd): Thursday and Friday are 国庆节
      ['2026-09-28', 'mon-2-math', '2026-09-28T08:50:00+08:00', '2026-09-28T09:30:00+08:00'],
      ['2026-09-29', 'tue-6-reading-odd', '2026-09-29T15:20:00+08:00', '2026-09-29T16:00:00+08:00'],
      ['2026-09-30', 'wed-3-chinese', '2026-09-30T09:55:00+08:00', '2026-09-30T10:35:00+08:00'],
      // week 6 (even): Mon–Wed 国庆节; Saturday 10-10 runs Friday's even-week entries
      ['2026-10-08', 'thu-5-art-even', '2026-10-08T14:30:00+08:00', '2026-10-08T15:10:00+08:00'],
      ['2026-10-09', 'fri-1-science', '2026-10-09T08:00:00+08:00', '2026-10-09T08:40:00+08:00'],
      ['2026-10-09', 'fri-6-music-even', '2026-10-09T15:20:00+08:00', '2026-10-09T16:00:00+08:00'],
      ['2026-10-10', 'fri-1-science', '2026-10-10T08:00:00+08:00', '2026-10-10T08:40:00+08:00'],
      ['2026-10-10', 'fri-6-music-even', '2026-10-10T15:20:00+08:00', '2026-10-10T16:00:00+08:00'],
    ]);
  });

  it('a make-up day reports the weekday it follows and its own teaching week', () => {
    const [sunday] = lessonsOn(t, '2026-09-20', DEVICE);
    expect(sunday).toMatchObject({ date: '2026-09-20', weekday: 4, teachingWeek: 3, lessonId: `${DEVICE}:thu-5-english-odd:2026-09-20` });
    const saturday = lessonsOn(t, '2026-10-10', DEVICE);
    expect(saturday.map((l) => [l.weekday, l.teachingWeek])).toEqual([
      [5, 6],
      [5, 6],
    ]);
  });

  it('nothing outside the term, on holidays, or on a weekend day with no exception', () => {
    expect(lessonsOn(t, '2026-08-31', DEVICE)).toEqual([]); // a Monday, before the term
    expect(lessonsOn(t, '2027-01-25', DEVICE)).toEqual([]); // a Monday, after the term
    expect(lessonsOn(t, '2026-10-05', DEVICE)).toEqual([]); // 国庆节
    expect(lessonsOn(t, '2026-09-19', DEVICE)).toEqual([]); // a plain Saturday
    // The last day of the term still runs (week 21 is odd: no even-week music).
    expect(lessonsOn(t, '2027-01-22', DEVICE).map((l) => l.entryId)).toEqual(['fri-1-science']);
    // A make-up workday outside the term runs nothing.
    const late: Timetable = { ...t, exceptions: [{ date: '2027-01-23', type: 'workday', followsWeekday: 5 }] };
    expect(lessonsOn(late, '2027-01-23', DEVICE)).toEqual([]);
    expect(lessonsBetween(t, '2027-01-23', '2027-03-01', DEVICE)).toEqual([]);
    expect(lessonsBetween(t, '2026-10-11', '2026-10-01', DEVICE)).toEqual([]); // reversed range
  });

  it('rejects malformed dates instead of guessing', () => {
    expect(() => lessonsOn(t, '2026-9-7', DEVICE)).toThrow(RangeError);
    expect(() => teachingWeek(t, '2026-02-29')).toThrow(RangeError);
  });
});

describe('a whole term', () => {
  // Counted by hand. The term has 20 Mondays (weeks 2–21), 21 each of Tuesday to Friday
  // (weeks 1–21), 11 odd weeks (1, 3, …, 21) and 10 even ones. Holidays: Fri 09-25 (week 4),
  // Thu 10-01 and Fri 10-02 (week 5), Mon–Wed 10-05..07 (week 6), Fri 2027-01-01 (week 18).
  // Make-up days: Sun 09-20 (week 3) as Thursday, Sat 10-10 (week 6) as Friday.
  const expected: Record<string, number> = {
    'mon-2-math': 20 - 1, // 10-05
    'tue-6-reading-odd': 11, // its only holiday Tuesday (10-06) is in an even week
    'wed-3-chinese': 21 - 1, // 10-07
    'thu-5-english-odd': 11 - 1 + 1, // 10-01 (week 5) off, 09-20 (week 3) added
    'thu-5-art-even': 10,
    'fri-1-science': 21 - 3 + 1, // 09-25, 10-02, 01-01 off; 10-10 added
    'fri-6-music-even': 10 - 2 + 1, // 09-25 (week 4), 01-01 (week 18) off; 10-10 (week 6) added
  };

  it.each(['Asia/Shanghai', 'Europe/Berlin', 'America/New_York'])('counts 99 lessons, per entry as counted by hand (%s)', (zone) => {
    const all = lessonsBetween(fallTerm(zone), '2026-01-01', '2027-12-31', DEVICE);
    const counts: Record<string, number> = {};
    for (const l of all) counts[l.entryId] = (counts[l.entryId] ?? 0) + 1;
    expect(counts).toEqual(expected);
    expect(all).toHaveLength(99);
    expect(new Set(all.map((l) => l.lessonId)).size).toBe(99);
    for (const l of all) {
      expect(l.lessonId).toBe(`${DEVICE}:${l.entryId}:${l.date}`);
      expect(l.end.getTime() - l.start.getTime()).toBe(40 * 60_000);
    }
    // Earliest first across the term.
    expect(all.map((l) => l.start.getTime())).toEqual([...all.map((l) => l.start.getTime())].sort((a, b) => a - b));
    expect(all[0]?.lessonId).toBe(`${DEVICE}:tue-6-reading-odd:2026-09-01`);
    expect(all.at(-1)?.lessonId).toBe(`${DEVICE}:fri-1-science:2027-01-22`);
  });
});

describe('time zones and daylight saving', () => {
  it('converts local wall times to instants in the timetable zone', () => {
    const table: [string, string, string, string][] = [
      ['2026-09-07', '08:50', 'Asia/Shanghai', '2026-09-07T00:50:00.000Z'],
      ['2026-09-07', '00:00', 'Asia/Shanghai', '2026-09-06T16:00:00.000Z'],
      ['2026-10-19', '08:50', 'Europe/Berlin', '2026-10-19T06:50:00.000Z'], // CEST
      ['2026-10-26', '08:50', 'Europe/Berlin', '2026-10-26T07:50:00.000Z'], // CET
      // spring-forward gaps: shifted forward by the gap's length
      ['2027-03-14', '02:30', 'America/New_York', '2027-03-14T07:30:00.000Z'], // = 03:30 EDT
      ['2027-03-14', '03:00', 'America/New_York', '2027-03-14T07:00:00.000Z'],
      ['2027-03-14', '01:59', 'America/New_York', '2027-03-14T06:59:00.000Z'],
      ['2026-09-06', '00:30', 'America/Santiago', '2026-09-06T04:30:00.000Z'], // gap at midnight → 01:30 -03
      ['2026-10-04', '02:15', 'Australia/Lord_Howe', '2026-10-03T15:45:00.000Z'], // 30-minute gap → 02:45 +11
      // fall-back overlaps: the first occurrence
      ['2026-11-01', '01:30', 'America/New_York', '2026-11-01T05:30:00.000Z'], // 01:30 EDT
      ['2026-11-01', '02:00', 'America/New_York', '2026-11-01T07:00:00.000Z'], // unambiguous EST
      ['2026-10-25', '02:30', 'Europe/Berlin', '2026-10-25T00:30:00.000Z'], // 02:30 CEST
      // zones far from UTC, where the local date differs from the UTC date
      ['2026-09-07', '08:00', 'Pacific/Kiritimati', '2026-09-06T18:00:00.000Z'],
      ['2026-09-07', '20:00', 'Pacific/Pago_Pago', '2026-09-08T07:00:00.000Z'],
    ];
    for (const [date, clock, zone, utc] of table) {
      expect(localDateTimeToInstant(date, clock, zone).toISOString(), `${date} ${clock} ${zone}`).toBe(utc);
    }
    expect(() => localDateTimeToInstant('2026-09-07', '24:00', 'Asia/Shanghai')).toThrow(RangeError);
    expect(() => localDateTimeToInstant('2026-09-07', '8:50', 'Asia/Shanghai')).toThrow(RangeError);
  });

  it('a term across the autumn change keeps lessons at the same wall time with the new offset', () => {
    const berlin = fallTerm('Europe/Berlin');
    expect(brief(berlin, '2026-10-19', '2026-10-19')).toEqual([['2026-10-19', 'mon-2-math', '2026-10-19T08:50:00+02:00', '2026-10-19T09:30:00+02:00']]);
    expect(brief(berlin, '2026-10-26', '2026-10-26')).toEqual([['2026-10-26', 'mon-2-math', '2026-10-26T08:50:00+01:00', '2026-10-26T09:30:00+01:00']]);
    const [before] = lessonsOn(berlin, '2026-10-19', DEVICE);
    const [after] = lessonsOn(berlin, '2026-10-26', DEVICE);
    // A week apart on the wall clock is a week and an hour apart in time.
    expect((after?.start.getTime() ?? 0) - (before?.start.getTime() ?? 0)).toBe((7 * 24 + 1) * 3_600_000);

    const ny = fallTerm('America/New_York');
    expect(lessonsOn(ny, '2026-10-26', DEVICE)[0]?.start.toISOString()).toBe('2026-10-26T12:50:00.000Z');
    expect(lessonsOn(ny, '2026-11-02', DEVICE)[0]?.start.toISOString()).toBe('2026-11-02T13:50:00.000Z');
    expect(lessonsOn(ny, '2026-11-02', DEVICE)[0]?.scheduledStart).toBe('2026-11-02T08:50:00-05:00');
  });

  it('a bell starting in a spring-forward gap keeps its nominal length', () => {
    const t: Timetable = {
      version: 'gap',
      timezone: 'America/New_York',
      term: { start: '2027-03-01', end: '2027-03-31' },
      bells: [{ period: 1, start: '02:50', end: '03:10' }],
      entries: [{ id: 'sun-1', weekday: 7, period: 1, subject: 'x', role: 'listen' }],
    };
    const [lesson] = lessonsOn(t, '2027-03-14', DEVICE);
    expect(lesson?.start.toISOString()).toBe('2027-03-14T07:50:00.000Z'); // 03:50 EDT
    expect(lesson?.end.toISOString()).toBe('2027-03-14T08:10:00.000Z'); // 20 minutes later
    expect(lessonsOn(t, '2027-03-21', DEVICE)[0]?.scheduledEnd).toBe('2027-03-21T03:10:00-04:00');
  });

  it('does not depend on the process time zone', () => {
    const saved = process.env.TZ;
    const run = (): string[] =>
      lessonsBetween(fallTerm('Europe/Berlin'), '2026-10-19', '2026-11-06', DEVICE).map((l) => `${l.lessonId} ${l.start.toISOString()} ${l.scheduledEnd}`);
    try {
      process.env.TZ = 'UTC';
      const reference = run();
      expect(reference).toHaveLength(15);
      for (const zone of ['America/Los_Angeles', 'Pacific/Chatham', 'Asia/Kathmandu', 'Europe/Berlin']) {
        process.env.TZ = zone;
        // The process zone really changed (a Date's local offset follows it).
        expect(new Date('2026-07-01T00:00:00Z').getTimezoneOffset(), zone).not.toBe(0);
        expect(run(), zone).toEqual(reference);
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('next lesson', () => {
  const t = fallTerm();
  it('searches forward over weekends and holidays to the end of the term', () => {
    expect(nextLessonAfter(t, at('2026-08-01T00:00:00+08:00'), DEVICE)?.lessonId).toBe(`${DEVICE}:tue-6-reading-odd:2026-09-01`);
    // After Wednesday's lesson on 09-30 the next is Thursday 10-08, past 国庆节.
    expect(nextLessonAfter(t, at('2026-09-30T10:00:00+08:00'), DEVICE)?.lessonId).toBe(`${DEVICE}:thu-5-art-even:2026-10-08`);
    // Strictly after: a lesson starting at that instant is not "next".
    expect(nextLessonAfter(t, at('2026-09-07T08:50:00+08:00'), DEVICE)?.lessonId).toBe(`${DEVICE}:wed-3-chinese:2026-09-09`);
    expect(nextLessonAfter(t, at('2026-09-07T08:49:59+08:00'), DEVICE)?.lessonId).toBe(`${DEVICE}:mon-2-math:2026-09-07`);
    expect(nextLessonAfter(t, at('2027-01-22T08:00:00+08:00'), DEVICE)).toBeUndefined();
    expect(
      nextLessonAfter(t, at('2026-09-07T08:00:00+08:00'), DEVICE, (l) => l.entryId !== 'mon-2-math' && l.entryId !== 'wed-3-chinese')?.lessonId,
    ).toBe(`${DEVICE}:thu-5-art-even:2026-09-10`);
  });
});

describe('timetable checks that need the device', () => {
  it('refuses entry ids that would make a lesson id longer than the contract allows', async () => {
    const { Contract } = await import('../../../agent/contract/validate.js');
    const { timetableProblems } = await import('../../../agent/timetable/validate.js');
    const deviceId = 'D'.repeat(64);
    const tt = {
      version: 'v',
      timezone: 'Asia/Shanghai',
      term: { start: '2026-09-01', end: '2026-09-30' },
      bells: [{ period: 1, start: '08:00', end: '08:40' }],
      entries: [
        { id: 'e'.repeat(52), weekday: 1, period: 1, subject: 'a', role: 'lecture' },
        { id: 'e'.repeat(53), weekday: 2, period: 1, subject: 'a', role: 'lecture' },
      ],
    };
    const problems = timetableProblems(new Contract(), tt, deviceId);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^\/entries\/1\/id: .* at most 128 characters/);
    expect(timetableProblems(new Contract(), tt, 'QZ-1')).toEqual([]);
  });
});
