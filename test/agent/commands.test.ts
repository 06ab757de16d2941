import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { EventMessage, Health, StatusMessage } from '../../agent/contract/types.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform, type Reply } from '../support/platform.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

const DEVICE = 'QZ-TEST-0101-R301';

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let agent: Agent;
let ring: { tail(n: number): string[] };
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  const made = inProcessAgent(testConfig(dir.path, broker.url, { deviceId: DEVICE }));
  agent = made.agent;
  ring = made.ring;
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId, 'birth');
  for (let i = 0; i < 30; i++) agent.running!.ledger.record(sampleRecord(DEVICE, i), new Date().toISOString());
});
afterAll(async () => {
  await agent.stop();
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

const replies = (requestId: string): Reply[] => platform.payloads<Reply>('reply').filter((r) => r.requestId === requestId);

describe('commands', () => {
  it('health.get answers with a heartbeat-shaped health object measured now', async () => {
    const r = await platform.reply<Health & Record<string, unknown>>(DEVICE, 'health.get', { requestId: 'h-1' });
    expect(r.ok).toBe(true);
    expect(r.result!.bootId).toBe(agent.bootId);
    expect(r.result!.seq).toBeUndefined();
    expect(r.result!.memory.agentRssBytes).toBeGreaterThan(0);
  });

  it('a redelivered request gets the same answer again without running twice', async () => {
    const first = await platform.reply<Health & Record<string, unknown>>(DEVICE, 'health.get', { requestId: 'dup-1' });
    await new Promise((r) => setTimeout(r, 1100));
    await platform.command(DEVICE, 'health.get', { requestId: 'dup-1' });
    const both = await waitUntil(() => (replies('dup-1').length >= 2 ? replies('dup-1') : undefined), 'second reply');
    // Had it run again, `ts` and the measured figures would differ.
    expect(both[1]).toEqual(both[0]);
    expect(first.result!.ts).toBe(both[1]!.result!.ts);
  });

  it('answers `expired` to a request past its expiresAt, without running it', async () => {
    const r = await platform.reply(DEVICE, 'lessons.count', { requestId: 'exp-1', expiresAt: '2020-01-01T00:00:00+08:00', args: { from: '2026-09-01', to: '2026-09-30' } });
    expect(r).toMatchObject({ ok: false, error: { code: 'expired' } });
    expect(r.error!.message).toContain('2020-01-01T00:00:00+08:00');
  });

  it('answers `unknown-command` for a command the contract does not have', async () => {
    const r = await platform.reply(DEVICE, 'self.destruct', { requestId: 'unk-1' });
    expect(r).toMatchObject({ ok: false, command: 'self.destruct', error: { code: 'unknown-command' } });
  });

  it('answers `bad-request` naming the field', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['lessons.count', { from: '2026-09-01' }, /\/args\/to: is required/],
      ['lessons.count', { from: 20260901, to: '2026-09-30' }, /\/args\/from: must be string/],
      ['lessons.count', { from: '2026-09-31', to: '2026-10-01' }, /\/args\/from: "2026-09-31" is not a calendar date/],
      ['lessons.count', { from: '2026-09-30', to: '2026-09-01' }, /\/args\/from: 2026-09-30 is after/],
      ['lessons.count', { from: '2026-09-01', to: '2026-09-30', groupBy: 'teacher' }, /\/args\/groupBy: must be one of/],
      ['lessons.list', { from: '2026-09-01', to: '2026-09-30', limit: 501 }, /\/args\/limit: must be <= 500/],
      ['lesson.start', { subject: '', durationMin: 0 }, /\/args\/subject.*\/args\/durationMin/s],
      ['camera.preset.recall', { camera: 'teacher', preset: 255 }, /\/args\/preset: must be <= 254/],
      ['logs.tail', { lines: 'all' }, /\/args\/lines: must be integer/],
      ['health.get', { verbose: true }, /\/args\/verbose: is not a known field/],
    ];
    let n = 0;
    for (const [name, args, pattern] of cases) {
      const r = await platform.reply(DEVICE, name, { requestId: `bad-${n++}`, args });
      expect(r.ok, name).toBe(false);
      expect(r.error!.code, name).toBe('bad-request');
      expect(r.error!.message, name).toMatch(pattern);
    }
    const envelope = await platform.reply(DEVICE, 'health.get', { requestId: 'bad-env', args: [], extra: 1 });
    expect(envelope.error!.code).toBe('bad-request');
    expect(envelope.error!.message).toMatch(/\/extra: is not a known field/);
    expect(envelope.error!.message).toMatch(/\/args: must be object/);
  });

  it('uploads.retry without an object store configured answers device-error naming the settings', async () => {
    const r = await platform.reply(DEVICE, 'uploads.retry', { requestId: 'later-1' });
    expect(r).toMatchObject({ ok: false, error: { code: 'device-error' } });
    expect(r.error!.message).toMatch(/no object store is configured.*uploads\.endpoint/);
  });

  it('lessons.count and lessons.list are answered from the ledger', async () => {
    const r = await platform.reply<{ total: number; effective: number; groups: { key: string; total: number; effective: number; durationSec: number }[] }>(
      DEVICE,
      'lessons.count',
      { requestId: 'cnt-1', args: { from: '2026-09-01', to: '2026-09-30', groupBy: 'subject' } },
    );
    expect(r.ok).toBe(true);
    // 30 sample records: subjects cycle 数学/语文/英语; i%7==3 missed; effective unless i%7==3 or i%5==4.
    const expectTotal = 30;
    const expectEffective = [...Array(30).keys()].filter((i) => i % 7 !== 3 && i % 5 !== 4).length;
    expect(r.result!.total).toBe(expectTotal);
    expect(r.result!.effective).toBe(expectEffective);
    expect(r.result!.groups.map((g) => g.key).sort()).toEqual(['英语', '数学', '语文'].sort());
    expect(r.result!.groups.reduce((a, g) => a + g.total, 0)).toBe(30);
    expect(r.result!.groups.every((g) => g.durationSec === g.total * 2400)).toBe(true);

    const byPeer = await platform.reply<{ groups: { key: string; total: number }[] }>(DEVICE, 'lessons.count', {
      requestId: 'cnt-2',
      args: { from: '2026-09-01', to: '2026-09-30', groupBy: 'peer' },
    });
    expect(byPeer.result!.groups).toEqual([
      expect.objectContaining({ key: 'QZ-AX-0312-R101', total: 30 }),
      expect.objectContaining({ key: 'QZ-AX-0318-R102', total: 15 }),
    ]);
    const byStatus = await platform.reply<{ groups: { key: string; total: number }[] }>(DEVICE, 'lessons.count', {
      requestId: 'cnt-3',
      args: { from: '2026-09-01', to: '2026-09-30', groupBy: 'status' },
    });
    expect(Object.fromEntries(byStatus.result!.groups.map((g) => [g.key, g.total]))).toEqual({ completed: 26, missed: 4 });

    const list = await platform.reply<{ lessons: { date: string }[] }>(DEVICE, 'lessons.list', {
      requestId: 'lst-1',
      args: { from: '2026-09-05', to: '2026-09-06', limit: 500 },
    });
    expect(list.result!.lessons.map((l) => l.date)).toEqual(['2026-09-05', '2026-09-06']);
  });

  it('logs.tail returns the agent’s own recent log lines', async () => {
    const all = await platform.reply<{ lines: string[] }>(DEVICE, 'logs.tail', { requestId: 'logs-2', args: { lines: 500 } });
    const two = await platform.reply<{ lines: string[] }>(DEVICE, 'logs.tail', { requestId: 'logs-1', args: { lines: 2 } });
    expect(all.result!.lines.length).toBeGreaterThan(2);
    expect(two.result!.lines.length).toBe(2);
    expect(all.result!.lines.slice(-2)).toContain(two.result!.lines[0]);
    const messages = all.result!.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toContain('agent started');
    expect(messages).toContain('connected to the platform broker');
    expect(ring.tail(500).length).toBeGreaterThanOrEqual(all.result!.lines.length);
  });

  it('MQTT 5: also answers on the response topic with the correlation data', async () => {
    await platform.command(DEVICE, 'timetable.get', { requestId: 'rt-1' }, {
      properties: { responseTopic: 'platform/responses/42', correlationData: Buffer.from('corr-42') },
    });
    const seen = await waitUntil(() => platform.seen.find((s) => s.topic === 'platform/responses/42'), 'response topic reply');
    expect(seen.payload).toMatchObject({ requestId: 'rt-1', ok: true });
    expect(seen.properties?.correlationData?.toString()).toBe('corr-42');
  });

  it('payloads it cannot answer become command.rejected events, and the agent keeps working', async () => {
    await platform.command(DEVICE, 'health.get', '{"requestId": "x", ');
    await platform.command(DEVICE, 'health.get', JSON.stringify({ args: {} }));
    await platform.command(DEVICE, 'health.get', Buffer.alloc(300 * 1024, 0x20));
    await platform.command(DEVICE, 'health.get', '[1,2,3]');
    const rejected = await waitUntil(() => {
      const r = platform.payloads<EventMessage>('events').filter((e) => e.type === 'command.rejected');
      return r.length >= 4 ? r : undefined;
    }, 'four command.rejected events');
    const messages = rejected.map((e) => e.message ?? '');
    expect(messages.some((m) => /not JSON/.test(m))).toBe(true);
    expect(messages.some((m) => /requestId: is required/.test(m))).toBe(true);
    expect(messages.some((m) => /307200 bytes is larger than 262144/.test(m))).toBe(true);
    expect(messages.filter((m) => m.startsWith('cmd/health.get: ')).length).toBe(4);
    const r = await platform.reply(DEVICE, 'health.get', { requestId: 'after-bad' });
    expect(r.ok).toBe(true);
    // Nothing stored was touched by the bad input.
    expect(agent.running!.ledger.count('2026-09-01', '2026-09-30').total).toBe(30);
  });
});
