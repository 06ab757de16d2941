import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { DeviceHealth } from '../../agent/devices.js';
import type { EventMessage, Health, LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { FakeUsbBus, FakeXmosArray } from '../../drivers/mic/fake-usb.js';
import { DisplaySimulator } from '../../drivers/display/simulator.js';
import { ViscaSimulator } from '../../drivers/visca/simulator.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { REPO, inProcessAgent, testConfig } from '../support/agent.js';
import { startBroker } from '../support/broker.js';
import { discover, haveGst, segmentFiles, testMediaInput } from '../support/media.js';
import { FakePlatform } from '../support/platform.js';
import { PtyPair } from '../support/pty.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// Hardware faults in the middle of a lesson, with the whole agent in this process: a real
// Mosquitto, the fake platform checking every payload against the contract, real GStreamer
// recording test sources, a VISCA camera simulator and a display simulator each behind a real
// socat pty, and the USB microphone on a fake USB bus (the only part that cannot be real here).
// One lesson per fault, each started by the platform's lesson.start and ended by lesson.stop:
// the lesson goes on and records throughout, the platform sees the device go bad and come back
// in heartbeats and in one device.fault / device.recovered pair, and gets exactly one valid
// class-hour record.
const DEVICE = 'QZ-HW-0001-R201';
/** Device health debounce for this suite: long enough that a quick replug stays well inside it. */
const DEBOUNCE_SEC = 5;
const LONG = 60_000;

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
let agent: Agent;
let cameraPty: PtyPair;
let displayPty: PtyPair;
const camSim = new ViscaSimulator({ moveSpeed: 20 });
const panel = new DisplaySimulator({ profile: 'lg', power: 'off', input: 'hdmi1' });
const usb = new FakeUsbBus();
let mic = new FakeXmosArray({ ports: [1, 4] });
const dir = tempDir('lectern-hw-');
const dataDir = join(dir.path, 'data');
const lessonIds: string[] = [];
/** The run's figures, printed at the end (for the reliability table). */
const figures = { faults: 0, blips: 0, segments: 0, unplayable: 0 };

/** The lesson media worker from the TypeScript sources (the built agent runs dist/pipelines/worker-main.js). */
const MEDIA_WORKER = { file: join(REPO, 'node_modules/.bin/vite-node'), args: [join(REPO, 'pipelines/worker-main.ts')] };

const haveMedia = haveGst('x264enc', 'splitmuxsink', 'mpegtsmux', 'videotestsrc', 'audiotestsrc');

beforeAll(async () => {
  if (!haveMedia) return;
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
  cameraPty = await PtyPair.create('lectern-hw-cam-');
  await camSim.attachSerial(cameraPty.b);
  displayPty = await PtyPair.create('lectern-hw-display-');
  await panel.attachSerial(displayPty.b);
  usb.plug(mic);
  agent = inProcessAgent(
    testConfig(dataDir, broker.url, {
      deviceId: DEVICE,
      cameras: [{ id: 'teacher', transport: { type: 'serial', path: cameraPty.a } }],
      microphone: { match: { model: 'respeaker-v2' }, controls: { agc: true, agcGain: 8, echoSuppression: true } },
      display: { transport: 'serial', port: displayPty.a, profile: 'lg', name: 'board', lessonInput: 'hdmi2', pollIntervalSec: 0.3, timeoutMs: 600, tries: 2 },
      deviceHealth: { debounceSec: DEBOUNCE_SEC },
      media: testMediaInput(),
    }),
    {
      usb,
      mediaWorker: MEDIA_WORKER,
      cameraOptions: { bus: { ackTimeoutMs: 400, reconnectMinMs: 100, reconnectMaxMs: 400 }, camera: { pollIntervalMs: 300, slowReplyMs: 2000 } },
      microphoneOptions: { scanMs: 300, lessonCheckMs: 200, open: { tries: 5, minMs: 50, maxMs: 200 } },
    },
  ).agent;
  await agent.start();
  await platform.waitFor<StatusMessage>('status', (s) => s.bootId === agent.bootId && s.online, 'birth', 30_000);
  // Every device found and answering before the first lesson.
  await platform.waitFor<Health>(
    'heartbeat',
    (h) => h.bootId === agent.bootId && ['camera', 'microphone', 'display'].every((k) => h.devices.some((d) => d.kind === k && d.status === 'ok' && d.detail === undefined)),
    'a heartbeat with camera, microphone and display ok',
    LONG,
  );
}, 120_000);

afterAll(async () => {
  if (!haveMedia) return;
  await agent?.stop();
  await camSim.close();
  await panel.close();
  await cameraPty?.dispose();
  await displayPty?.dispose();
  await platform?.stop();
  await broker?.cleanup();
  // Every lesson has exactly one record, however long the platform listened, and nothing the
  // device sent broke the contract.
  const records = platform.payloads<LessonRecord>('lessons');
  console.log(
    `hardware faults: ${figures.faults} outages and ${figures.blips} blip injected over ${lessonIds.length} lessons; ` +
      `records ${lessonIds.filter((id) => records.some((r) => r.lessonId === id)).length}/${lessonIds.length}, ` +
      `segments ${figures.segments} (unplayable ${figures.unplayable}); ` +
      `device events ${platform.payloads<EventMessage>('events').filter((e) => e.type.startsWith('device.')).length}; contract violations ${platform.invalid.length}`,
  );
  for (const id of lessonIds) expect(records.filter((r) => r.lessonId === id), id).toHaveLength(1);
  expect(platform.invalid).toEqual([]);
  dir.cleanup();
});

const beats = (): Health[] => platform.payloads<Health>('heartbeat').filter((h) => h.bootId === agent.bootId);
const device = (h: Health, kind: string): DeviceHealth | undefined => h.devices.find((d) => d.kind === kind);
const deviceEvents = (kind: string, lessonId?: string): EventMessage[] =>
  platform.payloads<EventMessage>('events').filter((e) => (e.type === 'device.fault' || e.type === 'device.recovered') && e.device?.kind === kind && (!lessonId || e.lessonId === lessonId));
const segments = (lessonId: string): string[] => segmentFiles(join(dataDir, 'recordings', lessonDirName(lessonId)));

/** Waits for a heartbeat of this lesson, live, with the device in the given state. */
function liveBeatWith(lessonId: string, kind: string, status: string, what: string): Promise<Health> {
  return waitUntil(
    () => beats().find((h) => h.lesson?.lessonId === lessonId && h.lesson.state === 'live' && device(h, kind)?.status === status),
    what,
    LONG,
  );
}

/** lesson.start from the platform; resolves once the lesson is live and has closed its first segment. */
async function startLesson(subject: string, requestId: string): Promise<string> {
  const r = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId, args: { subject, durationMin: 30 } }, 30_000);
  expect(r.ok, JSON.stringify(r.error)).toBe(true);
  const lessonId = r.result!.lessonId;
  lessonIds.push(lessonId);
  await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === lessonId, 'lesson.started', 30_000);
  await waitUntil(() => segments(lessonId).length >= 2, 'the first recording segment closed', LONG);
  return lessonId;
}

