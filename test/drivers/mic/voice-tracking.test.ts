import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { inZone, VoiceTracker, VoiceTrackingRunner, zoneOverlaps, type VoiceTrackerOptions } from '../../../drivers/mic/voice-tracking.js';

// Direction of arrival → camera preset, with hysteresis, settle, hold and idle return: the pure
// tracker fed timestamps, and the runner on vitest's fake timers.

const zones = [
  { fromDeg: 300, toDeg: 60, preset: 1, name: 'front' },
  { fromDeg: 60, toDeg: 180, preset: 2, name: 'left' },
  { fromDeg: 180, toDeg: 300, preset: 3, name: 'right' },
];

function tracker(o: Partial<VoiceTrackerOptions> = {}): VoiceTracker {
  return new VoiceTracker({ zones, hysteresisDeg: 10, settleMs: 500, holdMs: 3000, ...o });
}

describe('zones', () => {
  it('wrap through 0 and widen by the margin', () => {
    expect(inZone(0, zones[0]!)).toBe(true);
    expect(inZone(359, zones[0]!)).toBe(true);
    expect(inZone(60, zones[0]!)).toBe(false);
    expect(inZone(65, zones[0]!, 10)).toBe(true);
    expect(inZone(290, zones[0]!, 10)).toBe(true);
    expect(inZone(289, zones[0]!, 10)).toBe(false);
    expect(inZone(123, { fromDeg: 0, toDeg: 360 })).toBe(true);
  });

  it('overlaps are found', () => {
    expect(zoneOverlaps(zones)).toEqual([]);
    expect(zoneOverlaps([zones[0]!, { fromDeg: 50, toDeg: 70, preset: 4 }])).toEqual(['zones 0 and 1 overlap (for example at 50°)']);
  });
});

describe('VoiceTracker', () => {
  it('turns to a speaker once the direction has settled', () => {
    const t = tracker();
    expect(t.update({ angle: 100, voice: true, at: 0 })).toBeUndefined();
    expect(t.update({ angle: 105, voice: true, at: 300 })).toBeUndefined();
    expect(t.update({ angle: 98, voice: true, at: 500 })).toMatchObject({ preset: 2, reason: 'speaker', zone: { name: 'left' } });
    // Staying there: nothing more.
    expect(t.update({ angle: 120, voice: true, at: 5000 })).toBeUndefined();
    expect(t.preset).toBe(2);
  });

  it('a short sound from elsewhere does not move it (settle)', () => {
    const t = tracker();
    t.update({ angle: 100, voice: true, at: 0 });
    expect(t.update({ angle: 100, voice: true, at: 600 })?.preset).toBe(2);
    expect(t.update({ angle: 250, voice: true, at: 5000 })).toBeUndefined();
    expect(t.update({ angle: 100, voice: true, at: 5200 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 5400 })).toBeUndefined();
    // The candidate restarted at 5400; a gap without voice resets it too.
    expect(t.update({ angle: 250, voice: false, at: 5600 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 5700 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 6199 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 6200 })?.preset).toBe(3);
  });

  it('a voice on the border stays with the current zone (hysteresis)', () => {
    const t = tracker();
    t.update({ angle: 170, voice: true, at: 0 });
    expect(t.update({ angle: 170, voice: true, at: 500 })?.preset).toBe(2);
    // 180–189 belong to "right" but lie within 10° of "left": no move however long.
    for (let at = 4000; at < 20_000; at += 250) expect(t.update({ angle: 180 + ((at / 250) % 10), voice: true, at })).toBeUndefined();
    expect(t.update({ angle: 191, voice: true, at: 20_000 })).toBeUndefined();
    expect(t.update({ angle: 191, voice: true, at: 20_500 })?.preset).toBe(3);
  });

  it('after a move it holds at least holdMs, then follows', () => {
    const t = tracker({ settleMs: 0, holdMs: 3000 });
    expect(t.update({ angle: 100, voice: true, at: 0 })?.preset).toBe(2);
    expect(t.update({ angle: 250, voice: true, at: 1000 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 2999 })).toBeUndefined();
    expect(t.update({ angle: 250, voice: true, at: 3000 })?.preset).toBe(3);
  });

  it('outside every zone it stays; idle returns to the idle preset after quiet', () => {
    const t = new VoiceTracker({ zones: [zones[1]!], hysteresisDeg: 0, settleMs: 0, holdMs: 1000, idlePreset: 0, idleMs: 10_000 });
    expect(t.update({ angle: 0, voice: true, at: 0 })).toBeUndefined();
    expect(t.update({ angle: 90, voice: true, at: 100 })?.preset).toBe(2);
    expect(t.update({ angle: 90, voice: false, at: 5000 })).toBeUndefined();
    expect(t.update({ angle: 90, voice: false, at: 10_099 })).toBeUndefined();
    expect(t.update({ angle: 90, voice: false, at: 10_100 })).toMatchObject({ preset: 0, reason: 'idle' });
    expect(t.update({ angle: 90, voice: false, at: 30_000 })).toBeUndefined();
  });
});

describe('VoiceTrackingRunner', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('polls the microphone and calls goPreset for each decision, one at a time', async () => {
    let reading = { angle: 100, voice: true };
    let failing = false;
    const moves: [string, number][] = [];
    const runner = new VoiceTrackingRunner({
      tracker: tracker({ settleMs: 400, holdMs: 2000 }),
      cameraId: 'students',
      read: async () => {
        if (failing) throw new Error('no USB microphone connected');
        return reading;
      },
      goPreset: async (camera, preset) => {
        moves.push([camera, preset]);
      },
      pollMs: 200,
    });
    runner.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(moves).toEqual([['students', 2]]);
    reading = { angle: 250, voice: true };
    await vi.advanceTimersByTimeAsync(1000);
    expect(moves).toHaveLength(1); // held
    await vi.advanceTimersByTimeAsync(1500);
    expect(moves).toEqual([
      ['students', 2],
      ['students', 3],
    ]);
    // Unplugged: readings fail, nothing moves, the runner keeps polling.
    failing = true;
    reading = { angle: 0, voice: true };
    await vi.advanceTimersByTimeAsync(5000);
    expect(moves).toHaveLength(2);
    failing = false;
    await vi.advanceTimersByTimeAsync(3000);
    expect(moves.at(-1)).toEqual(['students', 1]);
    await runner.stop();
    const n = moves.length;
    reading = { angle: 100, voice: true };
    await vi.advanceTimersByTimeAsync(10_000);
    expect(moves).toHaveLength(n);
  });

  it('a camera that fails to move is tried again on the next readings', async () => {
    let fail = true;
    const tried: number[] = [];
    const runner = new VoiceTrackingRunner({
      tracker: tracker({ settleMs: 0, holdMs: 5000 }),
      cameraId: 'students',
      read: async () => ({ angle: 100, voice: true }),
      goPreset: async (_c, preset) => {
        tried.push(preset);
        if (fail) throw new Error('camera did not answer');
      },
      pollMs: 200,
    });
    runner.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(tried).toEqual([2]);
    fail = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(tried).toEqual([2, 2]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(tried).toEqual([2, 2]);
    await runner.stop();
  });
});
