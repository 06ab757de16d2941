/**
 * `lectern camera …` (a technician drives one camera by hand) and `lectern sim camera …` (a
 * simulated camera or chain for a kit without hardware). The entry point assembles these.
 *
 * Errors leave the action as exceptions whose message names the port and the camera's error;
 * the entry point prints them and exits non-zero. Bad arguments are refused by commander with
 * a message saying what is allowed.
 */
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { Camera, type CameraInfo } from './camera.js';
import { DIRECTIONS, PAN_SPEED_MAX, PRESET_MAX, VISCA_IP_PORT, VISCA_TCP_PORT, ZOOM_MAX, ZOOM_SPEED_MAX, type Direction } from './codec.js';
import { ViscaController } from './controller.js';
import { ViscaError } from './errors.js';
import { BAUD_RATES, SerialTransport, type BaudRate } from './serial.js';
import { ViscaSimulator, type SimFaults, type SimQuirks } from './simulator.js';
import { createSocatPair, type PtyPairHandle } from './socat.js';
import { TcpTransport } from './tcp.js';
import { parseHostPort, type ViscaTransport } from './transport.js';
import { ViscaIpTransport } from './visca-ip.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

// ---------------------------------------------------------------------------------------------
// Argument parsers: each refuses a bad value with what is allowed
// ---------------------------------------------------------------------------------------------

