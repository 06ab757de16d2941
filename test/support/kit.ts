/**
 * A simulated classroom kit for provisioning tests: VISCA cameras (the driver's simulator) on a
 * socat pty, seen through a device tree of its own where /dev/serial/by-id names the pty as a
 * real FTDI adapter would be named. The built CLI runs as a child process and opens the pty
 * through that link, exactly as it would open a USB adapter.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimCamera, type RunningSimCamera } from '../../drivers/visca/cli.js';
import { CLI } from './agent.js';

export const BY_ID_NAME = 'usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0';

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
  close(): Promise<void>;
}

export async function startSimKit(dir: string, cameras = 2): Promise<SimKit> {
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
  writeFileSync(join(proc, 'asound/card1/usbid'), '0bda:4014\n');
  const sim = cameras > 0 ? await startSimCamera({ createPty: join(dir, 'cam'), cameras, moveSpeed: 20 }) : undefined;
  const cameraPort = join(dev, 'serial/by-id', BY_ID_NAME);
  if (sim) symlinkSync(join(dir, 'cam'), cameraPort);
  return {
    dev,
    sys,
    proc,
    cameraPort,
    videoDevice: join(dev, 'video0'),
    microphone: 'plughw:CARD=Array,DEV=0',
    cameras: sim,
    close: async () => {
      await sim?.close();
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
