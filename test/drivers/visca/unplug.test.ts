import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../agent/devices.js';
import { Camera } from '../../../drivers/visca/camera.js';
import { ViscaController } from '../../../drivers/visca/controller.js';
import { createMemoryLink } from '../../../drivers/visca/memory.js';
import { SerialTransport } from '../../../drivers/visca/serial.js';
import { ViscaSimulator } from '../../../drivers/visca/simulator.js';
import { ViscaIpTransport } from '../../../drivers/visca/visca-ip.js';
import { PtyPair } from '../../support/pty.js';
import { healthy, until } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function watch(camera: Camera): { events: { to: string; from: string; detail?: string }[] } {
  const events: { to: string; from: string; detail?: string }[] = [];
  camera.onHealthChange((now: DeviceHealth, before: DeviceHealth) => events.push({ to: now.status, from: before.status, ...(now.detail ? { detail: now.detail } : {}) }));
  return { events };
}

const BUS = { ackTimeoutMs: 300, reconnectMinMs: 100, reconnectMaxMs: 400 } as const;

describe('unplug and replug', () => {
  it('serial: socat killed → absent, restarted → ok, with an event each', async () => {
    const pty = await PtyPair.create();
    const sim = new ViscaSimulator({ moveSpeed: 10 });
    cleanups.push(async () => {
      await sim.close();
      await pty.dispose();
    });
    await sim.attachSerial(pty.b);
    const bus = new ViscaController({ ...BUS, transport: new SerialTransport({ path: pty.a }) });
    const camera = new Camera({ id: 'teacher', address: 1, bus, pollIntervalMs: 300, slowReplyMs: 2000 });
    cleanups.push(() => camera.stop());
    const { events } = watch(camera);
    await camera.start();
    await until(() => healthy(camera), 'camera ok');
    expect(camera.health().model).toBe('VISCA 0x0001/0x0519');

    await pty.kill();
    await until(() => camera.health().status === 'absent', 'camera absent after unplug');
    expect(camera.health().detail).toBe(`serial port ${pty.a} is missing`);
    expect(bus.state).toBe('absent');
    // While absent, commands fail at once and name the port.
    await expect(camera.home()).rejects.toThrow(`home not sent to camera 1: VISCA bus ${pty.a} is absent`);

    await pty.start();
    await sim.attachSerial(pty.b);
    await until(() => healthy(camera), 'camera ok after replug', 20_000);
    await camera.home();
    expect(events.map((e) => `${e.from}→${e.to}`)).toEqual(['ok→absent', 'absent→ok']);
  });

  it('serial: a camera that stops answering → fault naming the port and tries, then recovers', async () => {
    const pty = await PtyPair.create();
    const sim = new ViscaSimulator({ moveSpeed: 10 });
    cleanups.push(async () => {
      await sim.close();
      await pty.dispose();
    });
    await sim.attachSerial(pty.b);
    const bus = new ViscaController({ ...BUS, transport: new SerialTransport({ path: pty.a }) });
    const camera = new Camera({ id: 'teacher', address: 1, bus, pollIntervalMs: 200, slowReplyMs: 2000 });
    cleanups.push(() => camera.stop());
    const { events } = watch(camera);
    await camera.start();
    await until(() => healthy(camera), 'camera ok');

    sim.unplug();
    await until(() => camera.health().status === 'fault', 'camera fault', 20_000);
    expect(camera.health().detail).toMatch(new RegExp(`^no reply to VISCA (power|version) inquiry from camera 1 on ${pty.a} after 3 tries$`));

    sim.replug();
    await until(() => healthy(camera), 'camera ok again', 20_000);
    expect(events.map((e) => `${e.from}→${e.to}`)).toEqual(['ok→fault', 'fault→ok']);
  });

  it('VISCA over IP: silence → fault, answers again → ok', async () => {
    const sim = new ViscaSimulator({ moveSpeed: 10 });
    cleanups.push(() => sim.close());
    const port = await sim.listenUdp(0);
    const bus = new ViscaController({ ...BUS, transport: new ViscaIpTransport({ host: '127.0.0.1', port, resetTimeoutMs: 200 }) });
    const camera = new Camera({ id: 'student', address: 1, bus, pollIntervalMs: 200, slowReplyMs: 2000 });
    cleanups.push(() => camera.stop());
    await camera.start();
    await until(() => healthy(camera), 'camera ok');
    sim.unplug();
    await until(() => camera.health().status === 'fault', 'camera fault', 20_000);
    expect(camera.health().detail).toMatch(/on 127\.0\.0\.1:\d+ after 3 tries/);
    sim.replug();
    await until(() => healthy(camera), 'camera ok again', 20_000);
  });

  it('in memory: the port vanishes while a preset recall runs; the recall fails at once', async () => {
    const { transport, peer } = createMemoryLink('/dev/serial/by-id/usb-test-if00');
    const sim = new ViscaSimulator({ moveSpeed: 0.2 });
    const detach = sim.attachMemory(peer);
    cleanups.push(async () => {
      detach();
      await sim.close();
    });
    const bus = new ViscaController({ ...BUS, transport });
    const camera = new Camera({ id: 'teacher', address: 1, bus, pollIntervalMs: 200 });
    cleanups.push(() => camera.stop());
    await camera.start();
    await until(() => healthy(camera), 'camera ok');
    sim.camera(1).presets.set(1, { pan: 0x2000, tilt: 0, zoom: 0 });
    const recall = camera.presetRecall(1);
    await until(() => sim.camera(1).busySockets.length === 1, 'recall running');
    peer.unplug();
    await expect(recall).rejects.toThrow('VISCA bus /dev/serial/by-id/usb-test-if00 disconnected');
    await until(() => camera.health().status === 'absent', 'absent');
    peer.replug();
    await until(() => healthy(camera), 'ok after replug');
    expect(bus.pending).toBe(0);
  });
});