function intIn(what: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be an integer ${min}–${max}.`);
    return n;
  };
}

function probability(value: string): number {
  const p = Number(value);
  if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError('must be a probability 0–1.');
  return p;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number.');
  return n;
}

function hostPort(defaultPort: number, allowZero = false): (value: string) => { host: string; port: number } {
  return (value) => {
    try {
      return parseHostPort(value, defaultPort, { allowZero });
    } catch (e) {
      throw new InvalidArgumentError(`${e instanceof Error ? e.message : String(e)}.`);
    }
  };
}

const parseAddress = intIn('address', 1, 7);
const parseSpeed = intIn('speed', 1, PAN_SPEED_MAX);
const parsePreset = intIn('preset', 0, PRESET_MAX);

function parseBaud(value: string): BaudRate {
  const n = Number(value);
  if (!(BAUD_RATES as readonly number[]).includes(n)) throw new InvalidArgumentError(`baud rate must be one of ${BAUD_RATES.join(', ')}.`);
  return n as BaudRate;
}

// ---------------------------------------------------------------------------------------------
// lectern camera
// ---------------------------------------------------------------------------------------------

interface CameraCliOptions {
  port?: string;
  udp?: { host: string; port: number };
  tcp?: { host: string; port: number };
  address: number;
  baud: BaudRate;
  timeout: number;
  json?: boolean;
}

function transportFor(cmd: Command, o: CameraCliOptions): ViscaTransport {
  const chosen = [o.port, o.udp, o.tcp].filter((x) => x !== undefined).length;
  if (chosen !== 1) cmd.error('error: give exactly one of --port PATH, --udp HOST[:PORT] or --tcp HOST[:PORT]', { exitCode: 2, code: 'lectern.camera.transport' });
  if (o.port !== undefined) return new SerialTransport({ path: o.port, baudRate: o.baud });
  if (o.udp) return new ViscaIpTransport({ host: o.udp.host, port: o.udp.port });
  if (o.tcp) return new TcpTransport({ host: o.tcp.host, port: o.tcp.port });
  throw new Error('unreachable');
}

/** Open the bus, run `fn` on the camera, close; print the result as text or JSON. */
async function withCamera<T>(cmd: Command, io: CliIo, fn: (camera: Camera, bus: ViscaController) => Promise<T>, text: (result: T, camera: Camera) => string): Promise<void> {
  const o = cmd.optsWithGlobals<CameraCliOptions>();
  const transport = transportFor(cmd, o);
  if (o.udp && o.address !== 1) cmd.error('error: a VISCA over IP camera is always address 1', { exitCode: 2, code: 'lectern.camera.address' });
  const bus = new ViscaController({ transport, ackTimeoutMs: o.timeout, reconnect: false, reopenAfterTimeouts: 0 });
  const camera = new Camera({ id: 'cli', address: o.address, bus });
  try {
    await bus.start();
    const result = await fn(camera, bus);
    io.out(o.json ? `${JSON.stringify({ ok: true, port: bus.name, address: o.address, result: result ?? null })}\n` : `${text(result, camera)}\n`);
  } catch (e) {
    if (o.json) {
      io.out(`${JSON.stringify({ ok: false, port: transport.name, address: o.address, error: e instanceof Error ? e.message : String(e) })}\n`);
    }
    if (e instanceof ViscaError) throw e;
    throw new ViscaError(`camera ${o.address} on ${transport.name}: ${e instanceof Error ? e.message : String(e)}`, transport.name, o.address, { cause: e });
  } finally {
    await bus.stop();
  }
}

function hex4(n: number): string {
  return `${n < 0 ? '-' : ''}0x${Math.abs(n).toString(16).padStart(4, '0')}`;
}

function infoText(info: CameraInfo): string {
  return [
    `camera ${info.address} on ${info.port}: ${info.model} (ROM ${hex4(info.rom)}, ${info.maxSocket} sockets)`,
    `power: ${info.power}`,
    `pan: ${info.pan} (${hex4(info.pan)})  tilt: ${info.tilt} (${hex4(info.tilt)})  zoom: ${info.zoom} (${hex4(info.zoom)})`,
    ...(info.lastPreset !== undefined ? [`last preset: ${info.lastPreset}`] : []),
  ].join('\n');
}

function where(camera: Camera): string {
  return `camera ${camera.address} on ${camera.port}`;
}

/** Adds `lectern camera` with its subcommands to `program`. */
export function registerCameraCommands(program: Command, io: CliIo = processIo): Command {
  const camera = program
    .command('camera')
    .description('drive a PTZ camera over VISCA by hand (serial, VISCA over IP, or raw TCP)')
    .option('--port <path>', 'serial port, e.g. /dev/serial/by-id/usb-FTDI_…-if00-port0')
    .option('--udp <host[:port]>', `Sony VISCA over IP camera (UDP, default port ${VISCA_IP_PORT})`, hostPort(VISCA_IP_PORT))
    .option('--tcp <host[:port]>', `raw VISCA over TCP (PTZOptics style, default port ${VISCA_TCP_PORT})`, hostPort(VISCA_TCP_PORT))
    .option('--address <n>', 'camera address on the daisy chain, 1–7', parseAddress, 1)
    .option('--baud <rate>', `serial speed: ${BAUD_RATES.join(', ')}`, parseBaud, 9600 as BaudRate)
    .option('--timeout <ms>', 'wait this long for each reply before retrying', intIn('timeout', 50, 60_000), 500)
    .option('--json', 'print the result as JSON');

  camera
    .command('info')
    .description('vendor, model and ROM version, power, pan/tilt/zoom position')
    .action(async (_opts: unknown, cmd: Command) => {
      await withCamera(cmd, io, (cam) => cam.info(), infoText);
    });

  camera
    .command('power')
    .description('power the camera on or put it in standby')
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .action(async (state: 'on' | 'off', _opts: unknown, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          await cam.power(state === 'on');
          return { power: state === 'on' ? 'on' : 'standby' };
        },
        (_r, cam) => `${where(cam)}: power ${state === 'on' ? 'on' : 'standby'}`,
      );
    });

  camera
    .command('move')
    .description('start moving in a direction (until `stop`)')
    .addArgument(new Argument('<direction>', 'where to').choices(DIRECTIONS))
    .option('--speed <n>', `pan speed 1–${PAN_SPEED_MAX} (tilt uses the same, at most its own maximum)`, parseSpeed, 0x0c)
    .action(async (direction: Direction, opts: { speed: number }, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          await cam.move(direction, opts.speed);
          return { moving: direction, speed: opts.speed };
        },
        (_r, cam) => `${where(cam)}: moving ${direction} at speed ${opts.speed}; \`lectern camera stop\` stops it`,
      );
    });

  camera
    .command('stop')
    .description('stop pan and tilt motion')
    .action(async (_opts: unknown, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          await cam.stopMotion();
          return { stopped: true };
        },
        (_r, cam) => `${where(cam)}: stopped`,
      );
    });

  camera
    .command('zoom')
    .description(`zoom in (tele), out (wide), stop, or go to POSITION 0–${ZOOM_MAX} (decimal or 0x…)`)
    .argument('<action>', 'tele, wide, stop or a position', (value: string) => {
      if (value === 'tele' || value === 'wide' || value === 'stop') return value;
      return intIn('zoom position', 0, ZOOM_MAX)(value);
    })
    .option('--speed <p>', `variable zoom speed 0–${ZOOM_SPEED_MAX} for tele/wide`, intIn('zoom speed', 0, ZOOM_SPEED_MAX))
    .action(async (action: 'tele' | 'wide' | 'stop' | number, opts: { speed?: number }, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          if (typeof action === 'number') {
            await cam.zoomTo(action);
            return { zoom: action };
          }
          await cam.zoom(action, action === 'stop' ? undefined : opts.speed);
          return { zoom: action };
        },
        (_r, cam) => `${where(cam)}: ${typeof action === 'number' ? `zoomed to ${action}` : `zoom ${action}`}`,
      );
    });

  camera
    .command('home')
    .description('move to the home position (resolves when there)')
    .action(async (_opts: unknown, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          await cam.home();
          return { home: true };
        },
        (_r, cam) => `${where(cam)}: at home`,
      );
    });

  camera
    .command('preset')
    .description(`recall, save or reset preset N (0–${PRESET_MAX}; older models 0–15)`)
    .addArgument(new Argument('<action>', 'what to do').choices(['recall', 'save', 'reset']))
    .argument('<n>', 'preset number', parsePreset)
    .action(async (action: 'recall' | 'save' | 'reset', n: number, _opts: unknown, cmd: Command) => {
      await withCamera(
        cmd,
        io,
        async (cam) => {
          if (action === 'recall') await cam.presetRecall(n);
          else if (action === 'save') await cam.presetSave(n);
          else await cam.presetReset(n);
          return { preset: n, action };
        },
        (_r, cam) => `${where(cam)}: preset ${n} ${action === 'recall' ? 'recalled' : action === 'save' ? 'saved' : 'reset'}`,
      );
    });

  camera
    .command('address-set')
    .description('number the cameras on the daisy chain (Address Set) and report how many answered')
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<CameraCliOptions>();
      if (o.udp) cmd.error('error: VISCA over IP has no Address Set (the camera is always address 1)', { exitCode: 2, code: 'lectern.camera.address-set' });
      await withCamera(
        cmd,
        io,
        async (_cam, bus) => ({ cameras: await bus.addressSet() }),
        (r, cam) => `${cam.port}: ${r.cameras} camera${r.cameras === 1 ? '' : 's'} on the chain (addresses 1–${r.cameras})`,
      );
    });

  return camera;
}

