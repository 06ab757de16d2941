import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceWatch } from '../../agent/device-watch.js';
import type { DeviceHealth, DeviceStatus, HealthSource } from '../../agent/devices.js';
import type { EventMessage } from '../../agent/contract/types.js';
import { EventPublisher } from '../../agent/events.js';
import { silentLogger } from '../../agent/log.js';
import { Outbox } from '../../agent/outbox.js';
import { openState, type Db } from '../../agent/state/db.js';
import { FakeUsbBus, FakeXmosArray } from '../../drivers/mic/fake-usb.js';
import { Microphone } from '../../drivers/mic/microphone.js';
import { tempDir } from '../support/tmp.js';

// One health model for every device kind: device.fault / device.recovered from health changes,
// with flapping suppressed. Events go through the real publisher into the real outbox (SQLite
// in a temp dir); time is vitest's fake timers.

/** A device whose health the test sets, as any driver reports it. */
class ScriptedDevice implements HealthSource {
  private current: DeviceHealth;
  private readonly listeners = new Set<(now: DeviceHealth, before: DeviceHealth) => void>();

  constructor(kind: DeviceHealth['kind'], id: string, status: DeviceStatus = 'ok') {
    this.current = { kind, id, status };
  }

  set(status: DeviceStatus, detail?: string): void {
    const before = this.current;
    this.current = { ...before, status, ...(detail ? { detail } : {}) };
    if (before.status !== status) for (const l of this.listeners) l({ ...this.current }, before);
  }

  health(): DeviceHealth {
    return { ...this.current };
  }

  onHealthChange(listener: (now: DeviceHealth, before: DeviceHealth) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

let db: Db;
let dir: ReturnType<typeof tempDir>;
let outbox: Outbox;
let watch: DeviceWatch | undefined;
let lessonId: string | null = null;

beforeEach(() => {
  vi.useFakeTimers();
  dir = tempDir();
  db = openState({ dataDir: dir.path });
  outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 10_000 });
});
afterEach(() => {
  watch?.stop();
  watch = undefined;
  outbox.stop();
  db.close();
  dir.cleanup();
  vi.useRealTimers();
});

function watchOver(sources: HealthSource[], debounceMs?: number): DeviceWatch {
  const events = new EventPublisher({ bootId: 'boot1', topic: 'classroom/v1/QZ-T-0001/events', outbox, clock: { now: () => new Date() }, timeZone: () => 'Asia/Shanghai' });
  watch = new DeviceWatch({ sources, events, log: silentLogger(), lessonId: () => lessonId, ...(debounceMs !== undefined && { debounceMs }) });
  watch.start();
  return watch;
}

function events(): EventMessage[] {
  return (db.prepare("SELECT payload FROM outbox WHERE kind = 'event' ORDER BY id").all() as { payload: string }[]).map((r) => JSON.parse(r.payload) as EventMessage);
}

const summary = (): string[] => events().map((e) => `${e.type} ${e.device?.kind}/${e.device?.id} ${e.device?.status}`);

