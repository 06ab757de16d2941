import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfigObject } from '../../agent/config/load.js';
import type { EventMessage, LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { localDate } from '../../agent/contract/time.js';
import { Ledger } from '../../agent/ledger.js';
import { createLogger, silentLogger } from '../../agent/log.js';
import { LogRing } from '../../agent/logring.js';
import { Outbox } from '../../agent/outbox.js';
import { openState } from '../../agent/state/db.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { REPO, testConfig } from '../support/agent.js';
import { startBroker } from '../support/broker.js';
import { discover, haveGst, segmentFiles, testMediaInput } from '../support/media.js';
import { FakePlatform } from '../support/platform.js';
import { sampleRecord } from '../support/records.js';
import { S3Server, S3_KEY, S3_SECRET, recordTestSegments } from '../support/s3.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The recording cache fills up during a lesson, with the whole agent in this process: a real
// Mosquitto, the fake platform checking every payload against the contract, real GStreamer
// recording test sources and a real S3-compatible store (s3rver) that is down at first.
// Two earlier lessons wait in the cache, not yet uploaded; the quota leaves room for only a few
// seconds of the new lesson. The cache goes over its quota mid-lesson: `disk.low` is reported
// once, nothing is deleted (nothing has been uploaded), the lesson records to its end. Then the
// store comes back: everything is uploaded and the space is freed by evicting uploaded segments,
// the oldest lesson's first, only as many as the quota needs.
const DEVICE = 'QZ-DISK-0001-R201';
const ZONE = 'Asia/Shanghai';
/** The lesson media worker from the TypeScript sources (the built agent runs dist/pipelines/worker-main.js). */
const MEDIA_WORKER = { file: join(REPO, 'node_modules/.bin/vite-node'), args: [join(REPO, 'pipelines/worker-main.ts')] };
const LONG = 60_000;
/** What the cache must be able to take for the next lesson. */
const RESERVE = 300_000;
/** Quota above the two waiting lessons: the new lesson passes it (with the reserve) within seconds. */
const HEADROOM = 500_000;

interface Row {
  lesson_id: string;
  idx: number;
  name: string;
  file_bytes: number;
  state: string;
  object_key: string;
  dir: string;
  date: string;
  created_at: string;
}

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let s3: S3Server;
let agent: Agent;
/** The agent's log lines (info and up), to tell when its periodic disk check has run. */
const ring = new LogRing(2000);
const dir = tempDir('lectern-disk-');
const dataDir = join(dir.path, 'data');
const recordings = join(dataDir, 'recordings');
let maxCacheBytes = 0;
/** The run's figures, printed at the end (for the reliability table). */
const figures = { episodes: 0, segments: 0, unplayable: 0, lessons: [] as string[] };

const haveMedia = haveGst('x264enc', 'splitmuxsink', 'mpegtsmux', 'videotestsrc', 'audiotestsrc');

/** The local date `days` days before today (the earlier lessons' dates). */
function daysAgo(days: number): string {
  return localDate(new Date(Date.now() - days * 86_400_000), ZONE);
}
// The older lesson's id sorts after the newer one's: age, not name, must decide what goes first.
const OLDER = { lessonId: `${DEVICE}:zz-older:${daysAgo(9)}`, date: daysAgo(9) };
const NEWER = { lessonId: `${DEVICE}:aa-newer:${daysAgo(2)}`, date: daysAgo(2) };

beforeAll(async () => {
  if (!haveMedia) return;
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  s3 = await S3Server.start(join(dir.path, 's3'));
  await s3.kill(); // the store is unreachable until the test brings it back
  // The two earlier lessons: ended, recorded (real segments), their records in the ledger.
  const db = openState({ dataDir });
  const ledger = new Ledger(db, new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), `classroom/v1/${DEVICE}/lessons`);
  let bytes = 0;
  for (const [i, l] of [OLDER, NEWER].entries()) {
    ledger.record(sampleRecord(DEVICE, i, { lessonId: l.lessonId, date: l.date, scheduledStart: `${l.date}T08:00:00+08:00`, scheduledEnd: `${l.date}T08:40:00+08:00` }), new Date().toISOString());
    const folder = join(recordings, lessonDirName(l.lessonId));
    mkdirSync(folder, { recursive: true });
    recordTestSegments(folder, { seconds: 2, count: 3 });
    bytes += readdirSync(folder).reduce((n, f) => n + statSync(join(folder, f)).size, 0);
  }
  db.close();
  maxCacheBytes = bytes + HEADROOM;
  const config = testConfig(dataDir, broker.url, {
    deviceId: DEVICE,
    timezone: ZONE,
    media: testMediaInput(),
    cache: { maxCacheBytes, minFreeBytes: 0, lessonReserveBytes: RESERVE },
    uploads: {
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix: 'disk',
      accessKeyId: S3_KEY,
      secretAccessKey: S3_SECRET,
      spreadSec: 0,
      retryMinSec: 0.2,
      retryMaxSec: 1,
      requestTimeoutSec: 5,
    },
  });
  agent = new Agent({ config: validateConfigObject(config, 'test config'), log: createLogger('info', ring), logRing: ring, mediaWorker: MEDIA_WORKER });
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.online, 'birth', 30_000);
}, 120_000);

