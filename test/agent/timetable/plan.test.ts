import { describe, expect, it } from 'vitest';
import type { Timetable } from '../../../agent/contract/types.js';
import { lessonsOn } from '../../../agent/timetable/resolve.js';
import {
  DEFAULT_PLAN_SETTINGS,
  adHocLesson,
  canStart,
  clockJump,
  missedBetween,
  planRoom,
  planSettings,
  type ManualStart,
  type PlanInput,
  type RoomPlan,
} from '../../../agent/timetable/plan.js';
import { BELLS, DEVICE, at, fallTerm, mondays } from './fixtures.js';

const term = fallTerm();
const MATH = `${DEVICE}:mon-2-math:2026-09-07`; // Monday 2026-09-07 08:50–09:30 (+08:00)
const CHINESE = `${DEVICE}:wed-3-chinese:2026-09-09`; // Wednesday 09:55–10:35

/** The plan at a local (+08:00) time on Monday 2026-09-07 unless a full timestamp is given. */
function plan(time: string, extra: Partial<PlanInput> = {}): RoomPlan {
  const now = at(time.includes('T') ? time : `2026-09-07T${time}+08:00`);
  return planRoom({ now, timetable: term, deviceId: DEVICE, ...extra });
}

/** A compact view: kind, the lesson it is about, and what comes next. */
function view(p: RoomPlan): { kind: string; lesson?: string; next?: string; endsAt?: string; changesAt?: string; displaced?: string[]; stopped?: string } {
  switch (p.kind) {
    case 'live':
      return {
        kind: p.kind,
        lesson: p.lesson.lessonId,
        endsAt: p.endsAt.toISOString(),
        changesAt: p.changesAt.toISOString(),
        displaced: p.displaced.map((l) => l.lessonId),
        ...(p.next && { next: p.next.lessonId }),
      };
    case 'preparing':
    case 'readiness-check':
      return { kind: p.kind, lesson: p.lesson.lessonId, changesAt: p.changesAt.toISOString() };
    case 'idle':
      return {
        kind: p.kind,
        ...(p.next && { next: p.next.lessonId }),
        ...(p.changesAt && { changesAt: p.changesAt.toISOString() }),
        ...(p.stopped && { stopped: p.stopped.lessonId }),
      };
  }
}

const utc = (local: string): string => at(`2026-09-07T${local}+08:00`).toISOString();

describe('settings', () => {
  it('defaults to a 120 s pre-roll and a 600 s readiness lead; bad values fall back', () => {
    expect(DEFAULT_PLAN_SETTINGS).toEqual({ preRollSec: 120, readinessLeadSec: 600 });
    expect(planSettings()).toEqual({ preRollSec: 120, readinessLeadSec: 600 });
    expect(planSettings({ preRollSec: 30 })).toEqual({ preRollSec: 30, readinessLeadSec: 600 });
    expect(planSettings({ preRollSec: -5, readinessLeadSec: Number.NaN })).toEqual({ preRollSec: 120, readinessLeadSec: 600 });
    expect(planSettings({ preRollSec: 0, readinessLeadSec: 0 })).toEqual({ preRollSec: 0, readinessLeadSec: 0 });
  });
});

