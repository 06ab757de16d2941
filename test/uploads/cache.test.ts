import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState, type Db } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { EventPublisher } from '../../agent/events.js';
import { silentLogger } from '../../agent/log.js';
import { systemClock } from '../../agent/clock.js';
import { RecordingCache, type CacheSettings, type SegmentRow } from '../../agent/recordings/cache.js';
import { parseManifest } from '../../agent/recordings/manifest.js';
import { lessonDirName } from '../../pipelines/safe.js';
import type { EventMessage } from '../../agent/contract/types.js';
import { contractProblems } from '../support/contract.js';
import { recordTestSegments } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

// The cache on real files and a real SQLite state: recovery after a crash, damaged files and
// manifests, quota and eviction, disk.low. Segments are real MPEG-TS from GStreamer.
const DEVICE = 'QZ-CACHE-0001-R201';
const source = tempDir();
const dirs: { cleanup: () => void }[] = [source];

beforeAll(() => recordTestSegments(source.path, { seconds: 2, count: 3 }));
afterAll(() => dirs.forEach((d) => d.cleanup()));

interface Rig {
  db: Db;
  cache: RecordingCache;
  root: string;
  events(): EventMessage[];
}

function rig(settings: Partial<CacheSettings> = {}, live: string | null = null): Rig {
  const d = tempDir();
  dirs.push(d);
  const db = openState({ dataDir: d.path });
  const outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 1000 });
  const events = new EventPublisher({ bootId: 'b1', topic: `classroom/v1/${DEVICE}/events`, outbox, clock: systemClock, timeZone: () => 'Asia/Shanghai' });
  const root = join(d.path, 'recordings');
  const cache = new RecordingCache({
    db,
    root,
    deviceId: DEVICE,
    prefix: 'rec',
    log: silentLogger(),
    events,
    clock: systemClock,
    settings: { maxCacheBytes: 1e12, minFreeBytes: 0, lessonReserveBytes: 0, ...settings },
    today: () => '2026-09-01',
    liveLessonId: () => live,
  });
  const all = (): EventMessage[] => {
    const evs = (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY id").pluck().all() as string[]).map((p) => JSON.parse(p) as EventMessage);
    for (const e of evs) expect(contractProblems('event', e)).toEqual([]);
    return evs;
  };
  return { db, cache, root, events: all };
}

/** A lesson folder as the recorder leaves it: the real segments copied in. */
function lessonFolder(root: string, lessonId: string, count = 3): string {
  const dir = join(root, lessonDirName(lessonId));
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= count; i++) copyFileSync(join(source.path, `seg-0000${i}.ts`), join(dir, `seg-0000${i}.ts`));
  return dir;
}

/** The lesson's class-hour record, as the ledger holds it once the lesson has ended. */
function recorded(db: Db, lessonId: string): void {
  db.prepare("INSERT INTO lessons (lesson_id, date, subject, status, effective, duration_sec, record, updated_at) VALUES (?, '2026-09-01', '数学', 'interrupted', 0, 60, '{}', 'x')").run(lessonId);
}