afterAll(async () => {
  if (!haveMedia) return;
  const evictedRows = agent?.running ? rows().filter((r) => r.state === 'evicted') : [];
  const stored = await s3
    .keys('disk/')
    .then((k) => new Set(k))
    .catch(() => undefined);
  const lost = stored ? String(evictedRows.filter((r) => !stored.has(r.object_key)).length) : 'unknown (store down)';
  const lessons = platform.payloads<LessonRecord>('lessons');
  console.log(
    `disk: ${figures.episodes} fill-ups mid-lesson, disk.low ${events('disk.low').length}; ` +
      `records ${figures.lessons.filter((id) => lessons.some((r) => r.lessonId === id)).length}/${figures.lessons.length}, ` +
      `segments recorded ${figures.segments} (unplayable ${figures.unplayable}); evicted ${evictedRows.length}, evicted but not in the store ${lost}; ` +
      `contract violations ${platform.invalid.length}`,
  );
  await agent?.stop();
  await platform?.stop();
  await broker?.cleanup();
  await s3?.kill();
  expect(platform.invalid).toEqual([]);
  dir.cleanup();
});

const rows = (): Row[] =>
  agent.running!.db
    .prepare(
      `SELECT s.lesson_id, s.idx, s.name, s.file_bytes, s.state, s.object_key, l.dir, l.date, l.created_at
       FROM recording_segments s JOIN recording_lessons l USING (lesson_id) ORDER BY s.lesson_id, s.idx`,
    )
    .all() as Row[];
const fileOf = (r: Row): string => join(recordings, r.dir, r.name);
const events = (type: string): EventMessage[] => platform.payloads<EventMessage>('events').filter((e) => e.type === type);
const cached = (rs: Row[]): number => rs.filter((r) => r.state !== 'evicted').reduce((n, r) => n + r.file_bytes, 0);

/** Nothing that is not uploaded has been deleted: every such row has its file, whole. */
function assertNothingPendingLost(): void {
  for (const r of rows()) {
    if (r.state === 'uploaded' || r.state === 'evicted') continue;
    expect(existsSync(fileOf(r)), `${r.dir}/${r.name} (${r.state}) is on disk`).toBe(true);
    expect(statSync(fileOf(r)).size).toBe(r.file_bytes);
  }
}

/**
 * Once everything is uploaded and the cache is back within its quota: each file is on disk
 * exactly when its row is not evicted, and what was evicted is a prefix of the age order
 * (oldest lesson first, each lesson's segments in order), no more than the quota needs.
 */