describe('one timetabled lesson, phase by phase', () => {
  it('idle → readiness-check → preparing → live → over at the bell', () => {
    const table: [string, ReturnType<typeof view>][] = [
      ['08:00:00', { kind: 'idle', next: MATH, changesAt: utc('08:40:00') }],
      ['08:39:59', { kind: 'idle', next: MATH, changesAt: utc('08:40:00') }],
      ['08:40:00', { kind: 'readiness-check', lesson: MATH, changesAt: utc('08:48:00') }],
      ['08:47:59', { kind: 'readiness-check', lesson: MATH, changesAt: utc('08:48:00') }],
      ['08:48:00', { kind: 'preparing', lesson: MATH, changesAt: utc('08:50:00') }],
      ['08:49:59', { kind: 'preparing', lesson: MATH, changesAt: utc('08:50:00') }],
      ['08:50:00', { kind: 'live', lesson: MATH, endsAt: utc('09:30:00'), changesAt: utc('09:30:00'), displaced: [], next: CHINESE }],
      ['09:29:59', { kind: 'live', lesson: MATH, endsAt: utc('09:30:00'), changesAt: utc('09:30:00'), displaced: [], next: CHINESE }],
      // Over at the bell: the next lesson is Wednesday's; its readiness check is at 09:45 on 09-09.
      ['09:30:00', { kind: 'idle', next: CHINESE, changesAt: at('2026-09-09T09:45:00+08:00').toISOString() }],
    ];
    for (const [time, expected] of table) expect(view(plan(time)), time).toEqual(expected);
  });

  it('takes the windows from the settings; no readiness window when it is shorter than the pre-roll', () => {
    const settings = { preRollSec: 300, readinessLeadSec: 900 };
    expect(plan('08:34:59', { settings }).kind).toBe('idle');
    expect(plan('08:35:00', { settings }).kind).toBe('readiness-check');
    expect(plan('08:45:00', { settings }).kind).toBe('preparing');
    const short = { preRollSec: 120, readinessLeadSec: 60 };
    expect(view(plan('08:47:59', { settings: short }))).toEqual({ kind: 'idle', next: MATH, changesAt: utc('08:48:00') });
    expect(view(plan('08:48:30', { settings: short }))).toEqual({ kind: 'preparing', lesson: MATH, changesAt: utc('08:50:00') });
  });

  it('the live lesson carries the resolved entry for the reconciler', () => {
    const p = plan('09:00:00');
    expect(p.kind).toBe('live');
    if (p.kind !== 'live' || p.lesson.trigger !== 'timetable') throw new Error('expected a live timetabled lesson');
    expect(p.lesson).toMatchObject({ subject: '数学', role: 'lecture', preset: 1, peerRoomIds: ['QZ-AX-0312-R101', 'QZ-AX-0318-R102'], scheduledStart: '2026-09-07T08:50:00+08:00' });
  });

  it('follows the timetable zone, across a daylight-saving change, not the machine’s', () => {
    const berlin = fallTerm('Europe/Berlin');
    const monday = `${DEVICE}:mon-2-math:2026-10-26`; // 08:50 CET = 07:50Z, the day after the change
    const p = (iso: string): RoomPlan => planRoom({ now: at(iso), timetable: berlin, deviceId: DEVICE });
    expect(view(p('2026-10-26T06:50:00Z'))).toEqual({ kind: 'idle', next: monday, changesAt: '2026-10-26T07:40:00.000Z' });
    expect(p('2026-10-26T07:48:00Z').kind).toBe('preparing');
    expect(view(p('2026-10-26T07:50:00Z'))).toMatchObject({ kind: 'live', lesson: monday, endsAt: '2026-10-26T08:30:00.000Z' });
  });
});

describe('late starts and missed lessons', () => {
  it('a device that boots mid-slot runs the same lesson for the rest of the slot', () => {
    const atStart = plan('08:50:00');
    const booted = plan('09:17:30');
    expect(view(booted)).toMatchObject({ kind: 'live', lesson: MATH, endsAt: utc('09:30:00') });
    expect(atStart.kind === 'live' && booted.kind === 'live' && atStart.lesson.lessonId === booted.lesson.lessonId).toBe(true);
  });

  it('a lesson whose slot is over is not started late; a finished one is never run again', () => {
    expect(view(plan('09:30:00'))).toMatchObject({ kind: 'idle', next: CHINESE });
    expect(view(plan('09:00:00', { finished: new Set([MATH]) }))).toEqual({ kind: 'idle', next: CHINESE, changesAt: at('2026-09-09T09:45:00+08:00').toISOString() });
  });

  it('missedBetween: lessons whose whole slot lies between last seen and now', () => {
    const lastSeen = at('2026-09-07T08:00:00+08:00');
    expect(missedBetween(term, lastSeen, at('2026-09-09T11:00:00+08:00'), DEVICE, new Set()).map((l) => l.lessonId)).toEqual([MATH, CHINESE]);
    // Booting during Wednesday's lesson: it is live for the remainder, not missed.
    expect(missedBetween(term, lastSeen, at('2026-09-09T10:00:00+08:00'), DEVICE, new Set()).map((l) => l.lessonId)).toEqual([MATH]);
    expect(view(plan('2026-09-09T10:00:00+08:00'))).toMatchObject({ kind: 'live', lesson: CHINESE });
    // Already finalized lessons are left out.
    expect(missedBetween(term, lastSeen, at('2026-09-09T11:00:00+08:00'), DEVICE, new Set([MATH])).map((l) => l.lessonId)).toEqual([CHINESE]);
  });

  it('missedBetween boundaries: seen at the start is not missed; back exactly at the end is', () => {
    const ids = (from: string, to: string): string[] => missedBetween(term, at(`2026-09-07T${from}+08:00`), at(`2026-09-07T${to}+08:00`), DEVICE, new Set()).map((l) => l.lessonId);
    expect(ids('08:49:59', '09:30:00')).toEqual([MATH]);
    expect(ids('08:50:00', '09:30:00')).toEqual([]);
    expect(ids('08:49:59', '09:29:59')).toEqual([]);
    expect(missedBetween(term, at('2026-09-07T10:00:00+08:00'), at('2026-09-07T08:00:00+08:00'), DEVICE, new Set())).toEqual([]);
    expect(missedBetween(null, at('2026-09-07T08:00:00+08:00'), at('2026-09-07T10:00:00+08:00'), DEVICE, new Set())).toEqual([]);
  });

  it('missedBetween over a holiday week and across the term end', () => {
    const missed = missedBetween(term, at('2026-09-30T12:00:00+08:00'), at('2026-10-09T12:00:00+08:00'), DEVICE, new Set());
    expect(missed.map((l) => l.lessonId)).toEqual([`${DEVICE}:thu-5-art-even:2026-10-08`, `${DEVICE}:fri-1-science:2026-10-09`]);
    const end = missedBetween(term, at('2027-01-21T12:00:00+08:00'), at('2027-03-01T00:00:00+08:00'), DEVICE, new Set());
    expect(end.map((l) => l.lessonId)).toEqual([`${DEVICE}:thu-5-english-odd:2027-01-21`, `${DEVICE}:fri-1-science:2027-01-22`]);
  });
});

