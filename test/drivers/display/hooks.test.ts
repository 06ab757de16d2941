/**
 * The lesson hooks: what the lesson loop asks of the display at pre-roll and after a lesson,
 * driven against a simulated panel on a real pty; the last-lesson-of-the-day rule is pure.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DisplayLessonHooks, isLastLessonOfDay } from '../../../drivers/display/hooks.js';
import { ptyRig, type PtyRig } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function rig(...args: Parameters<typeof ptyRig>): Promise<PtyRig> {
  const r = await ptyRig(...args);
  cleanups.push(r.close);
  await r.display.start();
  return r;
}

const TZ = 'Asia/Shanghai';

describe('isLastLessonOfDay', () => {
  it('compares local dates in the timetable zone', () => {
    const end = new Date('2025-03-03T08:40:00Z'); // 16:40 in Shanghai
    expect(isLastLessonOfDay(end, undefined, TZ)).toBe(true);
    expect(isLastLessonOfDay(end, new Date('2025-03-03T09:00:00Z'), TZ)).toBe(false);
    // 00:30 next day in Shanghai, though still 3 March in UTC.
    expect(isLastLessonOfDay(end, new Date('2025-03-03T16:30:00Z'), TZ)).toBe(true);
    expect(isLastLessonOfDay(end, new Date('2025-03-03T16:30:00Z'), 'UTC')).toBe(false);
  });
});

describe('DisplayLessonHooks', () => {
  it('pre-roll powers the panel on and shows the lesson input, once per lesson', async () => {
    const { sim, display } = await rig({ profile: 'samsung-mdc', power: 'off', input: 'hdmi1' });
    const hooks = new DisplayLessonHooks({ display, lessonInput: 'dp', powerOffAfterLastLesson: false, nextLessonStart: () => undefined, timeZone: () => TZ });
    expect(await hooks.preRoll('L1')).toEqual({ poweredOn: true, input: 'dp' });
    expect(sim.power).toBe('on');
    expect(sim.input).toBe('dp');
    const sent = sim.received.length;
    expect(await hooks.preRoll('L1')).toEqual({ poweredOn: true, input: 'dp' });
    expect(sim.received.length).toBe(sent);
  });

  it('retries the input while the panel refuses it (booting), then succeeds', async () => {
    const { sim, display } = await rig({ profile: 'lg', power: 'off', bootMs: 500 });
    const hooks = new DisplayLessonHooks({ display, lessonInput: 'hdmi2', powerOffAfterLastLesson: false, nextLessonStart: () => undefined, timeZone: () => TZ, inputRetryMs: 100, inputAttempts: 100 });
    cleanups.push(() => hooks.close());
    expect(await hooks.preRoll('L2')).toEqual({ poweredOn: true, input: 'hdmi2' });
    expect(sim.input).toBe('hdmi2');
    // Refused at least once while booting, then accepted.
    expect(sim.received.filter((r) => r === 'xb 01 91\\r').length).toBeGreaterThanOrEqual(2);
  });

  it('a silent panel: pre-roll reports the failure instead of throwing', async () => {
    const { sim, display } = await rig({ profile: 'benq' });
    sim.setFaults({ silent: true });
    const hooks = new DisplayLessonHooks({ display, lessonInput: 'hdmi1', powerOffAfterLastLesson: true, nextLessonStart: () => undefined, timeZone: () => TZ });
    const r = await hooks.preRoll('L3');
    expect(r.poweredOn).toBe(false);
    expect(r.error).toMatch(/^no reply to power on from display panel on \S+ after 2 tries$/);
  });

  it('powers off after the last lesson of the day only, when configured', async () => {
    const { sim, display } = await rig({ profile: 'lg', power: 'on' });
    let next: Date | undefined = new Date('2025-03-03T07:00:00Z');
    const hooks = new DisplayLessonHooks({ display, powerOffAfterLastLesson: true, nextLessonStart: () => next, timeZone: () => TZ });
    expect(await hooks.lessonEnded('L4', new Date('2025-03-03T06:40:00Z'))).toBe(false);
    expect(sim.power).toBe('on');
    next = new Date('2025-03-04T00:30:00Z');
    expect(await hooks.lessonEnded('L5', new Date('2025-03-03T08:40:00Z'))).toBe(true);
    expect(sim.power).toBe('off');
    // Once per lesson.
    sim.power = 'on';
    expect(await hooks.lessonEnded('L5', new Date('2025-03-03T08:40:00Z'))).toBe(false);
    expect(sim.power).toBe('on');

    const keep = new DisplayLessonHooks({ display, powerOffAfterLastLesson: false, nextLessonStart: () => undefined, timeZone: () => TZ });
    expect(await keep.lessonEnded('L6', new Date('2025-03-03T08:40:00Z'))).toBe(false);
    expect(sim.power).toBe('on');
  });
});
