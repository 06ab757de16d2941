/**
 * `lectern mic list` (the USB microphones on this machine: known models and plain USB audio
 * devices, their ALSA capture device and what they can do) and `lectern mic info` (the one the
 * config selects, with its vendor state: AGC, noise and echo suppression, direction of arrival,
 * voice activity). `--simulate` runs both against the simulated kit's USB bus.
 */
import type { Command } from 'commander';
import { configFor } from '../../agent/cli/common.js';
import { DeviceError } from '../../agent/errors.js';
import { DEFAULT_ROOTS, findAlsaCapture, type AlsaRoots } from './alsa.js';
import type { MicrophoneConfig } from './config.js';
import { FakeUsbBus, FakeUsbDevice, FakeXmosArray } from './fake-usb.js';
import { Microphone, describeDevice, type MicState } from './microphone.js';
import { choose, classify, describeMatch, type MicCandidate } from './models.js';
import { NodeUsbBus, sysfsName, type UsbBus } from './usb.js';

export interface CliIo {
  out(text: string): void;
}

const processIo: CliIo = { out: (text) => process.stdout.write(text) };

export interface MicCliDeps {
  /** The bus to look at (default: the real one, or the simulated kit's with --simulate). */
  usb?: () => UsbBus;
  roots?: AlsaRoots;
}

export interface MicListing {
  vidPid: string;
  name: string;
  /** Key of a known model, or null for a plain USB audio device. */
  model: string | null;
  known: boolean;
  /** sysfs location, e.g. `1-1.4`. */
  usb: string | null;
  serial: string | null;
  alsa: string | null;
  alsaCard: number | null;
  capabilities: string[];
  /** The one the config (or the default choice) would use. */
  selected: boolean;
}

/** The simulated kit's bus: the array microphone and a plain USB microphone. */
export function simulatedBus(): FakeUsbBus {
  const array = new FakeXmosArray({ bus: '001', ports: [1, 2], address: 7, serialNumber: 'SIM0001' });
  array.speak(75);
  const plain = new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, bus: '001', ports: [1, 3], address: 8, productName: 'USB Audio Device' });
  return new FakeUsbBus([array, plain]);
}

function busFor(o: { simulate?: boolean }, deps: MicCliDeps): UsbBus {
  if (deps.usb) return deps.usb();
  return o.simulate ? simulatedBus() : new NodeUsbBus(deps.roots?.sys);
}

/** The config's microphone section (the given file, else the default one when it exists and this is not a simulation). */
function microphoneConfig(o: { config?: string; simulate?: boolean }): MicrophoneConfig | undefined {
  const config = o.config || !o.simulate ? configFor({ config: o.config }) : undefined;
  return config?.microphone;
}

function listing(c: MicCandidate, selected: MicCandidate | undefined, roots: AlsaRoots): MicListing {
  const alsa = findAlsaCapture(c.device, roots);
  let serial: string | null = null;
  try {
    serial = c.device.serialNumber ?? null;
  } catch {
    serial = null;
  }
  return {
    vidPid: c.vidPid,
    name: c.label,
    model: c.model?.key ?? null,
    known: c.model !== undefined,
    usb: sysfsName(c.device) ?? null,
    serial,
    alsa: alsa?.pcm ?? null,
    alsaCard: alsa?.card ?? null,
    capabilities: [...c.capabilities],
    selected: c === selected,
  };
}

export async function listMicrophones(bus: UsbBus, config: MicrophoneConfig | undefined, roots: AlsaRoots = DEFAULT_ROOTS): Promise<MicListing[]> {
  const devices = await bus.getDevices();
  const candidates = devices.map((d) => classify(d)).filter((c): c is MicCandidate => c !== undefined);
  const selected = choose(candidates, config?.match);
  return candidates.map((c) => listing(c, selected, roots));
}

function listText(list: readonly MicListing[]): string {
  if (list.length === 0) return 'no USB microphones found (no known model, no USB audio device with a capture interface)';
  return list
    .map((m) =>
      [
        `${m.selected ? '*' : ' '} ${m.vidPid}  ${m.name}`,
        `    ${m.known ? `known model ${m.model}` : 'plain USB microphone (no vendor controls)'}; USB ${m.usb ?? '?'}${m.serial ? `, serial ${m.serial}` : ''}`,
        `    ALSA capture: ${m.alsa ? `${m.alsa} (card ${m.alsaCard})` : 'none found (is snd-usb-audio loaded?)'}`,
        `    capabilities: ${m.capabilities.length ? m.capabilities.join(', ') : 'audio only'}`,
      ].join('\n'),
    )
    .concat(list.some((m) => m.selected) ? ['* = the one the agent uses'] : [])
    .join('\n');
}

