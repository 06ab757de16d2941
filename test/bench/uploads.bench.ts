// Recording upload benchmarks (issue #8). Prints figures; asserts only that they ran.
// Run: npm run bench -- test/bench/uploads.bench.ts
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { EventPublisher } from '../../agent/events.js';
import { createLogger, silentLogger } from '../../agent/log.js';
import { systemClock } from '../../agent/clock.js';
import { RecordingCache } from '../../agent/recordings/cache.js';
import { Uploader } from '../../agent/recordings/uploader.js';
import { S3ObjectStore, type ObjectStore } from '../../agent/recordings/store.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { startBroker } from '../support/broker.js';
import { AgentProcess, REPO, testConfig } from '../support/agent.js';
import { S3Server, S3_KEY, S3_SECRET } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

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


/** CPU time (user + system) of a process so far, in ms (10 ms resolution). */
const cpuMsOf = (pid: number): number => cpuSec(pid) * 1000;
const ownCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One request to the store: when it ran, and the server's CPU meanwhile. */
interface Call {
  op: 'head' | 'create' | 'part' | 'complete' | 'put';
  t0: number;
  t1: number;
  serverCpuMs: number;
}

/** The store with each call timed (the uploader's own code is untouched). */
function timedStore(inner: ObjectStore, calls: Call[], serverPid: number): ObjectStore {
  const timed = async <T>(op: Call['op'], fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const s0 = cpuMsOf(serverPid);
    try {
      return await fn();
    } finally {
      calls.push({ op, t0, t1: performance.now(), serverCpuMs: cpuMsOf(serverPid) - s0 });
    }
  };
  return {
    createUpload: (...a) => timed('create', () => inner.createUpload(...a)),
    uploadPart: (...a) => timed('part', () => inner.uploadPart(...a)),
    completeUpload: (...a) => timed('complete', () => inner.completeUpload(...a)),
    putObject: (...a) => timed('put', () => inner.putObject(...a)),
    head: (...a) => timed('head', () => inner.head(...a)),
    close: () => inner.close(),
  };
}

interface MultipartRun {
  ms: number;
  /** Before the first part is sent: HeadObject, CreateMultipartUpload, reading and hashing part 1. */
  beforeParts: number;
  /** First part sent to last part confirmed. */
  parts: number;
  complete: number;
  completeServerCpu: number;
  /** The HeadObject check and everything else after the parts. */
  after: number;
  clientCpu: number;
  serverCpu: number;
}

/** The uploader (cache index, parts with MD5s and ETag checks, HeadObject verification), timed to its "verified" log line. */
async function uploadWithUploader(bytes: Buffer, tag: string, store: ObjectStore, serverPid: number): Promise<MultipartRun> {
  const d = dir();
  const db = openState({ dataDir: d });
  const events = new EventPublisher({ bootId: 'b', topic: 't', outbox: new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), clock: systemClock, timeZone: () => 'UTC' });
  const root = join(d, 'recordings');
  const cache = new RecordingCache({
    db, root, deviceId: DEVICE, prefix: tag, log: silentLogger(), events, clock: systemClock,
    settings: { maxCacheBytes: 1e12, minFreeBytes: 0, lessonReserveBytes: 0 }, today: () => '2026-09-01', liveLessonId: () => null,
  });
  const lesson = `${DEVICE}:${tag}:2026-09-01`;
  mkdirSync(join(root, lessonDirName(lesson)), { recursive: true });
  writeFileSync(join(root, lessonDirName(lesson), 'seg-00001.ts'), bytes);
  // Intake (the sha256 the upload is checked against) is not part of the upload's time.
  await cache.lessonEnded(lesson);
  let verified!: () => void;
  let failed!: (e: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    verified = resolve;
    failed = reject;
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = chunk.toString();
      if (line.includes('segment uploaded and verified')) verified();
      else if (/"level":(40|50)/.test(line) && !line.includes('eviction')) failed(new Error(`the upload did not go through: ${line}`));
      cb();
    },
  });
  const calls: Call[] = [];
  const uploader = new Uploader({
    db, cache, store: () => timedStore(store, calls, serverPid), events, log: createLogger('info', sink), clock: systemClock, live: () => false,
    // The configuration's defaults: 8 MiB parts, 2 at once.
    settings: { partSizeBytes: 8 * 1024 * 1024, liveKbps: 0, idleKbps: 0, spreadSec: 0, retryMinSec: 1, retryMaxSec: 5, failedRetrySec: 60, concurrentParts: 2 },
  });
  const c0 = ownCpuMs();
  const s0 = cpuMsOf(serverPid);
  const t0 = performance.now();
  const deadline = setTimeout(() => failed(new Error('the upload did not finish in 120 s')), 120_000);
  uploader.start();
  await finished.finally(() => clearTimeout(deadline));
  const ms = performance.now() - t0;
  const clientCpu = ownCpuMs() - c0;
  const serverCpu = cpuMsOf(serverPid) - s0;
  await uploader.stop();
  // Eviction runs behind the upload; let it finish before the database closes.
  await new Promise((r) => setTimeout(r, 200));
  db.close();
  const parts = calls.filter((c) => c.op === 'part');
  const complete = calls.find((c) => c.op === 'complete')!;
  const firstPart = Math.min(...parts.map((c) => c.t0));
  const lastPart = Math.max(...parts.map((c) => c.t1));
  return {
    ms,
    beforeParts: firstPart - t0,
    parts: lastPart - firstPart,
    complete: complete.t1 - complete.t0,
    completeServerCpu: complete.serverCpuMs,
    after: ms - (lastPart - t0) - (complete.t1 - complete.t0),
    clientCpu,
    serverCpu,
  };
}

