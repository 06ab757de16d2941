import type { RecordingSummary } from '../lessons/media.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../state/db.js';
import type { Logger } from '../log.js';
import type { EventPublisher } from '../events.js';
import type { Clock } from '../clock.js';
import { writeFileAtomic } from '../atomic-file.js';
import { errorMessage } from '../errors.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { TsScanner, type TsFindings } from './mpegts.js';
import {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  ManifestError,
  findGaps,
  formatManifest,
  parseManifest,
  type Manifest,
  type ManifestSegment,
  type SegmentCondition,
} from './manifest.js';

export interface CacheSettings {
  /** Most bytes the recordings may take; uploaded segments are evicted past it. */
  maxCacheBytes: number;
  /** Free space the disk must keep; uploaded segments are evicted to keep it. */
  minFreeBytes: number;
  /** Bytes a lesson is expected to take (what the disk must be able to hold next). */
  lessonReserveBytes: number;
}

export interface CacheDeps {
  db: Db;
  /** `<dataDir>/recordings`: one folder per lesson. */
  root: string;
  deviceId: string;
  /** Object key prefix (may be empty). */
  prefix: string;
  log: Logger;
  events: EventPublisher;
  clock: Clock;
  settings: CacheSettings;
  /** The device's local date now (the object key of a lesson whose id carries no date). */
  today(): string;
  /** The lesson the pipelines are recording now, if any: its last segment is still growing. */
  liveLessonId(): string | null;
}

export interface SegmentRow {
  lesson_id: string;
  idx: number;
  name: string;
  file_bytes: number;
  bytes: number;
  sha256: string;
  duration_sec: number | null;
  condition: SegmentCondition;
  object_key: string;
  state: 'pending' | 'failed' | 'uploaded' | 'skipped' | 'evicted';
  upload_id: string | null;
  part_size: number | null;
  attempts: number;
  last_error: string | null;
  next_attempt_at: number;
  uploaded_at: string | null;
  created_at: string;
}

export interface LessonRow {
  lesson_id: string;
  dir: string;
  date: string;
  ended_at: string | null;
  manifest_key: string;
  manifest_uploaded_at: string | null;
  created_at: string;
}

export interface DiskState {
  cacheBytes: number;
  freeBytes: number;
  /** Bytes of uploaded, verified segments that could be evicted now. */
  evictableBytes: number;
  /** Bytes not yet uploaded (never evicted). */
  pendingBytes: number;
}

const SEGMENT_NAME = /^seg-(\d{5})\.ts$/;

/**
 * The lesson cache: one folder per lesson under `<dataDir>/recordings`, its segments and a
 * manifest (written atomically), indexed in SQLite for the uploader. After a crash it is rebuilt
 * from the files: a segment cut mid-packet is kept whole on disk but only its readable part is
 * uploaded, a corrupt manifest is reported and written anew. It keeps the disk within its quota
 * by evicting uploaded and verified segments of ended lessons, oldest first, and reports
 * `disk.low` when the next lesson would not fit and nothing may be evicted.
 */
export class RecordingCache {
  /** Problems found by the running recover() that are a cut's trace rather than damage. */
  private readonly cutTraces = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private diskLowSince: number | undefined;
  /** The live recording is capped for lack of room (see holdDiskLowEpisode). */
  private capHeld = false;

  constructor(private readonly deps: CacheDeps) {}

  get root(): string {
    return this.deps.root;
  }

  get deviceId(): string {
    return this.deps.deviceId;
  }

  /** Runs cache changes one at a time (segment events, lesson ends, eviction, recovery). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // Hooks from the lesson's recording.

  /** A segment of a recording lesson was finalised by the recorder. */
  segmentClosed(lessonId: string, location: string, durationNs?: number): Promise<void> {
    return this.serial(async () => {
      const lesson = await this.lessonRow(lessonId);
      const name = location.slice(location.lastIndexOf('/') + 1);
      if (!SEGMENT_NAME.test(name)) return;
      await this.registerFile(lesson, name, durationNs !== undefined ? durationNs / 1e9 : undefined);
      await this.writeManifest(lesson.lesson_id);
    });
  }