/**
 * lesson.stop from the platform, then the class-hour record: completed, recorded throughout
 * (every segment on disk counted and playable), and only one, also after the next heartbeats.
 */
async function stopLesson(lessonId: string, requestId: string): Promise<LessonRecord> {
  const r = await platform.reply<{ lessonId: string; status: string }>(DEVICE, 'lesson.stop', { requestId, args: { lessonId } }, LONG);
  expect(r).toMatchObject({ ok: true, result: { lessonId, status: 'completed' } });
  const record = await platform.waitFor<LessonRecord>('lessons', (l) => l.lessonId === lessonId, `the record of ${lessonId}`, LONG);
  // Two more heartbeats: time for a duplicate to show up, were one to be sent.
  const seen = beats().length;
  await waitUntil(() => beats().length >= seen + 2, 'two heartbeats after the record', LONG);
  expect(platform.payloads<LessonRecord>('lessons').filter((l) => l.lessonId === lessonId)).toHaveLength(1);
  expect(platform.invalid).toEqual([]);
  expect(record).toMatchObject({ deviceId: DEVICE, status: 'completed', trigger: 'platform', interruptions: [] });
  const files = segments(lessonId);
  expect(record.recording.segments).toBe(files.length);
  expect(record.recording.sha256).toHaveLength(files.length);
  expect(record.durationSec).toBeGreaterThan(10);
  // Recorded from soon after the start (the media worker takes a few seconds to start) to the end.
  expect(record.recording.durationSec).toBeGreaterThanOrEqual(record.durationSec - 15);
  expect(record.recording.durationSec).toBeLessThanOrEqual(record.durationSec + 3);
  const unplayable = files.filter((f) => !discover(f).ok);
  figures.segments += files.length;
  figures.unplayable += unplayable.length;
  expect(unplayable, 'segments that do not play').toEqual([]);
  return record;
}

