import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { EventMessage, Health, StatusMessage } from '../../agent/contract/types.js';
import { ViscaSimulator } from '../../drivers/visca/simulator.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { tempDir } from '../support/tmp.js';

// Named cameras from config, driven by the platform's commands, their health in heartbeats and
// events: the agent against two protocol-faithful VISCA-over-IP simulators on loopback.
const DEVICE = 'QZ-CAM-0001-R101';
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let agent: Agent;
const sims: ViscaSimulator[] = [];
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    const sim = new ViscaSimulator({ cameras: 1, moveSpeed: 4, bootMs: 200 });
    ports.push(await sim.listenUdp(0, '127.0.0.1'));
    sims.push(sim);
  }
  agent = inProcessAgent(
    testConfig(dir.path, broker.url, {
      deviceId: DEVICE,
      cameras: [
        { id: 'teacher', transport: { type: 'visca-ip', host: '127.0.0.1', port: ports[0] } },
        { id: 'students', transport: { type: 'visca-ip', host: '127.0.0.1', port: ports[1] } },
      ],
    }),
    { cameraOptions: { camera: { pollIntervalMs: 500 }, bus: { ackTimeoutMs: 300, reconnectMinMs: 200, reconnectMaxMs: 1000 } } },
  ).agent;
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId, 'birth');
});
afterAll(async () => {
  await agent.stop();
  await Promise.all(sims.map((s) => s.close()));
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

describe('cameras in the agent', () => {
  it('announces its cameras and reports them in heartbeats with the model they answered', async () => {
    const birth = platform.payloads<StatusMessage>('status').find((s) => s.bootId === agent.bootId)!;
    expect(birth.capabilities?.cameras).toEqual(['teacher', 'students']);
    const hb = await platform.waitFor<Health>(
      'heartbeat',
      (h) => h.bootId === agent.bootId && h.devices.filter((d) => d.kind === 'camera' && d.model?.startsWith('VISCA')).length === 2,
      'heartbeat with both cameras identified',
      20_000,
    );
    expect(hb.devices.map((d) => [d.id, d.status])).toEqual([
      ['teacher', 'ok'],
      ['students', 'ok'],
    ]);
  });

  it('camera.preset.save and camera.preset.recall move the named camera', async () => {
    const cam = sims[1]!.camera(1);
    const r1 = await platform.reply(DEVICE, 'camera.preset.recall', { requestId: 'p-0', args: { camera: 'students', preset: 0 } }, 30_000);
    expect(r1.ok).toBe(true);
    const saved = await platform.reply(DEVICE, 'camera.preset.save', { requestId: 'p-1', args: { camera: 'students', preset: 7 } });
    expect(saved).toMatchObject({ ok: true, result: {} });
    expect(cam.presets.has(7)).toBe(true);
    const unknown = await platform.reply(DEVICE, 'camera.preset.recall', { requestId: 'p-2', args: { camera: 'blackboard', preset: 1 } });
    expect(unknown.error).toMatchObject({ code: 'bad-request' });
    expect(unknown.error!.message).toContain('teacher, students');
  });

  it('a camera that stops answering raises device.fault; its return raises device.recovered', async () => {
    sims[0]!.unplug();
    const fault = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.fault' && e.device?.id === 'teacher', 'device.fault', 30_000);
    expect(fault.severity).toBe('error');
    expect(['fault', 'absent']).toContain(fault.device!.status);
    const hb = await platform.waitFor<Health>(
      'heartbeat',
      (h) => h.bootId === agent.bootId && h.devices.some((d) => d.id === 'teacher' && d.status !== 'ok'),
      'heartbeat showing the fault',
      20_000,
    );
    expect(hb.devices.find((d) => d.id === 'students')!.status).toBe('ok');
    sims[0]!.replug();
    const back = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.id === 'teacher', 'device.recovered', 30_000);
    expect(back.device!.status).toBe('ok');
  });
});
