import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openState, type Db } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { EventPublisher } from '../../agent/events.js';
import { silentLogger } from '../../agent/log.js';
import { systemClock } from '../../agent/clock.js';
import { RecordingCache } from '../../agent/recordings/cache.js';
import { Uploader, type UploaderSettings } from '../../agent/recordings/uploader.js';
import { S3ObjectStore, type ObjectStore, type StoredObject } from '../../agent/recordings/store.js';
import { parseManifest } from '../../agent/recordings/manifest.js';
import { lessonDirName } from '../../pipelines/safe.js';
import type { EventMessage } from '../../agent/contract/types.js';
import { contractProblems } from '../support/contract.js';
import { S3Server, S3_KEY, S3_SECRET, recordTestSegments } from '../support/s3.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The uploader against a real S3-compatible server (s3rver, its own process on loopback): real
// multipart uploads of real MPEG-TS segments, the server killed mid-upload and started again.
// Parts are 64 KiB here (S3 itself wants 5 MiB; s3rver does not insist) so that each small
// segment is several parts.
const DEVICE = 'QZ-UPL-0001-R201';
const source = tempDir();
const dirs: { cleanup: () => void }[] = [source];
const running: Uploader[] = [];
let server: S3Server;

beforeAll(async () => {
  recordTestSegments(source.path, { seconds: 2, count: 3 });
  const d = tempDir();
  dirs.push(d);
  server = await S3Server.start(d.path);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((u) => u.stop()));
});
afterAll(async () => {
  await server.kill();
  dirs.forEach((d) => d.cleanup());
});

/** The real S3 store, counting the parts it is asked to send. */
class CountingStore implements ObjectStore {
  readonly parts: { key: string; uploadId: string; partNumber: number }[] = [];
  readonly created: string[] = [];
  constructor(private readonly inner: ObjectStore) {}
  createUpload(key: string, metadata: Record<string, string>, signal: AbortSignal): Promise<string> {
    this.created.push(key);
    return this.inner.createUpload(key, metadata, signal);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer | Readable, size: number, md5: string, signal: AbortSignal): Promise<string> {
    this.parts.push({ key, uploadId, partNumber });
    return this.inner.uploadPart(key, uploadId, partNumber, body, size, md5, signal);
  }
  completeUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[], signal: AbortSignal): Promise<string | undefined> {
    return this.inner.completeUpload(key, uploadId, parts, signal);
  }
  putObject(key: string, body: Buffer | Readable, size: number, type: string, meta: Record<string, string>, signal: AbortSignal): Promise<string | undefined> {
    return this.inner.putObject(key, body, size, type, meta, signal);
  }
  head(key: string, signal: AbortSignal): Promise<StoredObject | undefined> {
    return this.inner.head(key, signal);
  }
  close(): void {
    this.inner.close();
  }
}

interface Rig {
  db: Db;
  cache: RecordingCache;
  uploader: Uploader;
  store: CountingStore;
  root: string;
  events(): EventMessage[];
  setLive(v: boolean): void;
}

