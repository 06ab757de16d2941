import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { Db } from '../state/db.js';
import type { Logger } from '../log.js';
import type { EventPublisher } from '../events.js';
import type { Clock } from '../clock.js';
import { Backoff, sleep } from '../backoff.js';
import { errorMessage } from '../errors.js';
import type { RecordingCache, SegmentRow, LessonRow } from './cache.js';
import { StoreError, isStoreError, type ObjectStore } from './store.js';
import { TokenBucket, throttledBody } from './throttle.js';
import { formatManifest } from './manifest.js';

export interface UploaderSettings {
  /** Multipart part size in bytes (S3 wants at least 5 MiB for every part but the last). */
  partSizeBytes: number;
  /** Cap while a lesson is live, and during the spread after it, in kbit/s; 0 pauses uploads then. */
  liveKbps: number;
  /** Cap otherwise, in kbit/s; 0 is no cap. */
  idleKbps: number;
  /** After a lesson ends (and at start-up) uploads wait a random delay of up to this many seconds. */
  spreadSec: number;
  retryMinSec: number;
  retryMaxSec: number;
  /** A segment the store refused outright (credentials, bucket) is tried again after this. */
  failedRetrySec: number;
  /** Parts sent at once when there is no bandwidth cap. */
  concurrentParts: number;
}

export interface UploaderDeps {
  db: Db;
  cache: RecordingCache;
  /** Built on first use (the SDK is loaded only when there is something to upload). */
  store: () => ObjectStore;
  events: EventPublisher;
  log: Logger;
  clock: Clock;
  settings: UploaderSettings;
  /** Whether a lesson is live now (uploads are capped or paused then). */
  live(): boolean;
  random?: () => number;
}

export interface UploadListing {
  lessons: {
    lessonId: string;
    date: string;
    ended: boolean;
    reported: boolean;
    segments: number;
    uploaded: number;
    bytes: number;
    bytesUploaded: number;
    failed: number;
    lastError: string | null;
    nextAttemptAt: string | null;
  }[];
  pending: number;
  bytesPending: number;
  /** What the uploader is doing now. */
  state: 'idle' | 'uploading' | 'waiting' | 'paused' | 'disabled';
  /** Uploads held until then (spread after a lesson). */
  heldUntil: string | null;
}

/** One segment's upload was stopped because the agent is stopping or a lesson paused uploads. */
class Interrupted extends Error {}

/**
 * Store-and-forward upload of the cached recordings: one segment at a time, oldest lesson first,
 * each as an S3 multipart upload whose upload id and confirmed parts (with their ETags) are kept
 * in SQLite, so that after any interruption (store down, agent killed, power cut) the same
 * object is completed without sending confirmed parts again. Each part goes with its MD5 and its
 * returned ETag is checked; the finished object is checked with HeadObject (size, the sha256 in
 * its metadata, the ETag). Failures back off with jitter; uploads are capped (or paused) while a
 * lesson is live and held a random spread after it; `recording.uploaded` is sent per lesson once
 * all its segments and its manifest are up.
 */
export class Uploader {
  private running = false;
  private loop: Promise<void> | undefined;
  private stopCtl = new AbortController();
  /** Aborted to wake the loop early (new work, retry, stop). */
  private wakeCtl = new AbortController();
  /** Aborts the request in flight when a lesson pauses uploads. */
  private partCtl: AbortController | undefined;
  private readonly backoff: Backoff;
  private readonly bucket: TokenBucket;
  private holdUntil = 0;
  /**
   * After a failure that says nothing about the segment (the store unreachable, a timeout, a
   * 5xx) nothing is sent before this time; then the queue resumes with the oldest segment due.
   */
  private retryAt = 0;
  private state: UploadListing['state'] = 'idle';
  private adjustTimer: NodeJS.Timeout | undefined;
  private storeInstance: ObjectStore | undefined;
  private readonly random: () => number;

