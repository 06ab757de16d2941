// Recording upload benchmarks (issue #8). Prints figures; asserts only that they ran.
// Run: npm run bench -- test/bench/uploads.bench.ts
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { EventPublisher } from '../../agent/events.js';
import { silentLogger } from '../../agent/log.js';
import { systemClock } from '../../agent/clock.js';
import { RecordingCache } from '../../agent/recordings/cache.js';
import { Uploader } from '../../agent/recordings/uploader.js';
import { S3ObjectStore } from '../../agent/recordings/store.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { startBroker } from '../support/broker.js';
import { AgentProcess, REPO, testConfig } from '../support/agent.js';
import { S3Server, S3_KEY, S3_SECRET } from '../support/s3.js';
import { tempDir, waitUntil } from '../support/tmp.js';

const DEVICE = 'QZ-BENCH-UPL-R201';
const dirs: { cleanup: () => void }[] = [];
let s3: S3Server;

beforeAll(async () => {
  const d = tempDir();
  dirs.push(d);
  s3 = await S3Server.start(d.path);
});
afterAll(async () => {
  await s3.kill();
  dirs.forEach((x) => x.cleanup());
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

/** Bytes shaped as MPEG-TS (sync byte every 188 bytes) so the cache takes them as a whole segment. */
function tsBytes(size: number): Buffer {
  const packets = Math.floor(size / 188);
  const b = randomBytes(packets * 188);
  for (let i = 0; i < packets; i++) {
    b[i * 188] = 0x47;
    b[i * 188 + 3] = 0x10; // payload only: no adaptation field
  }
  return b;
}

function cpuSec(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('recording upload benchmarks', () => {
  it('multipart upload (the uploader) vs one PutObject of the same bytes, loopback s3rver (target ratio >= 0.8)', async () => {
    const SIZE = 64 * 1024 * 1024;
    const bytes = tsBytes(SIZE);
    const store = new S3ObjectStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, accessKeyId: S3_KEY, secretAccessKey: S3_SECRET, forcePathStyle: true, requestTimeoutSec: 120 });
    const multipart: number[] = [];
    const single: number[] = [];
    for (let round = 0; round < 3; round++) {
      // The uploader: cache index, 8 MiB parts with MD5s, ETag checks, HeadObject verification.
      const d = dir();
      const db = openState({ dataDir: d });
      const events = new EventPublisher({ bootId: 'b', topic: 't', outbox: new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), clock: systemClock, timeZone: () => 'UTC' });
      const root = join(d, 'recordings');
      const cache = new RecordingCache({
        db, root, deviceId: DEVICE, prefix: `bench-${round}`, log: silentLogger(), events, clock: systemClock,
        settings: { maxCacheBytes: 1e12, minFreeBytes: 0, lessonReserveBytes: 0 }, today: () => '2026-09-01', liveLessonId: () => null,
      });
      const lesson = `${DEVICE}:bench-${round}:2026-09-01`;
      mkdirSync(join(root, lessonDirName(lesson)), { recursive: true });
      writeFileSync(join(root, lessonDirName(lesson), 'seg-00001.ts'), bytes);
      await cache.lessonEnded(lesson);
      const uploader = new Uploader({
        db, cache, store: () => store, events, log: silentLogger(), clock: systemClock, live: () => false,
        settings: { partSizeBytes: 8 * 1024 * 1024, liveKbps: 0, idleKbps: 0, spreadSec: 0, retryMinSec: 1, retryMaxSec: 5, failedRetrySec: 60, concurrentParts: 4 },
      });
      const t0 = performance.now();
      uploader.start();
      await waitUntil(() => db.prepare("SELECT 1 FROM recording_segments WHERE state = 'uploaded'").get(), 'uploaded', 120_000);
      multipart.push(performance.now() - t0);
      await uploader.stop();
      db.close();
      // The same bytes with the same client in one PutObject (plus the same HeadObject check).
      const ctl = new AbortController();
      const t1 = performance.now();
      await store.putObject(`single-${round}/seg-00001.ts`, bytes, bytes.length, 'video/mp2t', {}, ctl.signal);
      await store.head(`single-${round}/seg-00001.ts`, ctl.signal);
      single.push(performance.now() - t1);
    }
    store.close();
    const mbps = (ms: number): number => (SIZE * 8) / 1e6 / (ms / 1000);
    const m = median(multipart);
    const s = median(single);
    console.log(
      `upload 64 MiB on loopback (s3rver), median of 3: multipart ${mbps(m).toFixed(0)} Mbit/s (${m.toFixed(0)} ms; runs ${multipart.map((x) => x.toFixed(0)).join(', ')}), ` +
        `single PutObject ${mbps(s).toFixed(0)} Mbit/s (${s.toFixed(0)} ms; runs ${single.map((x) => x.toFixed(0)).join(', ')}); ratio ${(s / m).toFixed(2)} (target >= 0.8)`,
    );
    expect(m).toBeGreaterThan(0);
  });

  it('agent CPU while uploading at the configured cap (8 Mbit/s), and the idle memory the SDK would add', async () => {
    const broker = await startBroker();
    try {
      const d = dir();
      const dataDir = join(d, 'data');
      const lesson = `${DEVICE}:cap:2026-09-01`;
      const folder = join(dataDir, 'recordings', lessonDirName(lesson));
      mkdirSync(folder, { recursive: true });
      for (let i = 1; i <= 4; i++) writeFileSync(join(folder, `seg-0000${i}.ts`), tsBytes(8 * 1024 * 1024));
      const proc = AgentProcess.withConfig(
        d,
        testConfig(dataDir, broker.url, {
          deviceId: DEVICE,
          uploads: { endpoint: s3.endpoint, bucket: s3.bucket, prefix: 'cap', accessKeyId: S3_KEY, secretAccessKey: S3_SECRET, spreadSec: 0, idleKbps: 8000 },
        }),
        true,
      );
      proc.start();
      try {
        const pid = proc.pid!;
        // Past start-up and the SDK load, then 20 s of steady capped upload.
        await new Promise((r) => setTimeout(r, 5000));
        const c0 = cpuSec(pid);
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 20_000));
        const cpu = ((cpuSec(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
        const keys = await s3.keys('cap/');
        console.log(`agent CPU uploading at an 8 Mbit/s cap: ${cpu.toFixed(1)} % of one core over 20 s (${keys.length} of 4 segments done meanwhile)`);
        expect(cpu).toBeGreaterThanOrEqual(0);
      } finally {
        await proc.stop();
      }
    } finally {
      await broker.cleanup();
    }
    // What loading the AWS SDK costs a node process (the agent loads it only when it uploads).
    const rss = (code: string): number =>
      Number(execFileSync(process.execPath, ['--input-type=module', '-e', `${code}; global.gc?.(); console.log(process.memoryUsage.rss())`], { cwd: REPO, encoding: 'utf8' }).trim());
    const base = rss('await Promise.resolve()');
    const withSdk = rss("const m = await import('@aws-sdk/client-s3'); new m.S3Client({ region: 'us-east-1' })");
    console.log(`RSS of a bare node process ${(base / 1e6).toFixed(1)} MB; with the S3 client loaded ${(withSdk / 1e6).toFixed(1)} MB (+${((withSdk - base) / 1e6).toFixed(1)} MB, not paid by an idle agent)`);
  });
});