describe('back-to-back lessons', () => {
  const A = `${DEVICE}:mon-1:2026-09-07`;
  const B = `${DEVICE}:mon-2:2026-09-07`;

  it('with a ten-minute break: the live lesson holds the room, the next one prepares in the break', () => {
    const t = mondays(BELLS.slice(0, 2)); // 08:00–08:40, 08:50–09:30
    const p = (time: string): RoomPlan => plan(time, { timetable: t });
    expect(view(p('08:39:59'))).toEqual({ kind: 'live', lesson: A, endsAt: utc('08:40:00'), changesAt: utc('08:40:00'), displaced: [], next: B });
    // B's readiness lead (600 s) begins exactly when A ends.
    expect(view(p('08:40:00'))).toEqual({ kind: 'readiness-check', lesson: B, changesAt: utc('08:48:00') });
    expect(view(p('08:48:00'))).toEqual({ kind: 'preparing', lesson: B, changesAt: utc('08:50:00') });
    expect(view(p('08:50:00'))).toMatchObject({ kind: 'live', lesson: B, endsAt: utc('09:30:00') });
    // A long pre-roll that would start inside A waits for A to end.
    expect(view(p('08:39:00'))).toMatchObject({ kind: 'live', lesson: A });
    expect(p('08:40:00').kind).toBe('readiness-check');
    expect(plan('08:39:00', { timetable: t, settings: { preRollSec: 900, readinessLeadSec: 1200 } }).kind).toBe('live');
    expect(view(plan('08:40:00', { timetable: t, settings: { preRollSec: 900, readinessLeadSec: 1200 } }))).toMatchObject({ kind: 'preparing', lesson: B });
  });

  it('with bells that touch: the next lesson is live from the instant the previous one ends', () => {
    const t = mondays([
      { period: 1, start: '08:00', end: '08:40' },
      { period: 2, start: '08:40', end: '09:20' },
    ]);
    const p = (time: string): RoomPlan => plan(time, { timetable: t });
    expect(view(p('08:39:59'))).toEqual({ kind: 'live', lesson: A, endsAt: utc('08:40:00'), changesAt: utc('08:40:00'), displaced: [], next: B });
    expect(view(p('08:40:00'))).toEqual({ kind: 'live', lesson: B, endsAt: utc('09:20:00'), changesAt: utc('09:20:00'), displaced: [], next: `${DEVICE}:mon-1:2026-09-14` });
    const jump = clockJump(t, at('2026-09-07T08:39:59+08:00'), at('2026-09-07T08:40:00+08:00'), DEVICE);
    expect(jump.crossed.map((c) => [c.lesson.lessonId, c.boundary])).toEqual([
      [A, 'end'],
      [B, 'start'],
    ]);
  });
});