function rig(settings: Partial<UploaderSettings> = {}, bucket = server.bucket, prefix = 'rec'): Rig {
  const d = tempDir();
  dirs.push(d);
  const db = openState({ dataDir: d.path });
  const outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 1000 });
  const events = new EventPublisher({ bootId: 'b1', topic: `classroom/v1/${DEVICE}/events`, outbox, clock: systemClock, timeZone: () => 'Asia/Shanghai' });
  const root = join(d.path, 'recordings');
  let live = false;
  const cache = new RecordingCache({
    db,
    root,
    deviceId: DEVICE,
    prefix,
    log: silentLogger(),
    events,
    clock: systemClock,
    settings: { maxCacheBytes: 1e12, minFreeBytes: 0, lessonReserveBytes: 0 },
    today: () => '2026-09-01',
    liveLessonId: () => null,
  });
  const store = new CountingStore(
    new S3ObjectStore({ endpoint: server.endpoint, region: 'us-east-1', bucket, accessKeyId: S3_KEY, secretAccessKey: S3_SECRET, forcePathStyle: true, requestTimeoutSec: 10 }),
  );
  const uploader = new Uploader({
    db,
    cache,
    store: () => store,
    events,
    log: silentLogger(),
    clock: systemClock,
    live: () => live,
    settings: { partSizeBytes: 64 * 1024, liveKbps: 0, idleKbps: 0, spreadSec: 0, retryMinSec: 0.2, retryMaxSec: 1, failedRetrySec: 3600, concurrentParts: 2, ...settings },
  });
  running.push(uploader);
  const all = (): EventMessage[] => {
    const evs = (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY id").pluck().all() as string[]).map((p) => JSON.parse(p) as EventMessage);
    for (const e of evs) expect(contractProblems('event', e)).toEqual([]);
    return evs;
  };
  return { db, cache, uploader, store, root, events: all, setLive: (v) => (live = v) };
}

/** An ended lesson's folder: copies of the real segments (the bytes are what matter here). */
async function endedLesson(r: Rig, lessonId: string, count = 3): Promise<string> {
  const dir = join(r.root, lessonDirName(lessonId));
  mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= count; i++) copyFileSync(join(source.path, `seg-0000${i}.ts`), join(dir, `seg-0000${i}.ts`));
  await r.cache.lessonEnded(lessonId);
  return dir;
}

const uploadedEvent = (r: Rig, lessonId: string): EventMessage | undefined => r.events().find((e) => e.type === 'recording.uploaded' && e.lessonId === lessonId);

