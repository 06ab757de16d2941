import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../agent/devices.js';
import { FakeUsbBus, FakeUsbDevice, FakeXmosArray } from '../../../drivers/mic/fake-usb.js';
import { Microphone, type LessonView, type MicrophoneOptions } from '../../../drivers/mic/microphone.js';
import type { MicrophoneConfig } from '../../../drivers/mic/config.js';
import { NodeUsbBus, UsbUnavailableError } from '../../../drivers/mic/usb.js';
import { tempDir, waitUntil } from '../../support/tmp.js';

// The microphone driver over a USB bus in the `usb` package's shape: enumeration, hot-plug,
// opening while permissions are not there yet, settings at plug-in and lesson start, silence
// and voice tracking. Only the bus and devices are fakes; everything above is the real driver.

const mics: Microphone[] = [];
afterEach(async () => {
  await Promise.all(mics.splice(0).map((m) => m.stop()));
});

function micOn(bus: FakeUsbBus, config: Partial<MicrophoneConfig> = {}, o: Partial<MicrophoneOptions> = {}): { mic: Microphone; changes: DeviceHealth['status'][] } {
  const mic = new Microphone({
    config: { id: 'microphone', controls: {}, ...config },
    usb: bus,
    scanMs: 100,
    lessonCheckMs: 50,
    open: { tries: 5, minMs: 20, maxMs: 60 },
    ...o,
  });
  mics.push(mic);
  const changes: DeviceHealth['status'][] = [];
  mic.onHealthChange((now) => changes.push(now.status));
  return { mic, changes };
}

const controls = { agc: false, echoSuppression: true } as const;

describe('presence and hot-plug', () => {
  it('absent → present → absent, with health changes and attach/detach events', async () => {
    const bus = new FakeUsbBus();
    const { mic, changes } = micOn(bus);
    const seen: string[] = [];
    mic.events.on('attached', (e) => seen.push(`attached ${e.candidate.vidPid}`));
    mic.events.on('detached', (e) => seen.push(`detached ${e.candidate.vidPid}`));
    await mic.start();
    expect(mic.health()).toEqual({ kind: 'microphone', id: 'microphone', status: 'absent', detail: 'no USB microphone connected (looking for any USB microphone)' });
    const dev = new FakeXmosArray({ ports: [1, 4] });
    bus.plug(dev);
    await waitUntil(() => mic.health().status === 'ok', 'microphone present');
    expect(mic.health()).toEqual({ kind: 'microphone', id: 'microphone', status: 'ok', model: 'ReSpeaker Mic Array v2.0 (XMOS)' });
    expect(mic.device?.vidPid).toBe('2886:0018');
    bus.unplug(dev);
    await waitUntil(() => mic.health().status === 'absent', 'microphone gone');
    expect(changes).toEqual(['absent', 'ok', 'absent']);
    expect(seen).toEqual(['attached 2886:0018', 'detached 2886:0018']);
    expect(mic.device).toBeUndefined();
  });

  it('without hot-plug events the periodic scan still notices plug and unplug', async () => {
    const bus = new FakeUsbBus();
    const { mic } = micOn(bus);
    await mic.start();
    const dev = new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, ports: [2], productName: 'USB Audio Device' });
    bus.plug(dev, true);
    await waitUntil(() => mic.health().status === 'ok', 'plain microphone found by scanning');
    expect(mic.health().model).toBe('USB Audio Device');
    expect(mic.hasControls()).toBe(false);
    bus.unplug(dev, true);
    await waitUntil(() => mic.health().status === 'absent', 'gone by scanning');
  });

  it('only the configured microphone counts', async () => {
    const plain = new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, ports: [2] });
    const bus = new FakeUsbBus([plain]);
    const { mic } = micOn(bus, { match: { model: 'respeaker-v2' } });
    await mic.start();
    expect(mic.health().status).toBe('absent');
    expect(mic.health().detail).toContain('looking for model respeaker-v2');
    bus.plug(new FakeXmosArray({ ports: [3] }));
    await waitUntil(() => mic.device?.model?.key === 'respeaker-v2', 'the array chosen');
  });

  it('a host without USB reports the microphone absent with the reason, and recovers', async () => {
    const bus = new FakeUsbBus([new FakeXmosArray()]);
    bus.unavailable = 'no USB devices can be seen on this host (/sys/bus/usb/devices is missing)';
    const { mic } = micOn(bus);
    await mic.start();
    expect(mic.health().status).toBe('absent');
    expect(mic.health().detail).toContain('/sys/bus/usb/devices is missing');
    bus.unavailable = undefined;
    await waitUntil(() => mic.health().status === 'ok', 'USB back');
  });

  it('the real bus on a host without a USB sysfs tree: a typed error, and no listener crash', async () => {
    const d = tempDir();
    try {
      const bus = new NodeUsbBus(d.path);
      await expect(bus.getDevices()).rejects.toBeInstanceOf(UsbUnavailableError);
      await expect(bus.getDevices()).rejects.toThrow(/bus\/usb\/devices is missing/);
      const { mic } = micOn(bus as unknown as FakeUsbBus);
      await mic.start();
      expect(mic.health().status).toBe('absent');
    } finally {
      d.cleanup();
    }
  });
});