// ---------------------------------------------------------------------------------------------
// lectern sim camera
// ---------------------------------------------------------------------------------------------

export interface SimCameraCliOptions {
  pty?: string;
  createPty?: string;
  udp?: { host: string; port: number };
  tcp?: { host: string; port: number };
  cameras: number;
  moveSpeed: number;
  bootMs?: number;
  standby?: boolean;
  drop?: number;
  noise?: number;
  split?: number;
  delay?: number;
  quirk?: string[];
}

export interface RunningSimCamera {
  simulator: ViscaSimulator;
  /** Where the driver should connect, one line each. */
  endpoints: string[];
  close(): Promise<void>;
}

const QUIRKS: Record<string, keyof SimQuirks> = {
  'completion-without-ack': 'completionWithoutAck',
  'reuse-socket': 'reuseSocket',
};

/** Start the simulator as the options say; the caller decides how long it runs. */
export async function startSimCamera(o: SimCameraCliOptions): Promise<RunningSimCamera> {
  if (!o.pty && !o.createPty && !o.udp && !o.tcp) throw new ViscaError('give at least one of --pty, --create-pty, --udp or --tcp', '', undefined);
  if (o.pty && o.createPty) throw new ViscaError('give --pty or --create-pty, not both', '', undefined);
  const faults: SimFaults = {
    ...(o.drop !== undefined ? { drop: o.drop } : {}),
    ...(o.noise !== undefined ? { noise: o.noise } : {}),
    ...(o.split !== undefined ? { split: o.split } : {}),
    ...(o.delay !== undefined ? { delayMs: o.delay } : {}),
  };
  const quirks: SimQuirks = {};
  for (const q of o.quirk ?? []) {
    const key = QUIRKS[q];
    if (!key) throw new ViscaError(`unknown quirk "${q}"; known: ${Object.keys(QUIRKS).join(', ')}`, '', undefined);
    quirks[key] = true;
  }
  const sim = new ViscaSimulator({
    cameras: o.cameras,
    moveSpeed: o.moveSpeed,
    ...(o.bootMs !== undefined ? { bootMs: o.bootMs } : {}),
    power: o.standby ? 'standby' : 'on',
    faults,
    quirks,
  });
  const endpoints: string[] = [];
  let pair: PtyPairHandle | undefined;
  try {
    if (o.createPty) {
      const driverPath = isAbsolute(o.createPty) ? o.createPty : resolvePath(o.createPty);
      pair = await createSocatPair(driverPath, `${driverPath}.sim`);
      await sim.attachSerial(pair.devicePath);
      endpoints.push(`serial: open ${pair.driverPath} (the simulator holds ${pair.devicePath})`);
    }
    if (o.pty) {
      await sim.attachSerial(o.pty);
      endpoints.push(`serial: simulator on ${o.pty}; open the other end of the pair`);
    }
    if (o.udp) {
      const port = await sim.listenUdp(o.udp.port, o.udp.host);
      endpoints.push(`visca-ip: udp ${o.udp.host}:${port}`);
    }
    if (o.tcp) {
      const port = await sim.listenTcp(o.tcp.port, o.tcp.host);
      endpoints.push(`tcp: ${o.tcp.host}:${port}`);
    }
  } catch (e) {
    await sim.close();
    await pair?.close();
    throw e;
  }
  return {
    simulator: sim,
    endpoints,
    close: async () => {
      await sim.close();
      await pair?.close();
    },
  };
}

