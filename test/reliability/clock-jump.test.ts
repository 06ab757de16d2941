import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openState, type Db } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { Ledger } from '../../agent/ledger.js';
import { EventPublisher } from '../../agent/events.js';
import { TimetableStore } from '../../agent/timetable/store.js';
import { LessonLoop } from '../../agent/lessons/loop.js';
import { silentLogger } from '../../agent/log.js';
import { isoInZone } from '../../agent/contract/time.js';
import type { EventMessage, LessonRecord, Timetable } from '../../agent/contract/types.js';
import { contractProblems } from '../support/contract.js';
import { tempDir } from '../support/tmp.js';

// A whole term day of eight lessons with the wall clock stepped an hour forward and an hour back
// (NTP correcting a wrong clock, either way round) at arbitrary moments. The lesson loop runs on
// an injected clock with real SQLite, ledger, outbox and events; the clock advances in the
// agent's rounds (5 s while a lesson is live, so lesson time is counted, 30 s otherwise).
// Whatever the moments: no lesson starts twice, every lesson of the day ends with exactly one
// final record, a lesson is never counted longer than the real time it was live, and one whose
// slot the clock never showed is recorded `missed` rather than left without a record.
const DEVICE = 'QZ-CLK-0001-R201';
const ZONE = 'Asia/Shanghai';
const DAY = '2026-09-08'; // a Tuesday
const BELLS: [string, string][] = [
  ['08:00', '08:40'],
  ['08:50', '09:30'],
  ['09:50', '10:30'],
  ['10:40', '11:20'],
  ['11:30', '12:10'],
  ['14:00', '14:40'],
  ['14:50', '15:30'],
  ['15:40', '16:20'],
];
const SUBJECTS = ['数学', '语文', '英语', '科学', '音乐', '美术', '体育', '道德与法治'];
const TIMETABLE: Timetable = {
  version: 'clock-1',
  timezone: ZONE,
  term: { start: '2026-09-01', end: '2026-12-31' },
  bells: BELLS.map(([start, end], i) => ({ period: i + 1, start, end })),
  entries: BELLS.map((_, i) => ({ id: `tue-${i + 1}`, weekday: 2, period: i + 1, subject: SUBJECTS[i]!, role: 'lecture' as const })),
};
const LESSON_IDS = TIMETABLE.entries.map((e) => `${DEVICE}:${e.id}:${DAY}`);
const at = (hhmm: string): number => Date.parse(`${DAY}T${hhmm}:00+08:00`);
const HOUR = 3_600_000;
const DAY_START = at('07:30');
// Run on past the last bell long enough for a skipped slot's grace (two hours) to pass.
const DAY_END = at('18:30');

const dirs: { cleanup: () => void }[] = [];
const open: Db[] = [];
afterEach(() => {
  open.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((d) => d.cleanup());
});

interface Day {
  db: Db;
  loop: LessonLoop;
  clock: { t: number; now: () => Date };
  /** Real time (and the clock) when the run began. */
  start: number;
}

async function startDay(dataDir?: string, startAt = DAY_START): Promise<Day & { dataDir: string }> {
  let path = dataDir;
  if (!path) {
    const d = tempDir('lectern-clock-');
    dirs.push(d);
    path = d.path;
  }
  const d = { path };
  const db = openState({ dataDir: d.path });
  // The loop writes its state every round; a day of rounds need not wait for the disk here.
  db.pragma('synchronous = OFF');
  open.push(db);
  const clock = { t: startAt, now: () => new Date(clock.t) };
  const outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 100_000 });
  const events = new EventPublisher({ bootId: 'clockjump01', topic: `classroom/v1/${DEVICE}/events`, outbox, clock, timeZone: () => ZONE });
  const timetables = new TimetableStore(db);
  if (!timetables.current()) db.transaction(() => timetables.replace(TIMETABLE, JSON.stringify(TIMETABLE), isoInZone(new Date(DAY_START), ZONE)))();
  const loop = new LessonLoop({
    db,
    ledger: new Ledger(db, outbox, `classroom/v1/${DEVICE}/lessons`),
    events,
    timetables,
    clock,
    log: silentLogger(),
    cameras: new Map(),
    linkConnected: () => true,
    clockSynced: async () => 'yes',
    formatTs: (x) => isoInZone(x, ZONE),
    timeZone: () => ZONE,
    settings: { deviceId: DEVICE, role: 'lecture', effectiveThresholdPct: 80, preRollSec: 120, readinessLeadSec: 600, dataDir: d.path, lessonBitrateKbps: 1 },
  });
  await loop.recover();
  return { db, loop, clock, dataDir: d.path, start: startAt };
}

