import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.js';
import type { ConfigInput } from '../../agent/config/schema.js';
import { DisplaySimulator, type DisplaySimulatorOptions } from '../../drivers/display/simulator.js';
import { el, token } from '../../pipelines/describe.js';
import { detectCec, identifyDisplay } from '../../provisioning/display.js';
import { doctor, type DoctorReport } from '../../provisioning/doctor.js';
import { FakeUsbBus, FakeUsbDevice, FakeXmosArray, vendorOnlyConfiguration } from '../../drivers/mic/fake-usb.js';
import { detectMicrophones, judgeLevel, levelOutcome, measureLevel, microphoneConfigFor, type LevelSource } from '../../provisioning/microphone.js';
import { provision } from '../../provisioning/provision.js';
import { formatChecklist, type StepResult } from '../../provisioning/steps.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { startBroker } from '../support/broker.js';
import { startSimKit, type SimKit } from '../support/kit.js';
import { PtyPair } from '../support/pty.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The display and microphone probes. The panel is the display driver's simulator on a real
// socat pty; the microphone is a FakeUsbBus with a FakeXmosArray (the lowest layer: the `usb`
// package's device objects), tied to an ALSA card by procfs entries in the kit's tree. No sound
// card exists here, so the level is measured from `audiotestsrc` in the place of `alsasrc`,
// through the same gst-launch-1.0 pipeline and level parsing.

/** A tone at -6 dBFS, and digital silence (a muted microphone). */
const tone: LevelSource = () => el('audiotestsrc', { 'is-live': true, wave: token('sine'), volume: 0.5 }, 'micsrc');
const silence: LevelSource = () => el('audiotestsrc', { 'is-live': true, wave: token('silence') }, 'micsrc');

const dir = tempDir('lectern-probes-');
afterAll(() => dir.cleanup());

async function withPanel<T>(options: DisplaySimulatorOptions, fn: (port: string, sim: DisplaySimulator) => Promise<T>): Promise<T> {
  const pty = await PtyPair.create('lectern-probe-');
  const sim = new DisplaySimulator(options);
  await sim.attachSerial(pty.b);
  try {
    return await fn(pty.a, sim);
  } finally {
    await sim.close();
    await pty.dispose();
  }
}

describe('display serial probe', () => {
  it('recognises each built-in profile by its status reply, with the panel’s own ID', async () => {
    await withPanel({ profile: 'samsung-mdc', id: 7, power: 'on', input: 'dp' }, async (port) => {
      expect(await identifyDisplay(port)).toEqual({ port, profile: 'samsung-mdc', id: 7, baudRate: 9600, power: 'on', input: 'dp', model: 'Samsung MDC display' });
    });
    await withPanel({ profile: 'lg', id: 12, power: 'off', input: 'hdmi3' }, async (port, sim) => {
      // Bytes left over from an earlier probe must not stop the LG panel hearing its query.
      expect(await identifyDisplay(port)).toEqual({ port, profile: 'lg', id: 12, baudRate: 9600, power: 'off', input: 'hdmi3', model: 'LG display' });
      expect(sim.received.some((c) => c.startsWith('ka 00 ff'))).toBe(true);
    });
    await withPanel({ profile: 'benq', id: 1, power: 'on', input: 'hdmi2' }, async (port) => {
      expect(await identifyDisplay(port)).toMatchObject({ profile: 'benq', id: 1, power: 'on', input: 'hdmi2', model: 'BenQ display' });
    });
  });

  it('finds nothing on a port where the panel is silent or only sends garbage', async () => {
    await withPanel({ profile: 'samsung-mdc', faults: { silent: true } }, async (port, sim) => {
      expect(await identifyDisplay(port, { timeoutMs: 300 })).toBeUndefined();
      // It was asked in every profile's language.
      expect(sim.received.length).toBeGreaterThan(0);
    });
    await withPanel({ profile: 'lg', faults: { garbage: true } }, async (port) => {
      expect(await identifyDisplay(port, { timeoutMs: 300 })).toBeUndefined();
    });
  });

  it('reports HDMI-CEC as possible only with cec-ctl installed and a /dev/cec* device', () => {
    const dev = join(dir.path, 'cec/dev');
    const bin = join(dir.path, 'cec/bin');
    mkdirSync(dev, { recursive: true });
    mkdirSync(bin, { recursive: true });
    expect(detectCec({ dev, sys: dev, proc: dev }, bin)).toEqual({ devices: [], possible: false });
    writeFileSync(join(bin, 'cec-ctl'), '#!/bin/sh\n');
    chmodSync(join(bin, 'cec-ctl'), 0o755);
    expect(detectCec({ dev, sys: dev, proc: dev }, bin)).toEqual({ program: join(bin, 'cec-ctl'), devices: [], possible: false });
    writeFileSync(join(dev, 'cec0'), '');
    expect(detectCec({ dev, sys: dev, proc: dev }, `/nonexistent:${bin}`)).toEqual({ program: join(bin, 'cec-ctl'), devices: [join(dev, 'cec0')], possible: true });
  });
});

