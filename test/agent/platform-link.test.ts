import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { LessonRecord, StatusMessage, Health, EventMessage } from '../../agent/contract/types.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

const DEVICE = 'QZ-TEST-0001-R201';

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  // Every payload any agent of this suite sent must satisfy the city's contract.
  expect(platform.invalid).toEqual([]);
  platform.seen.splice(0);
});

async function runAgent(deviceId = DEVICE, extra: Parameters<typeof testConfig>[2] = {}, dataDir?: string): Promise<Agent> {
  let path = dataDir;
  if (!path) {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    path = dir.path;
  }
  const { agent } = inProcessAgent(testConfig(path, broker.url, { deviceId, ...extra }));
  cleanups.push(() => agent.stop());
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.online, 'birth');
  return agent;
}

describe('platform link', () => {
  it('publishes a retained birth with capabilities and a heartbeat at once on connect', async () => {
    const agent = await runAgent();
    const birth = platform.payloads<StatusMessage>('status').find((s) => s.bootId === agent.bootId)!;
    expect(birth).toMatchObject({ online: true, deviceId: DEVICE, role: 'lecture', school: '测试小学', timetableVersion: null });
    expect(platform.of('status').find((s) => (s.payload as StatusMessage).bootId === agent.bootId)!.retain).toBe(false); // live delivery
    const hb = await platform.waitFor<Health>('heartbeat', (h) => h.bootId === agent.bootId, 'first heartbeat');
    expect(hb.seq).toBe(1);
    expect(hb.cpu.loadPct).toBeGreaterThanOrEqual(0);
    expect(hb.memory.agentRssBytes).toBeGreaterThan(10_000_000);
    expect(hb.disk.cacheFreeBytes).toBeGreaterThan(0);
    expect(hb.outbox.pending).toBe(0);
  });

  it('heartbeat seq counts 1, 2, 3 without gaps at the configured interval', async () => {
    const agent = await runAgent();
    const beats = await waitUntil(() => {
      const b = platform.payloads<Health>('heartbeat').filter((h) => h.bootId === agent.bootId);
      return b.length >= 3 ? b : undefined;
    }, 'three heartbeats', 25_000);
    expect(beats.map((b) => b.seq)).toEqual([1, 2, 3]);
    const gap = Date.parse(beats[2]!.ts) - Date.parse(beats[1]!.ts);
    expect(gap).toBeGreaterThanOrEqual(4000);
    expect(gap).toBeLessThanOrEqual(8000);
  });

  it('publishes `online: false, reason: shutdown` retained on a clean stop', async () => {
    const agent = await runAgent();
    await agent.stop();
    const death = await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && !s.online, 'shutdown status');
    expect(death.reason).toBe('shutdown');
    // Retained: a platform that subscribes later sees it.
    const late = new FakePlatform(broker.url);
    await late.start();
    cleanups.push(() => late.stop());
    const retained = await late.waitFor<StatusMessage>('status', (s) => s.deviceId === DEVICE, 'retained status');
    expect(retained).toMatchObject({ online: false, reason: 'shutdown', bootId: agent.bootId });
  });

  it('delivers class-hour records stored while the broker was down, all of them, in order', async () => {
    const agent = await runAgent('QZ-TEST-0002-R201');
    await broker.stop();
    await waitUntil(() => !agent.running!.link.connected, 'link down');
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const rec = sampleRecord('QZ-TEST-0002-R201', i);
      ids.push(rec.lessonId);
      agent.running!.ledger.record(rec, new Date().toISOString());
    }
    expect(agent.running!.outbox.stats().pending).toBe(50);
    await broker.start();
    await waitUntil(() => agent.running!.outbox.stats().pending === 0, 'outbox drained', 30_000);
    const got = await waitUntil(() => {
      const r = platform.payloads<LessonRecord>('lessons', 'QZ-TEST-0002-R201').map((x) => x.lessonId);
      return new Set(r).size >= 50 ? r : undefined;
    }, 'all 50 records at the platform');
    // At least once, and first deliveries in the order they were recorded.
    const firstSeen = got.filter((id, i) => got.indexOf(id) === i);
    expect(firstSeen).toEqual(ids);
  });

  it('applies a valid timetable, reports its version, and ignores the retained redelivery', async () => {
    const agent = await runAgent('QZ-TEST-0003-R201');
    const { readFileSync } = await import('node:fs');
    const { SHARED_EXAMPLES_DIR } = await import('../support/contract.js');
    const tt = JSON.parse(readFileSync(`${SHARED_EXAMPLES_DIR}/timetable.json`, 'utf8')) as { version: string };
    await platform.publishTimetable('QZ-TEST-0003-R201', tt);
    const applied = await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied', 'timetable.applied');
    expect(applied.details).toMatchObject({ version: '2026-fall.3', previousVersion: null });
    await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.timetableVersion === '2026-fall.3', 'status with the version');
    const r = await platform.reply('QZ-TEST-0003-R201', 'timetable.get', { requestId: 'tt-1' });
    expect(r.result).toMatchObject({ version: '2026-fall.3' });
    // Restart: the stored timetable is used at once and the retained copy changes nothing.
    await agent.stop();
    const again = await runAgent('QZ-TEST-0003-R201', {}, agent.config.dataDir);
    await platform.waitFor<StatusMessage>('status', (s) => s.bootId === again.bootId && s.timetableVersion === '2026-fall.3', 'version after restart');
    const hb = await platform.waitFor<Health>('heartbeat', (h) => h.bootId === again.bootId, 'heartbeat');
    expect(hb.timetableVersion).toBe('2026-fall.3');
    await new Promise((r) => setTimeout(r, 500));
    expect(platform.payloads<EventMessage>('events').filter((e) => e.type === 'timetable.applied')).toHaveLength(1);
    await platform.publishTimetable('QZ-TEST-0003-R201', '');
  });

  it('rejects an invalid timetable with every reason and keeps the previous one', async () => {
    await runAgent('QZ-TEST-0004-R201');
    const good = {
      version: 'v1',
      timezone: 'Asia/Shanghai',
      term: { start: '2026-09-01', end: '2027-01-22' },
      bells: [{ period: 1, start: '08:00', end: '08:40' }],
      entries: [{ id: 'a', weekday: 1, period: 1, subject: '数学', role: 'lecture' }],
    };
    await platform.publishTimetable('QZ-TEST-0004-R201', good);
    await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied', 'applied v1');
    const bad = {
      ...good,
      version: 'v2',
      timezone: 'Mars/Olympus',
      bells: [
        { period: 1, start: '08:00', end: '08:40' },
        { period: 2, start: '08:30', end: '08:20' },
      ],
      entries: [
        { id: 'a', weekday: 1, period: 1, subject: '数学', role: 'lecture' },
        { id: 'a', weekday: 2, period: 9, subject: '语文', role: 'lecture' },
      ],
    };
    await platform.publishTimetable('QZ-TEST-0004-R201', bad);
    const rejected = await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.rejected', 'rejected v2');
    const reasons = (rejected.details as { reasons: string[]; keptVersion: string }).reasons;
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/timezone: "Mars\/Olympus"/),
        expect.stringMatching(/^\/bells\/1: period 2 ends/),
        expect.stringMatching(/overlaps period 1/),
        expect.stringMatching(/^\/entries\/1\/id: "a" is used by more than one entry/),
        expect.stringMatching(/^\/entries\/1\/period: period 9 has no bell/),
      ]),
    );
    expect((rejected.details as { keptVersion: string }).keptVersion).toBe('v1');
    const r = await platform.reply('QZ-TEST-0004-R201', 'timetable.get', { requestId: 'tt-2' });
    expect(r.result).toMatchObject({ version: 'v1' });
    // Not JSON at all: rejected too, the agent keeps going.
    await platform.publishTimetable('QZ-TEST-0004-R201', '{"version": ');
    await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.rejected' && /not JSON/.test(JSON.stringify(e.details)), 'rejected non-JSON');
    await platform.publishTimetable('QZ-TEST-0004-R201', '');
  });

  it('does not queue heartbeats while offline: one fresh heartbeat on reconnect, seq continuous', async () => {
    const agent = await runAgent('QZ-TEST-0006-R201');
    await platform.waitFor<Health>('heartbeat', (h) => h.bootId === agent.bootId, 'first heartbeat');
    await broker.stop();
    await waitUntil(() => !agent.running!.link.connected, 'link down');
    await new Promise((r) => setTimeout(r, 11_000)); // two heartbeat intervals offline
    // The agent's own count, read once offline for a while: a heartbeat written as the broker
    // went down (its write settling only after the link was seen down) may never have arrived.
    const lastSeq = agent.running!.heartbeat.lastSeq;
    expect(lastSeq).toBeGreaterThanOrEqual(1);
    await broker.start();
    await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.online && platform.payloads<StatusMessage>('status').filter((x) => x.bootId === agent.bootId).length >= 2, 'second birth', 20_000);
    const after = await waitUntil(() => {
      const a = platform.payloads<Health>('heartbeat').filter((h) => h.bootId === agent.bootId && h.seq! > lastSeq);
      return a.length ? a : undefined;
    }, 'heartbeat after reconnect');
    await new Promise((r) => setTimeout(r, 1000));
    const burst = platform.payloads<Health>('heartbeat').filter((h) => h.bootId === agent.bootId && h.seq! > lastSeq);
    expect(burst).toHaveLength(1);
    expect(after[0]!.seq).toBe(lastSeq + 1);
  });

  it('speaks MQTT 3.1.1 to an old broker setting', async () => {
    const agent = await runAgent('QZ-TEST-0005-R201', { platform: { mqttUrl: broker.url, protocolVersion: 4 } });
    const r = await platform.reply('QZ-TEST-0005-R201', 'health.get', { requestId: 'v311-1' });
    expect(r.ok).toBe(true);
    expect((r.result as unknown as Health).bootId).toBe(agent.bootId);
  });
});
