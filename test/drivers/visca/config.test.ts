import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../agent/errors.js';
import type { Camera } from '../../../drivers/visca/camera.js';
import { cameraConfigSchema, camerasConfigSchema, createCameras, type CameraConfig } from '../../../drivers/visca/config.js';
import { createMemoryLink } from '../../../drivers/visca/memory.js';
import { ViscaSimulator } from '../../../drivers/visca/simulator.js';
import { PtyPair } from '../../support/pty.js';
import { healthy, until } from './helpers.js';

const ajv = new Ajv2020({ allErrors: true, useDefaults: false });
const validate = ajv.compile(cameraConfigSchema);
const validateList = ajv.compile(camerasConfigSchema);

describe('camera config schema', () => {
  it('accepts each transport', () => {
    const good: CameraConfig[] = [
      { id: 'teacher', transport: { type: 'serial', path: '/dev/serial/by-id/usb-FTDI_FT232R-if00-port0' } },
      { id: 'students', address: 2, model: 'Sony SRG-300H', presetSpeed: 12, transport: { type: 'serial', path: '/dev/ttyUSB0', baudRate: 38400 } },
      { id: 'board_1', address: 1, transport: { type: 'visca-ip', host: '192.168.1.20', port: 52381 } },
      { id: 'ptz-3', transport: { type: 'tcp', host: 'cam3.local' } },
    ];
    for (const c of good) expect(validate(c), JSON.stringify(validate.errors)).toBe(true);
    expect(validateList(good)).toBe(true);
  });

  it('refuses bad values', () => {
    const bad: unknown[] = [
      { id: 'Teacher', transport: { type: 'serial', path: '/dev/ttyUSB0' } },
      { id: 'a'.repeat(33), transport: { type: 'serial', path: '/dev/ttyUSB0' } },
      { id: 'teacher', address: 8, transport: { type: 'serial', path: '/dev/ttyUSB0' } },
      { id: 'teacher', presetSpeed: 25, transport: { type: 'serial', path: '/dev/ttyUSB0' } },
      { id: 'teacher', transport: { type: 'serial', path: '/dev/ttyUSB0', baudRate: 4800 } },
      { id: 'teacher', transport: { type: 'serial' } },
      { id: 'teacher', transport: { type: 'usb', path: '/dev/ttyUSB0' } },
      { id: 'teacher', address: 2, transport: { type: 'visca-ip', host: '10.0.0.2' } },
      { id: 'teacher', transport: { type: 'tcp', host: '10.0.0.2', port: 70000 } },
      { id: 'teacher', extra: true, transport: { type: 'tcp', host: '10.0.0.2' } },
      { transport: { type: 'tcp', host: '10.0.0.2' } },
    ];
    for (const c of bad) expect(validate(c), JSON.stringify(c)).toBe(false);
  });
});

describe('createCameras', () => {
  it('shares one bus per serial path (daisy chain) and per TCP endpoint', () => {
    const cams = createCameras([
      { id: 'teacher', address: 1, transport: { type: 'serial', path: '/dev/serial/by-id/chain' } },
      { id: 'students', address: 2, transport: { type: 'serial', path: '/dev/serial/by-id/chain' } },
      { id: 'board', transport: { type: 'serial', path: '/dev/serial/by-id/other' } },
      { id: 'ip', transport: { type: 'visca-ip', host: '10.0.0.9' } },
      { id: 'tcp1', address: 1, transport: { type: 'tcp', host: '10.0.0.8' } },
      { id: 'tcp2', address: 2, transport: { type: 'tcp', host: '10.0.0.8', port: 5678 } },
    ]);
    const [teacher, students, board, ip, tcp1, tcp2] = cams;
    expect(cams.map((c) => c.id)).toEqual(['teacher', 'students', 'board', 'ip', 'tcp1', 'tcp2']);
    expect(teacher?.bus).toBe(students?.bus);
    expect(board?.bus).not.toBe(teacher?.bus);
    expect(tcp1?.bus).toBe(tcp2?.bus);
    expect(ip?.port).toBe('10.0.0.9:52381');
    expect(tcp1?.port).toBe('10.0.0.8:5678');
    expect(students?.address).toBe(2);
    expect(ip?.bus.transportKind).toBe('visca-ip');
  });

  it('lists every cross-camera problem', () => {
    let error: unknown;
    try {
      createCameras([
        { id: 'teacher', transport: { type: 'serial', path: '/dev/a' } },
        { id: 'teacher', address: 1, transport: { type: 'serial', path: '/dev/a', baudRate: 19200 } },
        { id: 'ip', address: 3, transport: { type: 'visca-ip', host: 'h' } },
      ]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'cameras[1].id: "teacher" is used by another camera',
      'cameras[1].transport.baudRate: 19200 differs from another camera on the same port (9600)',
      'cameras[1].address: 1 is already camera "teacher" on /dev/a',
      'cameras[2].address: VISCA over IP cameras are always address 1',
    ]);
  });

  it('simulate mode: a transport override joins the cameras to an in-process simulator', async () => {
    const sim = new ViscaSimulator({ cameras: 2, moveSpeed: 20 });
    const cams = createCameras(
      [
        { id: 'teacher', address: 1, transport: { type: 'serial', path: '/dev/serial/by-id/not-here' } },
        { id: 'students', address: 2, transport: { type: 'serial', path: '/dev/serial/by-id/not-here' } },
      ],
      {
        camera: { pollIntervalMs: 200 },
        transport: (t) => {
          if (t.type !== 'serial') return undefined;
          const { transport, peer } = createMemoryLink(t.path);
          sim.attachMemory(peer);
          return transport;
        },
      },
    );
    try {
      for (const c of cams) await c.start();
      await until(() => cams.every(healthy), 'both ok');
      expect(cams.map((c) => c.health().model)).toEqual(['VISCA 0x0001/0x0519', 'VISCA 0x0001/0x0519']);
      await cams[1]?.presetRecall(0);
      expect(sim.camera(2).lastPreset).toBe(0);
    } finally {
      for (const c of cams) await c.stop();
      await sim.close();
    }
  });

  describe('a daisy chain of two through a pty', () => {
    let pty: PtyPair | undefined;
    let sim: ViscaSimulator | undefined;
    let cams: Camera[] = [];

    afterAll(async () => {
      for (const c of cams) await c.stop();
      await sim?.close();
      await pty?.dispose();
    });

    it('both cameras become ok and move independently', async () => {
      pty = await PtyPair.create();
      sim = new ViscaSimulator({ cameras: 2, moveSpeed: 20 });
      await sim.attachSerial(pty.b);
      cams = createCameras(
        [
          { id: 'teacher', address: 1, transport: { type: 'serial', path: pty.a } },
          { id: 'students', address: 2, transport: { type: 'serial', path: pty.a } },
        ],
        { bus: { ackTimeoutMs: 500 }, camera: { pollIntervalMs: 500, slowReplyMs: 2000 } },
      );
      for (const c of cams) await c.start();
      await until(() => cams.every(healthy), 'both cameras ok');
      await cams[1]?.moveTo(-0x0200, 0x0100);
      await cams[0]?.zoomTo(0x0300);
      expect(sim.camera(2).position()).toEqual({ pan: -0x0200, tilt: 0x0100, zoom: 0 });
      expect(sim.camera(1).position()).toEqual({ pan: 0, tilt: 0, zoom: 0x0300 });
      expect(cams[0]?.bus.chainLength).toBe(2);
    });
  });
});