/** Recording goes on while the fault lasts: new segments close between `from` and now. */
function assertRecordedSince(lessonId: string, from: number): void {
  expect(segments(lessonId).length, 'segments closed while the device was faulty').toBeGreaterThan(from);
}

describe.skipIf(!haveMedia)('hardware faults mid-lesson', () => {
  // A test that failed half-way leaves no lesson live for the next one.
  afterEach(async () => {
    const live = agent.running?.lessons.lessonNow();
    if (live?.state === 'live') await agent.running!.lessons.stopLesson(live.lessonId).catch(() => undefined);
  });

  it('the camera serial port vanishes and returns: a blip raises nothing; a real outage one fault and one recovery; the lesson records throughout', async () => {
    const camera = agent.running!.cameras.get('teacher')!;
    const changes: { status: string; at: number }[] = [];
    const off = camera.onHealthChange((now) => changes.push({ status: now.status, at: Date.now() }));
    try {
      const lessonId = await startLesson('数学', 'hw-cam-start');
      await liveBeatWith(lessonId, 'camera', 'ok', 'heartbeat: lesson live, camera ok');

      // A blip: the adapter drops and is back at once (socat restarted at the same path as
      // soon as the driver has noticed the port gone).
      const blipFrom = changes.length;
      figures.blips++;
      await cameraPty.kill();
      await waitUntil(() => camera.health().status === 'absent', 'the driver notices the port gone', 30_000);
      await cameraPty.start();
      await camSim.attachSerial(cameraPty.b);
      await waitUntil(() => camera.health().status === 'ok', 'camera ok again after the blip', 30_000);
      const blip = changes.slice(blipFrom);
      expect(blip[0]!.status).toBe('absent');
      expect(blip[blip.length - 1]!.status).toBe('ok');
      const blipMs = blip[blip.length - 1]!.at - blip[0]!.at;
      expect(blipMs, 'the blip must be shorter than the debounce for this check to mean anything').toBeLessThan(DEBOUNCE_SEC * 1000);
      // Past the debounce (and a margin): no event about the camera.
      await new Promise((r) => setTimeout(r, DEBOUNCE_SEC * 1000 + 2000));
      expect(deviceEvents('camera')).toEqual([]);

      // An outage: the port is gone until the platform has heard about it.
      const before = segments(lessonId).length;
      figures.faults++;
      await cameraPty.kill();
      const fault = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.fault' && e.device?.kind === 'camera', 'camera device.fault', LONG);
      expect(fault).toMatchObject({ severity: 'error', lessonId, device: { kind: 'camera', id: 'teacher', status: 'absent', detail: `serial port ${cameraPty.a} is missing` } });
      const absentBeat = await liveBeatWith(lessonId, 'camera', 'absent', 'heartbeat: lesson live, camera absent');
      expect(device(absentBeat, 'microphone')?.status).toBe('ok');
      // The platform's camera command fails cleanly, naming the port, while it is gone.
      const recall = await platform.reply(DEVICE, 'camera.preset.recall', { requestId: 'hw-cam-recall', args: { camera: 'teacher', preset: 1 } }, 30_000);
      expect(recall.ok).toBe(false);
      expect(recall.error?.code).toBe('device-error');
      expect(recall.error?.message).toContain(cameraPty.a);

      // Back at the same path.
      await cameraPty.start();
      await camSim.attachSerial(cameraPty.b);
      const back = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.kind === 'camera', 'camera device.recovered', LONG);
      expect(back).toMatchObject({ severity: 'info', lessonId, device: { kind: 'camera', id: 'teacher', status: 'ok' } });
      await liveBeatWith(lessonId, 'camera', 'ok', 'heartbeat: lesson live, camera ok again');
      assertRecordedSince(lessonId, before);
      const ok = await platform.reply(DEVICE, 'camera.preset.recall', { requestId: 'hw-cam-recall-2', args: { camera: 'teacher', preset: 1 } }, 30_000);
      expect(ok.ok, JSON.stringify(ok.error)).toBe(true);

      await stopLesson(lessonId, 'hw-cam-stop');
      expect(deviceEvents('camera').map((e) => `${e.type}:${e.device!.status}`)).toEqual(['device.fault:absent', 'device.recovered:ok']);
    } finally {
      off();
    }
  }, 240_000);

  it('the USB microphone is detached and re-attached: one fault and one recovery, settings applied again, the lesson records throughout', async () => {
    const lessonId = await startLesson('语文', 'hw-mic-start');
    await liveBeatWith(lessonId, 'microphone', 'ok', 'heartbeat: lesson live, microphone ok');
    const before = segments(lessonId).length;
    figures.faults++;
    usb.unplug(mic);
    const fault = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.fault' && e.device?.kind === 'microphone', 'microphone device.fault', LONG);
    expect(fault).toMatchObject({ severity: 'error', lessonId, device: { kind: 'microphone', status: 'absent' } });
    await liveBeatWith(lessonId, 'microphone', 'absent', 'heartbeat: lesson live, microphone absent');

    // Re-attached: after a power loss the array has its factory settings, the agent sets them again.
    mic = new FakeXmosArray({ ports: [1, 4] });
    expect([mic.param(19, 3), mic.param(19, 14)]).toEqual([1, 0]);
    usb.plug(mic);
    const back = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.kind === 'microphone', 'microphone device.recovered', LONG);
    expect(back).toMatchObject({ severity: 'info', lessonId, device: { kind: 'microphone', status: 'ok', model: 'ReSpeaker Mic Array v2.0 (XMOS)' } });
    await liveBeatWith(lessonId, 'microphone', 'ok', 'heartbeat: lesson live, microphone ok again');
    await waitUntil(() => mic.param(19, 0) === 1 && mic.param(19, 3) === 8 && mic.param(19, 14) === 1, 'microphone settings applied after re-attach', 30_000);
    assertRecordedSince(lessonId, before);

    await stopLesson(lessonId, 'hw-mic-stop');
    expect(deviceEvents('microphone').map((e) => `${e.type}:${e.device!.status}`)).toEqual(['device.fault:absent', 'device.recovered:ok']);
    // The other devices were not disturbed.
    expect(deviceEvents('camera')).toHaveLength(2);
    expect(deviceEvents('display')).toEqual([]);
  }, 240_000);

  it('the display is powered on at pre-roll, stops answering and answers again: one fault and one recovery, the lesson records throughout', async () => {
    // Someone switched the panel off with its remote since the last lesson.
    panel.power = 'off';
    await waitUntil(() => agent.running!.display!.health().status === 'ok', 'display ok', 30_000);
    const lessonId = await startLesson('英语', 'hw-display-start');
    await waitUntil(() => panel.power === 'on' && panel.input === 'hdmi2', 'display on with the lesson input', 30_000);
    await liveBeatWith(lessonId, 'display', 'ok', 'heartbeat: lesson live, display ok');

    const before = segments(lessonId).length;
    figures.faults++;
    panel.setFaults({ silent: true });
    const fault = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.fault' && e.device?.kind === 'display', 'display device.fault', LONG);
    expect(fault).toMatchObject({ severity: 'error', lessonId, device: { kind: 'display', id: 'board', status: 'fault' } });
    expect(fault.device!.detail).toMatch(new RegExp(`^no reply to .* from display board on ${displayPty.a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} after 2 tries$`));
    await liveBeatWith(lessonId, 'display', 'fault', 'heartbeat: lesson live, display fault');

    panel.setFaults({});
    const back = await platform.waitFor<EventMessage>('events', (e) => e.type === 'device.recovered' && e.device?.kind === 'display', 'display device.recovered', 90_000);
    expect(back).toMatchObject({ severity: 'info', lessonId, device: { kind: 'display', id: 'board', status: 'ok' } });
    await liveBeatWith(lessonId, 'display', 'ok', 'heartbeat: lesson live, display ok again');
    assertRecordedSince(lessonId, before);
    expect(panel.power).toBe('on');

    await stopLesson(lessonId, 'hw-display-stop');
    expect(deviceEvents('display').map((e) => `${e.type}:${e.device!.status}`)).toEqual(['device.fault:fault', 'device.recovered:ok']);
    expect(deviceEvents('microphone')).toHaveLength(2);
    expect(deviceEvents('camera')).toHaveLength(2);
    // The agent is still whole: it answers the platform and reports every device fine.
    const health = await platform.reply<Health>(DEVICE, 'health.get', { requestId: 'hw-health' });
    expect(health.ok).toBe(true);
    // Working: ok, or degraded where a loaded machine made the camera's replies slow.
    const working = (st: string): string => (st === 'ok' || st === 'degraded' ? 'working' : st);
    expect(health.result!.devices.map((d) => `${d.kind}:${working(d.status)}`).sort()).toEqual(['camera:working', 'display:working', 'microphone:working']);
    expect(health.result!.lesson).toBeNull();
  }, 240_000);
});
