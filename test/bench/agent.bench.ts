// Foundation benchmarks (issue #3). Each prints its figures next to the target; none asserts a
// timing. Run: npm run bench -- test/bench/agent.bench.ts
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LessonRecord, StatusMessage, Health } from '../../agent/contract/types.js';
import { openState } from '../../agent/state/db.js';
import { Ledger } from '../../agent/ledger.js';
import { Outbox } from '../../agent/outbox.js';
import { silentLogger } from '../../agent/log.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const dirs: { cleanup: () => void }[] = [];

beforeAll(async () => {
  broker = await startBroker({ extraConfig: ['max_queued_messages 0'] });
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  dirs.forEach((d) => d.cleanup());
});

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * user+system CPU seconds, RSS, and the part of RSS private to the process (RSS also counts the
 * node executable and shared libraries mapped from disk, shared with every other node process).
 */
function procUsage(pid: number): { cpuSec: number; rssBytes: number; privateBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(rollup)?.[1] ?? 0);
  return { cpuSec: ticks / 100, rssBytes: rssKb * 1024, privateBytes: (kb('Private_Clean') + kb('Private_Dirty')) * 1024 };
}

describe('foundation benchmarks', () => {
  it('outbox drain: 10,000 records queued while offline, to loopback Mosquitto (target ≥ 2,000/s)', async () => {
    const id = 'QZ-BENCH-0001-R101';
    const dataDir = dir();
    const db = openState({ dataDir });
    const ledger = new Ledger(db, new Outbox(db, silentLogger(), { window: 100, maxPendingEvents: 1000 }), `classroom/v1/${id}/lessons`);
    for (let i = 0; i < 10_000; i++) {
      ledger.record(sampleRecord(id, i, { lessonId: `${id}:bench-${i}:2026-09-01` }), new Date().toISOString());
    }
    db.close();
    const { agent } = inProcessAgent(testConfig(dataDir, broker.url, { deviceId: id }));
    await agent.start();
    const t0 = await waitUntil(() => (agent.running?.link.connected ? performance.now() : undefined), 'connected', 20_000);
    const window = Math.min(100, agent.running!.link.inflightLimit());
    await waitUntil(() => new Set(platform.payloads<LessonRecord>('lessons', id).map((r) => r.lessonId)).size >= 10_000 || undefined, 'all delivered', 120_000);
    const ms = performance.now() - t0;
    await waitUntil(() => agent.running!.outbox.stats().pending === 0, 'acks written', 20_000);
    await agent.stop();
    const rate = 10_000 / (ms / 1000);
    console.log(`outbox drain: 10000 records in ${ms.toFixed(0)} ms = ${rate.toFixed(0)} records/s (window ${window}; target >= 2000/s)`);
    expect(rate).toBeGreaterThan(0);
  });

  it('cold start to status birth (target ≤ 1.5 s)', async () => {
    const id = 'QZ-BENCH-0002-R101';
    const d = dir();
    const proc = AgentProcess.withConfig(d, testConfig(`${d}/data`, broker.url, { deviceId: id }), true);
    const times: number[] = [];
    for (let run = 0; run < 5; run++) {
      const seen = platform.payloads<StatusMessage>('status', id).filter((s) => s.online).length;
      const t0 = performance.now();
      proc.start();
      await waitUntil(() => platform.payloads<StatusMessage>('status', id).filter((s) => s.online).length > seen || undefined, 'birth', 20_000);
      times.push(performance.now() - t0);
      await proc.stop();
    }
    console.log(
      `cold start to birth: median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms over ${times.length} starts ` +
        `(${times.map((t) => t.toFixed(0)).join(', ')}; target <= 1500 ms)`,
    );
    expect(times).toHaveLength(5);
  });

  it('idle agent for 2 minutes with 5 s heartbeats: RSS and CPU (targets ≤ 80 MB, ≤ 1 %)', async () => {
    const id = 'QZ-BENCH-0003-R101';
    const d = dir();
    // As installed: through the launcher, whose memory settings are part of what is measured.
    const proc = AgentProcess.withConfig(d, testConfig(`${d}/data`, broker.url, { deviceId: id }), true);
    proc.start();
    await waitUntil(() => platform.payloads<Health>('heartbeat', id)[0], 'first heartbeat', 20_000);
    const pid = proc.pid!;
    await new Promise((r) => setTimeout(r, 5000)); // settle after start-up
    const start = procUsage(pid);
    const t0 = performance.now();
    let maxRss = start.rssBytes;
    while (performance.now() - t0 < 120_000) {
      await new Promise((r) => setTimeout(r, 5000));
      maxRss = Math.max(maxRss, procUsage(pid).rssBytes);
    }
    const end = procUsage(pid);
    const wall = (performance.now() - t0) / 1000;
    const cpuPct = ((end.cpuSec - start.cpuSec) / wall) * 100;
    const beats = platform.payloads<Health>('heartbeat', id).length;
    await proc.stop();
    const mb = (b: number): string => (b / 1e6).toFixed(1);
    console.log(
      `idle agent over ${wall.toFixed(0)} s: CPU ${cpuPct.toFixed(2)} % of one core, RSS max ${mb(maxRss)} MB, end ${mb(end.rssBytes)} MB ` +
        `of which private ${mb(end.privateBytes)} MB (the rest is the shared node executable and libraries); ` +
        `${beats} heartbeats (targets <= 1 %, <= 80 MB)`,
    );
    expect(beats).toBeGreaterThan(20);
  });
});
