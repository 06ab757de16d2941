import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Health, LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { openState } from '../../agent/state/db.js';
import { Ledger } from '../../agent/ledger.js';
import { Outbox } from '../../agent/outbox.js';
import { silentLogger } from '../../agent/log.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

// The built agent as a real process: what systemd and a power cut see.
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const dirs: { cleanup: () => void }[] = [];

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  dirs.forEach((d) => d.cleanup());
  expect(platform.invalid).toEqual([]);
});

function agentIn(deviceId: string, logLevel: 'warn' | 'info' = 'warn'): { proc: AgentProcess; dataDir: string } {
  const d = tempDir();
  dirs.push(d);
  const proc = AgentProcess.withConfig(d.path, testConfig(`${d.path}/data`, broker.url, { deviceId, logLevel }));
  return { proc, dataDir: `${d.path}/data` };
}

const births = (deviceId: string): StatusMessage[] =>
  platform.payloads<StatusMessage>('status', deviceId).filter((s) => s.online);

describe('the agent process', () => {
  it('SIGKILL: the broker publishes the Last Will; a restart has a new bootId and seq starts at 1', async () => {
    const id = 'QZ-PROC-0001-R101';
    const { proc } = agentIn(id);
    proc.start();
    const first = await waitUntil(() => births(id)[0], 'first birth', 20_000);
    const hb1 = await platform.waitFor<Health>('heartbeat', (h) => h.bootId === first.bootId, 'heartbeat of boot 1');
    expect(hb1.seq).toBe(1);
    await proc.stop('SIGKILL');
    const will = await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === id && !s.online, 'last will');
    expect(will).toMatchObject({ online: false, reason: 'connection-lost', bootId: first.bootId });
    proc.start();
    const second = await waitUntil(() => births(id)[1], 'second birth', 20_000);
    expect(second.bootId).not.toBe(first.bootId);
    const hb2 = await platform.waitFor<Health>('heartbeat', (h) => h.bootId === second.bootId, 'heartbeat of boot 2');
    expect(hb2.seq).toBe(1);
    // One birth per connection: no duplicates without a reconnect.
    expect(births(id)).toHaveLength(2);
    await proc.stop();
  });

  it('SIGTERM: clean shutdown status, exit 0, well within 10 s', async () => {
    const id = 'QZ-PROC-0002-R101';
    const { proc } = agentIn(id, 'info');
    proc.start();
    const birth = await waitUntil(() => births(id)[0], 'birth', 20_000);
    const r = await proc.stop('SIGTERM');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(10_000);
    const death = await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === id && !s.online, 'shutdown status');
    expect(death).toMatchObject({ reason: 'shutdown', bootId: birth.bootId });
    // JSON logs on stdout, one object per line.
    const lines = proc.output.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('agent stopped');
  });

  it('records produced while the broker is down survive an agent restart and are all delivered, in order', async () => {
    const id = 'QZ-PROC-0003-R101';
    const { proc, dataDir } = agentIn(id);
    proc.start();
    await waitUntil(() => births(id)[0], 'birth', 20_000);
    await broker.stop();
    // Lessons finish while offline (written by another connection, as the lesson loop will).
    const db = openState({ dataDir });
    const ledger = new Ledger(db, new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 1000 }), `classroom/v1/${id}/lessons`);
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) {
      const rec = sampleRecord(id, i, { lessonId: `${id}:offline-${i}:2026-09-${String(1 + (i % 28)).padStart(2, '0')}` });
      ids.push(rec.lessonId);
      ledger.record(rec, new Date().toISOString());
    }
    db.close();
    // Power cut while still offline, then the device comes back before the broker does.
    await proc.stop('SIGKILL');
    proc.start();
    await new Promise((r) => setTimeout(r, 1500));
    await broker.start();
    const got = await waitUntil(() => {
      const seen = platform.payloads<LessonRecord>('lessons', id).map((r) => r.lessonId);
      return new Set(seen).size >= 120 ? seen : undefined;
    }, 'all 120 records', 40_000);
    expect(got.filter((x, i) => got.indexOf(x) === i)).toEqual(ids);
    await waitUntil(async () => {
      const hb = platform.payloads<Health>('heartbeat', id).at(-1);
      return hb?.outbox.pending === 0 ? hb : undefined;
    }, 'a heartbeat with an empty outbox', 20_000);
    await proc.stop();
  });
});
