/**
 * Cameras for provisioning and diagnostics, through drivers/visca only: find VISCA cameras on a
 * serial port (Address Set numbers the daisy chain, then each address answers the version and
 * power inquiries), check that a camera moves and comes back to where it was, and check the
 * cameras a config names.
 *
 * Serial probes are a list: a port is offered to each probe in turn until one recognises what is
 * on it. VISCA comes first; the display's RS-232 probe (display.ts) follows it, so a panel is
 * looked for only on ports where no camera answered.
 */
import { Camera, type CameraInfo } from '../drivers/visca/camera.js';
import { PAN_MAX, PAN_MIN } from '../drivers/visca/codec.js';
import { createCameras, type CameraConfig } from '../drivers/visca/config.js';
import { ViscaController } from '../drivers/visca/controller.js';
import { ViscaBusError, ViscaTimeoutError } from '../drivers/visca/errors.js';
import { BAUD_RATES, SerialTransport, type BaudRate } from '../drivers/visca/serial.js';
import { errorMessage } from '../agent/errors.js';
import type { SerialPortInfo } from './detect.js';
import type { FoundDisplay } from './display.js';

export interface FoundCamera {
  port: string;
  baudRate: BaudRate;
  address: number;
  model: string;
  power: string;
  pan: number;
  tilt: number;
  zoom: number;
}

export interface SerialProbeResult {
  kind: string;
  /** One line for the checklist. */
  summary: string;
  cameras?: FoundCamera[];
  display?: FoundDisplay;
}

/** Something that can tell whether a serial port has its kind of device on it. */
export interface SerialProbe {
  kind: string;
  /** Resolves undefined when the port has none of this probe's devices. */
  probe(port: SerialPortInfo): Promise<SerialProbeResult | undefined>;
}

export interface ViscaProbeOptions {
  /** Tried in order until a camera answers; 9600 first (the factory setting of most cameras). */
  baudRates?: readonly BaudRate[];
  ackTimeoutMs?: number;
}

async function withBus<T>(path: string, baudRate: BaudRate, ackTimeoutMs: number, fn: (bus: ViscaController) => Promise<T>): Promise<T> {
  const bus = new ViscaController({ transport: new SerialTransport({ path, baudRate }), reconnect: false, ackTimeoutMs, tries: 2, reopenAfterTimeouts: 0 });
  await bus.start();
  try {
    return await fn(bus);
  } finally {
    await bus.stop();
  }
}

/** VISCA cameras on a serial port (a chain of up to 7). */
export function viscaSerialProbe(opts: ViscaProbeOptions = {}): SerialProbe {
  const bauds = opts.baudRates ?? [9600, ...BAUD_RATES.filter((b) => b !== 9600)];
  const ackTimeoutMs = opts.ackTimeoutMs ?? 400;
  return {
    kind: 'visca-camera',
    async probe(port) {
      for (const baudRate of bauds) {
        const cameras = await withBus(port.path, baudRate, ackTimeoutMs, async (bus) => {
          const n = await bus.addressSet().catch(() => 0);
          const found: FoundCamera[] = [];
          for (let address = 1; address <= n; address++) {
            const info: CameraInfo = await new Camera({ id: `probe${address}`, address, bus }).info();
            found.push({ port: port.path, baudRate, address, model: info.model, power: info.power, pan: info.pan, tilt: info.tilt, zoom: info.zoom });
          }
          return found;
        });
        if (cameras.length) {
          return {
            kind: 'visca-camera',
            summary: `${cameras.length} VISCA camera${cameras.length === 1 ? '' : 's'} at ${baudRate} baud (${cameras.map((c) => `${c.address}: ${c.model}`).join(', ')})`,
            cameras,
          };
        }
      }
      return undefined;
    },
  };
}

export interface MoveCheck {
  ok: boolean;
  detail: string;
}

/**
 * Moves the camera a little to one side and back: it must reach the new position and then
 * return to where it was (within `tolerance` position units; cameras round to their steps).
 */
export async function checkCameraMoves(camera: Camera, delta = 0x200, tolerance = 4): Promise<MoveCheck> {
  const start = await camera.position();
  const target = start.pan + delta <= PAN_MAX ? start.pan + delta : Math.max(PAN_MIN, start.pan - delta);
  await camera.moveTo(target, start.tilt);
  const moved = await camera.position();
  await camera.moveTo(start.pan, start.tilt);
  const back = await camera.position();
  if (Math.abs(moved.pan - target) > tolerance) {
    return { ok: false, detail: `asked to pan to ${target}, it reported ${moved.pan} (from ${start.pan})` };
  }
  if (Math.abs(back.pan - start.pan) > tolerance || Math.abs(back.tilt - start.tilt) > tolerance) {
    return { ok: false, detail: `did not return: started at pan ${start.pan} tilt ${start.tilt}, ended at pan ${back.pan} tilt ${back.tilt}` };
  }
  return { ok: true, detail: `panned ${start.pan} → ${moved.pan} and back to ${back.pan} (tilt ${back.tilt})` };
}

/** The camera move check for a camera found on a serial port. */
export async function checkFoundCameraMoves(found: FoundCamera, ackTimeoutMs = 400): Promise<MoveCheck> {
  return withBus(found.port, found.baudRate, ackTimeoutMs, (bus) => checkCameraMoves(new Camera({ id: 'check', address: found.address, bus })));
}

export type ConfiguredCameraCheck =
  | { id: string; ok: true; info: CameraInfo; move?: MoveCheck }
  | { id: string; ok: false; missing: boolean; where: string; error: string };

/**
 * Checks each configured camera: its port opens, it answers, and (with `move`) it moves and
 * returns. Ports must be free: with the agent running, ask it instead (it holds the ports).
 */
export async function checkConfiguredCameras(configs: readonly CameraConfig[], opts: { move?: boolean; ackTimeoutMs?: number } = {}): Promise<ConfiguredCameraCheck[]> {
  const cameras = createCameras(configs, { bus: { reconnect: false, ackTimeoutMs: opts.ackTimeoutMs ?? 500, tries: 2, reopenAfterTimeouts: 0 } });
  const results: ConfiguredCameraCheck[] = [];
  for (const camera of cameras) {
    const where = `${camera.port} address ${camera.address}`;
    try {
      await camera.bus.start();
    } catch (e) {
      const missing = e instanceof ViscaBusError && e.absent;
      results.push({ id: camera.id, ok: false, missing, where, error: errorMessage(e) });
      continue;
    }
    try {
      const info = await camera.info();
      const move = opts.move ? await checkCameraMoves(camera) : undefined;
      results.push({ id: camera.id, ok: true, info, ...(move ? { move } : {}) });
    } catch (e) {
      results.push({ id: camera.id, ok: false, missing: false, where, error: e instanceof ViscaTimeoutError ? `no answer (${e.message})` : errorMessage(e) });
    } finally {
      await camera.bus.stop();
    }
  }
  return results;
}