  /** The lesson has ended and its pipelines are stopped: every file in its folder is final. */
  lessonEnded(lessonId: string): Promise<void> {
    return this.serial(async () => {
      const dir = join(this.deps.root, lessonDirName(lessonId));
      const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
      if (!exists) return;
      const lesson = await this.lessonRow(lessonId);
      await this.scanFolder(lesson);
      this.deps.db.prepare('UPDATE recording_lessons SET ended_at = ? WHERE lesson_id = ? AND ended_at IS NULL').run(this.deps.clock.now().toISOString(), lessonId);
      await this.writeManifest(lessonId);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Start-up: rebuild from the files.

  /**
   * Goes through every lesson folder (call before any pipeline runs: no file is growing then).
   * Registers segments the index does not know (a crash between a segment's end and its
   * registration), checks every manifest, and ends lessons other than `live` (the lesson the
   * last run left live, which the lesson loop may continue).
   * Returns what was found wrong (each also a gap in its lesson's manifest where it concerns a
   * segment). Damage is reported as a storage `device.fault` event; a segment left empty or cut
   * mid-packet is the ordinary trace of a power cut or a killed media process (the lesson's
   * record lists the cut as an interruption), logged and kept as a gap, but not a device fault.
   */
  recover(live: string | null): Promise<string[]> {
    return this.serial(async () => {
      await mkdir(this.deps.root, { recursive: true });
      const problems: string[] = [];
      this.cutTraces.clear();
      const dirs = await readdir(this.deps.root, { withFileTypes: true });
      // A folder without a (good) manifest is named after its lesson: the live one, or one in the ledger.
      const byDir = new Map<string, string>();
      for (const id of this.deps.db.prepare('SELECT lesson_id FROM lessons').pluck().all() as string[]) byDir.set(lessonDirName(id), id);
      if (live) byDir.set(lessonDirName(live), live);
      for (const d of dirs) {
        if (!d.isDirectory()) continue;
        try {
          problems.push(...(await this.recoverFolder(d.name, live, byDir.get(d.name))));
        } catch (e) {
          problems.push(`${d.name}: could not be checked (${errorMessage(e)})`);
        }
      }
      // Segments the index lists whose files have gone (deleted by hand, a failing disk).
      const rows = this.deps.db
        .prepare("SELECT s.lesson_id, s.idx, s.name, l.dir FROM recording_segments s JOIN recording_lessons l USING (lesson_id) WHERE s.state IN ('pending', 'failed')")
        .all() as { lesson_id: string; idx: number; name: string; dir: string }[];
      for (const r of rows) {
        const there = await stat(join(this.deps.root, r.dir, r.name)).then(() => true, () => false);
        if (there) continue;
        problems.push(`${r.dir}/${r.name}: missing, although it was never uploaded`);
        this.deps.db
          .prepare("UPDATE recording_segments SET state = 'failed', condition = 'missing', last_error = 'the file is missing from the cache' WHERE lesson_id = ? AND idx = ?")
          .run(r.lesson_id, r.idx);
      }
      const damage = problems.filter((p) => !this.cutTraces.has(p));
      if (problems.length > damage.length) this.deps.log.warn({ cut: problems.filter((p) => this.cutTraces.has(p)) }, 'recording cache: segments cut by a power loss or a killed media process, kept as gaps');
      if (damage.length) {
        this.deps.log.error({ problems: damage }, 'recording cache: problems found and repaired where possible');
        this.deps.events.emit({
          type: 'device.fault',
          severity: 'warning',
          device: { kind: 'storage', id: 'recordings', status: 'degraded', detail: clamp(damage.join('; '), 500) },
          message: clamp(`recording cache checked after start: ${damage.length} problem(s): ${damage.join('; ')}`, 1000),
          details: { problems: damage.slice(0, 50) },
        });
      }
      return problems;
    });
  }

  private async recoverFolder(dirName: string, live: string | null, named: string | undefined): Promise<string[]> {
    const problems: string[] = [];
    const folder = join(this.deps.root, dirName);
    let manifest: Manifest | undefined;
    let manifestProblem: string | undefined;
    const text = await readFile(join(folder, MANIFEST_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (text !== undefined) {
      try {
        manifest = parseManifest(text);
      } catch (e) {
        if (!(e instanceof ManifestError)) throw e;
        manifestProblem = `${dirName}/${MANIFEST_FILE} is corrupt (${e.message}); rebuilt from the segment files`;
      }
    }
    const known = this.deps.db.prepare('SELECT * FROM recording_lessons WHERE dir = ?').get(dirName) as LessonRow | undefined;
    const lessonId = known?.lesson_id ?? manifest?.lessonId ?? named ?? dirName;
    if (lessonDirName(lessonId) !== dirName && !known) {
      problems.push(`${dirName}: folder name does not match its lesson id ${lessonId}; kept under the folder name`);
    }
    const lesson = known ?? (await this.lessonRow(lessonId, dirName));
    const found = await this.scanFolder(lesson);
    problems.push(...found);
    if (manifestProblem) problems.push(manifestProblem);
    if (lesson.lesson_id !== live) {
      this.deps.db.prepare('UPDATE recording_lessons SET ended_at = ? WHERE lesson_id = ? AND ended_at IS NULL').run(this.deps.clock.now().toISOString(), lesson.lesson_id);
    }
    await this.writeManifest(lesson.lesson_id, manifestProblem !== undefined || text === undefined);
    return problems;
  }

  /** Registers every segment file of a lesson folder; returns the damage found in new ones. */
  private async scanFolder(lesson: LessonRow): Promise<string[]> {
    const folder = join(this.deps.root, lesson.dir);
    const names = (await readdir(folder)).filter((n) => SEGMENT_NAME.test(n)).sort();
    const problems: string[] = [];
    for (const name of names) {
      const problem = await this.registerFile(lesson, name, undefined);
      if (!problem) continue;
      const text = `${lesson.dir}/${name}: ${problem.text}`;
      if (problem.cut) this.cutTraces.add(text);
      problems.push(text);
    }
    return problems;
  }

  /**
   * Adds (or refreshes) one segment in the index: size, readable part, sha256, duration. A file
   * already indexed with the same size is left as it is. Returns the damage found, if any.
   */
  private async registerFile(lesson: LessonRow, name: string, durationSec: number | undefined): Promise<{ text: string; cut: boolean } | undefined> {
    const idx = Number(SEGMENT_NAME.exec(name)![1]);
    const path = join(this.deps.root, lesson.dir, name);
    const st = await stat(path);
    const row = this.deps.db.prepare('SELECT * FROM recording_segments WHERE lesson_id = ? AND idx = ?').get(lesson.lesson_id, idx) as SegmentRow | undefined;
    if (row && row.file_bytes === st.size) {
      if (durationSec !== undefined && row.duration_sec === null) {
        this.deps.db.prepare('UPDATE recording_segments SET duration_sec = ? WHERE lesson_id = ? AND idx = ?').run(round3(durationSec), lesson.lesson_id, idx);
      }
      return undefined;
    }
    if (row && (row.state === 'uploaded' || row.state === 'evicted')) {
      this.deps.log.warn({ lessonId: lesson.lesson_id, segment: name, was: row.file_bytes, now: st.size }, 'an uploaded segment changed on disk; the uploaded copy stands');
      return { text: 'changed on disk after it was uploaded; the uploaded copy stands', cut: false };
    }
    const { findings, sha256 } = await checkSegment(path);
    const condition: SegmentCondition = findings.problem ?? 'whole';
    const state = findings.validBytes === 0 ? 'skipped' : 'pending';
    const duration = durationSec ?? findings.durationSec ?? null;
    const key = `${this.lessonKeyBase(lesson)}/${name}`;
    const now = this.deps.clock.now().toISOString();
    this.deps.db.transaction(() => {
      if (row) this.deps.db.prepare('DELETE FROM recording_parts WHERE lesson_id = ? AND idx = ?').run(lesson.lesson_id, idx);
      this.deps.db
        .prepare(
          `INSERT INTO recording_segments (lesson_id, idx, name, file_bytes, bytes, sha256, duration_sec, condition, object_key, state, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(lesson_id, idx) DO UPDATE SET file_bytes = excluded.file_bytes, bytes = excluded.bytes, sha256 = excluded.sha256,
             duration_sec = excluded.duration_sec, condition = excluded.condition, state = excluded.state, upload_id = NULL, part_size = NULL,
             attempts = 0, last_error = NULL, next_attempt_at = 0`,
        )
        .run(lesson.lesson_id, idx, name, st.size, findings.validBytes, sha256, duration === null ? null : round3(duration), condition, key, state, now);
    })();
    if (condition === 'whole') return undefined;
    const what =
      condition === 'truncated'
        ? `ends in a partial packet (cut while recording); the first ${findings.validBytes} of ${st.size} bytes are kept for upload`
        : condition === 'bad-sync'
          ? `damaged at byte ${findings.badOffset ?? 0}; the first ${findings.validBytes} of ${st.size} bytes are kept for upload`
          : 'empty; nothing to upload';
    this.deps.log.warn({ lessonId: lesson.lesson_id, segment: name, condition, validBytes: findings.validBytes, bytes: st.size }, `segment ${what}`);
    return { text: what, cut: condition === 'truncated' || condition === 'empty' };
  }

  private async lessonRow(lessonId: string, dir = lessonDirName(lessonId)): Promise<LessonRow> {
    const existing = this.deps.db.prepare('SELECT * FROM recording_lessons WHERE lesson_id = ?').get(lessonId) as LessonRow | undefined;
    if (existing) return existing;
    await mkdir(join(this.deps.root, dir), { recursive: true });
    const date = /:(\d{4}-\d{2}-\d{2})$/.exec(lessonId)?.[1] ?? this.deps.today();
    const row: LessonRow = {
      lesson_id: lessonId,
      dir,
      date,
      ended_at: null,
      manifest_key: '',
      manifest_uploaded_at: null,
      created_at: this.deps.clock.now().toISOString(),
    };
    row.manifest_key = `${this.lessonKeyBase(row)}/${MANIFEST_FILE}`;
    this.deps.db
      .prepare('INSERT INTO recording_lessons (lesson_id, dir, date, ended_at, manifest_key, created_at) VALUES (?, ?, ?, NULL, ?, ?)')
      .run(row.lesson_id, row.dir, row.date, row.manifest_key, row.created_at);
    return row;
  }

  private lessonKeyBase(lesson: Pick<LessonRow, 'dir' | 'date'>): string {
    const parts = [this.deps.prefix.replace(/^\/+|\/+$/g, ''), this.deps.deviceId, lesson.date, lesson.dir].filter(Boolean);
    return parts.join('/');
  }

  // ---------------------------------------------------------------------------------------------
  // Manifests.

  /** The lesson's manifest as the index has it now. */
  manifest(lessonId: string, rebuilt = false): Manifest {
    const lesson = this.deps.db.prepare('SELECT * FROM recording_lessons WHERE lesson_id = ?').get(lessonId) as LessonRow | undefined;
    if (!lesson) throw new Error(`no recording of lesson ${lessonId} in the cache`);
    const rows = this.deps.db.prepare('SELECT * FROM recording_segments WHERE lesson_id = ? ORDER BY idx').all(lessonId) as SegmentRow[];
    const segments: ManifestSegment[] = rows.map((r) => ({
      name: r.name,
      index: r.idx,
      bytes: r.file_bytes,
      uploadBytes: r.bytes,
      durationSec: r.duration_sec,
      sha256: r.sha256,
      condition: r.condition,
    }));
    const m: Manifest = {
      version: MANIFEST_VERSION,
      lessonId,
      deviceId: this.deps.deviceId,
      complete: lesson.ended_at !== null,
      updatedAt: this.deps.clock.now().toISOString(),
      segments,
      gaps: findGaps(segments),
    };
    if (rebuilt) m.rebuiltAt = m.updatedAt;
    return m;
  }

  /**
   * The lesson's recording for its class-hour record: the segments with content (whole, or cut
   * and readable up to the cut), their bytes, duration and sha256; undefined when the cache has
   * no recording of it.
   */
  summary(lessonId: string): RecordingSummary | undefined {
    const known = this.deps.db.prepare('SELECT 1 FROM recording_lessons WHERE lesson_id = ?').get(lessonId);
    if (!known) return undefined;
    const rows = (this.deps.db.prepare('SELECT * FROM recording_segments WHERE lesson_id = ? ORDER BY idx').all(lessonId) as SegmentRow[]).filter(
      (r) => r.bytes > 0 && r.condition !== 'missing' && r.condition !== 'empty',
    );
    return {
      segments: rows.length,
      bytes: rows.reduce((n, r) => n + r.bytes, 0),
      durationSec: Math.round(rows.reduce((n, r) => n + (r.duration_sec ?? 0), 0)),
      sha256: rows.map((r) => r.sha256),
    };
  }

  /** Writes the lesson's manifest into its folder (atomically) and returns it. */
  async writeManifest(lessonId: string, rebuilt = false): Promise<Manifest> {
    const m = this.manifest(lessonId, rebuilt);
    const lesson = this.deps.db.prepare('SELECT dir FROM recording_lessons WHERE lesson_id = ?').get(lessonId) as { dir: string };
    const folder = join(this.deps.root, lesson.dir);
    if (await stat(folder).then(() => true, () => false)) await writeFileAtomic(join(folder, MANIFEST_FILE), formatManifest(m));
    return m;
  }

  /** Path of a segment file. */
  segmentPath(lessonId: string, name: string): string {
    const lesson = this.deps.db.prepare('SELECT dir FROM recording_lessons WHERE lesson_id = ?').get(lessonId) as { dir: string };
    return join(this.deps.root, lesson.dir, name);
  }

  // ---------------------------------------------------------------------------------------------
  // Quota, eviction, disk.low.

  async disk(): Promise<DiskState> {
    const sums = this.deps.db
      .prepare(
        `SELECT
           COALESCE(SUM(CASE WHEN s.state != 'evicted' THEN s.file_bytes END), 0) AS cache,
           COALESCE(SUM(CASE WHEN s.state = 'uploaded' AND l.ended_at IS NOT NULL THEN s.file_bytes END), 0) AS evictable,
           COALESCE(SUM(CASE WHEN s.state IN ('pending', 'failed') THEN s.file_bytes END), 0) AS pending
         FROM recording_segments s JOIN recording_lessons l USING (lesson_id)`,
      )
      .get() as { cache: number; evictable: number; pending: number };
    const fs = await statfs(this.deps.root).catch(() => undefined);
    return {
      cacheBytes: sums.cache,
      evictableBytes: sums.evictable,
      pendingBytes: sums.pending,
      freeBytes: fs ? Number(fs.bavail) * Number(fs.bsize) : 0,
    };
  }

  /**
   * Evicts uploaded, verified segments of ended lessons, oldest lesson first, while the cache is
   * over `maxCacheBytes` or the disk has less than `minFreeBytes` free (plus `extraBytes` to
   * make room for). Never touches a segment that is not uploaded. Returns what was evicted.
   */
  evict(extraBytes = 0): Promise<{ segments: number; bytes: number }> {
    return this.serial(async () => {
      const { maxCacheBytes, minFreeBytes } = this.deps.settings;
      let d = await this.disk();
      let segments = 0;
      let bytes = 0;
      // A lesson's age is its date; when the cache first saw it only orders the lessons of one
      // day (folders indexed again at start-up are all seen then, in no useful order).
      const candidates = this.deps.db
        .prepare(
          `SELECT s.lesson_id, s.idx, s.name, s.file_bytes, l.dir FROM recording_segments s JOIN recording_lessons l USING (lesson_id)
           WHERE s.state = 'uploaded' AND l.ended_at IS NOT NULL ORDER BY l.date, l.created_at, s.lesson_id, s.idx`,
        )
        .all() as { lesson_id: string; idx: number; name: string; file_bytes: number; dir: string }[];
      const touched = new Set<string>();
      for (const c of candidates) {
        if (d.cacheBytes + extraBytes <= maxCacheBytes && d.freeBytes - extraBytes >= minFreeBytes) break;
        await rm(join(this.deps.root, c.dir, c.name), { force: true });
        this.deps.db.prepare("UPDATE recording_segments SET state = 'evicted' WHERE lesson_id = ? AND idx = ?").run(c.lesson_id, c.idx);
        segments++;
        bytes += c.file_bytes;
        d = { ...d, cacheBytes: d.cacheBytes - c.file_bytes, freeBytes: d.freeBytes + c.file_bytes };
        touched.add(c.lesson_id);
      }
      // A lesson with nothing left to keep goes away with its folder; its index rows stay.
      for (const lessonId of touched) {
        const left = this.deps.db
          .prepare("SELECT COUNT(*) AS n FROM recording_segments WHERE lesson_id = ? AND state NOT IN ('evicted', 'skipped')")
          .get(lessonId) as { n: number };
        const lesson = this.deps.db.prepare('SELECT dir, manifest_uploaded_at FROM recording_lessons WHERE lesson_id = ?').get(lessonId) as {
          dir: string;
          manifest_uploaded_at: string | null;
        };
        if (left.n === 0 && lesson.manifest_uploaded_at) await rm(join(this.deps.root, lesson.dir), { recursive: true, force: true });
        else await this.writeManifest(lessonId).catch(() => undefined);
      }
      if (segments) this.deps.log.info({ segments, bytes }, 'evicted uploaded recordings to keep within the cache quota');
      return { segments, bytes };
    });
  }

  /**
   * Why the disk cannot hold `neededBytes` more (the next lesson) even after evicting all that
   * may be evicted; null when it can. For the readiness check and `disk.low`.
   */
  async problemFor(neededBytes: number): Promise<string | null> {
    const { maxCacheBytes, minFreeBytes } = this.deps.settings;
    const d = await this.disk();
    const cacheAfter = d.cacheBytes - d.evictableBytes + neededBytes;
    const freeAfter = d.freeBytes + d.evictableBytes - neededBytes;
    const gb = (n: number): string => `${(n / 1e9).toFixed(2)} GB`;
    if (cacheAfter > maxCacheBytes) {
      return `recording cache: ${gb(d.pendingBytes)} not yet uploaded; the next lesson (about ${gb(neededBytes)}) would take the cache past its ${gb(maxCacheBytes)} quota`;
    }
    if (freeAfter < minFreeBytes) {
      return `disk: ${gb(d.freeBytes)} free; the next lesson (about ${gb(neededBytes)}) would leave less than the ${gb(minFreeBytes)} to keep free`;
    }
    return null;
  }

  /**
   * How many more bytes the recordings may take once everything evictable is evicted: the
   * smaller of what the quota leaves and what the disk has above `minFreeBytes` (never below 0).
   * For lowering the live lesson's recording bitrate when the rest of it would not fit.
   */
  async headroom(): Promise<DiskState & { roomBytes: number }> {
    const { maxCacheBytes, minFreeBytes } = this.deps.settings;
    const d = await this.disk();
    // The live lesson's open segment is on the disk but not yet in the index: count it too.
    const byQuota = maxCacheBytes - (d.cacheBytes + (await this.unindexedLiveBytes()) - d.evictableBytes);
    const byDisk = d.freeBytes + d.evictableBytes - minFreeBytes;
    return { ...d, roomBytes: Math.max(0, Math.min(byQuota, byDisk)) };
  }

  /** Bytes of the live lesson's segment files beyond what the index has of them (the growing segment). */
  private async unindexedLiveBytes(): Promise<number> {
    const live = this.deps.liveLessonId();
    if (!live) return 0;
    const folder = join(this.deps.root, lessonDirName(live));
    const names = await readdir(folder).catch(() => [] as string[]);
    let onDisk = 0;
    for (const n of names) {
      if (SEGMENT_NAME.test(n)) onDisk += await stat(join(folder, n)).then((st) => st.size, () => 0);
    }
    const indexed = this.deps.db
      .prepare("SELECT COALESCE(SUM(file_bytes), 0) FROM recording_segments WHERE lesson_id = ? AND state != 'evicted'")
      .pluck()
      .get(live) as number;
    return Math.max(0, onDisk - indexed);
  }

  /**
   * Evicts what it must, then checks that the next lesson fits; reports `disk.low` once when it
   * does not (again only after it has fitted in between). Recording never stops for it.
   */
  async checkDisk(): Promise<string | null> {
    await this.evict();
    const problem = await this.problemFor(this.deps.settings.lessonReserveBytes);
    if (problem && this.diskLowSince === undefined) {
      this.diskLowSince = this.deps.clock.now().getTime();
      const d = await this.disk();
      this.deps.log.warn({ ...d }, problem);
      this.deps.events.emit({
        type: 'disk.low',
        severity: d.freeBytes < this.deps.settings.minFreeBytes ? 'error' : 'warning',
        lessonId: this.deps.liveLessonId(),
        message: `${problem}; recording continues, nothing not yet uploaded is deleted`,
        details: {
          freeBytes: d.freeBytes,
          cacheBytes: d.cacheBytes,
          pendingBytes: d.pendingBytes,
          maxCacheBytes: this.deps.settings.maxCacheBytes,
          minFreeBytes: this.deps.settings.minFreeBytes,
          neededBytes: this.deps.settings.lessonReserveBytes,
        },
      });
    } else if (!problem && this.diskLowSince !== undefined && !this.capHeld) {
      this.diskLowSince = undefined;
      this.deps.log.info('the disk holds the next lesson again');
    }
    return problem;
  }

  /**
   * Opens a disk.low episode for another reporter (the recording's bitrate cap): true when none
   * was open, so the caller reports it; false when this episode was already reported.
   */
  openDiskLowEpisode(): boolean {
    if (this.diskLowSince !== undefined) return false;
    this.diskLowSince = this.deps.clock.now().getTime();
    return true;
  }

  /** While the live recording is capped for lack of room, the disk.low episode stays open. */
  holdDiskLowEpisode(active: boolean): void {
    this.capHeld = active;
  }
}

/** Reads a segment once: MPEG-TS checks and the sha256 of its readable part. */
export async function checkSegment(path: string): Promise<{ findings: TsFindings; sha256: string }> {
  const scanner = new TsScanner();
  const whole = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    scanner.push(chunk);
    whole.update(chunk);
  }
  const findings = scanner.result();
  if (findings.validBytes === findings.bytes) return { findings, sha256: whole.digest('hex') };
  // Damaged: the hash is of the part that is uploaded. A second read, for the rare bad file.
  const part = createHash('sha256');
  if (findings.validBytes > 0) {
    for await (const chunk of createReadStream(path, { start: 0, end: findings.validBytes - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      part.update(chunk);
    }
  }
  return { findings, sha256: part.digest('hex') };
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;
const clamp = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 3)}...`);