  constructor(private readonly deps: UploaderDeps) {
    const s = deps.settings;
    this.random = deps.random ?? Math.random;
    this.backoff = new Backoff({ minMs: s.retryMinSec * 1000, maxMs: s.retryMaxSec * 1000, random: this.random });
    this.bucket = new TokenBucket(0);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopCtl = new AbortController();
    // A whole city of kits coming back after a power cut does not upload at the same second.
    this.hold();
    this.adjustTimer = setInterval(() => this.adjust(), 1000);
    this.adjustTimer.unref();
    this.loop = this.run().catch((e: unknown) => this.deps.log.error({ err: e }, 'upload loop ended unexpectedly'));
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.adjustTimer);
    this.stopCtl.abort();
    this.wakeCtl.abort();
    await this.loop;
    this.storeInstance?.close();
    this.storeInstance = undefined;
  }

  /** New work (a segment closed, a lesson ended). */
  wake(): void {
    this.wakeCtl.abort();
  }

  /** A lesson has ended: hold uploads for a random spread, then go on at full speed. */
  lessonEnded(): void {
    this.hold();
    this.wake();
  }

  private hold(): void {
    const spread = this.deps.settings.spreadSec * 1000;
    if (spread > 0) this.holdUntil = Math.max(this.holdUntil, this.deps.clock.now().getTime() + Math.round(this.random() * spread));
  }

  /** `uploads.retry`: every segment not uploaded is due now, the spread hold and backoff dropped. */
  retryNow(): { queued: number } {
    const now = this.deps.clock.now().getTime();
    const r = this.deps.db
      .prepare("UPDATE recording_segments SET state = 'pending', next_attempt_at = ? WHERE state IN ('pending', 'failed') AND condition != 'missing'")
      .run(now);
    this.holdUntil = 0;
    this.retryAt = 0;
    this.backoff.reset();
    const lessons = this.deps.db
      .prepare(
        `SELECT COUNT(*) AS n FROM recording_lessons l WHERE l.ended_at IS NOT NULL AND l.manifest_uploaded_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM recording_segments s WHERE s.lesson_id = l.lesson_id AND s.state IN ('pending', 'failed'))`,
      )
      .get() as { n: number };
    this.wake();
    this.deps.log.info({ segments: r.changes, manifests: lessons.n }, 'uploads queued now (retry)');
    return { queued: r.changes + lessons.n };
  }

  /** For the heartbeat: segments not yet uploaded, and their bytes not yet confirmed by the store. */
  pending(): { pending: number; bytesPending: number } {
    return pendingUploads(this.deps.db);
  }

  list(): UploadListing {
    return listUploads(this.deps.db, this.state, this.holdUntil > this.deps.clock.now().getTime() ? new Date(this.holdUntil).toISOString() : null);
  }

  // ---------------------------------------------------------------------------------------------

  /** Live (or in the spread after a lesson): the live cap; otherwise the idle cap. */
  private mode(): 'live' | 'idle' {
    return this.deps.live() || this.deps.clock.now().getTime() < this.holdUntil ? 'live' : 'idle';
  }

  private paused(): boolean {
    return this.mode() === 'live' && this.deps.settings.liveKbps === 0;
  }

  private adjust(): void {
    const kbps = this.mode() === 'live' ? this.deps.settings.liveKbps : this.deps.settings.idleKbps;
    const rate = (kbps * 1000) / 8;
    if (this.bucket.rate !== rate) this.bucket.setRate(rate);
    if (this.paused()) this.partCtl?.abort();
  }

  private store(): ObjectStore {
    this.storeInstance ??= this.deps.store();
    return this.storeInstance;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.wakeCtl = new AbortController();
      const now = this.deps.clock.now().getTime();
      this.adjust();
      if (this.paused()) {
        this.state = 'paused';
        await sleep(1000, this.wakeCtl.signal);
        continue;
      }
      // (A clock stepped back further than the longest retry delay does not hold it longer.)
      if (now < this.retryAt && this.retryAt - now <= this.deps.settings.retryMaxSec * 1000) {
        // The store was unreachable: wait it out rather than try every other segment in turn,
        // which would also leave the queue in the order of their failures, not oldest first.
        this.state = 'waiting';
        await sleep(this.retryAt - now, this.wakeCtl.signal);
        continue;
      }
      const seg = this.nextSegment(now);
      if (seg) {
        this.state = 'uploading';
        await this.attempt(seg);
        continue;
      }
      const lesson = this.nextManifest();
      if (lesson) {
        this.state = 'uploading';
        await this.finishLesson(lesson);
        continue;
      }
      const due = this.nextDue();
      this.state = due === undefined ? 'idle' : 'waiting';
      await sleep(due === undefined ? 60_000 : Math.max(50, Math.min(60_000, due - now)), this.wakeCtl.signal);
    }
    this.state = 'idle';
  }

  /** The oldest lesson's next segment due: by the lesson's date, then when the cache first saw it. */
  private nextSegment(now: number): SegmentRow | undefined {
    return this.deps.db
      .prepare(
        `SELECT s.* FROM recording_segments s JOIN recording_lessons l USING (lesson_id)
         WHERE s.state IN ('pending', 'failed') AND s.condition != 'missing' AND s.next_attempt_at <= ?
         ORDER BY l.date, l.created_at, s.lesson_id, s.idx LIMIT 1`,
      )
      .get(now) as SegmentRow | undefined;
  }

  private nextDue(): number | undefined {
    const r = this.deps.db
      .prepare("SELECT MIN(next_attempt_at) AS t FROM recording_segments WHERE state IN ('pending', 'failed') AND condition != 'missing'")
      .get() as { t: number | null };
    return r.t ?? undefined;
  }

  private nextManifest(): LessonRow | undefined {
    return this.deps.db
      .prepare(
        `SELECT l.* FROM recording_lessons l WHERE l.ended_at IS NOT NULL AND l.manifest_uploaded_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM recording_segments s WHERE s.lesson_id = l.lesson_id AND s.state IN ('pending', 'failed'))
         ORDER BY l.date, l.created_at LIMIT 1`,
      )
      .get() as LessonRow | undefined;
  }

  private async attempt(seg: SegmentRow): Promise<void> {
    const ctl = new AbortController();
    const onStop = (): void => ctl.abort();
    this.stopCtl.signal.addEventListener('abort', onStop, { once: true });
    this.partCtl = ctl;
    try {
      await this.uploadSegment(seg, ctl.signal);
      this.backoff.reset();
      this.deps.cache.evict().catch((e: unknown) => this.deps.log.warn({ err: e }, 'eviction failed'));
    } catch (e) {
      if (ctl.signal.aborted || e instanceof Interrupted) {
        this.deps.log.info({ lessonId: seg.lesson_id, segment: seg.name }, 'upload interrupted; it resumes from its last confirmed part');
        return;
      }
      this.failed(seg, e);
    } finally {
      this.stopCtl.signal.removeEventListener('abort', onStop);
      this.partCtl = undefined;
    }
  }

  private failed(seg: SegmentRow, e: unknown): void {
    const now = this.deps.clock.now().getTime();
    const err = isStoreError(e) ? e : undefined;
    const message = errorMessage(e).slice(0, 500);
    if (err?.kind === 'permanent' || !err) {
      // Refused outright (or a local problem): retrying soon would only fail the same way.
      this.deps.db
        .prepare("UPDATE recording_segments SET state = 'failed', attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE lesson_id = ? AND idx = ?")
        .run(message, now + this.deps.settings.failedRetrySec * 1000, seg.lesson_id, seg.idx);
      this.deps.log.error({ lessonId: seg.lesson_id, segment: seg.name, err: message }, 'upload failed; it is tried again later or with uploads.retry');
      return;
    }
    const delay = this.backoff.next();
    this.retryAt = now + delay;
    this.deps.db
      .prepare('UPDATE recording_segments SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE lesson_id = ? AND idx = ?')
      .run(message, now + delay, seg.lesson_id, seg.idx);
    this.deps.log.warn({ lessonId: seg.lesson_id, segment: seg.name, err: message, retryInMs: delay }, 'upload attempt failed; retrying');
  }

  private async uploadSegment(seg: SegmentRow, signal: AbortSignal): Promise<void> {
    const store = this.store();
    const path = this.deps.cache.segmentPath(seg.lesson_id, seg.name);
    const metadata = { sha256: seg.sha256, segment: seg.name, 'device-id': this.deps.cache.deviceId };
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new Error(`cannot read ${path}: ${errorMessage(e)}`, { cause: e });
    }
    try {
      const size = (await fh.stat()).size;
      if (size < seg.bytes) throw new Error(`${path} is shorter (${size} bytes) than when it was recorded (${seg.bytes})`);
      let uploadId = seg.upload_id;
      let partSize = seg.part_size ?? this.deps.settings.partSizeBytes;
      if (!uploadId) {
        // The last run may have completed it just before it was killed.
        const there = await store.head(seg.object_key, signal);
        if (there && there.size === seg.bytes && there.metadata.sha256 === seg.sha256) {
          this.uploaded(seg, 'found already complete in the store');
          return;
        }
        partSize = Math.max(partSize, Math.ceil(seg.bytes / 10_000));
        uploadId = await store.createUpload(seg.object_key, metadata, signal);
        this.deps.db
          .prepare('UPDATE recording_segments SET upload_id = ?, part_size = ? WHERE lesson_id = ? AND idx = ?')
          .run(uploadId, partSize, seg.lesson_id, seg.idx);
      }
      const confirmed = new Map(
        (
          this.deps.db
            .prepare('SELECT part_number, size, etag FROM recording_parts WHERE lesson_id = ? AND idx = ? AND upload_id = ?')
            .all(seg.lesson_id, seg.idx, uploadId) as { part_number: number; size: number; etag: string }[]
        ).map((p) => [p.part_number, p]),
      );
      const parts = Math.max(1, Math.ceil(seg.bytes / partSize));
      // Each part is read once and hashed twice: its MD5 (sent as Content-MD5, checked against its
      // ETag) and the running sha256 of the whole segment (checked against the one taken at intake
      // before the upload is completed). The whole segment's MD5, which only some stores use as the
      // ETag of a multipart object, is taken later while the store completes the upload.
      const sha = createHash('sha256');
      const partMd5s: Buffer[] = [];
      const done: { partNumber: number; etag: string }[] = [];
      let sent = 0;
      // Parts go out several at a time when there is no cap (a fast link waits less on each
      // round trip); one at a time under a cap, which the token bucket shares anyway. Reading and
      // hashing stay in order.
      const width = this.bucket.rate > 0 ? 1 : this.deps.settings.concurrentParts;
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      const send = async (n: number, buf: Buffer, md5: Buffer): Promise<void> => {
        const body = this.bucket.rate > 0 ? throttledBody(buf, this.bucket, signal) : buf;
        let etag: string;
        try {
          etag = await store.uploadPart(seg.object_key, uploadId, n, body, buf.length, md5.toString('base64'), signal);
        } catch (e) {
          if (isStoreError(e) && e.kind === 'gone-upload') this.forgetUpload(seg);
          throw e;
        }
        if (unquote(etag) !== md5.toString('hex')) {
          throw new StoreError(`part ${n} of ${seg.object_key}: the store's ETag ${etag} is not the part's MD5 ${md5.toString('hex')}`, 'transient');
        }
        // Confirmed: kept, so that no later attempt sends this part again.
        this.deps.db
          .prepare('INSERT OR REPLACE INTO recording_parts (lesson_id, idx, upload_id, part_number, size, etag) VALUES (?, ?, ?, ?, ?, ?)')
          .run(seg.lesson_id, seg.idx, uploadId, n, buf.length, etag);
        done.push({ partNumber: n, etag });
        sent += buf.length;
      };
      for (let n = 1; n <= parts && failure === undefined; n++) {
        const offset = (n - 1) * partSize;
        const len = Math.min(partSize, seg.bytes - offset);
        // Not zero-filled: the read below fills it whole or the part is refused.
        const buf = Buffer.allocUnsafe(len);
        const { bytesRead } = await fh.read(buf, 0, len, offset);
        if (bytesRead !== len) throw new Error(`${path}: read ${bytesRead} of ${len} bytes at ${offset}`);
        sha.update(buf);
        const md5 = createHash('md5').update(buf).digest();
        partMd5s.push(md5);
        const have = confirmed.get(n);
        if (have && have.size === len && unquote(have.etag) === md5.toString('hex')) {
          done.push({ partNumber: n, etag: have.etag });
          continue;
        }
        if (signal.aborted) break;
        const p: Promise<void> = send(n, buf, md5).then(
          () => void inFlight.delete(p),
          (e: unknown) => {
            inFlight.delete(p);
            failure ??= e;
          },
        );
        inFlight.add(p);
        if (inFlight.size >= width) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
      if (signal.aborted) throw new Interrupted();
      done.sort((x, y) => x.partNumber - y.partNumber);
      const digest = sha.digest('hex');
      if (digest !== seg.sha256) {
        this.forgetUpload(seg);
        throw new Error(`${path} changed since it was recorded (sha256 ${digest}, recorded ${seg.sha256}); it is checked again at the next start`);
      }
      // While the store assembles the object (some stores copy it whole, which takes a while),
      // the segment's MD5 is taken from the file again (it is still in the page cache); not to the
      // end when the store answers with a multipart ETag (MD5 of the parts' MD5s), as most do.
      let partsEtag = false;
      const completing = store.completeUpload(seg.object_key, uploadId, done, signal).then((etag) => {
        partsEtag = etag !== undefined && /-\d+"?$/.test(etag);
        return etag;
      });
      const wholeMd5 = parts === 1 ? Promise.resolve(partMd5s[0]!.toString('hex')) : fileMd5(fh, seg.bytes, signal, () => partsEtag);
      const [completed, whole] = await Promise.allSettled([completing, wholeMd5]);
      if (completed.status === 'rejected') {
        const e: unknown = completed.reason;
        if (!(isStoreError(e) && e.kind === 'gone-upload')) throw e;
        // Completed by an earlier attempt whose answer was lost, or dropped by the store.
        const there = await store.head(seg.object_key, signal);
        if (!(there && there.size === seg.bytes && there.metadata.sha256 === seg.sha256)) {
          this.forgetUpload(seg);
          throw e;
        }
      }
      if (whole.status === 'rejected') throw whole.reason instanceof Error ? whole.reason : new Error(errorMessage(whole.reason));
      const there = await store.head(seg.object_key, signal);
      const expected = [`${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${parts}`, ...(whole.value ? [whole.value] : [])];
      const problem = !there
        ? 'the object is not in the store after its upload completed'
        : there.size !== seg.bytes
          ? `the stored object has ${there.size} bytes, not ${seg.bytes}`
          : there.metadata.sha256 !== seg.sha256
            ? `the stored object's sha256 (${there.metadata.sha256 ?? 'none'}) is not the segment's`
            : there.etag && /^"?[0-9a-f]{32}(-\d+)?"?$/.test(there.etag) && !expected.includes(unquote(there.etag))
              ? `the stored object's ETag ${there.etag} matches neither its MD5 nor its parts`
              : undefined;
      if (problem) {
        this.forgetUpload(seg);
        throw new StoreError(`${seg.object_key}: ${problem}; uploading it again`, 'transient');
      }
      this.uploaded(seg, `${parts} part(s), ${sent} bytes sent now`);
    } finally {
      await fh.close();
    }
  }

  /** The store no longer has the upload (or it went wrong): start the object afresh next time. */
  private forgetUpload(seg: SegmentRow): void {
    this.deps.db.transaction(() => {
      this.deps.db.prepare('DELETE FROM recording_parts WHERE lesson_id = ? AND idx = ?').run(seg.lesson_id, seg.idx);
      this.deps.db.prepare('UPDATE recording_segments SET upload_id = NULL, part_size = NULL WHERE lesson_id = ? AND idx = ?').run(seg.lesson_id, seg.idx);
    })();
  }

  private uploaded(seg: SegmentRow, how: string): void {
    this.deps.db.transaction(() => {
      this.deps.db
        .prepare("UPDATE recording_segments SET state = 'uploaded', uploaded_at = ?, last_error = NULL WHERE lesson_id = ? AND idx = ?")
        .run(this.deps.clock.now().toISOString(), seg.lesson_id, seg.idx);
      this.deps.db.prepare('DELETE FROM recording_parts WHERE lesson_id = ? AND idx = ?').run(seg.lesson_id, seg.idx);
    })();
    this.deps.log.info({ lessonId: seg.lesson_id, segment: seg.name, objectKey: seg.object_key, bytes: seg.bytes }, `segment uploaded and verified (${how})`);
  }

  /** All segments of an ended lesson are up: upload its manifest, then report the lesson. */
  private async finishLesson(lesson: LessonRow): Promise<void> {
    const ctl = new AbortController();
    const onStop = (): void => ctl.abort();
    this.stopCtl.signal.addEventListener('abort', onStop, { once: true });
    try {
      const manifest = await this.deps.cache.writeManifest(lesson.lesson_id);
      const body = Buffer.from(formatManifest(manifest));
      const segments = this.deps.db
        .prepare("SELECT object_key, bytes FROM recording_segments WHERE lesson_id = ? AND state IN ('uploaded', 'evicted') ORDER BY idx")
        .all(lesson.lesson_id) as { object_key: string; bytes: number }[];
      await this.store().putObject(lesson.manifest_key, body, body.length, 'application/json', { 'lesson-id': asciiOnly(lesson.lesson_id) }, ctl.signal);
      const there = await this.store().head(lesson.manifest_key, ctl.signal);
      if (!there || there.size !== body.length) throw new StoreError(`${lesson.manifest_key}: the stored manifest is not the one sent`, 'transient');
      const now = this.deps.clock.now();
      this.deps.db.transaction(() => {
        this.deps.db.prepare('UPDATE recording_lessons SET manifest_uploaded_at = ? WHERE lesson_id = ?').run(now.toISOString(), lesson.lesson_id);
        this.deps.events.add({
          type: 'recording.uploaded',
          severity: 'info',
          lessonId: lesson.lesson_id,
          message: `recording uploaded: ${segments.length} segment(s), ${segments.reduce((a, s) => a + s.bytes, 0)} bytes`,
          details: {
            objectKeys: segments.map((s) => s.object_key),
            manifestKey: lesson.manifest_key,
            segments: segments.length,
            bytes: segments.reduce((a, s) => a + s.bytes, 0),
            gaps: manifest.gaps.length,
          },
        });
      })();
      this.deps.events.send();
      this.backoff.reset();
      this.deps.log.info({ lessonId: lesson.lesson_id, segments: segments.length }, 'lesson recording uploaded; recording.uploaded reported');
      this.deps.cache.evict().catch((e: unknown) => this.deps.log.warn({ err: e }, 'eviction failed'));
    } catch (e) {
      if (ctl.signal.aborted) return;
      const delay = this.backoff.next();
      this.deps.log.warn({ lessonId: lesson.lesson_id, err: errorMessage(e), retryInMs: delay }, 'manifest upload failed; retrying');
      await sleep(delay, this.wakeCtl.signal);
    } finally {
      this.stopCtl.signal.removeEventListener('abort', onStop);
    }
  }
}