async function assertEvictedOldestFirst(age: string[]): Promise<Row[]> {
  const after = rows();
  // Nothing left the cache that is not in the store.
  const stored = new Set(await s3.keys('disk/'));
  expect(after.filter((r) => !stored.has(r.object_key)).map((r) => r.object_key)).toEqual([]);
  expect(after.every((r) => r.state === 'uploaded' || r.state === 'evicted'), JSON.stringify(after.map((r) => r.state))).toBe(true);
  for (const r of after) expect(existsSync(fileOf(r)), `${r.dir}/${r.name} ${r.state}`).toBe(r.state !== 'evicted');
  const ordered = [...after].sort((a, b) => age.indexOf(a.lesson_id) - age.indexOf(b.lesson_id) || a.idx - b.idx);
  const evictedCount = ordered.filter((r) => r.state === 'evicted').length;
  expect(ordered.map((r) => r.state), ordered.map((r) => `${r.lesson_id.split(':')[1]}/${r.name}`).join(' ')).toEqual([
    ...Array<string>(evictedCount).fill('evicted'),
    ...Array<string>(ordered.length - evictedCount).fill('uploaded'),
  ]);
  expect(evictedCount).toBeGreaterThan(0);
  expect(cached(after)).toBeLessThanOrEqual(maxCacheBytes);
  // Keeping the last segment evicted would have left the cache over its quota.
  expect(cached(after) + ordered[evictedCount - 1]!.file_bytes).toBeGreaterThan(maxCacheBytes);
  return ordered;
}

/** lesson.start from the platform; the lesson's id. */
async function startLesson(requestId: string, subject: string): Promise<string> {
  const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId, args: { subject, durationMin: 30 } }, 30_000);
  expect(started.ok, JSON.stringify(started.error)).toBe(true);
  figures.episodes++;
  figures.lessons.push(started.result!.lessonId);
  return started.result!.lessonId;
}

/**
 * The recording goes on past `disk.low` (its bitrate capped at what fits, never below the floor):
 * three more segments and on until the cache is over its quota; then lesson.stop and its record,
 * exactly one, completed, every segment counted and playable.
 */
async function recordOnAndStop(lessonId: string, requestId: string): Promise<void> {
  const folder = join(recordings, lessonDirName(lessonId));
  const atLow = segmentFiles(folder).length;
  await waitUntil(() => segmentFiles(folder).length >= atLow + 3, 'three more segments after disk.low', LONG);
  await waitUntil(() => cached(rows()) > maxCacheBytes, 'the recording past the quota (at the floor bitrate)', 2 * LONG);
  const stopped = await platform.reply(DEVICE, 'lesson.stop', { requestId, args: { lessonId } }, LONG);
  expect(stopped.ok, JSON.stringify(stopped.error)).toBe(true);
  const record = await platform.waitFor<LessonRecord>('lessons', (l) => l.lessonId === lessonId, 'the lesson record', LONG);
  const files = segmentFiles(folder);
  expect(record).toMatchObject({ status: 'completed', recording: { segments: files.length } });
  const unplayable = files.filter((f) => !discover(f).ok);
  figures.segments += files.length;
  figures.unplayable += unplayable.length;
  expect(unplayable, 'segments that do not play').toEqual([]);
  expect(platform.payloads<LessonRecord>('lessons').filter((l) => l.lessonId === lessonId)).toHaveLength(1);
}

/** Logged by the periodic disk check once the next lesson fits again: the disk.low episode is over. */
const episodeOver = (): boolean => ring.tail(2000).some((l) => l.includes('the disk holds the next lesson again'));

