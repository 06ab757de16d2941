import { describe, expect, it } from 'vitest';
import { Backoff } from '../../agent/backoff.js';

describe('jittered exponential backoff', () => {
  it('doubles its ceiling up to the maximum, jittered within the upper half', () => {
    const lows = new Backoff({ minMs: 1000, maxMs: 60_000, random: () => 0 });
    const highs = new Backoff({ minMs: 1000, maxMs: 60_000, random: () => 0.999999 });
    const lo = Array.from({ length: 9 }, () => lows.next());
    const hi = Array.from({ length: 9 }, () => highs.next());
    expect(hi).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(lo).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('spreads a crowd: many devices after the same outage do not retry in the same second', () => {
    const delays = Array.from({ length: 1000 }, () => {
      const b = new Backoff({ minMs: 1000, maxMs: 60_000 });
      for (let i = 0; i < 5; i++) b.next();
      return b.next(); // ceiling 32 s
    });
    const seconds = new Set(delays.map((d) => Math.floor(d / 1000)));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(16_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(32_000);
    expect(seconds.size).toBeGreaterThanOrEqual(15);
  });

  it('starts again from the floor after a reset', () => {
    const b = new Backoff({ minMs: 200, maxMs: 2000, random: () => 0.999999 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(200);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new Backoff({ minMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ minMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});
