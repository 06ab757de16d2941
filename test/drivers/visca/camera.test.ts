import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../agent/devices.js';
import { Camera } from '../../../drivers/visca/camera.js';
import { ViscaArgumentError, ViscaPoweredOffError } from '../../../drivers/visca/errors.js';
import { healthy, memoryRig, until, type MemoryRig } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function setup(sim: Parameters<typeof memoryRig>[0] = {}, camera: Partial<ConstructorParameters<typeof Camera>[0]> = {}): Promise<MemoryRig & { camera: Camera; events: [DeviceHealth, DeviceHealth][] }> {
  const rig = await memoryRig(sim, {}, false);
  const cam = new Camera({ id: 'teacher', address: 1, bus: rig.bus, pollIntervalMs: 100, slowReplyMs: 2000, ...camera });
  const events: [DeviceHealth, DeviceHealth][] = [];
  cam.onHealthChange((now, before) => events.push([now, before]));
  cleanups.push(async () => {
    await cam.stop();
    await rig.close();
  });
  return { ...rig, camera: cam, events };
}

describe('Camera', () => {
  it('a working camera: ok with the model from the version inquiry, and no event', async () => {
    const { camera, events } = await setup({ version: { vendor: 0x0020, model: 0x0617 } }, { model: 'Sony SRG-300H' });
    expect(camera.health()).toEqual({ kind: 'camera', id: 'teacher', model: 'Sony SRG-300H', status: 'ok', detail: 'not checked yet' });
    await camera.start();
    await until(() => camera.health().model === 'VISCA 0x0020/0x0617', 'model from version inquiry');
    expect(camera.health()).toEqual({ kind: 'camera', id: 'teacher', model: 'VISCA 0x0020/0x0617', status: 'ok' });
    expect(events).toEqual([]);
  });

  it('a camera missing at start raises an event at once', async () => {
    const rig = await memoryRig({}, {}, false);
    cleanups.push(rig.close);
    rig.peer.unplug();
    const camera = new Camera({ id: 'teacher', address: 1, bus: rig.bus, pollIntervalMs: 100 });
    const events: string[] = [];
    camera.onHealthChange((now, before) => events.push(`${before.status}→${now.status}: ${now.detail}`));
    await camera.start();
    cleanups.push(() => camera.stop());
    expect(events).toEqual(['ok→absent: port mem0 is missing']);
  });

  it('a camera that never answers raises a fault naming the port and the tries', async () => {
    const { camera, sim, events } = await setup();
    sim.unplug();
    await camera.start();
    await until(() => camera.health().status === 'fault', 'fault');
    expect(camera.health().detail).toBe('no reply to VISCA version inquiry from camera 1 on mem0 after 3 tries');
    expect(events.map(([now, before]) => `${before.status}→${now.status}`)).toEqual(['ok→fault']);
  });

  it('degraded when replies needed retries, ok again after a clean window', async () => {
    const { camera, sim } = await setup();
    await camera.start();
    await until(() => healthy(camera), 'ok');
    // A lost answer to an inquiry (this one or the poll's) means a retry.
    sim.dropNext(1);
    await camera.powerState();
    await until(() => camera.health().status === 'degraded', 'degraded');
    expect(camera.health().detail).toMatch(/^camera 1 on mem0: 1 of the last \d VISCA exchanges needed retries$/);
    await until(() => healthy(camera), 'ok after a clean window');
  });

  it('degraded when replies are slow', async () => {
    const { camera, sim } = await setup({}, { slowReplyMs: 150 });
    await camera.start();
    await until(() => healthy(camera), 'ok');
    sim.setFaults({ delayMs: 250 });
    await until(() => camera.health().status === 'degraded', 'degraded');
    expect(camera.health().detail).toMatch(/replies slower than 150 ms \(slowest \d+ ms\)/);
    sim.setFaults({});
    await until(() => healthy(camera), 'ok again');
  });

  it('learns standby from its poll and refuses moves without sending them', async () => {
    const { camera, sim } = await setup({ power: 'standby' });
    await camera.start();
    await until(() => healthy(camera), 'ok');
    const sent = sim.received.length;
    await expect(camera.presetRecall(1)).rejects.toBeInstanceOf(ViscaPoweredOffError);
    await expect(camera.move('left')).rejects.toThrow(/in standby: pan-tilt left not sent/);
    expect(sim.received.slice(sent).filter((p) => !p.startsWith('81 09'))).toEqual([]);
    await camera.power(true);
    await camera.move('left', 4);
    await camera.stopMotion();
    expect(sim.camera(1).position().pan).toBeLessThan(0);
  });

  it('presetRecall resolves when the camera has arrived', async () => {
    const { camera, sim } = await setup({ moveSpeed: 4 });
    await camera.start();
    await camera.moveTo(-0x1000, 0x0400);
    await camera.zoomTo(0x2000);
    await camera.presetSave(12);
    expect(sim.camera(1).presets.get(12)).toEqual({ pan: -0x1000, tilt: 0x0400, zoom: 0x2000 });
    await camera.home();
    await camera.presetRecall(12);
    expect(await camera.position()).toEqual({ pan: -0x1000, tilt: 0x0400, zoom: 0x2000 });
    await camera.presetReset(12);
    expect(sim.camera(1).presets.has(12)).toBe(false);
    const info = await camera.info();
    expect(info).toMatchObject({ power: 'on', lastPreset: 12, pan: -0x1000, model: 'VISCA 0x0001/0x0519', maxSocket: 2 });
  });

  it('relative moves and focus modes reach the camera', async () => {
    const { camera, sim } = await setup({ moveSpeed: 10 });
    await camera.start();
    await camera.moveBy(0x0100, -0x0080);
    await camera.moveBy(0x0100, 0);
    expect(sim.camera(1).position()).toMatchObject({ pan: 0x0200, tilt: -0x0080 });
    await camera.focus('manual');
    expect(sim.camera(1).focus).toBe('manual');
    await camera.focus('one-push');
    await camera.focus('auto');
    expect(sim.camera(1).focus).toBe('auto');
    await camera.resetPanTilt();
    expect(sim.camera(1).position()).toMatchObject({ pan: 0, tilt: 0 });
  });

  it('validates arguments with messages naming the camera and port', async () => {
    const { camera, sim } = await setup();
    await camera.start();
    const sent = sim.received.length;
    await expect(camera.presetSave(-1)).rejects.toBeInstanceOf(ViscaArgumentError);
    await expect(camera.move('up', { pan: 1, tilt: 24 })).rejects.toThrow('camera teacher (mem0): tilt speed must be 1–23, got 24');
    await expect(camera.moveTo(0x3000, 0)).rejects.toThrow(/pan position must be -8704–8704/);
    await expect(camera.zoom('tele', 9)).rejects.toThrow(/zoom speed must be 0–7/);
    expect(sim.received.length).toBe(sent);
  });

  it('a tilt speed limit for models that only go to 0x14', async () => {
    const { camera, sim } = await setup({}, { tiltSpeedMax: 0x14 });
    await camera.start();
    await camera.move('up', 0x18);
    await camera.stopMotion();
    expect(sim.received).toContain('81 01 06 01 18 14 03 01 FF');
  });

  it('two cameras on one bus: the bus stays open until the last one stops', async () => {
    const rig = await memoryRig({ cameras: 2 }, {}, false);
    cleanups.push(rig.close);
    const a = new Camera({ id: 'teacher', address: 1, bus: rig.bus, pollIntervalMs: 100 });
    const b = new Camera({ id: 'students', address: 2, bus: rig.bus, pollIntervalMs: 100 });
    await a.start();
    await b.start();
    await until(() => healthy(a) && healthy(b), 'both ok');
    expect(rig.bus.chainLength).toBe(2);
    await b.moveTo(0x0100, 0);
    expect(rig.sim.camera(2).position().pan).toBe(0x0100);
    expect(rig.sim.camera(1).position().pan).toBe(0);
    await a.stop();
    expect(rig.bus.state).toBe('open');
    await b.home();
    await b.stop();
    expect(rig.bus.state).toBe('stopped');
  });
});
