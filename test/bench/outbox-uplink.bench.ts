// Outbox drain through a 50 ms-RTT uplink versus MQTT.js's own offline replay (issue #4).
// Prints figures; asserts only that both ran. npm run bench -- test/bench/outbox-uplink.bench.ts
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LessonRecord } from '../../agent/contract/types.js';
import { openState } from '../../agent/state/db.js';
import { Ledger } from '../../agent/ledger.js';
import { Outbox } from '../../agent/outbox.js';
import { silentLogger } from '../../agent/log.js';
import { startUplinkEmulator, type UplinkEmulator } from '../../drivers/uplink/emulator.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

const RECORDS = 10_000;
// MQTT.js replays its offline queue one message per round trip: 10,000 would take over 8
// minutes at 50 ms, so its rate is measured on a sample of the same messages.
const REPLAY_SAMPLE = Number(process.env.REPLAY_SAMPLE ?? 300);

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let link: UplinkEmulator;
const dir = tempDir();

beforeAll(async () => {
  // A broker that lets a device keep 100 messages in flight (MQTT 5 Receive Maximum); with
  // Mosquitto's default of 20, 50 ms RTT caps any client at 400 messages/s.
  broker = await startBroker({ extraConfig: ['max_queued_messages 0', 'max_inflight_messages 100'] });
  platform = new FakePlatform(broker.url);
  await platform.start();
  link = await startUplinkEmulator({
    protocol: 'tcp',
    listen: { host: '127.0.0.1', port: 0 },
    target: { host: '127.0.0.1', port: broker.port },
    up: { delayMs: 25 },
    down: { delayMs: 25 },
  });
});
afterAll(async () => {
  await link.close();
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
});

describe('outbox drain through a 50 ms RTT uplink', () => {
  it(`drains ${RECORDS} records versus MQTT.js's offline replay (targets >= 1,000/s and >= 20x)`, async () => {
    const url = `mqtt://127.0.0.1:${link.address.port}`;

    // MQTT.js: publish while offline, then connect and let it replay its queue.
    const replayTopic = 'classroom/v1/QZ-BENCH-REPLAY-R1/lessons';
    const client = mqtt.connect(url, { protocolVersion: 5, manualConnect: true, reconnectPeriod: 0, clientId: 'replay-bench' });
    let acked = 0;
    for (let i = 0; i < REPLAY_SAMPLE; i++) {
      client.publish(replayTopic, JSON.stringify(sampleRecord('QZ-BENCH-REPLAY-R1', i)), { qos: 1 }, (err) => {
        if (!err) acked++;
      });
    }
    const r0 = performance.now();
    client.connect();
    await waitUntil(() => acked >= REPLAY_SAMPLE, 'replay acknowledged', 600_000);
    const replayMs = performance.now() - r0;
    await client.endAsync();
    const replayRate = REPLAY_SAMPLE / (replayMs / 1000);

    // lectern: the same kind of records queued in the outbox while offline.
    const id = 'QZ-BENCH-OUTBOX-R1';
    const dataDir = `${dir.path}/agent`;
    const db = openState({ dataDir });
    const ledger = new Ledger(db, new Outbox(db, silentLogger(), { window: 100, maxPendingEvents: 1000 }), `classroom/v1/${id}/lessons`);
    for (let i = 0; i < RECORDS; i++) ledger.record(sampleRecord(id, i, { lessonId: `${id}:b-${i}:2026-09-01` }), new Date().toISOString());
    db.close();
    const { agent } = inProcessAgent(testConfig(dataDir, url, { deviceId: id }));
    await agent.start();
    const t0 = await waitUntil(() => (agent.running?.link.connected ? performance.now() : undefined), 'connected', 30_000);
    const window = Math.min(100, agent.running!.link.inflightLimit());
    await waitUntil(() => agent.running!.outbox.stats().pending === 0 || undefined, 'outbox drained', 300_000);
    const ms = performance.now() - t0;
    await agent.stop();
    const delivered = new Set(platform.payloads<LessonRecord>('lessons', id).map((r) => r.lessonId)).size;
    const rate = RECORDS / (ms / 1000);
    console.log(
      `through 50 ms RTT: lectern outbox ${RECORDS} records in ${(ms / 1000).toFixed(2)} s = ${rate.toFixed(0)} records/s (window ${window}, ${delivered} delivered); ` +
        `MQTT.js offline replay ${REPLAY_SAMPLE} in ${(replayMs / 1000).toFixed(2)} s = ${replayRate.toFixed(1)} records/s; ` +
        `ratio ${(rate / replayRate).toFixed(1)}x (targets >= 1000/s, >= 20x)`,
    );
    expect(delivered).toBe(RECORDS);
  });
});
