/**
 * The driver's contract: what any VISCA camera reached through any transport must do through
 * the Camera API. Run against the simulator (pty, UDP, TCP) always, and against a real camera
 * when one is connected. Only the public API is used, so the same assertions hold for both;
 * position checks allow a small tolerance for real mechanics.
 *
 * On a real camera this writes preset 15 and moves the camera (it ends at home).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Camera } from '../../../drivers/visca/camera.js';
import { ViscaArgumentError, ViscaCancelledError, ViscaPoweredOffError } from '../../../drivers/visca/errors.js';
import type { DeviceHealth } from '../../../agent/devices.js';

export interface ContractTarget {
  camera: Camera;
  /** Positions are exact on the simulator; a real camera may land a few units off. */
  tolerance: number;
  close(): Promise<void>;
}

const PRESET = 15;

export function viscaContract(name: string, makeTarget: () => Promise<ContractTarget>, skipReason?: string): void {
  if (skipReason) {
    console.log(`skipping VISCA contract "${name}": ${skipReason}`);
  }
  describe.skipIf(skipReason !== undefined)(`VISCA contract: ${name}`, () => {
    let target: ContractTarget;
    let cam: Camera;
    const changes: [DeviceHealth, DeviceHealth][] = [];

    beforeAll(async () => {
      target = await makeTarget();
      cam = target.camera;
      cam.onHealthChange((now, before) => changes.push([now, before]));
      await cam.start();
    });

    afterAll(async () => {
      await cam?.stop();
      await target?.close();
    });

    const near = (actual: number, expected: number): void => {
      expect(Math.abs(actual - expected), `${actual} ≈ ${expected}`).toBeLessThanOrEqual(target.tolerance);
    };

    it('becomes healthy with a model from the version inquiry', async () => {
      const deadline = Date.now() + 15_000;
      // `ok` with no detail: checked, not merely presumed.
      while (cam.health().detail !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // A degraded (slow) reply on a loaded machine still proves the camera answered.
      expect(['ok', 'degraded']).toContain(cam.health().status);
      const info = await cam.info();
      expect(cam.health()).toMatchObject({ kind: 'camera', id: cam.id, model: info.model });
      // Working from the start: no fault, so no change worth an event.
      expect(changes.filter(([now]) => now.status === 'fault' || now.status === 'absent')).toEqual([]);
    });

    it('reports info: version, power and position', async () => {
      if ((await cam.powerState()) === 'standby') await cam.power(true);
      await cam.home();
      await cam.zoomTo(0x0100);
      const info = await cam.info();
      expect(info.model).toMatch(/^VISCA 0x[0-9a-f]{4}\/0x[0-9a-f]{4}$/);
      expect(info.maxSocket).toBeGreaterThanOrEqual(1);
      expect(info.power).toBe('on');
      near(info.pan, 0);
      near(info.tilt, 0);
      near(info.zoom, 0x0100);
      expect(info.port).toBe(cam.port);
      expect(info.address).toBe(cam.address);
    });

    it('moves to an absolute position and back home', async () => {
      await cam.moveTo(0x0300, 0x0100);
      let p = await cam.position();
      near(p.pan, 0x0300);
      near(p.tilt, 0x0100);
      await cam.home();
      p = await cam.position();
      near(p.pan, 0);
      near(p.tilt, 0);
    });

    it('zooms to a position, and tele/stop zooms in', async () => {
      await cam.zoomTo(0x0800);
      near((await cam.position()).zoom, 0x0800);
      await cam.zoom('tele', 7);
      await new Promise((r) => setTimeout(r, 150));
      await cam.zoom('stop');
      const z = (await cam.position()).zoom;
      expect(z).toBeGreaterThan(0x0800);
      await cam.zoomTo(0);
    });

    it('drives right then stops', async () => {
      await cam.home();
      await cam.move('right', 0x0c);
      await new Promise((r) => setTimeout(r, 200));
      await cam.stopMotion();
      const a = (await cam.position()).pan;
      expect(a).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
      // Stopped: it stays put.
      near((await cam.position()).pan, a);
    });

    it('saves, recalls (resolving on arrival) and resets a preset', async () => {
      await cam.moveTo(-0x0400, 0x0200);
      await cam.zoomTo(0x0400);
      await cam.presetSave(PRESET);
      await cam.home();
      await cam.zoomTo(0);
      await cam.presetRecall(PRESET);
      const p = await cam.position();
      near(p.pan, -0x0400);
      near(p.tilt, 0x0200);
      near(p.zoom, 0x0400);
      await cam.presetReset(PRESET);
      await cam.home();
    });

    it('cancels a preset recall in progress', async () => {
      await cam.moveTo(0x2000, 0);
      await cam.presetSave(PRESET);
      await cam.moveTo(-0x2000, 0);
      const abort = new AbortController();
      const recall = cam.presetRecall(PRESET, { signal: abort.signal });
      // Once it is on the wire: the cancel goes out as soon as the ACK names its socket.
      setImmediate(() => abort.abort());
      await expect(recall).rejects.toBeInstanceOf(ViscaCancelledError);
      const pan = (await cam.position()).pan;
      expect(pan).toBeLessThan(0x2000 - target.tolerance);
      await cam.presetReset(PRESET);
      await cam.home();
    });

    it('validates arguments before anything is sent', async () => {
      await expect(cam.presetRecall(255)).rejects.toBeInstanceOf(ViscaArgumentError);
      await expect(cam.move('up', 25)).rejects.toThrow(/speed must be 1–24/);
      await expect(cam.zoomTo(0x4001)).rejects.toThrow(/zoom position/);
    });

    it('in standby refuses moves without sending them, and powers on again', async () => {
      await cam.power(false);
      expect(await cam.powerState()).toBe('standby');
      await expect(cam.home()).rejects.toBeInstanceOf(ViscaPoweredOffError);
      await cam.power(true);
      expect(await cam.powerState()).toBe('on');
      await cam.home();
    });
  });
}