describe('uploads to a real S3-compatible server', () => {
  it('uploads a lesson as multipart objects, byte-identical, with its manifest, and reports recording.uploaded with the keys', async () => {
    const r = rig({}, server.bucket, 'rec-a');
    const lesson = `${DEVICE}:e1:2026-09-01`;
    const dir = await endedLesson(r, lesson);
    expect(r.uploader.pending().pending).toBe(3);
    r.uploader.start();
    const ev = await waitUntil(() => uploadedEvent(r, lesson), 'recording.uploaded', 30_000);
    const base = `rec-a/${DEVICE}/2026-09-01/${lessonDirName(lesson)}`;
    const keys = [1, 2, 3].map((i) => `${base}/seg-0000${i}.ts`);
    expect(ev.details).toMatchObject({ objectKeys: keys, manifestKey: `${base}/manifest.json`, segments: 3 });
    expect(await server.keys('rec-a/')).toEqual([...keys, `${base}/manifest.json`].sort());
    for (let i = 1; i <= 3; i++) expect((await server.get(keys[i - 1]!)).equals(readFileSync(join(dir, `seg-0000${i}.ts`)))).toBe(true);
    const manifest = parseManifest((await server.get(`${base}/manifest.json`)).toString('utf8'));
    expect(manifest).toMatchObject({ lessonId: lesson, complete: true });
    expect(manifest.segments).toHaveLength(3);
    // Several parts per segment: real multipart uploads.
    const size = readFileSync(join(dir, 'seg-00001.ts')).length;
    expect(r.store.parts.filter((p) => p.key === keys[0]).length).toBe(Math.ceil(size / 65536));
    expect(r.uploader.pending()).toEqual({ pending: 0, bytesPending: 0 });
    expect(r.uploader.list().lessons[0]).toMatchObject({ lessonId: lesson, segments: 3, uploaded: 3, reported: true });
  });

  it('the server killed mid-upload and started again: the upload resumes without re-sending confirmed parts; the object is byte-identical', async () => {
    // 1.6 Mbit/s: the three segments take a few seconds, long enough to kill the server in between.
    const r = rig({ idleKbps: 1600 }, server.bucket, 'rec-b');
    const lesson = `${DEVICE}:e2:2026-09-01`;
    const dir = await endedLesson(r, lesson);
    r.uploader.start();
    const confirmedCount = (): number => (r.db.prepare('SELECT COUNT(*) FROM recording_parts').pluck().get() as number);
    await waitUntil(() => confirmedCount() >= 2, 'two parts confirmed', 30_000);
    await server.kill();
    const confirmed = r.db.prepare('SELECT idx, upload_id, part_number FROM recording_parts').all() as { idx: number; upload_id: string; part_number: number }[];
    const uploadIds = r.db.prepare('SELECT idx, upload_id FROM recording_segments WHERE upload_id IS NOT NULL').all() as { idx: number; upload_id: string }[];
    expect(confirmed.length).toBeGreaterThanOrEqual(2);
    // The store is down: attempts fail and back off; nothing is lost meanwhile.
    await waitUntil(() => r.db.prepare('SELECT last_error FROM recording_segments WHERE last_error IS NOT NULL').pluck().get(), 'a failed attempt', 30_000);
    expect(r.uploader.pending().pending).toBeGreaterThan(0);
    const sentBefore = r.store.parts.length;
    await server.run();
    await waitUntil(() => uploadedEvent(r, lesson), 'recording.uploaded after the restart', 60_000);
    const after = r.store.parts.slice(sentBefore);
    for (const c of confirmed) {
      expect(after.some((p) => p.uploadId === c.upload_id && p.partNumber === c.part_number)).toBe(false);
    }
    // The same multipart uploads were completed: no new upload was started for those segments.
    const base = `rec-b/${DEVICE}/2026-09-01/${lessonDirName(lesson)}`;
    for (const u of uploadIds) expect(r.store.created.filter((k) => k === `${base}/seg-0000${u.idx}.ts`)).toHaveLength(1);
    expect(await server.keys('rec-b/')).toEqual([1, 2, 3].map((i) => `${base}/seg-0000${i}.ts`).concat(`${base}/manifest.json`).sort());
    for (let i = 1; i <= 3; i++) expect((await server.get(`${base}/seg-0000${i}.ts`)).equals(readFileSync(join(dir, `seg-0000${i}.ts`)))).toBe(true);
    // No multipart upload left unfinished in the store (s3rver keeps them in this folder until completed).
    const uploadsDir = join(server.dir, server.bucket, '._S3rver_uploads');
    expect(existsSync(uploadsDir) ? readdirSync(uploadsDir) : []).toEqual([]);
  });

  it('a refused upload waits as failed; uploads.retry queues it now and it goes up', async () => {
    const r = rig({}, 'no-such-bucket');
    const lesson = `${DEVICE}:e3:2026-09-01`;
    await endedLesson(r, lesson, 1);
    r.uploader.start();
    await waitUntil(() => r.db.prepare("SELECT 1 FROM recording_segments WHERE state = 'failed'").get(), 'failed', 30_000);
    const listed = r.uploader.list().lessons[0]!;
    expect(listed.failed).toBe(1);
    expect(listed.lastError).toMatch(/NoSuchBucket/);
    expect(r.uploader.retryNow()).toEqual({ queued: 1 });
    expect(r.db.prepare('SELECT state FROM recording_segments').pluck().get()).toBe('pending');
  });

  it('paused while a lesson is live (cap 0), resumes when it ends', async () => {
    const r = rig({ liveKbps: 0 }, server.bucket, 'rec-d');
    const lesson = `${DEVICE}:e4:2026-09-01`;
    await endedLesson(r, lesson, 1);
    r.setLive(true);
    r.uploader.start();
    await waitUntil(() => r.uploader.list().state === 'paused', 'paused', 10_000);
    expect(r.store.parts).toHaveLength(0);
    r.setLive(false);
    r.uploader.wake();
    await waitUntil(() => uploadedEvent(r, lesson), 'uploaded after the lesson', 30_000);
  });
});