describe('USB microphone detection', () => {
  it('lists the known array first and a plain USB Audio Class microphone, each with its ALSA device; not a serial adapter', async () => {
    const proc = join(dir.path, 'mics/proc');
    for (const [card, id, bus, vidPid] of [
      [1, 'Device', '001/004', '0d8c:0014'],
      [2, 'ArrayUAC10', '001/009', '2886:0018'],
    ] as const) {
      mkdirSync(join(proc, `asound/card${card}/pcm0c`), { recursive: true });
      writeFileSync(join(proc, `asound/card${card}/id`), `${id}\n`);
      writeFileSync(join(proc, `asound/card${card}/usbbus`), `${bus}\n`);
      writeFileSync(join(proc, `asound/card${card}/usbid`), `${vidPid}\n`);
    }
    const plain = new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, ports: [1], address: 4, productName: 'USB PnP Audio Device' });
    const array = new FakeXmosArray({ ports: [3], address: 9 });
    const serial = new FakeUsbDevice({ vendorId: 0x0403, productId: 0x6001, ports: [4], address: 10, configuration: vendorOnlyConfiguration() });
    const found = await detectMicrophones(new FakeUsbBus([plain, serial, array]), { dev: proc, sys: join(dir.path, 'mics/sys'), proc });
    expect(found.map((m) => [m.vidPid, m.model, m.selected, m.alsaDevice])).toEqual([
      ['2886:0018', 'respeaker-v2', true, 'plughw:CARD=ArrayUAC10,DEV=0'],
      ['0d8c:0014', null, false, 'plughw:CARD=Device,DEV=0'],
    ]);
    expect(microphoneConfigFor(found[0]!, { agc: true })).toEqual({ id: 'microphone', match: { model: 'respeaker-v2' }, controls: { agc: true } });
    expect(microphoneConfigFor(found[1]!)).toEqual({ id: 'microphone', match: { vid: '0d8c', pid: '0014' }, controls: {} });
  });
});

describe('microphone level', () => {
  it('measures a tone near its level and calls digital silence silent, with the fix', async () => {
    const loud = await measureLevel('plughw:CARD=Array,DEV=0', 1, tone);
    expect(loud.ok).toBe(true);
    expect(loud.reports).toBeGreaterThanOrEqual(2);
    expect(loud.peakDb).toBeGreaterThan(-7);
    expect(loud.peakDb).toBeLessThan(-5);
    const loudLine = levelOutcome('array', loud);
    expect(loudLine.status).toBe('pass');
    expect(loudLine.detail).toMatch(/^array: peak -6(\.\d)? dBFS, average -9(\.\d)? dBFS over 1 s$/);

    const quiet = await measureLevel('plughw:CARD=Array,DEV=0', 1, silence);
    expect(quiet.ok).toBe(true);
    expect(judgeLevel(quiet.peakDb)).toBe('silent');
    const silentLine = levelOutcome('array', quiet);
    expect(silentLine).toMatchObject({ status: 'fail', code: 'microphone-silent', detail: 'array: silent (peak no signal over 1 s)' });
    expect(silentLine.fix).toContain('check the mute switch or button on the microphone and its cable');
    expect(judgeLevel(-75)).toBe('quiet');
  });

  it('a capture device that cannot be opened is a failure of its own', async () => {
    // The real source: alsasrc on a card this machine does not have.
    const r = await measureLevel('hw:CARD=NoSuchCard,DEV=0', 1);
    expect(r.ok).toBe(false);
    expect(levelOutcome('array', r)).toMatchObject({ status: 'fail', code: 'microphone-level-failed' });
  });
});