/**
 * Runs the day in rounds of real time; `jumps` are [real ms since the run's start, step ms]. The
 * wall clock is real time plus the sum of the steps made so far.
 */
async function runDay(day: Day, jumps: [number, number][], realMs: number): Promise<void> {
  let real = 0;
  let offset = 0;
  const pending = [...jumps].sort((a, b) => a[0] - b[0]);
  while (real < realMs) {
    const live = day.loop.lessonNow()?.state === 'live';
    real += live ? 5000 : 30_000;
    while (pending.length && pending[0]![0] <= real) offset += pending.shift()![1];
    day.clock.t = day.start + real + offset;
    await day.loop.tick();
  }
}

const outboxOf = <T>(db: Db, kind: string): T[] => (db.prepare('SELECT payload FROM outbox WHERE kind = ? ORDER BY id').pluck().all(kind) as string[]).map((p) => JSON.parse(p) as T);

/** What must hold after any day, whatever the jumps. Returns the records by lesson. */
function checkDay(day: Day, realMs: number): Map<string, LessonRecord> {
  const records = outboxOf<LessonRecord>(day.db, 'lesson');
  const events = outboxOf<EventMessage>(day.db, 'event');
  // Exactly one final record per lesson of the day, nothing else.
  expect(records.map((r) => r.lessonId).sort()).toEqual([...LESSON_IDS].sort());
  for (const r of records) expect(contractProblems('lesson-record', r), r.lessonId).toEqual([]);
  // No double start.
  const starts = events.filter((e) => e.type === 'lesson.started').map((e) => e.lessonId);
  expect(starts.length, starts.join(' ')).toBe(new Set(starts).size);
  const byId = new Map(records.map((r) => [r.lessonId, r]));
  // Started lessons end completed; those never started are missed (the clock skipped their slot).
  for (const id of LESSON_IDS) {
    const r = byId.get(id)!;
    if (starts.includes(id)) {
      // A lesson the clock stepped out of in the very round it began has no live time: cancelled.
      expect(r.status, id).toBe(r.durationSec > 0 ? 'completed' : 'cancelled');
    } else {
      expect(r.status, id).toBe('missed');
    }
  }
  // Live time is real time: never more than the rounds spent live, summed over all lessons.
  const total = records.reduce((s, r) => s + r.durationSec, 0);
  expect(total).toBeLessThanOrEqual(realMs / 1000);
  for (const r of records) expect(r.durationSec, r.lessonId).toBeLessThanOrEqual(40 * 60 + 3600);
  return byId;
}