describe('recording upload benchmarks', () => {
  it('the uploader (multipart) vs one PutObject of the same bytes, same client, loopback s3rver (target ratio >= 0.8)', async () => {
    const store = new S3ObjectStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: s3.bucket, accessKeyId: S3_KEY, secretAccessKey: S3_SECRET, forcePathStyle: true, requestTimeoutSec: 120 });
    const pid = s3.pid!;
    const ctl = new AbortController();
    // Load the SDK and open the first connection before anything is timed.
    await store.head('warm-up', ctl.signal);
    // A realistic segment: 60 s at about 3.2 Mbit/s (the recorder's 2.5-4 Mbit/s) is about 24 MiB;
    // 64 MiB shows how both grow with size.
    const cases = [
      { label: '24 MiB (60 s segment at ~3.2 Mbit/s)', size: 24 * 1024 * 1024 },
      { label: '64 MiB', size: 64 * 1024 * 1024 },
    ];
    const ROUNDS = 5;
    for (const { label, size } of cases) {
      const bytes = tsBytes(size);
      const runs: MultipartRun[] = [];
      const single: { ms: number; clientCpu: number; serverCpu: number }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating, so that both see the same load on the machine.
        runs.push(await uploadWithUploader(bytes, `b${size}-${round}`, store, pid));
        // The same bytes with the same client in one PutObject, plus the same HeadObject check.
        const c0 = ownCpuMs();
        const s0 = cpuMsOf(pid);
        const t0 = performance.now();
        await store.putObject(`single-${size}-${round}/seg-00001.ts`, bytes, bytes.length, 'video/mp2t', {}, ctl.signal);
        await store.head(`single-${size}-${round}/seg-00001.ts`, ctl.signal);
        single.push({ ms: performance.now() - t0, clientCpu: ownCpuMs() - c0, serverCpu: cpuMsOf(pid) - s0 });
      }
      const mbps = (ms: number): number => (size * 8) / 1e6 / (ms / 1000);
      const med = (f: (r: MultipartRun) => number): number => median(runs.map(f));
      const m = med((r) => r.ms);
      const s = median(single.map((x) => x.ms));
      const complete = med((r) => r.complete);
      console.log(
        [
          `upload ${label} on loopback s3rver, median of ${ROUNDS}:`,
          `  uploader (8 MiB parts, 2 at once) ${mbps(m).toFixed(0)} Mbit/s (${m.toFixed(0)} ms; runs ${runs.map((r) => r.ms.toFixed(0)).join(', ')})`,
          `  single PutObject ${mbps(s).toFixed(0)} Mbit/s (${s.toFixed(0)} ms; runs ${single.map((x) => x.ms.toFixed(0)).join(', ')})`,
          `  ratio ${(s / m).toFixed(2)} (target >= 0.8)`,
          `  uploader's time: ${med((r) => r.beforeParts).toFixed(0)} ms before the first part (HeadObject, CreateMultipartUpload, part 1 read and hashed), ` +
            `${med((r) => r.parts).toFixed(0)} ms of parts, ${complete.toFixed(0)} ms in CompleteMultipartUpload (s3rver CPU meanwhile ${med((r) => r.completeServerCpu).toFixed(0)} ms), ` +
            `${med((r) => r.after).toFixed(0)} ms after (HeadObject check)`,
          `  CPU, uploader vs single PUT: client ${med((r) => r.clientCpu).toFixed(0)} vs ${median(single.map((x) => x.clientCpu)).toFixed(0)} ms, ` +
            `s3rver ${med((r) => r.serverCpu).toFixed(0)} vs ${median(single.map((x) => x.serverCpu)).toFixed(0)} ms`,
          `  s3rver's CompleteMultipartUpload copies the parts into the object again: alone it takes ${(complete / s).toFixed(2)}x the whole single PUT; ` +
            `without it the ratio would be ${(s / (m - complete)).toFixed(2)}`,
        ].join('\n'),
      );
      expect(m).toBeGreaterThan(0);
    }
    store.close();
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
