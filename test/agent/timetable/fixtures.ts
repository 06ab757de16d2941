// Timetables shared by the timetable tests: the contract's example extended to a whole term.
import type { Timetable, TimetableEntry } from '../../../agent/contract/types.js';

export const DEVICE = 'QZ-FZ-0101-R201';

/** The contract example's bell schedule (作息时间). */
export const BELLS: Timetable['bells'] = [
  { period: 1, start: '08:00', end: '08:40' },
  { period: 2, start: '08:50', end: '09:30' },
  { period: 3, start: '09:55', end: '10:35' },
  { period: 4, start: '10:45', end: '11:25' },
  { period: 5, start: '14:30', end: '15:10' },
  { period: 6, start: '15:20', end: '16:00' },
];

/**
 * Fall term 2026-09-01 (a Tuesday) to 2027-01-22 (a Friday). Week 1 is Mon 08-31 .. Sun 09-06.
 * 调休: Sunday 09-20 (week 3, odd) runs Thursday; Saturday 10-10 (week 6, even) runs Friday.
 */
export function fallTerm(timezone = 'Asia/Shanghai'): Timetable {
  const entries: TimetableEntry[] = [
    { id: 'mon-2-math', weekday: 1, period: 2, subject: '数学', grade: '3', className: '3(2)班', teacher: '陈老师', role: 'lecture', peerRoomIds: ['QZ-AX-0312-R101', 'QZ-AX-0318-R102'], preset: 1 },
    { id: 'tue-6-reading-odd', weekday: 2, period: 6, subject: '阅读', role: 'listen', peerRoomIds: ['QZ-LC-0007-R305'], weeks: 'odd' },
    { id: 'wed-3-chinese', weekday: 3, period: 3, subject: '语文', grade: '3', role: 'lecture', peerRoomIds: ['QZ-AX-0312-R101'], weeks: 'all', preset: 2 },
    { id: 'thu-5-english-odd', weekday: 4, period: 5, subject: '英语', grade: '3', role: 'listen', peerRoomIds: ['QZ-LC-0007-R305'], weeks: 'odd' },
    { id: 'thu-5-art-even', weekday: 4, period: 5, subject: '美术', role: 'lecture', weeks: 'even' },
    { id: 'fri-1-science', weekday: 5, period: 1, subject: '科学', role: 'lecture', peerRoomIds: ['QZ-AX-0318-R102'] },
    { id: 'fri-6-music-even', weekday: 5, period: 6, subject: '音乐', role: 'listen', peerRoomIds: ['QZ-AX-0312-R101'], weeks: 'even' },
  ];
  return {
    version: '2026-fall.4',
    timezone,
    term: { start: '2026-09-01', end: '2027-01-22' },
    bells: BELLS.map((b) => ({ ...b })),
    entries,
    exceptions: [
      { date: '2026-09-20', type: 'workday', followsWeekday: 4, note: '调休' },
      { date: '2026-09-25', type: 'holiday', note: '中秋节' },
      ...['01', '02', '03', '04', '05', '06', '07'].map((d) => ({ date: `2026-10-${d}`, type: 'holiday' as const, note: '国庆节' })),
      { date: '2026-10-10', type: 'workday', followsWeekday: 5, note: '调休' },
      { date: '2027-01-01', type: 'holiday', note: '元旦' },
    ],
  };
}

/** A one-room Monday timetable for planner tests, with the bells given. */
export function mondays(bells: Timetable['bells'], timezone = 'Asia/Shanghai'): Timetable {
  return {
    version: 'planner.1',
    timezone,
    term: { start: '2026-09-01', end: '2027-01-22' },
    bells,
    entries: bells.map((b) => ({ id: `mon-${b.period}`, weekday: 1, period: b.period, subject: `课${b.period}`, role: 'lecture' as const, peerRoomIds: ['QZ-AX-0312-R101'] })),
  };
}

/** An instant from a contract timestamp, e.g. `at('2026-09-07T08:50:00+08:00')`. */
export function at(iso: string): Date {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`bad timestamp ${iso}`);
  return d;
}