describe('the wall clock steps an hour during a term day', () => {
  it('without a step, the day is eight completed lessons of 40 minutes', async () => {
    const day = await startDay();
    await runDay(day, [], DAY_END - DAY_START);
    const recs = checkDay(day, DAY_END - DAY_START);
    expect([...recs.values()].map((r) => [r.status, r.durationSec])).toEqual(LESSON_IDS.map(() => ['completed', 2400]));
  });

  it('forward at 09:00 and back an hour later: the lesson cut short is not run again, the rest run once', async () => {
    const day = await startDay();
    // Real 09:00 → the clock shows 10:00; real 10:00 (clock 11:00) → back to 10:00.
    const real = DAY_END - DAY_START;
    await runDay(day, [[at('09:00') - DAY_START, HOUR], [at('10:00') - DAY_START, -HOUR]], real);
    const recs = checkDay(day, real);
    // 09:50–10:30 and 10:40–11:20 had their clock time shown (twice for part of it): run once.
    expect(recs.get(LESSON_IDS[2]!)!.status).toBe('completed');
    expect(recs.get(LESSON_IDS[3]!)!.status).toBe('completed');
    // 08:50–09:30: cut short by the step at 09:00 (clock 10:00), not run again on the way back.
    // (the round in which the clock stepped is not lesson time).
    expect(recs.get(LESSON_IDS[1]!)!.status).toBe('completed');
    expect(recs.get(LESSON_IDS[1]!)!.durationSec).toBeGreaterThanOrEqual(590);
    expect(recs.get(LESSON_IDS[1]!)!.durationSec).toBeLessThanOrEqual(600);
  });

  it('forward at 09:31 and back 80 minutes later: the slot the clock never showed is recorded missed', async () => {
    const day = await startDay();
    const real = DAY_END - DAY_START;
    // The clock shows 10:31 to 11:51 for real 09:31 to 10:51, then 10:51 again: 09:50–10:30 never.
    await runDay(day, [[at('09:31') - DAY_START, HOUR], [at('10:51') - DAY_START, -HOUR]], real);
    const recs = checkDay(day, real);
    expect(recs.get(LESSON_IDS[2]!)).toMatchObject({ status: 'missed', actualStart: null, durationSec: 0 });
    expect(recs.get(LESSON_IDS[3]!)).toMatchObject({ status: 'completed', durationSec: 2400 });
    // 11:30–12:10 began while the clock was ahead and goes on to its end bell once it is back:
    // its live time is the real time it ran (21 + 79 minutes, less the round of the step).
    expect(recs.get(LESSON_IDS[4]!)!.durationSec).toBe(100 * 60 - 5);
  });

  it('a slot skipped by a step is still recorded missed after a restart', async () => {
    const a = await startDay();
    // Forward at 09:31 (clock 10:31): 09:50–10:30 skipped; the agent stops at real 10:00.
    await runDay(a, [[at('09:31') - DAY_START, HOUR]], at('10:00') - DAY_START);
    a.db.close();
    open.splice(open.indexOf(a.db), 1);
    const b = await startDay(a.dataDir, at('11:01'));
    await runDay(b, [], at('13:00') - at('11:01'));
    const recs = outboxOf<LessonRecord>(b.db, 'lesson');
    expect(recs.filter((r) => r.lessonId === LESSON_IDS[2]).map((r) => r.status)).toEqual(['missed']);
  });

  it('back at 11:00 and forward an hour later: no lesson runs twice', async () => {
    const day = await startDay();
    const real = DAY_END - DAY_START;
    await runDay(day, [[at('11:00') - DAY_START, -HOUR], [at('12:00') - DAY_START, HOUR]], real);
    const recs = checkDay(day, real);
    // 09:50–10:30 is over (recorded) before the clock goes back past it: it does not start again.
    expect(recs.get(LESSON_IDS[2]!)!.durationSec).toBe(2400);
  });

  it('any two steps of an hour, either way round, at any moments of the day', async () => {
    const real = DAY_END - DAY_START;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: real - 60_000 }),
        fc.integer({ min: 60_000, max: 3 * HOUR }),
        fc.boolean(),
        async (first, gap, forwardFirst) => {
          const day = await startDay();
          try {
            const step = forwardFirst ? HOUR : -HOUR;
            await runDay(day, [[first, step], [Math.min(first + gap, real), -step]], real);
            checkDay(day, real);
          } finally {
            open.splice(open.indexOf(day.db), 1);
            day.db.close();
          }
        },
      ),
      { numRuns: 25, seed: 8092026 },
    );
  }, 170_000);
});