/** Resolves on SIGINT/SIGTERM or when `signal` aborts. */
function untilStopped(signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

/** Adds `sim camera` to the `sim` command. `signal` lets a test end it instead of a signal. */
export function registerSimCamera(sim: Command, io: CliIo = processIo, signal?: AbortSignal): Command {
  return sim
    .command('camera')
    .description('simulated VISCA PTZ camera(s) on a pty, UDP (VISCA over IP) and/or TCP')
    .option('--pty <path>', 'serve on this serial device (e.g. one end of a socat pty pair)')
    .option('--create-pty <link>', 'create a socat pty pair: the driver opens LINK, the simulator LINK.sim')
    .option('--udp <host:port>', 'serve Sony VISCA over IP on UDP (port 0: any free port)', hostPort(VISCA_IP_PORT, true))
    .option('--tcp <host:port>', 'serve raw VISCA on TCP (port 0: any free port)', hostPort(VISCA_TCP_PORT, true))
    .option('--cameras <n>', 'cameras on the daisy chain, 1–7', intIn('cameras', 1, 7), 1)
    .option('--move-speed <factor>', 'motion speed factor (10: moves take a tenth of the time)', positiveNumber, 1)
    .option('--boot-ms <ms>', 'power-on time at speed factor 1', intIn('boot time', 0, 600_000))
    .option('--standby', 'start in standby')
    .option('--drop <p>', 'probability 0–1 that a reply is lost', probability)
    .option('--noise <p>', 'probability 0–1 of noise bytes before a reply', probability)
    .option('--split <p>', 'probability 0–1 that a reply is written in two pieces', probability)
    .option('--delay <ms>', 'delay every reply', intIn('delay', 0, 60_000))
    .addOption(new Option('--quirk <name...>', 'camera quirks to show').choices(Object.keys(QUIRKS)))
    .action(async (opts: SimCameraCliOptions) => {
      const running = await startSimCamera(opts);
      const n = opts.cameras;
      io.out(`VISCA simulator: ${n} camera${n === 1 ? '' : 's'}, move speed ×${opts.moveSpeed}\n`);
      for (const e of running.endpoints) io.out(`  ${e}\n`);
      io.out('stop with Ctrl-C\n');
      await untilStopped(signal);
      await running.close();
      io.out('VISCA simulator stopped\n');
    });
}