describe('provision and doctor with the panel and the USB microphone', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let kit: SimKit;

  beforeAll(async () => {
    broker = await startBroker();
    // An LG panel with a changed set ID that refuses input changes for a second after power-on.
    kit = await startSimKit(join(dir.path, 'kit'), 2, { display: { profile: 'lg', id: 5, power: 'off', input: 'hdmi2', bootMs: 1000 } });
  });
  afterAll(async () => {
    await kit.close();
    await broker.cleanup();
  });

  const byId = (results: StepResult[], id: string) => results.filter((x) => x.id === id);

  it('provision (non-interactive) finds the cameras, panel and microphone, tests them and writes them into the config', async () => {
    const out = join(dir.path, 'etc/config.json');
    const report = await provision({
      answers: {
        deviceId: 'QZ-PB-0001-R301',
        role: 'lecture',
        mqttUrl: broker.url,
        dataDir: join(dir.path, 'data'),
        video: 'test',
        displayInput: 'hdmi1',
        micControls: { agc: false, agcGain: 4.5, echoSuppression: true },
        skipClip: true,
        skipPlatform: true,
      },
      out,
      roots: { dev: kit.dev, sys: kit.sys, proc: kit.proc },
      clipSeconds: 2,
      usb: kit.usb,
      levelSource: tone,
      levelSeconds: 1,
      displayInputRetryMs: 400,
    });
    expect(report.results.filter((r) => r.status === 'fail')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.found.cameras.map((c) => [c.port, c.address])).toEqual([
      [kit.cameraPort, 1],
      [kit.cameraPort, 2],
    ]);
    expect(report.found.displays).toEqual([{ port: kit.displayPort, profile: 'lg', id: 5, baudRate: 9600, power: 'off', input: 'hdmi2', model: 'LG display' }]);
    expect(report.found.microphones).toMatchObject([{ vidPid: '2886:0018', model: 'respeaker-v2', known: true, usb: '1-2', alsa: 'hw:CARD=Array,DEV=0', alsaDevice: kit.arrayAlsaDevice, selected: true }]);
    expect(byId(report.results, 'display')[0]!.detail).toMatch(/^LG display, ID 5 on .*usb-Prolific.*; HDMI-CEC not available/);
    // Switched on; the input change refused while it booted was tried again.
    expect(byId(report.results, 'display-test')[0]!.detail).toContain('switched on and showing hdmi1 (was off on hdmi2); left on');
    expect([kit.display!.power, kit.display!.input]).toEqual(['on', 'hdmi1']);
    expect(kit.display!.received.filter((c) => c.startsWith('xb 05 90')).length).toBeGreaterThan(1);
    const level = byId(report.results, 'microphone-level')[0]!;
    expect(level.status).toBe('pass');
    expect(level.detail).toContain(`ReSpeaker Mic Array v2.0 (XMOS) (${kit.arrayAlsaDevice}): peak -6`);
    // The vendor settings reached the array (its parameter store) and were read back.
    const controls = byId(report.results, 'microphone-controls')[0]!;
    expect(controls.status).toBe('pass');
    expect(controls.detail).toContain('AGC off, AGC gain 4.5, echo suppression on: written and read back');
    expect([kit.array.param(19, 0), kit.array.param(19, 3), kit.array.param(19, 14)]).toEqual([0, 4.5, 1]);

    const config = loadConfig({ file: out });
    expect(config.display).toMatchObject({ transport: 'serial', port: kit.displayPort, profile: 'lg', id: 5, lessonInput: 'hdmi1', powerOffAfterLastLesson: false });
    expect(config.microphone).toMatchObject({ id: 'microphone', match: { model: 'respeaker-v2' }, controls: { agc: false, agcGain: 4.5, echoSuppression: true } });
    // With the audio source left to detection, the lesson records from the array.
    expect(config.media?.audio).toMatchObject({ type: 'alsa', device: kit.arrayAlsaDevice });
    expect(config.cameras.map((c) => c.id)).toEqual(['teacher', 'students']);
  });

  it('provision reports a silent microphone as a failure with the fix', async () => {
    const report = await provision({
      answers: { deviceId: 'QZ-PB-0002-R302', role: 'lecture', mqttUrl: broker.url, video: 'test', skipClip: true, skipPlatform: true, skipCameraMove: true, skipDisplayTest: true },
      out: join(dir.path, 'silent/config.json'),
      roots: { dev: kit.dev, sys: kit.sys, proc: kit.proc },
      clipSeconds: 2,
      usb: kit.usb,
      levelSource: silence,
      levelSeconds: 1,
    });
    expect(report.ok).toBe(false);
    expect(report.results.filter((r) => r.status === 'fail').map((r) => r.code)).toEqual(['microphone-silent']);
    const text = formatChecklist(report.results);
    expect(text).toContain(`[FAIL] microphone level: ReSpeaker Mic Array v2.0 (XMOS) (${kit.arrayAlsaDevice}): silent`);
    expect(text).toContain('fix: check the mute switch or button on the microphone and its cable');
  });

  let n = 0;
  async function runDoctor(extra: Partial<ConfigInput>, levelSource: LevelSource = tone): Promise<{ report: DoctorReport; text: string }> {
    const file = join(dir.path, `doctor-${++n}.json`);
    const input: ConfigInput = {
      deviceId: 'QZ-PB-0003-R303',
      role: 'lecture',
      dataDir: join(dir.path, 'doctor-data'),
      platform: { mqttUrl: broker.url, connectTimeoutSec: 3 },
      cameras: [{ id: 'teacher', address: 1, transport: { type: 'serial', path: kit.cameraPort } }],
      media: { video: { type: 'test' }, audio: { type: 'test' }, encoder: { preference: ['x264enc'] } },
      display: { transport: 'serial', port: kit.displayPort, profile: 'lg', id: 5, lessonInput: 'hdmi1' },
      microphone: { id: 'array', match: { model: 'respeaker-v2' } },
      ...extra,
    };
    writeFileSync(file, JSON.stringify(input));
    const report = await doctor({
      configFile: file,
      roots: { dev: kit.dev, sys: kit.sys, proc: kit.proc },
      lessonMinutes: 1,
      requireElements: [],
      bandwidthBytes: 0,
      certWarnDays: 30,
      usb: kit.usb,
      levelSource,
      levelSeconds: 1,
    });
    return { report, text: formatChecklist(report.results) };
  }
  const failures = (r: DoctorReport) => r.results.filter((x) => x.status === 'fail');

  it('doctor passes the panel and the microphone (present on USB, not silent)', async () => {
    const { report } = await runDoctor({});
    expect(failures(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(byId(report.results, 'display').map((r) => [r.status, r.detail])).toEqual([['pass', `panel: LG display on ${kit.displayPort}: power ${kit.display!.power}, input ${kit.display!.input}`]]);
    const mic = byId(report.results, 'microphone');
    expect(mic.map((r) => r.status)).toEqual(['pass', 'pass']);
    expect(mic[0]!.detail).toBe(`array: 2886:0018 ReSpeaker Mic Array v2.0 (XMOS), ALSA ${kit.arrayAlsaDevice}`);
    expect(mic[1]!.detail).toContain(`array level (${kit.arrayAlsaDevice}): peak -6`);
  });

  it('doctor: a microphone unplugged from USB', async () => {
    kit.usb.unplug(kit.array);
    try {
      const { report, text } = await runDoctor({});
      expect(report.ok).toBe(false);
      expect(failures(report).map((f) => f.code)).toEqual(['microphone-missing']);
      expect(text).toContain('[FAIL] microphone: array: no USB microphone connected (looking for model respeaker-v2)');
      expect(text).toContain('fix: plug the USB microphone back in');
    } finally {
      kit.usb.plug(kit.array);
    }
  });

  it('doctor: a silent microphone', async () => {
    const { report, text } = await runDoctor({}, silence);
    expect(report.ok).toBe(false);
    expect(failures(report).map((f) => f.code)).toEqual(['microphone-silent']);
    expect(text).toContain(`[FAIL] microphone: array level (${kit.arrayAlsaDevice}): silent (peak no signal over 1 s)`);
    expect(text).toContain('fix: check the mute switch or button on the microphone and its cable');
  });

  it('doctor with the agent running reads the display’s and microphone’s health from the agent (it holds the port)', async () => {
    const dataDir = join(dir.path, 'agent-data');
    const input = testConfig(dataDir, broker.url, {
      display: { transport: 'serial', port: kit.displayPort, profile: 'lg', id: 5, pollIntervalSec: 0.3 },
      microphone: { id: 'array', match: { model: 'respeaker-v2' } },
    });
    const file = join(dir.path, 'agent-config.json');
    writeFileSync(file, JSON.stringify(input));
    const { agent } = inProcessAgent(input, { usb: kit.usb, microphoneOptions: { roots: { sys: kit.sys, proc: kit.proc }, scanMs: 200 } });
    await agent.start();
    const health = (kind: string) => agent.running?.watch.devices().find((d) => d.kind === kind);
    const run = () =>
      doctor({ configFile: file, roots: { dev: kit.dev, sys: kit.sys, proc: kit.proc }, lessonMinutes: 1, requireElements: [], bandwidthBytes: 0, certWarnDays: 30, usb: kit.usb, levelSource: tone, levelSeconds: 1 });
    try {
      await waitUntil(() => health('display')?.status === 'ok' && health('display')?.detail === undefined, 'the agent’s display ok', 20_000);
      const ok = await run();
      expect(ok.agentRunning).toBe(true);
      expect(failures(ok)).toEqual([]);
      expect(byId(ok.results, 'display').map((r) => [r.status, r.detail])).toEqual([['pass', 'panel: ok (LG display), as the agent reports it']]);
      expect(byId(ok.results, 'microphone').map((r) => r.status)).toEqual(['pass', 'pass']);

      kit.display!.setFaults({ silent: true });
      await waitUntil(() => health('display')?.status === 'fault', 'the agent’s display fault', 20_000);
      const silent = await run();
      expect(failures(silent).map((f) => f.code)).toEqual(['display-not-answering']);
      expect(formatChecklist(silent.results)).toMatch(/\[FAIL\] display: panel: fault \(no reply to power status from display panel on .* after \d tries\)/);
    } finally {
      kit.display!.setFaults({});
      await agent.stop();
    }
  });
});