export interface MicInfo {
  id: string;
  device: MicListing;
  health: string;
  detail?: string;
  state?: MicState;
}

function infoText(info: MicInfo): string {
  const s = info.state;
  const onOff = (v: boolean | undefined): string => (v === undefined ? '?' : v ? 'on' : 'off');
  return [
    `${info.device.vidPid}  ${info.device.name} on USB ${info.device.usb ?? '?'}`,
    `ALSA capture: ${info.device.alsa ?? 'none found'}`,
    `health: ${info.health}${info.detail ? ` (${info.detail})` : ''}`,
    ...(s
      ? [
          `AGC: ${onOff(s.agc)}, gain ${s.agcGain?.toFixed(2) ?? '?'}`,
          `noise suppression: stationary ${onOff(s.stationaryNoiseSuppression)}, non-stationary ${onOff(s.nonStationaryNoiseSuppression)}`,
          `echo suppression: ${onOff(s.echoSuppression)}`,
          `direction of arrival: ${s.doaDeg ?? '?'}°, voice activity: ${s.voiceActivity ? 'yes' : 'no'}, speech: ${s.speechDetected ? 'yes' : 'no'}`,
        ]
      : ['vendor state: none (this microphone has no vendor controls)']),
  ].join('\n');
}

export async function microphoneInfo(bus: UsbBus, config: MicrophoneConfig, roots: AlsaRoots = DEFAULT_ROOTS): Promise<MicInfo> {
  const mic = new Microphone({ config, usb: bus, roots, scanMs: 3_600_000, lessonCheckMs: 3_600_000, applyOnAttach: false, open: { tries: 4, minMs: 200, maxMs: 1000 } });
  try {
    await mic.start();
    await mic.settled();
    const c = mic.device;
    if (!c) {
      throw new DeviceError(`no USB microphone connected (looking for ${describeMatch(config.match)}); \`lectern mic list\` shows what is there`);
    }
    const health = mic.health();
    const info: MicInfo = { id: config.id, device: listing(c, c, roots), health: health.status, ...(health.detail && { detail: health.detail }) };
    if (mic.hasControls()) {
      try {
        info.state = await mic.readState();
      } catch (e) {
        throw new DeviceError(`${describeDevice(c)}: vendor state not readable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    }
    return info;
  } finally {
    await mic.stop();
  }
}

/** Adds `lectern mic` with its subcommands to `program`. */
export function registerMicCommands(program: Command, io: CliIo = processIo, deps: MicCliDeps = {}): Command {
  const mic = program
    .command('mic')
    .description('USB microphones: which are connected, their ALSA device, vendor state (AGC, direction of arrival)')
    .option('-c, --config <file>', 'config file whose `microphone` section says which microphone is meant')
    .option('--simulate', "the simulated kit's USB bus instead of this machine's")
    .option('--json', 'print JSON instead of text');

  mic
    .command('list')
    .description('USB microphones with VID:PID, model, ALSA capture device and capabilities')
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ config?: string; simulate?: boolean; json?: boolean }>();
      const config = microphoneConfig(o);
      const list = await listMicrophones(busFor(o, deps), config, deps.roots ?? DEFAULT_ROOTS);
      io.out(o.json ? `${JSON.stringify({ ok: true, microphones: list })}\n` : `${listText(list)}\n`);
    });

  mic
    .command('info')
    .description('the microphone in use: its health and vendor state (AGC, noise and echo suppression, direction of arrival, voice activity)')
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ config?: string; simulate?: boolean; json?: boolean }>();
      const info = await microphoneInfo(busFor(o, deps), microphoneConfig(o) ?? { id: 'microphone', controls: {} }, deps.roots ?? DEFAULT_ROOTS);
      io.out(o.json ? `${JSON.stringify({ ok: true, microphone: info })}\n` : `${infoText(info)}\n`);
    });
  return mic;
}
