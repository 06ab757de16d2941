import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventMessage, Health, LessonRecord } from '../../agent/contract/types.js';
import { openState } from '../../agent/state/db.js';
import { Ledger } from '../../agent/ledger.js';
import { Outbox } from '../../agent/outbox.js';
import { silentLogger } from '../../agent/log.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform, type Reply } from '../support/platform.js';
import { AgentProcess, CLI, testConfig } from '../support/agent.js';
import { sampleRecord } from '../support/records.js';
import { testMediaInput } from '../support/media.js';
import { S3Server, S3_KEY, S3_SECRET, recordTestSegments } from '../support/s3.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The built agent as its own process, a real broker, the fake platform (every payload checked
// against the contract) and a real S3-compatible server: a recorded lesson goes up by itself;
// an agent SIGKILLed mid-upload resumes after its restart and completes the same objects.
const DEVICE = 'QZ-UPAG-0001-R201';
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let s3: S3Server;
const dirs: { cleanup: () => void }[] = [];

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  const d = tempDir();
  dirs.push(d);
  s3 = await S3Server.start(d.path);
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  await s3.kill();
  dirs.forEach((d) => d.cleanup());
  expect(platform.invalid).toEqual([]);
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

const uploadsConfig = (prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  endpoint: s3.endpoint,
  bucket: s3.bucket,
  prefix,
  accessKeyId: S3_KEY,
  secretAccessKey: S3_SECRET,
  spreadSec: 0,
  retryMinSec: 0.2,
  retryMaxSec: 1,
  ...extra,
});