describe('clock jumps', () => {
  const t = mondays(BELLS.slice(0, 2)); // A 08:00–08:40, B 08:50–09:30
  const A = `${DEVICE}:mon-1:2026-09-07`;
  const B = `${DEVICE}:mon-2:2026-09-07`;

  it('forward over a whole lesson: the skipped one is missed, the plan is that of the new time', () => {
    const before = at('2026-09-07T07:30:00+08:00');
    const after = at('2026-09-07T08:45:00+08:00');
    expect(view(planRoom({ now: after, timetable: t, deviceId: DEVICE }))).toEqual({ kind: 'readiness-check', lesson: B, changesAt: utc('08:48:00') });
    const jump = clockJump(t, before, after, DEVICE);
    expect(jump.direction).toBe('forward');
    expect(jump.crossed.map((c) => [c.lesson.lessonId, c.boundary, c.at.toISOString()])).toEqual([
      [A, 'start', utc('08:00:00')],
      [A, 'end', utc('08:40:00')],
    ]);
    expect(missedBetween(t, before, after, DEVICE, new Set()).map((l) => l.lessonId)).toEqual([A]);
  });

  it('back again: a lesson recorded as missed stays finished; without that record it would run', () => {
    const back = at('2026-09-07T07:30:00+08:00');
    expect(view(planRoom({ now: back, timetable: t, deviceId: DEVICE, finished: new Set([A]) }))).toEqual({ kind: 'idle', next: B, changesAt: utc('08:40:00') });
    expect(view(planRoom({ now: back, timetable: t, deviceId: DEVICE }))).toEqual({ kind: 'idle', next: A, changesAt: utc('07:50:00') });
    const jump = clockJump(t, at('2026-09-07T08:45:00+08:00'), back, DEVICE);
    expect(jump.direction).toBe('backward');
    expect(jump.crossed.map((c) => `${c.lesson.entryId}:${c.boundary}`)).toEqual(['mon-1:start', 'mon-1:end']);
  });

  it('back during a live lesson: the running lesson stays live to its end', () => {
    const running = lessonsOn(t, '2026-09-07', DEVICE)[1];
    expect(running?.lessonId).toBe(B);
    const back = at('2026-09-07T08:45:00+08:00'); // before B's start
    expect(view(planRoom({ now: back, timetable: t, deviceId: DEVICE, running }))).toEqual({
      kind: 'live',
      lesson: B,
      endsAt: utc('09:30:00'),
      changesAt: utc('09:30:00'),
      displaced: [],
      next: `${DEVICE}:mon-1:2026-09-14`,
    });
    // Without the running lesson the answer is the timetable's for that time.
    expect(planRoom({ now: back, timetable: t, deviceId: DEVICE }).kind).toBe('readiness-check');
  });

  it('no jump, and ticks that cross nothing', () => {
    const same = at('2026-09-07T08:10:00+08:00');
    expect(clockJump(t, same, same, DEVICE)).toEqual({ direction: 'none', crossed: [] });
    expect(clockJump(t, same, at('2026-09-07T08:10:01+08:00'), DEVICE)).toEqual({ direction: 'forward', crossed: [] });
    expect(clockJump(null, same, at('2026-09-08T08:10:00+08:00'), DEVICE)).toEqual({ direction: 'forward', crossed: [] });
  });
});

