import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { LessonRecord } from '../../agent/contract/types.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { CLI, inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// `lectern lesson …` and `lectern status` against a running agent, over its control socket.
const DEVICE = 'QZ-CTL-0002-R101';
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let agent: Agent;
const dir = tempDir();
const cfg = join(dir.path, 'config.json');

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  const input = testConfig(join(dir.path, 'data'), broker.url, { deviceId: DEVICE });
  writeFileSync(cfg, JSON.stringify(input));
  agent = inProcessAgent(input).agent;
  await agent.start();
});
afterAll(async () => {
  await agent.stop();
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

function lectern(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('local control of the running agent', () => {
  it('lesson start, conflict, status, stop: one manual record reaches the platform', async () => {
    const started = await lectern('lesson', 'start', '--config', cfg, '--subject', '科学', '--duration', '20', '--peer', 'QZ-AX-0312-R101', '--json');
    expect(started.code).toBe(0);
    const { lessonId } = JSON.parse(started.out) as { lessonId: string };
    expect(lessonId).toMatch(new RegExp(`^${DEVICE}:manual-\\d{6}:\\d{4}-\\d{2}-\\d{2}$`));
    await waitUntil(() => agent.running!.lessons.lessonNow()?.lessonId === lessonId, 'lesson live');

    const again = await lectern('lesson', 'start', '--config', cfg, '--subject', '美术');
    expect(again.code).toBe(1);
    expect(again.err).toContain(`conflict: lesson ${lessonId}`);

    const status = await lectern('status', '--config', cfg, '--json');
    expect(status.code).toBe(0);
    const s = JSON.parse(status.out) as { source: string; lesson: { lessonId: string; state: string }; link: { connected: boolean } };
    expect(s).toMatchObject({ source: 'agent', lesson: { lessonId, state: 'live' }, link: { connected: true } });

    const stopped = await lectern('lesson', 'stop', '--config', cfg);
    expect(stopped.code).toBe(0);
    expect(stopped.out).toBe(`${lessonId}: completed\n`);
    const rec = await platform.waitFor<LessonRecord>('lessons', (r) => r.lessonId === lessonId, 'manual lesson record');
    expect(rec).toMatchObject({ trigger: 'manual', status: 'completed', subject: '科学', peerRoomIds: ['QZ-AX-0312-R101'], entryId: null });

    const none = await lectern('lesson', 'stop', '--config', cfg);
    expect(none.code).toBe(1);
    expect(none.err).toContain('no lesson is live');
  });

  it('refuses bad input with the field named, and says clearly when no agent is running', async () => {
    const bad = await lectern('lesson', 'start', '--config', cfg, '--subject', 'x', '--peer', 'not a room!');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('peerRoomIds: "not a room!" is not a device id');
    const dur = await lectern('lesson', 'start', '--config', cfg, '--subject', 'x', '--duration', 'long');
    expect(dur.code).toBe(2);
    expect(dur.err).toContain('--duration: "long" is not a whole number');
    const elsewhere = await lectern('lesson', 'stop', '--data-dir', join(dir.path, 'nothing-here'));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err).toContain('the agent is not running with data dir');
  });
});