describe.skipIf(!haveMedia)('the recording cache fills up during a lesson', () => {
  let first = '';

  it('disk.low once, nothing un-uploaded removed, the lesson records on; once uploaded, the oldest lessons are evicted first, only as much as the quota needs', async () => {
    // The two earlier lessons are indexed, waiting for the store.
    const before = rows();
    expect(new Set(before.map((r) => r.lesson_id))).toEqual(new Set([OLDER.lessonId, NEWER.lessonId]));
    expect(before.every((r) => r.state === 'pending' || r.state === 'failed')).toBe(true);
    expect(cached(before) + RESERVE).toBeLessThanOrEqual(maxCacheBytes);

    const lessonId = await startLesson('disk-start-1', '数学');
    first = lessonId;
    // Short of room with nothing evictable: reported once, while the lesson is live. Whichever
    // sees it first reports the episode: the recording's bitrate cap (the rest of this lesson
    // does not fit) or the cache's check (the next lesson would not fit).
    const low = await platform.waitFor<EventMessage>('events', (e) => e.type === 'disk.low', 'disk.low', 90_000);
    expect(low).toMatchObject({ lessonId });
    expect(['warning', 'error']).toContain(low.severity);
    expect(low.message).toContain('recording continues, nothing not yet uploaded is deleted');
    const d = low.details as { cacheBytes: number; pendingBytes: number; recordingCapKbps?: number; neededBytes?: number };
    expect(d.recordingCapKbps !== undefined || d.neededBytes === RESERVE).toBe(true);
    expect(d.pendingBytes).toBeGreaterThanOrEqual(cached(before));
    assertNothingPendingLost();
    expect(rows().filter((r) => r.state === 'evicted')).toEqual([]);

    await recordOnAndStop(lessonId, 'disk-stop-1');
    // The lesson's end checked the disk again: still over, the same episode, no second event.
    assertNothingPendingLost();
    expect(rows().filter((r) => r.state === 'evicted')).toEqual([]);
    expect(cached(rows())).toBeGreaterThan(maxCacheBytes);
    expect(events('disk.low')).toHaveLength(1);

    // The store is back: everything goes up, then uploaded segments are evicted to the quota.
    await s3.run();
    for (const id of [OLDER.lessonId, NEWER.lessonId, lessonId]) {
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'recording.uploaded' && e.lessonId === id, `recording.uploaded ${id}`, 90_000);
    }
    await waitUntil(() => cached(rows()) <= maxCacheBytes, 'the cache back within its quota', LONG);
    const ordered = await assertEvictedOldestFirst([OLDER.lessonId, NEWER.lessonId, lessonId]);
    // The older lesson went first (the prefix is checked above: nothing newer before it).
    expect(ordered.some((r) => r.lesson_id === OLDER.lessonId && r.state === 'evicted')).toBe(true);
    expect(events('disk.low')).toHaveLength(1);
  }, 180_000);

  it('a second episode: once the next lesson fits again, a new fill-up is reported again, once, and handled the same way', async () => {
    if (!first) throw new Error('needs the first episode');
    // The periodic check (twice a minute) sees room for the next lesson: the episode ends.
    await waitUntil(episodeOver, 'the periodic disk check ending the disk.low episode', 90_000);
    await s3.kill();

    const lessonId = await startLesson('disk-start-2', '语文');
    const low = await platform.waitFor<EventMessage>('events', (e) => e.type === 'disk.low' && e.lessonId === lessonId, 'the second disk.low', 90_000);
    expect(['warning', 'error']).toContain(low.severity);
    assertNothingPendingLost();
    await recordOnAndStop(lessonId, 'disk-stop-2');
    assertNothingPendingLost();
    // The store is down: only segments uploaded before may have been evicted meanwhile.
    expect(rows().filter((r) => r.state === 'evicted' && r.lesson_id === lessonId)).toEqual([]);
    expect(events('disk.low')).toHaveLength(2);

    await s3.run();
    await platform.waitFor<EventMessage>('events', (e) => e.type === 'recording.uploaded' && e.lessonId === lessonId, 'recording.uploaded of the second lesson', 90_000);
    await waitUntil(() => cached(rows()) <= maxCacheBytes, 'the cache back within its quota', LONG);
    await assertEvictedOldestFirst([OLDER.lessonId, NEWER.lessonId, first, lessonId]);
    expect(events('disk.low')).toHaveLength(2);
    for (const id of [OLDER.lessonId, NEWER.lessonId, first, lessonId]) {
      expect(events('recording.uploaded').filter((e) => e.lessonId === id), id).toHaveLength(1);
    }
  }, 180_000);
});
