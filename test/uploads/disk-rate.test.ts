import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { EventPublisher } from '../../agent/events.js';
import { silentLogger } from '../../agent/log.js';
import type { Clock } from '../../agent/clock.js';
import type { EventMessage } from '../../agent/contract/types.js';
import type { MediaSession } from '../../agent/lessons/media.js';
import { RecordingCache } from '../../agent/recordings/cache.js';
import { RecordingRateGovernor, diskKbps, recordingCapFor, roomNeeded, type RecordingRateInput } from '../../agent/recordings/disk-rate.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { contractProblems } from '../support/contract.js';
import { recordTestSegments } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

// The recording bitrate under disk pressure: the policy as a pure function (which cap for which
// room and time left), then the governor on a real cache (real files, SQLite, quota) applying it
// to a lesson's media session. The encoder side is tested in test/pipelines/recording-cap.test.ts.

/** The room the policy wants for `sec` more seconds at these bitrates (its disk model, slack included). */
const bytesFor = roomNeeded;

const base: Omit<RecordingRateInput, 'roomBytes' | 'remainingSec'> = { fullVideoKbps: 3000, audioKbps: 128, floorKbps: 600, currentCapKbps: null };

describe('recording cap policy', () => {
  it('the disk model matches what the recorder wrote, a little over', () => {
    // Measured on the test lesson (see the policy's notes): 1396 and 490 kbit/s on disk.
    expect(diskKbps(1200, 64)).toBeGreaterThanOrEqual(1396);
    expect(diskKbps(1200, 64)).toBeLessThan(1396 * 1.1);
    expect(diskKbps(300, 64)).toBeGreaterThanOrEqual(490);
    expect(diskKbps(300, 64)).toBeLessThan(490 * 1.1);
  });

  it('no cap while the rest of the lesson fits at full bitrate', () => {
    const d = recordingCapFor({ ...base, roomBytes: bytesFor(3000, 128, 2700) * 1.01, remainingSec: 2700 });
    expect(d).toMatchObject({ capKbps: null, fits: true });
    expect(d.lastsSec).toBeGreaterThanOrEqual(2700);
  });

  it('caps at the largest step that fits when the full bitrate does not', () => {
    // Room for the remaining 40 minutes at about half the full rate.
    const roomBytes = bytesFor(1500, 128, 2400);
    const d = recordingCapFor({ ...base, roomBytes, remainingSec: 2400 });
    expect(d.fits).toBe(true);
    expect(d.capKbps).toBeGreaterThan(1400);
    expect(d.capKbps).toBeLessThanOrEqual(1500);
    expect(d.capKbps! % 10).toBe(0);
    expect(bytesFor(d.capKbps!, 128, 2400)).toBeLessThanOrEqual(roomBytes);
    expect(bytesFor(d.capKbps! + 10, 128, 2400)).toBeGreaterThan(roomBytes);
    // Slack is kept: at the cap, the rest of the lesson takes less than the whole room.
    expect((diskKbps(d.capKbps!, 128) * 1000 * 2400) / 8).toBeLessThan(roomBytes * 0.96);
    expect(d.lastsSec).toBeGreaterThanOrEqual(2400);
  });

  it('the same room allows more as the lesson nears its end', () => {
    const roomBytes = bytesFor(1000, 128, 2400);
    const early = recordingCapFor({ ...base, roomBytes, remainingSec: 2400 });
    const late = recordingCapFor({ ...base, roomBytes, remainingSec: 1200 });
    expect(late.capKbps).toBeGreaterThan(early.capKbps!);
    expect(recordingCapFor({ ...base, roomBytes, remainingSec: 600 }).capKbps).toBeNull();
  });

  it('never below the floor: when even the floor does not fit, it records at the floor and says how long the room lasts', () => {
    const roomBytes = bytesFor(600, 128, 1200);
    const d = recordingCapFor({ ...base, roomBytes, remainingSec: 2400 });
    expect(d).toMatchObject({ capKbps: 600, fits: false });
    // The whole room at the floor: the 1200 s it was sized for, plus the slack.
    expect(d.lastsSec).toBeGreaterThan(1200);
    expect(d.lastsSec).toBeLessThan(1300);
    expect(recordingCapFor({ ...base, roomBytes: 0, remainingSec: 2400 })).toMatchObject({ capKbps: 600, fits: false, lastsSec: 0 });
    expect(recordingCapFor({ ...base, roomBytes: -5e9, remainingSec: 2400 })).toMatchObject({ capKbps: 600, fits: false, budgetKbps: 0 });
  });

  it('a cap is lowered at once, raised only by a tenth or more, and lifted only with margin', () => {
    const at = (videoKbps: number): number => bytesFor(videoKbps, 128, 1800);
    // Lower: always.
    expect(recordingCapFor({ ...base, roomBytes: at(1495), remainingSec: 1800, currentCapKbps: 1500 }).capKbps).toBe(1490);
    // Slightly higher: kept.
    expect(recordingCapFor({ ...base, roomBytes: at(1600), remainingSec: 1800, currentCapKbps: 1500 }).capKbps).toBe(1500);
    // A tenth higher or more: raised.
    expect(recordingCapFor({ ...base, roomBytes: at(1705), remainingSec: 1800, currentCapKbps: 1500 }).capKbps).toBe(1700);
    // Full bitrate just fits: without a cap none is set; with one it is not lifted yet.
    const justFits = bytesFor(3000, 128, 1800) * 1.02;
    expect(recordingCapFor({ ...base, roomBytes: justFits, remainingSec: 1800 }).capKbps).toBeNull();
    expect(recordingCapFor({ ...base, roomBytes: justFits, remainingSec: 1800, currentCapKbps: 2500 }).capKbps).toBe(3000);
    expect(recordingCapFor({ ...base, roomBytes: bytesFor(3000, 128, 1800) * 1.2, remainingSec: 1800, currentCapKbps: 2500 }).capKbps).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The governor on a real cache.

const DEVICE = 'QZ-RATE-0001-R201';
const source = tempDir();
const dirs: { cleanup: () => void }[] = [source];
// Three segments of about 3 MB each.
beforeAll(() => recordTestSegments(source.path, { seconds: 2, count: 3, size: 'large' }));
const sourceBytes = (): number => [1, 2, 3].reduce((n, i) => n + statSync(join(source.path, `seg-0000${i}.ts`)).size, 0);
afterAll(() => dirs.forEach((d) => d.cleanup()));

/** A media session that keeps the caps it is given (the encoder side has its own tests). */
class CapturingSession implements MediaSession {
  readonly caps: (number | null)[] = [];
  stream(): null {
    return null;
  }
  streamUpMs(): number {
    return 0;
  }
  stop(): Promise<{ segments: number; bytes: number; durationSec: number }> {
    return Promise.resolve({ segments: 0, bytes: 0, durationSec: 0 });
  }
  setRecordingCap(kbps: number | null): void {
    this.caps.push(kbps);
  }
}

function rig(maxCacheBytes: number): {
  cache: RecordingCache;
  governor: RecordingRateGovernor;
  clock: { t: number } & Clock;
  live: { current: { lessonId: string; end: Date; session: MediaSession } | null };
  events(): EventMessage[];
  root: string;
} {
  const d = tempDir();
  dirs.push(d);
  const db = openState({ dataDir: d.path });
  const clock = { t: Date.parse('2026-09-01T01:00:00Z'), now: (): Date => new Date(clock.t) };
  const outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 1000 });
  const events = new EventPublisher({ bootId: 'b1', topic: `classroom/v1/${DEVICE}/events`, outbox, clock, timeZone: () => 'Asia/Shanghai' });
  const root = join(d.path, 'recordings');
  mkdirSync(root);
  const live: { current: { lessonId: string; end: Date; session: MediaSession } | null } = { current: null };
  const cache = new RecordingCache({
    db,
    root,
    deviceId: DEVICE,
    prefix: 'rec',
    log: silentLogger(),
    events,
    clock,
    settings: { maxCacheBytes, minFreeBytes: 0, lessonReserveBytes: 0 },
    today: () => '2026-09-01',
    liveLessonId: () => live.current?.lessonId ?? null,
  });
  const governor = new RecordingRateGovernor({
    headroom: () => cache.headroom(),
    live: () => live.current,
    rates: { fullVideoKbps: 1500, audioKbps: 64, floorKbps: 300 },
    clock,
    log: silentLogger(),
    events,
  });
  const all = (): EventMessage[] => {
    const evs = (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY id").pluck().all() as string[]).map((p) => JSON.parse(p) as EventMessage);
    for (const e of evs) expect(contractProblems('event', e)).toEqual([]);
    return evs;
  };
  return { cache, governor, clock, live, events: all, root };
}

describe('recording rate governor', () => {
  it('caps a live lesson the quota cannot hold, reports disk.low once, lowers as room runs out, and starts the next lesson uncapped', async () => {
    // Room for the remaining 5 minutes at about 600 kbit/s of video, not at the full 1500.
    const quota = bytesFor(600, 64, 300);
    const r = rig(quota);
    const lesson = `${DEVICE}:p1:2026-09-01`;
    const session = new CapturingSession();
    r.live.current = { lessonId: lesson, end: new Date(r.clock.t + 300_000), session };
    await r.governor.check();
    expect(session.caps).toHaveLength(1);
    const first = session.caps[0]!;
    expect(first).toBeGreaterThanOrEqual(550);
    expect(first).toBeLessThanOrEqual(600);
    const low = r.events().filter((e) => e.type === 'disk.low');
    expect(low).toHaveLength(1);
    expect(low[0]).toMatchObject({ severity: 'warning', lessonId: lesson, details: { recordingCapKbps: first, fullVideoKbps: 1500, remainingSec: 300, roomBytes: quota } });
    expect(low[0]!.message).toContain(`lowered to ${first} kbit/s`);

    // Same room, same time left: nothing changes, nothing more is reported.
    await r.governor.check();
    expect(session.caps).toHaveLength(1);

    // Real segments recorded into the cache, a fifth of the quota or more, with only half a minute
    // gone: the room shrinks faster than the lesson, so the cap goes down.
    expect(sourceBytes()).toBeGreaterThan(quota / 5);
    const dir = join(r.root, lessonDirName(lesson));
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= 3; i++) {
      copyFileSync(join(source.path, `seg-0000${i}.ts`), join(dir, `seg-0000${i}.ts`));
      await r.cache.segmentClosed(lesson, join(dir, `seg-0000${i}.ts`), 2e9);
    }
    r.clock.t += 30_000;
    await r.governor.check();
    expect(session.caps).toHaveLength(2);
    expect(session.caps[1]).toBeLessThan(first);

    // The lesson is prolonged by an hour: not even the floor fits; a second disk.low says how long it lasts.
    r.clock.t += 30_000;
    const room = (await r.cache.headroom()).roomBytes;
    expect(room).toBeGreaterThan(0);
    r.live.current = { ...r.live.current, end: new Date(r.clock.t + 3_600_000) };
    await r.governor.check();
    expect(session.caps.at(-1)).toBe(300);
    const lows = r.events().filter((e) => e.type === 'disk.low');
    expect(lows).toHaveLength(2);
    expect(lows[1]).toMatchObject({ severity: 'error', details: { recordingCapKbps: 300 } });
    expect(lows[1]!.message).toContain('even at the lowest recording bitrate (300 kbit/s)');

    // The lesson ends; the next one starts uncapped and is judged afresh (it is short: it fits).
    r.live.current = null;
    await r.governor.check();
    expect(r.governor.currentCap).toBeNull();
    const next = new CapturingSession();
    r.live.current = { lessonId: `${DEVICE}:p2:2026-09-01`, end: new Date(r.clock.t + 1000), session: next };
    await r.governor.check();
    expect(next.caps).toEqual([]);
    expect(r.governor.currentCap).toBeNull();
  });

  it('lifts the cap once the room holds the rest of the lesson at full bitrate', async () => {
    const r = rig(bytesFor(700, 64, 1200));
    const session = new CapturingSession();
    r.live.current = { lessonId: `${DEVICE}:p3:2026-09-01`, end: new Date(r.clock.t + 1_200_000), session };
    await r.governor.check();
    expect(session.caps).toHaveLength(1);
    expect(session.caps[0]).toBeGreaterThanOrEqual(690);
    expect(session.caps[0]).toBeLessThanOrEqual(700);
    // Over 16 minutes on with nothing recorded (the room stays): the full bitrate fits in what is left.
    r.clock.t += 1_000_000;
    await r.governor.check();
    expect(session.caps).toEqual([session.caps[0], null]);
    expect(r.events().filter((e) => e.type === 'disk.low')).toHaveLength(1);
  });
});