const segments = (db: Db, lessonId: string): SegmentRow[] => db.prepare('SELECT * FROM recording_segments WHERE lesson_id = ? ORDER BY idx').all(lessonId) as SegmentRow[];
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('recording cache', () => {
  it('after a crash, registers the folder from its files; a segment cut mid-packet is kept but only its readable part is queued', async () => {
    const r = rig();
    const lesson = `${DEVICE}:e1:2026-09-01`;
    const dir = lessonFolder(r.root, lesson);
    recorded(r.db, lesson);
    const last = join(dir, 'seg-00003.ts');
    truncateSync(last, 188 * 300 + 101);
    const problems = await r.cache.recover(null);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/seg-00003\.ts: ends in a partial packet.*first 56400 of 56501 bytes/);
    const rows = segments(r.db, lesson);
    expect(rows.map((s) => [s.idx, s.condition, s.state])).toEqual([
      [1, 'whole', 'pending'],
      [2, 'whole', 'pending'],
      [3, 'truncated', 'pending'],
    ]);
    expect(rows[2]!.bytes).toBe(188 * 300);
    expect(rows[2]!.file_bytes).toBe(188 * 300 + 101);
    expect(rows[2]!.sha256).toBe(sha(readFileSync(last).subarray(0, 188 * 300)));
    expect(rows[0]!.sha256).toBe(sha(readFileSync(join(dir, 'seg-00001.ts'))));
    expect(rows[0]!.object_key).toBe(`rec/${DEVICE}/2026-09-01/${lessonDirName(lesson)}/seg-00001.ts`);
    expect(rows[0]!.duration_sec).toBeGreaterThan(1.5);
    // The file itself is left as it was: nothing recorded is lost.
    expect(statSync(last).size).toBe(188 * 300 + 101);
    const m = parseManifest(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ lessonId: lesson, deviceId: DEVICE, complete: true });
    expect(m.segments).toHaveLength(3);
    expect(m.gaps).toEqual([expect.objectContaining({ index: 3, reason: 'truncated-segment' })]);
    // A segment cut mid-packet is what a power cut leaves: detected, kept as a gap, returned and
    // logged, but not a device fault (the storage is fine).
    expect(r.events()).toEqual([]);
  });

  it('the lesson the last run left live stays open; recovering twice changes nothing', async () => {
    const r = rig();
    const lesson = `${DEVICE}:e2:2026-09-01`;
    lessonFolder(r.root, lesson, 2);
    expect(await r.cache.recover(lesson)).toEqual([]);
    expect(parseManifest(readFileSync(join(r.root, lessonDirName(lesson), 'manifest.json'), 'utf8')).complete).toBe(false);
    const before = segments(r.db, lesson);
    expect(await r.cache.recover(lesson)).toEqual([]);
    expect(segments(r.db, lesson)).toEqual(before);
    await r.cache.lessonEnded(lesson);
    expect(parseManifest(readFileSync(join(r.root, lessonDirName(lesson), 'manifest.json'), 'utf8')).complete).toBe(true);
    expect(r.events()).toEqual([]);
  });

  it('a corrupt manifest is detected, reported and rebuilt from the files', async () => {
    const r = rig();
    const lesson = `${DEVICE}:e3:2026-09-01`;
    const dir = lessonFolder(r.root, lesson, 2);
    await r.cache.lessonEnded(lesson);
    const good = readFileSync(join(dir, 'manifest.json'), 'utf8');
    writeFileSync(join(dir, 'manifest.json'), good.slice(0, 200));
    const problems = await r.cache.recover(null);
    expect(problems).toEqual([expect.stringMatching(/manifest\.json is corrupt \(not JSON.*\); rebuilt from the segment files/)]);
    const rebuilt = parseManifest(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(rebuilt.rebuiltAt).toBeDefined();
    expect(rebuilt.segments.map((s) => s.sha256)).toEqual(parseManifest(good).segments.map((s) => s.sha256));
    expect(r.events().map((e) => e.type)).toEqual(['device.fault']);
  });

  it('a segment whose packets lose their sync bytes is reported as damaged', async () => {
    const r = rig();
    const lesson = `${DEVICE}:e4:2026-09-01`;
    const dir = lessonFolder(r.root, lesson, 1);
    recorded(r.db, lesson);
    const file = join(dir, 'seg-00001.ts');
    const buf = readFileSync(file);
    buf.fill(0, 188 * 10, 188 * 12);
    writeFileSync(file, buf);
    writeFileSync(join(dir, 'seg-00002.ts'), '');
    const problems = await r.cache.recover(null);
    expect(problems).toEqual([expect.stringMatching(/seg-00001\.ts: damaged at byte 1880/), expect.stringMatching(/seg-00002\.ts: empty/)]);
    // The damage is a device fault; the empty file (a cut's trace) is not listed in it.
    const faults = r.events().filter((e) => e.type === 'device.fault');
    expect(faults).toHaveLength(1);
    expect(faults[0]!.message).toMatch(/seg-00001\.ts: damaged at byte 1880/);
    expect(faults[0]!.message).not.toMatch(/seg-00002/);
    expect(segments(r.db, lesson).map((s) => [s.condition, s.state, s.bytes])).toEqual([
      ['bad-sync', 'pending', 1880],
      ['empty', 'skipped', 0],
    ]);
  });

  it('eviction never removes a segment that is not uploaded', async () => {
    const r = rig({ maxCacheBytes: 1 });
    const older = `${DEVICE}:e5:2026-09-01`;
    const newer = `${DEVICE}:e6:2026-09-01`;
    const oldDir = lessonFolder(r.root, older);
    await r.cache.lessonEnded(older);
    const newDir = lessonFolder(r.root, newer);
    await r.cache.lessonEnded(newer);
    // Only the newer lesson is uploaded: it is the only thing that may go, old as the other is.
    r.db.prepare("UPDATE recording_segments SET state = 'uploaded' WHERE lesson_id = ?").run(newer);
    const out = await r.cache.evict();
    expect(out.segments).toBe(3);
    expect(readdirSync(oldDir).filter((f) => f.endsWith('.ts'))).toHaveLength(3);
    expect(existsSync(join(newDir, 'seg-00001.ts'))).toBe(false);
    expect(segments(r.db, older).every((s) => s.state === 'pending')).toBe(true);
    expect(await r.cache.problemFor(1000)).toMatch(/not yet uploaded.*past its .* quota/);
  });

  it('a cache filled to its quota keeps the newest lesson, evicting the oldest uploaded first', async () => {
    const probe = rig();
    const l0 = `${DEVICE}:probe:2026-09-01`;
    lessonFolder(probe.root, l0);
    await probe.cache.lessonEnded(l0);
    const oneLesson = (await probe.cache.disk()).cacheBytes;
    const r = rig({ maxCacheBytes: oneLesson + 1000 });
    const ids = ['e7', 'e8', 'e9'].map((e) => `${DEVICE}:${e}:2026-09-01`);
    for (const id of ids) {
      lessonFolder(r.root, id);
      await r.cache.lessonEnded(id);
      // Ordered by when they came in: a later lesson has a later created_at.
      await new Promise((res) => setTimeout(res, 5));
    }
    r.db.prepare("UPDATE recording_segments SET state = 'uploaded'").run();
    r.db.prepare("UPDATE recording_lessons SET manifest_uploaded_at = 'x'").run();
    await r.cache.checkDisk();
    expect(existsSync(join(r.root, lessonDirName(ids[0]!)))).toBe(false);
    expect(existsSync(join(r.root, lessonDirName(ids[1]!)))).toBe(false);
    expect(readdirSync(join(r.root, lessonDirName(ids[2]!))).filter((f) => f.endsWith('.ts'))).toHaveLength(3);
    expect((await r.cache.disk()).cacheBytes).toBe(oneLesson);
    expect(r.events()).toEqual([]);
  });

  it('reports disk.low once when the next lesson cannot fit and nothing may be evicted; never deletes anything for it', async () => {
    const r = rig({ maxCacheBytes: 100_000, lessonReserveBytes: 50_000 });
    const lesson = `${DEVICE}:e10:2026-09-01`;
    const dir = lessonFolder(r.root, lesson);
    await r.cache.lessonEnded(lesson);
    expect(await r.cache.checkDisk()).toMatch(/recording cache: .* not yet uploaded/);
    expect(await r.cache.checkDisk()).not.toBeNull();
    const low = r.events().filter((e) => e.type === 'disk.low');
    expect(low).toHaveLength(1);
    expect(low[0]).toMatchObject({ severity: 'warning', details: { maxCacheBytes: 100_000, neededBytes: 50_000 } });
    expect(low[0]!.message).toMatch(/recording continues/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.ts'))).toHaveLength(3);
  });
});