describe('DeviceWatch flapping suppression', () => {
  it('a device that drops and returns within the debounce raises nothing, however often', async () => {
    const cam = new ScriptedDevice('camera', 'teacher');
    watchOver([cam], 10_000);
    for (let i = 0; i < 50; i++) {
      cam.set('absent', 'port missing');
      await vi.advanceTimersByTimeAsync(2000);
      cam.set('ok');
      await vi.advanceTimersByTimeAsync(1000);
    }
    await vi.advanceTimersByTimeAsync(60_000);
    expect(summary()).toEqual([]);
  });

  it('a fault that lasts is reported after the debounce, its recovery once it has held as long', async () => {
    const display = new ScriptedDevice('display', 'panel');
    lessonId = 'L-42';
    watchOver([display], 10_000);
    display.set('fault', 'no reply on /dev/ttyUSB0');
    await vi.advanceTimersByTimeAsync(9_999);
    expect(summary()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(summary()).toEqual(['device.fault display/panel fault']);
    const fault = events()[0]!;
    expect(fault).toMatchObject({ severity: 'error', lessonId: 'L-42', message: 'display panel fault: no reply on /dev/ttyUSB0' });
    display.set('ok');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(summary()).toEqual(['device.fault display/panel fault', 'device.recovered display/panel ok']);
    lessonId = null;
  });

  it('a device flapping for minutes: one fault and one recovery, with the count of shorter changes', async () => {
    const enc = new ScriptedDevice('encoder', 'hw');
    watchOver([enc], 10_000);
    enc.set('fault');
    await vi.advanceTimersByTimeAsync(12_000); // the fault is reported
    for (let i = 0; i < 30; i++) {
      enc.set('ok');
      await vi.advanceTimersByTimeAsync(3000);
      enc.set('fault');
      await vi.advanceTimersByTimeAsync(3000);
    }
    expect(summary()).toEqual(['device.fault encoder/hw fault']);
    enc.set('ok');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(summary()).toEqual(['device.fault encoder/hw fault', 'device.recovered encoder/hw ok']);
    const back = events()[1]!;
    expect(back.details).toEqual({ suppressedChanges: 30 });
    expect(back.message).toBe('encoder hw is back (ok) (after 30 shorter changes)');
  });

  it('ok ↔ degraded is heartbeat-only; degraded → absent counts as a fault', async () => {
    const a = new ScriptedDevice('storage', 'data');
    watchOver([a], 1000);
    a.set('degraded', 'disk 91% full');
    await vi.advanceTimersByTimeAsync(5000);
    expect(summary()).toEqual([]);
    expect(watch!.devices()).toEqual([{ kind: 'storage', id: 'data', status: 'degraded', detail: 'disk 91% full' }]);
    a.set('absent');
    await vi.advanceTimersByTimeAsync(1000);
    expect(summary()).toEqual(['device.fault storage/data absent']);
  });

  it('a device already broken when the watch starts is reported after the debounce', async () => {
    const up = new ScriptedDevice('uplink', 'wan', 'fault');
    watchOver([up], 2000);
    await vi.advanceTimersByTimeAsync(2000);
    expect(summary()).toEqual(['device.fault uplink/wan fault']);
  });

  it('debounce 0 reports every change at once (the previous behaviour)', async () => {
    const cam = new ScriptedDevice('camera', 'students');
    watchOver([cam], 0);
    cam.set('absent');
    cam.set('ok');
    expect(summary()).toEqual(['device.fault camera/students absent', 'device.recovered camera/students ok']);
  });

  it('stop() drops pending reports', async () => {
    const cam = new ScriptedDevice('camera', 'teacher');
    watchOver([cam], 5000).stop();
    cam.set('absent');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(summary()).toEqual([]);
  });

  it('a USB microphone plugged in and out fifty times within seconds: no events; then unplugged for good: one fault', async () => {
    const bus = new FakeUsbBus();
    const dev = new FakeXmosArray({ ports: [1, 4] });
    bus.plug(dev);
    const mic = new Microphone({ config: { id: 'microphone', controls: {} }, usb: bus, scanMs: 500, lessonCheckMs: 1000 });
    await mic.start();
    watchOver([mic], 10_000);
    let changes = 0;
    mic.onHealthChange(() => changes++);
    for (let i = 0; i < 50; i++) {
      bus.unplug(dev);
      await vi.advanceTimersByTimeAsync(100);
      bus.plug(dev);
      await vi.advanceTimersByTimeAsync(100);
    }
    // The driver saw every drop; the platform hears of none.
    expect(changes).toBe(100);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(summary()).toEqual([]);
    bus.unplug(dev);
    await vi.advanceTimersByTimeAsync(10_500);
    expect(summary()).toEqual(['device.fault microphone/microphone absent']);
    expect(events()[0]!.device!.detail).toContain('no USB microphone connected');
    await mic.stop();
  });
});
