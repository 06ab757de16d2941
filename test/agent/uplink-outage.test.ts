import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { startUplinkEmulator, type UplinkEmulator } from '../../drivers/uplink/emulator.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

// The platform link through the uplink emulator: a weak 5G link that goes down again and again
// while lessons finish. The fake platform is on the broker directly (it is not behind the CPE).
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

async function throughLink(mode: 'blackhole' | 'reset', deviceId: string): Promise<void> {
  const link: UplinkEmulator = await startUplinkEmulator({
    protocol: 'tcp',
    listen: { host: '127.0.0.1', port: 0 },
    target: { host: '127.0.0.1', port: broker.port },
    profile: 'weak-5g',
  });
  const url = `mqtt://127.0.0.1:${link.address.port}`;
  const { agent, ring } = inProcessAgent(
    testConfig(`${dir.path}/${deviceId}`, url, {
      deviceId,
      platform: { mqttUrl: url, keepaliveSec: 5, connectTimeoutSec: 3, reconnectMinSec: 0.5, reconnectMaxSec: 4 },
    }),
  );
  try {
    await agent.start();
    await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.online, 'first birth', 20_000);
    // Down 8 s of every 14 s, three times, while a lesson record is finished every 300 ms.
    link.schedule([{ atMs: 1000, durationMs: 8000, mode }], { repeat: true, periodMs: 14_000 });
    const ids: string[] = [];
    for (let i = 0; i < 140; i++) {
      const rec = sampleRecord(deviceId, i, { lessonId: `${deviceId}:cycle-${i}:2026-09-01` });
      ids.push(rec.lessonId);
      agent.running!.ledger.record(rec, new Date().toISOString());
      await new Promise((r) => setTimeout(r, 300));
    }
    link.schedule([]);
    link.endOutage();
    const got = await waitUntil(() => {
      const seen = new Set(platform.payloads<LessonRecord>('lessons', deviceId).map((r) => r.lessonId));
      return ids.every((id) => seen.has(id)) ? seen : undefined;
    }, 'every record at the platform', 60_000);
    expect(got.size).toBe(140);
    await waitUntil(() => agent.running!.outbox.stats().pending === 0, 'outbox empty', 20_000);

    const state = agent.running!.link.state();
    const births = platform.payloads<StatusMessage>('status', deviceId).filter((s) => s.online && s.bootId === agent.bootId);
    expect(link.stats().outages).toBeGreaterThanOrEqual(3);
    // It really lost the link and came back, once per outage or more…
    expect(state.connects).toBeGreaterThanOrEqual(3);
    // …and published one birth per connection that succeeded: none without a reconnect.
    expect(births.length).toBeLessThanOrEqual(state.connects);
    expect(births.length).toBeGreaterThanOrEqual(state.connects - 1); // the broker may drop the last one of a dying connection
    // Reconnect delays come from the jittered backoff: spread, within its bounds.
    const delays = ring
      .tail(500)
      .map((l) => JSON.parse(l) as { msg: string; delayMs?: number })
      .filter((l) => l.msg === 'reconnecting to the platform broker')
      .map((l) => l.delayMs!);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4000);
    expect(new Set(delays).size).toBeGreaterThan(delays.length / 2);
  } finally {
    await agent.stop();
    await link.close();
  }
}

describe('platform link through the uplink emulator', () => {
  it('survives blackhole outage cycles: reconnects, one birth per connection, every record delivered', async () => {
    await throughLink('blackhole', 'QZ-UPL-0001-R101');
  }, 120_000);

  it('survives reset outage cycles the same way', async () => {
    await throughLink('reset', 'QZ-UPL-0002-R101');
  }, 120_000);
});
