/**
 * A simulated classroom kit for provisioning tests: VISCA cameras (the driver's simulator) and
 * an interactive panel (the display driver's simulator) each on a socat pty, seen through a
 * device tree of its own where /dev/serial/by-id names each pty as a real USB-serial adapter
 * would be named. The built CLI runs as a child process and opens the ptys through those links,
 * exactly as it would open a USB adapter.
 *
 * The USB array microphone cannot be simulated below the `usb` package, so the kit has a
 * FakeUsbBus with a FakeXmosArray for tests that call provision() and doctor() in this process,
 * and procfs entries (/proc/asound/card1/usbbus, usbid, id, pcm0c) tying that array to ALSA card
 * 1 the way snd-usb-audio does. The CLI child processes see no USB bus at all (the tree has no
 * /sys/bus/usb), as on a host without one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DisplaySimulator, type DisplaySimulatorOptions } from '../../drivers/display/simulator.js';
import { FakeUsbBus, FakeXmosArray } from '../../drivers/mic/fake-usb.js';
import { startSimCamera, type RunningSimCamera } from '../../drivers/visca/cli.js';
import { CLI } from './agent.js';
import { PtyPair } from './pty.js';

export const BY_ID_NAME = 'usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0';
export const DISPLAY_BY_ID_NAME = 'usb-Prolific_Technology_Inc._USB-Serial_Controller_D-if00-port0';

export interface SimKit {
  /** Roots to pass as --dev-root/--sys-root/--proc-root. */
  dev: string;
  sys: string;
  proc: string;
  /** The fake video device and microphone the tree shows. */
  videoDevice: string;
  microphone: string;
  /** The camera port as the config names it. */
  cameraPort: string;
  cameras: RunningSimCamera | undefined;
  /** The panel's port as the config names it (a by-id link to the pty). */
  displayPort: string;
  display: DisplaySimulator | undefined;
  /** The kit's USB bus with the array microphone plugged in (bus 1, port 2, address 7). */
  usb: FakeUsbBus;
  array: FakeXmosArray;
  /** The array's ALSA capture device as provisioning names it. */
  arrayAlsaDevice: string;
  close(): Promise<void>;
}

export interface SimKitOptions {
  /** The panel on the second adapter (default Samsung MDC, ID 1, off, showing hdmi2); false: none. */
  display?: Partial<DisplaySimulatorOptions> | false;
}

export async function startSimKit(dir: string, cameras = 2, options: SimKitOptions = {}): Promise<SimKit> {
  const dev = join(dir, 'dev');
  const sys = join(dir, 'sys');
  const proc = join(dir, 'proc');
  for (const d of [join(dev, 'serial/by-id'), sys, proc]) mkdirSync(d, { recursive: true });
  // What the kernel shows for a USB camera and a USB array microphone. Only detection reads
  // these; the tests answer `test` for the media sources (no real capture device here).
  mkdirSync(join(sys, 'class/video4linux/video0'), { recursive: true });
  writeFileSync(join(sys, 'class/video4linux/video0/name'), 'HD USB Camera\n');
  writeFileSync(join(sys, 'class/video4linux/video0/index'), '0\n');
  writeFileSync(join(dev, 'video0'), '');
  mkdirSync(join(proc, 'asound/card1'), { recursive: true });
  writeFileSync(join(proc, 'asound/cards'), ' 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 32\n 1 [Array          ]: USB-Audio - USB Array Microphone\n                      Generic USB Array Microphone at usb-0000:00:14.0-2, full speed\n');
  writeFileSync(join(proc, 'asound/pcm'), '00-00: ALC255 Analog : ALC255 Analog : playback 1 : capture 1\n00-03: HDMI 0 : HDMI 0 : playback 1\n01-00: USB Audio : USB Audio : capture 1\n');
  // snd-usb-audio's entries for the array: bus 1 device 7, its VID:PID, card id, a capture PCM.
  writeFileSync(join(proc, 'asound/card1/usbid'), '2886:0018\n');
  writeFileSync(join(proc, 'asound/card1/usbbus'), '001/007\n');
  writeFileSync(join(proc, 'asound/card1/id'), 'Array\n');
  mkdirSync(join(proc, 'asound/card1/pcm0c'), { recursive: true });
  writeFileSync(join(proc, 'asound/card1/pcm0c/info'), 'card: 1\ndevice: 0\nstream: CAPTURE\n');
  const array = new FakeXmosArray({ bus: '001', ports: [2], address: 7, serialNumber: 'KIT0001' });
  const usb = new FakeUsbBus([array]);
  const sim = cameras > 0 ? await startSimCamera({ createPty: join(dir, 'cam'), cameras, moveSpeed: 20 }) : undefined;
  const cameraPort = join(dev, 'serial/by-id', BY_ID_NAME);
  if (sim) symlinkSync(join(dir, 'cam'), cameraPort);
  const displayPort = join(dev, 'serial/by-id', DISPLAY_BY_ID_NAME);
  let display: DisplaySimulator | undefined;
  let panelPty: PtyPair | undefined;
  if (options.display !== false) {
    panelPty = await PtyPair.create('lectern-kit-panel-');
    display = new DisplaySimulator({ profile: 'samsung-mdc', id: 1, power: 'off', input: 'hdmi2', ...options.display });
    await display.attachSerial(panelPty.b);
    symlinkSync(panelPty.a, displayPort);
  }
  return {
    dev,
    sys,
    proc,
    cameraPort,
    videoDevice: join(dev, 'video0'),
    microphone: 'plughw:CARD=Array,DEV=0',
    cameras: sim,
    displayPort,
    display,
    usb,
    array,
    arrayAlsaDevice: 'plughw:CARD=Array,DEV=0',
    close: async () => {
      await sim?.close();
      await display?.close();
      await panelPty?.dispose();
    },
  };
}

export function kitRoots(kit: SimKit): string[] {
  return ['--dev-root', kit.dev, '--sys-root', kit.sys, '--proc-root', kit.proc];
}

/**
 * Runs the built CLI without blocking this process (the simulated cameras answer from this
 * process's event loop).
 */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