describe('opening for vendor controls', () => {
  it('retries while udev sets permissions, then applies the settings', async () => {
    const dev = new FakeXmosArray({ failOpens: 3 });
    const { mic } = micOn(new FakeUsbBus([dev]), { controls });
    await mic.start();
    await waitUntil(() => dev.param(19, 14) === 1, 'settings applied after the retries');
    expect(dev.opens).toBe(1);
    expect(dev.param(19, 0)).toBe(0);
    expect(mic.health().status).toBe('ok');
  });

  it('gives up after its tries: degraded, naming the error and the udev rule', async () => {
    const dev = new FakeXmosArray({ failOpens: 100 });
    const { mic } = micOn(new FakeUsbBus([dev]), { controls });
    await mic.start();
    await waitUntil(() => mic.health().status === 'degraded', 'degraded');
    expect(mic.health().detail).toMatch(/could not open the device \(open error: Permission denied \(os error 13\)\); check the udev rule giving lectern access to 2886:0018/);
    await expect(mic.readState()).rejects.toThrow(/vendor controls unavailable/);
  });

  it('a replugged array (settings lost with power) gets them again', async () => {
    const bus = new FakeUsbBus();
    const { mic } = micOn(bus, { controls });
    await mic.start();
    const first = new FakeXmosArray({ ports: [1, 4] });
    bus.plug(first);
    await waitUntil(() => first.param(19, 14) === 1, 'applied on the first plug');
    bus.unplug(first);
    await waitUntil(() => mic.health().status === 'absent', 'unplugged');
    const again = new FakeXmosArray({ ports: [1, 4] });
    expect(again.param(19, 14)).toBe(0);
    bus.plug(again);
    await waitUntil(() => again.param(19, 14) === 1 && again.param(19, 0) === 0, 'applied again after replug');
  });
});

describe('during a lesson', () => {
  it('settings once per lesson at pre-roll; silence while live makes it degraded; lesson end clears it', async () => {
    const dev = new FakeXmosArray();
    let lesson: LessonView | null = null;
    const { mic, changes } = micOn(new FakeUsbBus([dev]), { controls }, { lesson: () => lesson, silence: { thresholdDb: -60, afterMs: 1000 } });
    await mic.start();
    await waitUntil(() => dev.param(19, 14) === 1, 'applied at plug-in');
    const writes = (): number => dev.transfers.filter((t) => t.bmRequestType === 0x40).length;
    const afterPlug = writes();
    lesson = { lessonId: 'L1', state: 'preparing' };
    await waitUntil(() => writes() === afterPlug + 2, 'applied at pre-roll');
    // Quiet before the bell does not count.
    mic.reportLevel(-90, 0);
    mic.reportLevel(-90, 5000);
    expect(mic.health().status).toBe('ok');
    lesson = { lessonId: 'L1', state: 'live' };
    mic.checkLesson();
    // The same lesson going live does not write the settings again.
    expect(writes()).toBe(afterPlug + 2);
    mic.reportLevel(-80, 0);
    mic.reportLevel(-80, 999);
    expect(mic.health().status).toBe('ok');
    mic.reportLevel(-90, 1000);
    expect(mic.health().status).toBe('degraded');
    expect(mic.health().detail).toMatch(/silent during the lesson for 1 s or more \(level -90\.0 dB\)/);
    mic.reportLevel(-20, 1500);
    expect(mic.health().status).toBe('ok');
    mic.reportSilence(true, -Infinity, 30_000);
    expect(mic.health().detail).toContain('no signal');
    lesson = null;
    mic.checkLesson();
    expect(mic.health().status).toBe('ok');
    // Between lessons, silence is not a problem.
    mic.reportLevel(-90, 10_000);
    mic.reportLevel(-90, 20_000);
    expect(mic.health().status).toBe('ok');
    expect(changes).toEqual(['degraded', 'ok', 'degraded', 'ok']);
  });

  it('voice tracking turns the camera while the lesson is live', async () => {
    const dev = new FakeXmosArray();
    let lesson: LessonView | null = null;
    const moves: [string, number][] = [];
    const { mic } = micOn(
      new FakeUsbBus([dev]),
      {
        voiceTracking: {
          camera: 'students',
          zones: [
            { fromDeg: 0, toDeg: 180, preset: 1 },
            { fromDeg: 180, toDeg: 360, preset: 2 },
          ],
          hysteresisDeg: 10,
          settleSec: 0.1,
          holdSec: 0.2,
          idleSec: 60,
          pollMs: 50,
        },
      },
      {
        lesson: () => lesson,
        goPreset: async (camera, preset) => {
          moves.push([camera, preset]);
        },
      },
    );
    await mic.start();
    dev.speak(90);
    await new Promise((r) => setTimeout(r, 300));
    expect(moves).toEqual([]);
    lesson = { lessonId: 'L2', state: 'live' };
    await waitUntil(() => moves.length === 1, 'camera turned to the left rows');
    expect(moves[0]).toEqual(['students', 1]);
    dev.speak(270);
    await waitUntil(() => moves.length === 2, 'camera turned to the right rows');
    expect(moves[1]).toEqual(['students', 2]);
    lesson = null;
    await waitUntil(() => !mic.voiceTrackingActive, 'tracking stopped with the lesson');
    dev.speak(90);
    await new Promise((r) => setTimeout(r, 300));
    expect(moves).toHaveLength(2);
  });
});
