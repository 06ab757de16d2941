/**
 * What is plugged into the kit, read from the kernel's files: serial ports (/dev/serial/by-id,
 * the udev names of systemd/99-lectern.rules, bare ttyUSB/ttyACM), V4L2 video devices
 * (/dev/video*, names from /sys/class/video4linux) and ALSA capture devices (/proc/asound).
 * Nothing here opens a device. The roots are parameters so tests can point them at a tree of
 * their own; the results are plain data.
 */
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface SystemRoots {
  dev: string;
  sys: string;
  proc: string;
}

export const SYSTEM_ROOTS: SystemRoots = { dev: '/dev', sys: '/sys', proc: '/proc' };

export interface UsbInfo {
  vendorId: string;
  productId: string;
  manufacturer?: string;
  product?: string;
  serial?: string;
}

export interface SerialPortInfo {
  /** The path to put in the config: a stable name where there is one. */
  path: string;
  /** The kernel device behind it (`/dev/ttyUSB0`). */
  device: string;
  via: 'by-id' | 'lectern-udev' | 'kernel' | 'given';
  usb?: UsbInfo;
}

export interface VideoDeviceInfo {
  path: string;
  /** The driver's name for it (`HD USB Camera`). */
  name: string;
  /** 0 for a device's capture node; metadata nodes have 1. */
  index: number;
}

export interface AudioCaptureInfo {
  card: number;
  device: number;
  /** The card's ALSA id (`Array`), stable across reboots unlike its number. */
  cardId: string;
  name: string;
  usb: boolean;
  /** What the config's `media.audio.device` takes. */
  alsaDevice: string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The USB device a sysfs node belongs to: walk up until a directory has idVendor. */
function usbInfoFor(sysNode: string): UsbInfo | undefined {
  let dir = real(sysNode);
  for (let i = 0; dir && i < 6; i++) {
    const vendorId = readText(join(dir, 'idVendor'));
    if (vendorId) {
      const opt = (f: string): string | undefined => readText(join(dir!, f));
      return {
        vendorId,
        productId: opt('idProduct') ?? '',
        ...(opt('manufacturer') ? { manufacturer: opt('manufacturer') } : {}),
        ...(opt('product') ? { product: opt('product') } : {}),
        ...(opt('serial') ? { serial: opt('serial') } : {}),
      };
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/**
 * Serial ports, stable names first: each kernel device is listed once, under its
 * /dev/serial/by-id name when it has one, else its /dev/lectern name, else the kernel name.
 * `extra` are paths given by the technician (a port not found by looking, a pty in tests).
 */
export function detectSerialPorts(roots: SystemRoots = SYSTEM_ROOTS, extra: readonly string[] = []): SerialPortInfo[] {
  const found: SerialPortInfo[] = [];
  const seen = new Set<string>();
  const add = (path: string, via: SerialPortInfo['via']): void => {
    const device = real(path);
    if (!device || seen.has(device)) return;
    seen.add(device);
    const usb = usbInfoFor(join(roots.sys, 'class/tty', basename(device), 'device'));
    found.push({ path, device, via, ...(usb ? { usb } : {}) });
  };
  for (const name of list(join(roots.dev, 'serial/by-id'))) add(join(roots.dev, 'serial/by-id', name), 'by-id');
  for (const name of list(join(roots.dev, 'lectern')).filter((n) => n.startsWith('camera-'))) add(join(roots.dev, 'lectern', name), 'lectern-udev');
  for (const name of list(roots.dev).filter((n) => /^tty(USB|ACM)\d+$/.test(n))) add(join(roots.dev, name), 'kernel');
  for (const path of extra) add(path, 'given');
  return found;
}

/** V4L2 video devices, capture nodes (index 0) first. */
export function detectVideoDevices(roots: SystemRoots = SYSTEM_ROOTS): VideoDeviceInfo[] {
  const devices: VideoDeviceInfo[] = [];
  for (const node of list(roots.dev).filter((n) => /^video\d+$/.test(n))) {
    const sys = join(roots.sys, 'class/video4linux', node);
    const index = Number(readText(join(sys, 'index')) ?? '0');
    devices.push({ path: join(roots.dev, node), name: readText(join(sys, 'name')) ?? node, index: Number.isInteger(index) ? index : 0 });
  }
  return devices.sort((a, b) => a.index - b.index || a.path.localeCompare(b.path, 'en', { numeric: true }));
}

/** Parses /proc/asound/cards: ` 1 [Array          ]: USB-Audio - USB Array Microphone`. */
export function parseAsoundCards(text: string): { card: number; id: string; driver: string; name: string }[] {
  const cards: { card: number; id: string; driver: string; name: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+\[([^\]\s]+)\s*\]:\s+(\S+)\s+-\s+(.*)$/.exec(line);
    if (m) cards.push({ card: Number(m[1]), id: m[2]!, driver: m[3]!, name: m[4]!.trim() });
  }
  return cards;
}

/** Parses /proc/asound/pcm: `01-00: USB Audio : USB Audio : capture 1`. */
export function parseAsoundPcm(text: string): { card: number; device: number; name: string; capture: boolean; playback: boolean }[] {
  const pcms: { card: number; device: number; name: string; capture: boolean; playback: boolean }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)-(\d+):\s*([^:]*):/.exec(line);
    if (!m) continue;
    pcms.push({ card: Number(m[1]), device: Number(m[2]), name: m[3]!.trim(), capture: /capture \d+/.test(line), playback: /playback \d+/.test(line) });
  }
  return pcms;
}

/** ALSA capture devices, USB ones (the array microphone) first. */
export function detectAudioCapture(roots: SystemRoots = SYSTEM_ROOTS): AudioCaptureInfo[] {
  const cards = parseAsoundCards(readText(join(roots.proc, 'asound/cards')) ?? '');
  const pcms = parseAsoundPcm(readText(join(roots.proc, 'asound/pcm')) ?? '');
  const out: AudioCaptureInfo[] = [];
  for (const p of pcms.filter((x) => x.capture)) {
    const card = cards.find((c) => c.card === p.card);
    if (!card) continue;
    const usb = card.driver === 'USB-Audio' || existsSync(join(roots.proc, `asound/card${p.card}/usbid`));
    out.push({ card: p.card, device: p.device, cardId: card.id, name: card.name, usb, alsaDevice: `plughw:CARD=${card.id},DEV=${p.device}` });
  }
  return out.sort((a, b) => Number(b.usb) - Number(a.usb) || a.card - b.card || a.device - b.device);
}