/** Segments not yet uploaded, and their bytes not yet confirmed by the store (heartbeat). */
export function pendingUploads(db: Db): { pending: number; bytesPending: number } {
  const r = db
    .prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(s.bytes), 0) AS bytes,
         COALESCE(SUM((SELECT SUM(p.size) FROM recording_parts p WHERE p.lesson_id = s.lesson_id AND p.idx = s.idx AND p.upload_id = s.upload_id)), 0) AS sent
       FROM recording_segments s WHERE s.state IN ('pending', 'failed')`,
    )
    .get() as { n: number; bytes: number; sent: number };
  return { pending: r.n, bytesPending: Math.max(0, r.bytes - r.sent) };
}

/** The listing for `lectern uploads list`, from the state database (the agent may be stopped). */
export function listUploads(db: Db, state: UploadListing['state'] = 'idle', heldUntil: string | null = null): UploadListing {
  const rows = db
    .prepare(
      `SELECT l.lesson_id, l.date, l.ended_at, l.manifest_uploaded_at, l.created_at,
         COUNT(s.idx) AS segments,
         COALESCE(SUM(CASE WHEN s.state IN ('uploaded', 'evicted', 'skipped') THEN 1 ELSE 0 END), 0) AS uploaded,
         COALESCE(SUM(s.bytes), 0) AS bytes,
         COALESCE(SUM(CASE WHEN s.state IN ('uploaded', 'evicted') THEN s.bytes ELSE 0 END), 0) AS bytes_uploaded,
         COALESCE(SUM((SELECT SUM(p.size) FROM recording_parts p WHERE p.lesson_id = s.lesson_id AND p.idx = s.idx AND p.upload_id = s.upload_id)), 0) AS bytes_parts,
         COALESCE(SUM(CASE WHEN s.state = 'failed' THEN 1 ELSE 0 END), 0) AS failed,
         MAX(s.last_error) AS last_error,
         MIN(CASE WHEN s.state IN ('pending', 'failed') THEN s.next_attempt_at END) AS next_at
       FROM recording_lessons l LEFT JOIN recording_segments s USING (lesson_id)
       GROUP BY l.lesson_id ORDER BY l.date, l.created_at`,
    )
    .all() as {
    lesson_id: string;
    date: string;
    ended_at: string | null;
    manifest_uploaded_at: string | null;
    segments: number;
    uploaded: number;
    bytes: number;
    bytes_uploaded: number;
    bytes_parts: number;
    failed: number;
    last_error: string | null;
    next_at: number | null;
  }[];
  const lessons = rows.map((r) => ({
    lessonId: r.lesson_id,
    date: r.date,
    ended: r.ended_at !== null,
    reported: r.manifest_uploaded_at !== null,
    segments: r.segments,
    uploaded: r.uploaded,
    bytes: r.bytes,
    bytesUploaded: r.bytes_uploaded + r.bytes_parts,
    failed: r.failed,
    lastError: r.uploaded < r.segments ? r.last_error : null,
    nextAttemptAt: r.next_at !== null && r.next_at > 0 ? new Date(r.next_at).toISOString() : null,
  }));
  const pending = lessons.reduce((a, l) => a + (l.segments - l.uploaded), 0);
  const bytesPending = lessons.reduce((a, l) => a + (l.bytes - l.bytesUploaded), 0);
  return { lessons, pending, bytesPending: Math.max(0, bytesPending), state, heldUntil };
}

/**
 * The MD5 of a file's first `bytes` bytes, read a chunk at a time so that other work goes on
 * between chunks; undefined when `enough()` says it is no longer needed.
 */
async function fileMd5(fh: FileHandle, bytes: number, signal: AbortSignal, enough: () => boolean): Promise<string | undefined> {
  const md5 = createHash('md5');
  const chunk = Buffer.allocUnsafe(Math.min(bytes, 1024 * 1024));
  for (let offset = 0; offset < bytes; ) {
    if (signal.aborted) throw new Interrupted();
    if (enough()) return undefined;
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, bytes - offset), offset);
    if (bytesRead === 0) throw new Error(`the segment ended at ${offset} of ${bytes} bytes while its MD5 was taken`);
    md5.update(chunk.subarray(0, bytesRead));
    offset += bytesRead;
  }
  return md5.digest('hex');
}

function unquote(etag: string): string {
  return etag.replace(/"/g, '');
}

/** S3 metadata values travel in HTTP headers: ASCII only. */
function asciiOnly(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_');
}