describe('timetable replaced mid-lesson', () => {
  const running = lessonsOn(term, '2026-09-07', DEVICE)[0];
  const now = '09:00:00';
  const replaced = (change: (t: Timetable) => void): Timetable => {
    const t = fallTerm();
    t.version = '2026-fall.5';
    change(t);
    return t;
  };

  it('the entry is gone: the running lesson continues to its scheduled end; a new lesson in the slot waits', () => {
    const t = replaced((t) => {
      t.entries = t.entries.filter((e) => e.id !== 'mon-2-math');
      t.entries.push({ id: 'mon-2-music', weekday: 1, period: 2, subject: '音乐', role: 'listen' });
    });
    expect(view(plan(now, { timetable: t, running }))).toEqual({
      kind: 'live',
      lesson: MATH,
      endsAt: utc('09:30:00'),
      changesAt: utc('09:30:00'),
      displaced: [`${DEVICE}:mon-2-music:2026-09-07`],
      next: CHINESE,
    });
    // At the old end both slots are over.
    expect(view(plan('09:30:00', { timetable: t, running }))).toMatchObject({ kind: 'idle', next: CHINESE });
    // The reconciler must pass the running lesson: without it the new timetable alone decides.
    expect(view(plan(now, { timetable: t }))).toMatchObject({ kind: 'live', lesson: `${DEVICE}:mon-2-music:2026-09-07` });
  });

  it('the bell moved: the new end applies, at once when it is past', () => {
    const shorter = replaced((t) => {
      t.bells[1] = { period: 2, start: '08:50', end: '09:10' };
    });
    expect(view(plan(now, { timetable: shorter, running }))).toMatchObject({ kind: 'live', lesson: MATH, endsAt: utc('09:10:00') });
    expect(plan('09:15:00', { timetable: shorter, running }).kind).toBe('idle');
    const earlier = replaced((t) => {
      t.bells[1] = { period: 2, start: '08:20', end: '08:45' };
    });
    expect(plan(now, { timetable: earlier, running }).kind).toBe('idle');
    const longer = replaced((t) => {
      t.bells[1] = { period: 2, start: '08:50', end: '09:45' };
      t.bells[2] = { period: 3, start: '09:55', end: '10:35' };
    });
    expect(view(plan('09:40:00', { timetable: longer, running }))).toMatchObject({ kind: 'live', lesson: MATH, endsAt: utc('09:45:00') });
  });

  it('the entry moved to a later period: it keeps the slot it began in', () => {
    const moved = replaced((t) => {
      const math = t.entries.find((e) => e.id === 'mon-2-math');
      if (math) math.period = 6;
    });
    expect(view(plan(now, { timetable: moved, running }))).toMatchObject({ kind: 'live', lesson: MATH, endsAt: utc('09:30:00') });
    // Once finished, the later slot does not run it again.
    expect(view(plan('15:25:00', { timetable: moved, running: null, finished: new Set([MATH]) }))).toMatchObject({ kind: 'idle', next: CHINESE });
  });
});

describe('manual and platform lessons', () => {
  const manual = (startedAt: string, extra: Partial<ManualStart> = {}): ManualStart => ({
    lessonId: 'QZ-FZ-0101-R201:manual:0001',
    subject: '班会',
    startedAt: at(`2026-09-07T${startedAt}+08:00`),
    peerRoomIds: ['QZ-AX-0312-R101'],
    trigger: 'platform',
    ...extra,
  });
  const M = 'QZ-FZ-0101-R201:manual:0001';

  it('runs for durationMin, 45 by default', () => {
    expect(view(plan('10:10:00', { overrides: [manual('10:00:00', { durationMin: 30 })] }))).toEqual({
      kind: 'live',
      lesson: M,
      endsAt: utc('10:30:00'),
      changesAt: utc('10:30:00'),
      displaced: [],
      next: CHINESE,
    });
    expect(view(plan('10:44:59', { overrides: [manual('10:00:00')] }))).toMatchObject({ kind: 'live', lesson: M, endsAt: utc('10:45:00') });
    expect(plan('10:45:00', { overrides: [manual('10:00:00')] }).kind).toBe('idle');
    expect(adHocLesson(manual('10:00:00', { durationMin: 0 })).end.toISOString()).toBe(utc('10:45:00'));
    const live = plan('10:10:00', { overrides: [manual('10:00:00', { preset: 3, trigger: 'manual' })] });
    expect(live.kind === 'live' && live.lesson).toEqual({
      trigger: 'manual',
      lessonId: M,
      subject: '班会',
      peerRoomIds: ['QZ-AX-0312-R101'],
      preset: 3,
      start: at('2026-09-07T10:00:00+08:00'),
      end: at('2026-09-07T10:45:00+08:00'),
    });
  });

  it('runs without any timetable', () => {
    expect(view(planRoom({ now: at('2026-09-07T10:10:00+08:00'), timetable: null, deviceId: DEVICE, overrides: [manual('10:00:00')] }))).toEqual({
      kind: 'live',
      lesson: M,
      endsAt: utc('10:45:00'),
      changesAt: utc('10:45:00'),
      displaced: [],
    });
    expect(planRoom({ now: at('2026-09-07T10:10:00+08:00'), timetable: null, deviceId: DEVICE })).toEqual({ kind: 'idle' });
  });

  it('a start request conflicts with a live or preparing lesson, not with idle or a readiness check', () => {
    expect(canStart(plan('08:00:00'))).toEqual({ ok: true });
    expect(canStart(plan('08:45:00'))).toEqual({ ok: true }); // readiness check
    expect(canStart(plan('08:49:00'))).toEqual({
      ok: false,
      reason: `lesson ${MATH} (数学) starts at 2026-09-07T08:50:00+08:00; the room is being prepared for it`,
    });
    expect(canStart(plan('09:00:00'))).toEqual({ ok: false, reason: `lesson ${MATH} (数学) is live until 2026-09-07T01:30:00.000Z` });
    expect(canStart(plan('10:10:00', { overrides: [manual('10:00:00')] }))).toEqual({ ok: false, reason: `lesson ${M} (班会) is live until 2026-09-07T02:45:00.000Z` });
  });

  it('a manual lesson that is running when a timetabled slot begins wins; the timetabled one gets the rest of its slot', () => {
    const overrides = [manual('08:30:00')]; // until 09:15, across math's 08:50–09:30 slot
    expect(view(plan('08:49:00', { overrides }))).toEqual({ kind: 'live', lesson: M, endsAt: utc('09:15:00'), changesAt: utc('08:50:00'), displaced: [], next: MATH });
    expect(view(plan('09:00:00', { overrides }))).toEqual({ kind: 'live', lesson: M, endsAt: utc('09:15:00'), changesAt: utc('09:15:00'), displaced: [MATH], next: CHINESE });
    expect(view(plan('09:15:00', { overrides }))).toMatchObject({ kind: 'live', lesson: MATH, endsAt: utc('09:30:00') });
  });

  it('a manual lesson slipped in while a timetabled one runs waits for it', () => {
    const overrides = [manual('09:00:00')]; // refused by canStart in practice
    expect(view(plan('09:05:00', { overrides }))).toMatchObject({ kind: 'live', lesson: MATH, displaced: [M] });
    expect(view(plan('09:30:00', { overrides }))).toMatchObject({ kind: 'live', lesson: M, endsAt: utc('09:45:00') });
  });

  it('a stopped manual lesson is over', () => {
    const overrides = [manual('10:00:00'), { lessonId: M, stoppedAt: at('2026-09-07T10:20:00+08:00') }];
    expect(view(plan('10:25:00', { overrides }))).toEqual({ kind: 'idle', next: CHINESE, changesAt: at('2026-09-09T09:45:00+08:00').toISOString() });
  });
});

