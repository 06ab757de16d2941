// The per-direction scheduler and the outage timetable, with real timers.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../agent/errors.js';
import { OutageControl, type OutageMode } from '../../../drivers/uplink/outage.js';
import { TimerQueue } from '../../../drivers/uplink/scheduler.js';
import { sleep, waitUntil } from './helpers.js';

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('TimerQueue', () => {
  it('runs callbacks in time order, never early, ties in the order given', async () => {
    const q = new TimerQueue((e) => {
      throw e;
    });
    const t0 = performance.now();
    const ran: { id: string; late: number }[] = [];
    const at = (id: string, ms: number): void => q.at(t0 + ms, () => ran.push({ id, late: performance.now() - (t0 + ms) }));
    at('c', 60);
    at('a', 20);
    at('b1', 40);
    at('b2', 40);
    at('now', -5);
    await waitUntil(() => ran.length === 5);
    expect(ran.map((r) => r.id)).toEqual(['now', 'a', 'b1', 'b2', 'c']);
    for (const r of ran) expect(r.late).toBeGreaterThanOrEqual(-1);
    q.close();
  });

  it('keeps one timer for thousands of pending callbacks, and none after close', async () => {
    const q = new TimerQueue(() => undefined);
    const before = timeouts();
    const t0 = performance.now();
    let ran = 0;
    for (let i = 0; i < 5_000; i++) q.at(t0 + 50 + (i % 97), () => ran++);
    expect(q.size).toBe(5_000);
    expect(timeouts() - before).toBe(1);
    await waitUntil(() => ran === 5_000);
    expect(ran).toBe(5_000);
    expect(q.size).toBe(0);
    const idle = timeouts();
    for (let i = 0; i < 100; i++) q.at(t0 + 10_000, () => ran++);
    expect(timeouts()).toBe(idle + 1);
    q.close();
    expect(q.size).toBe(0);
    expect(timeouts()).toBe(idle);
  });

  it('reports a throwing callback and goes on with the rest', async () => {
    const errors: unknown[] = [];
    const q = new TimerQueue((e) => errors.push(e));
    const t = performance.now() + 10;
    let after = false;
    q.at(t, () => {
      throw new Error('boom');
    });
    q.at(t, () => (after = true));
    await waitUntil(() => after);
    expect(errors).toHaveLength(1);
    expect(after).toBe(true);
    q.close();
  });
});

describe('OutageControl', () => {
  function recorder(): { changes: { mode: OutageMode | null; at: number }[]; control: OutageControl; t0: number } {
    const changes: { mode: OutageMode | null; at: number }[] = [];
    const t0 = performance.now();
    const control = new OutageControl((next) => changes.push({ mode: next, at: performance.now() - t0 }));
    return { changes, control, t0 };
  }

  it('reset wins over blackhole while both are active', () => {
    const { changes, control } = recorder();
    control.start({ durationMs: Infinity, mode: 'blackhole' });
    control.schedule([{ atMs: 0, durationMs: 10_000, mode: 'reset' }]);
    expect(control.mode).toBe('reset');
    control.schedule([]);
    expect(control.mode).toBe('blackhole');
    expect(control.state()).toEqual({ mode: 'blackhole', remainingMs: Infinity });
    control.end();
    expect(changes.map((c) => c.mode)).toEqual(['blackhole', 'reset', 'blackhole', null]);
    expect(control.count).toBe(1);
    control.close();
  });

  it('runs a repeating schedule at the given times', async () => {
    const { changes, control } = recorder();
    control.schedule(
      [
        { atMs: 150, durationMs: 50, mode: 'reset' },
        { atMs: 50, durationMs: 50, mode: 'blackhole' },
      ],
      { repeat: true, periodMs: 250 },
    );
    await waitUntil(() => changes.length >= 8);
    control.close();
    const expected: [OutageMode | null, number][] = [
      ['blackhole', 50],
      [null, 100],
      ['reset', 150],
      [null, 200],
      ['blackhole', 300],
      [null, 350],
      ['reset', 400],
      [null, 450],
    ];
    expect(changes.slice(0, expected.length).map((c) => c.mode)).toEqual(expected.map(([m]) => m));
    expected.forEach(([, at], i) => {
      expect(changes[i]!.at).toBeGreaterThanOrEqual(at - 2);
      expect(changes[i]!.at).toBeLessThan(at + 250);
    });
    expect(control.count).toBeGreaterThanOrEqual(4);
  });

  it('keeps the link down without a blip when windows follow each other across cycles', async () => {
    const { changes, control } = recorder();
    control.schedule([{ atMs: 0, durationMs: 60, mode: 'blackhole' }], { repeat: true });
    await sleep(250);
    expect(control.mode).toBe('blackhole');
    control.close();
    expect(changes.map((c) => c.mode)).toEqual(['blackhole']);
  });

  it('still shows a window that a blocked event loop let pass entirely', async () => {
    const { changes, control, t0 } = recorder();
    control.schedule([{ atMs: 20, durationMs: 30, mode: 'reset' }]);
    while (performance.now() - t0 < 120) {
      // busy: the whole window passes without the timer firing
    }
    await waitUntil(() => changes.length >= 2, 1_000);
    expect(changes.map((c) => c.mode)).toEqual(['reset', null]);
    control.close();
  });

  it('refuses overlapping, negative and unbounded windows, naming each', () => {
    const control = new OutageControl(() => undefined);
    let message = '';
    try {
      control.schedule(
        [
          { atMs: 0, durationMs: 100, mode: 'blackhole' },
          { atMs: 50, durationMs: Infinity, mode: 'reset' },
          { atMs: -1, durationMs: 0, mode: 'blackhole' },
        ],
        { repeat: true, periodMs: 10 },
      );
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toContain('atMs: must be a number of ms >= 0, got -1');
    expect(message).toContain('durationMs: must be a positive number of ms, got 0');
    expect(message).toContain('before the previous window ends');
    expect(message).toContain('must be finite in a schedule');
    expect(message).toContain('periodMs: must be at least the end of the last window');
    expect(control.mode).toBeNull();
    expect(() => control.start({ durationMs: 100, mode: 'flaky' as OutageMode })).toThrow(/outage.mode/);
  });
});
