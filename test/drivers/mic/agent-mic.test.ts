import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../../agent/agent.js';
import type { EventMessage, Health, StatusMessage } from '../../../agent/contract/types.js';
import { FakeUsbBus, FakeXmosArray } from '../../../drivers/mic/fake-usb.js';
import { startBroker } from '../../support/broker.js';
import { FakePlatform } from '../../support/platform.js';
import { inProcessAgent, testConfig } from '../../support/agent.js';
import { tempDir, waitUntil } from '../../support/tmp.js';

// The microphone in the running agent: hot-plug during a live lesson reaches the platform as
// heartbeats and device events (real broker, real agent; only the USB bus is a fake), the
// lesson goes on, and the settings are applied at lesson start and after a replug.
const DEVICE = 'QZ-MIC-0001-R102';
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let agent: Agent;
const bus = new FakeUsbBus();
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  agent = inProcessAgent(
    testConfig(dir.path, broker.url, {
      deviceId: DEVICE,
      microphone: { match: { model: 'respeaker-v2' }, controls: { agc: true, agcGain: 8, echoSuppression: true } },
      deviceHealth: { debounceSec: 1 },
    }),
    { usb: bus, microphoneOptions: { scanMs: 300, lessonCheckMs: 200, open: { tries: 5, minMs: 50, maxMs: 200 } } },
  ).agent;
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId, 'birth');
});
afterAll(async () => {
  await agent.stop();
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

const micEvents = (type: string): EventMessage[] =>
  platform.payloads<EventMessage>('events').filter((e) => e.type === type && e.device?.kind === 'microphone');

describe('microphone in the agent', () => {
  it('absent → present → absent within one lesson: heartbeats and one event each way, the lesson goes on', async () => {
    // No microphone at boot: a fault once the debounce has passed.
    const atBoot = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.fault' && e.device?.kind === 'microphone', 'fault at boot', 20_000);
    expect(atBoot.device).toMatchObject({ id: 'microphone', status: 'absent' });
    expect(atBoot.device!.detail).toContain('looking for model respeaker-v2');

    const { lessonId } = agent.running!.lessons.startNow({ subject: '数学', durationMin: 30 }, 'manual');
    await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === lessonId, 'lesson.started', 20_000);
    const absentBeat = await platform.waitFor<Health>(
      'heartbeat',
      (h) => h.bootId === agent.bootId && h.lesson?.lessonId === lessonId && h.devices.some((d) => d.kind === 'microphone' && d.status === 'absent'),
      'heartbeat: lesson live, microphone absent',
      20_000,
    );
    expect(absentBeat.lesson?.state).toBe('live');

    // Plugged in during the lesson (udev slow: the first two opens are refused).
    const mic = new FakeXmosArray({ ports: [1, 4], failOpens: 2 });
    bus.plug(mic);
    const back = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.kind === 'microphone', 'device.recovered', 20_000);
    expect(back.lessonId).toBe(lessonId);
    expect(back.device).toMatchObject({ id: 'microphone', status: 'ok', model: 'ReSpeaker Mic Array v2.0 (XMOS)' });
    await platform.waitFor<Health>(
      'heartbeat',
      (h) => h.bootId === agent.bootId && h.lesson?.lessonId === lessonId && h.devices.some((d) => d.kind === 'microphone' && d.status === 'ok'),
      'heartbeat: microphone ok during the lesson',
      20_000,
    );
    // The settings reached the device: AGC on, gain 8, echo suppression on.
    await waitUntil(() => mic.param(19, 0) === 1 && mic.param(19, 3) === 8 && mic.param(19, 14) === 1, 'settings applied after plug-in');

    bus.unplug(mic);
    const gone = await platform.waitFor<EventMessage>(
      'events',
      (e) => e.type === 'device.fault' && e.device?.kind === 'microphone' && e.lessonId === lessonId,
      'device.fault during the lesson',
      20_000,
    );
    expect(gone.device!.status).toBe('absent');
    await platform.waitFor<Health>(
      'heartbeat',
      (h) => h.bootId === agent.bootId && h.lesson?.lessonId === lessonId && h.lesson.state === 'live' && h.devices.some((d) => d.kind === 'microphone' && d.status === 'absent'),
      'heartbeat: lesson still live, microphone absent again',
      20_000,
    );
    expect(micEvents('device.fault')).toHaveLength(2);
    expect(micEvents('device.recovered')).toHaveLength(1);
    await agent.running!.lessons.stopLesson(lessonId);
  });

  it('a blip shorter than the debounce reaches the heartbeat at most, never the events', async () => {
    const mic = new FakeXmosArray({ ports: [1, 4] });
    bus.plug(mic);
    await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.kind === 'microphone' && micEvents('device.recovered').length === 2, 'recovered', 20_000);
    const faults = micEvents('device.fault').length;
    for (let i = 0; i < 10; i++) {
      bus.unplug(mic);
      await new Promise((r) => setTimeout(r, 20));
      bus.plug(mic);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Well past the debounce: still no new fault, and the microphone is fine.
    await waitUntil(() => agent.running!.microphone?.health().status === 'ok', 'microphone ok');
    await new Promise((r) => setTimeout(r, 2500));
    expect(micEvents('device.fault')).toHaveLength(faults);
  });
});