const uploadedEvent = (lessonId: string): EventMessage | undefined =>
  platform.payloads<EventMessage>('events', DEVICE).find((e) => e.type === 'recording.uploaded' && e.lessonId === lessonId);

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('recording upload in the running agent', () => {
  it('a recorded lesson is uploaded by itself; recording.uploaded, heartbeat and uploads.retry follow the contract', async () => {
    const d = dir();
    const dataDir = join(d, 'data');
    const proc = AgentProcess.withConfig(
      d,
      testConfig(dataDir, broker.url, { deviceId: DEVICE, media: testMediaInput(), uploads: uploadsConfig('rec1') }),
    );
    proc.start();
    try {
      await waitUntil(() => platform.payloads<{ online: boolean }>('status', DEVICE).find((s) => s.online), 'birth', 20_000);
      const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId: 'up-start', args: { subject: '数学' } });
      expect(started.ok).toBe(true);
      const lessonId = started.result!.lessonId;
      const folder = join(dataDir, 'recordings', lessonDirName(lessonId));
      // A few 2-second segments, then the lesson ends.
      await waitUntil(() => existsSync(folder) && readdirSync(folder).filter((f) => f.endsWith('.ts')).length >= 3, 'three segments recorded', 60_000);
      const stopped = await platform.reply(DEVICE, 'lesson.stop', { requestId: 'up-stop', args: {} }, 60_000);
      expect(stopped.ok).toBe(true);
      const ev = await waitUntil(() => uploadedEvent(lessonId), 'recording.uploaded', 60_000);
      const keys = (ev.details as { objectKeys: string[]; manifestKey: string }).objectKeys;
      const segs = readdirSync(folder).filter((f) => /^seg-\d{5}\.ts$/.test(f)).sort();
      expect(keys.map((k) => k.slice(k.lastIndexOf('/') + 1))).toEqual(segs.filter((f) => readFileSync(join(folder, f)).length > 0));
      for (const k of keys) {
        expect(k.startsWith(`rec1/${DEVICE}/`)).toBe(true);
        expect((await s3.get(k)).equals(readFileSync(join(folder, k.slice(k.lastIndexOf('/') + 1))))).toBe(true);
      }
      // The lesson record and the upload agree on the recording.
      const rec = await waitUntil(() => platform.payloads<LessonRecord>('lessons', DEVICE).find((r) => r.lessonId === lessonId), 'lesson record');
      expect(rec.recording.segments).toBe(keys.length);
      const hb = await platform.reply<Health>(DEVICE, 'health.get', { requestId: 'up-health' });
      expect(hb.result!.uploads).toEqual({ pending: 0, bytesPending: 0 });
      const retry: Reply<{ queued: number }> = await platform.reply(DEVICE, 'uploads.retry', { requestId: 'up-retry' });
      expect(retry).toMatchObject({ ok: true, result: { queued: 0 } });
      // The technician's view, through the control socket.
      const listed = cli(['uploads', 'list', '--json', '--data-dir', dataDir]);
      expect(listed.status, listed.stderr).toBe(0);
      const listing = JSON.parse(listed.stdout) as { source: string; lessons: { lessonId: string; reported: boolean; segments: number }[] };
      expect(listing.source).toBe('agent');
      expect(listing.lessons).toEqual([expect.objectContaining({ lessonId, reported: true, segments: segs.length })]);
    } finally {
      await proc.stop();
    }
  }, 180_000);

  it('SIGKILL mid-upload: after the restart the upload resumes from its confirmed parts and completes the same objects, none twice', async () => {
    const d = dir();
    const dataDir = join(d, 'data');
    // A lesson that ended (its class-hour record is in the ledger) and whose recording was not yet
    // registered: three real segments of about 6 MB, two 5 MiB parts each.
    const lesson = sampleRecord(DEVICE, 1, { lessonId: `${DEVICE}:e-kill:2026-09-02`, date: '2026-09-02' });
    const db = openState({ dataDir });
    new Ledger(db, new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), `classroom/v1/${DEVICE}/lessons`).record(lesson, new Date().toISOString());
    db.close();
    const folder = join(dataDir, 'recordings', lessonDirName(lesson.lessonId));
    mkdirSync(folder, { recursive: true });
    recordTestSegments(folder, { seconds: 4, count: 3, size: 'large' });
    const files = readdirSync(folder).sort();
    // 24 Mbit/s: about six seconds for the lot, time enough to kill it in the middle.
    const proc = AgentProcess.withConfig(
      d,
      testConfig(dataDir, broker.url, { deviceId: DEVICE, logLevel: 'info', uploads: uploadsConfig('rec2', { idleKbps: 24_000, partSizeBytes: 5 * 1024 * 1024 }) }),
    );
    const confirmedParts = (): number => {
      const ro = openState({ dataDir, readonly: true });
      try {
        return ro.prepare('SELECT COUNT(*) FROM recording_parts').pluck().get() as number;
      } finally {
        ro.close();
      }
    };
    proc.start();
    let output = '';
    try {
      await waitUntil(() => {
        if (uploadedEvent(lesson.lessonId)) throw new Error('the upload finished before it could be interrupted');
        return confirmedParts() >= 1;
      }, 'a confirmed part', 60_000);
      const killed = await proc.stop('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      output += proc.output;
      expect(uploadedEvent(lesson.lessonId)).toBeUndefined();
      proc.start();
      await waitUntil(() => uploadedEvent(lesson.lessonId), 'recording.uploaded after the restart', 90_000);
    } finally {
      await proc.stop();
      output += proc.output;
    }
    const base = `rec2/${DEVICE}/2026-09-02/${lessonDirName(lesson.lessonId)}`;
    expect(await s3.keys('rec2/')).toEqual([...files.map((f) => `${base}/${f}`), `${base}/manifest.json`].sort());
    for (const f of files) expect((await s3.get(`${base}/${f}`)).equals(readFileSync(join(folder, f)))).toBe(true);
    // No multipart upload was left behind in the store (a second upload of the same segment would be).
    const pendingUploads = join(s3.dir, s3.bucket, '._S3rver_uploads');
    expect(existsSync(pendingUploads) ? readdirSync(pendingUploads) : []).toEqual([]);
    // The resumed segment sent only what the store had not confirmed before the kill.
    const resumed = [...output.matchAll(/"bytes":(\d+).*?segment uploaded and verified \(2 part\(s\), (\d+) bytes sent now\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(resumed.some(([total, sent]) => sent! < total!)).toBe(true);
    expect(platform.payloads<EventMessage>('events', DEVICE).filter((e) => e.type === 'recording.uploaded' && e.lessonId === lesson.lessonId)).toHaveLength(1);
    // With the agent stopped, the listing comes from the state database.
    const listed = cli(['uploads', 'list', '--json', '--data-dir', dataDir]);
    expect(listed.status, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ source: 'state (the agent is not running)', pending: 0, lessons: [{ lessonId: lesson.lessonId, uploaded: 3, reported: true }] });
  }, 180_000);
});