describe('manual stop of a timetabled lesson', () => {
  const stop = (time: string): { lessonId: string; stoppedAt: Date } => ({ lessonId: MATH, stoppedAt: at(`2026-09-07T${time}+08:00`) });

  it('keeps it stopped for the rest of its slot, and lets a manual lesson start', () => {
    const overrides = [stop('09:05:00')];
    const p = plan('09:06:00', { overrides });
    expect(view(p)).toEqual({ kind: 'idle', next: CHINESE, stopped: MATH, changesAt: utc('09:30:00') });
    expect(view(plan('09:29:59', { overrides }))).toMatchObject({ kind: 'idle', stopped: MATH });
    expect(view(plan('09:30:00', { overrides }))).toEqual({ kind: 'idle', next: CHINESE, changesAt: at('2026-09-09T09:45:00+08:00').toISOString() });
    expect(canStart(p)).toEqual({ ok: true });
    // A restart inside the slot does not bring it back either.
    expect(plan('09:10:00', { overrides, running: null }).kind).toBe('idle');
  });

  it('a stop before the slot cancels that occurrence only', () => {
    const overrides = [stop('08:30:00')];
    expect(view(plan('08:45:00', { overrides }))).toMatchObject({ kind: 'idle', next: CHINESE });
    expect(view(plan('2026-09-14T08:45:00+08:00', { overrides }))).toMatchObject({ kind: 'readiness-check', lesson: `${DEVICE}:mon-2-math:2026-09-14` });
  });
});

describe('idle between terms and over holidays', () => {
  it('before the term the next lesson is the first of the term; after it there is none', () => {
    expect(view(plan('2026-08-20T12:00:00+08:00'))).toEqual({
      kind: 'idle',
      next: `${DEVICE}:tue-6-reading-odd:2026-09-01`,
      changesAt: at('2026-09-01T15:10:00+08:00').toISOString(),
    });
    expect(plan('2027-01-22T09:00:00+08:00')).toEqual({ kind: 'idle' });
  });

  it('over 国庆节 the next lesson is after the holiday', () => {
    expect(view(plan('2026-10-01T09:00:00+08:00'))).toMatchObject({ kind: 'idle', next: `${DEVICE}:thu-5-art-even:2026-10-08` });
  });
});
