/**
 * From a USB microphone to its ALSA capture device, so the lesson pipeline records the right one
 * (card numbers change with plug order; card ids do not).
 *
 * 1. sysfs: the USB device is `/sys/bus/usb/devices/<bus>-<port path>`; the kernel's audio
 *    driver puts the card under one of its interfaces: `<name>:<config>.<interface>/sound/cardN`.
 * 2. procfs, when sysfs has no such link: `/proc/asound/cardN/usbbus` holds `BBB/DDD` (bus and
 *    device number) and `usbid` holds `vvvv:pppp`.
 * The card's id (`/proc/asound/cardN/id`, e.g. `ArrayUAC10`) names it stably:
 * `hw:CARD=<id>,DEV=<first capture PCM>`. Roots are injectable for tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busNumber, hex4, sysfsName, type UsbDeviceLike } from './usb.js';

export interface AlsaRoots {
  /** Where sysfs is mounted (default `/sys`). */
  sys: string;
  /** Where procfs is mounted (default `/proc`). */
  proc: string;
}

export const DEFAULT_ROOTS: AlsaRoots = { sys: '/sys', proc: '/proc' };

export interface AlsaCapture {
  card: number;
  /** The card's id, e.g. `ArrayUAC10`. */
  id: string;
  /** The first capture PCM device on the card. */
  device: number;
  /** For the pipeline's `media.audio.device`: `hw:CARD=ArrayUAC10,DEV=0`. */
  pcm: string;
  /** How the card was found. */
  via: 'sysfs' | 'procfs';
}

/** `001/005` → { bus: 1, device: 5 }. */
export function parseUsbBus(text: string): { bus: number; device: number } | undefined {
  const m = /^\s*(\d{1,3})\/(\d{1,3})\s*$/.exec(text);
  return m ? { bus: Number(m[1]), device: Number(m[2]) } : undefined;
}

/** `2886:0018` → { vendorId, productId }. */
export function parseUsbId(text: string): { vendorId: number; productId: number } | undefined {
  const m = /^\s*([0-9a-f]{4}):([0-9a-f]{4})\s*$/i.exec(text);
  return m ? { vendorId: parseInt(m[1]!, 16), productId: parseInt(m[2]!, 16) } : undefined;
}

/** `card2` → 2. */
export function parseCardName(name: string): number | undefined {
  const m = /^card(\d{1,2})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The capture PCM device numbers in a card's procfs entries (`pcm0c`, `pcm1c`; `pcm0p` is playback). */
export function capturePcms(entries: readonly string[]): number[] {
  return entries
    .map((e) => /^pcm(\d{1,2})c$/.exec(e))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** An ALSA card id is 1–15 characters of letters, digits and `_`; anything else is not used. */
export function parseCardId(text: string): string | undefined {
  const id = text.trim();
  return /^[A-Za-z0-9_]{1,31}$/.test(id) ? id : undefined;
}

export function pcmName(id: string, device: number): string {
  return `hw:CARD=${id},DEV=${device}`;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Card numbers the kernel put under the USB device's interfaces in sysfs. */
export function cardsFromSysfs(name: string, roots: AlsaRoots = DEFAULT_ROOTS): number[] {
  const dev = join(roots.sys, 'bus/usb/devices', name);
  const cards: number[] = [];
  for (const itf of list(dev).filter((e) => e.startsWith(`${name}:`))) {
    for (const entry of list(join(dev, itf, 'sound'))) {
      const n = parseCardName(entry);
      if (n !== undefined) cards.push(n);
    }
  }
  return cards.sort((a, b) => a - b);
}

/** Card numbers whose procfs `usbbus` is this bus and device number (and `usbid` agrees). */
export function cardsFromProcfs(
  where: { bus: number; device: number; vendorId?: number; productId?: number },
  roots: AlsaRoots = DEFAULT_ROOTS,
): number[] {
  const asound = join(roots.proc, 'asound');
  const cards: number[] = [];
  for (const entry of list(asound)) {
    const n = parseCardName(entry);
    if (n === undefined) continue;
    const bus = parseUsbBus(read(join(asound, entry, 'usbbus')) ?? '');
    if (!bus || bus.bus !== where.bus || bus.device !== where.device) continue;
    const id = parseUsbId(read(join(asound, entry, 'usbid')) ?? '');
    if (id && where.vendorId !== undefined && (id.vendorId !== where.vendorId || id.productId !== where.productId)) continue;
    cards.push(n);
  }
  return cards.sort((a, b) => a - b);
}

/** The id and first capture device of card N; undefined when it has no capture PCM or no usable id. */
export function describeCard(card: number, via: AlsaCapture['via'], roots: AlsaRoots = DEFAULT_ROOTS): AlsaCapture | undefined {
  const procCard = join(roots.proc, 'asound', `card${card}`);
  const id = parseCardId(read(join(procCard, 'id')) ?? read(join(roots.sys, 'class/sound', `card${card}`, 'id')) ?? '');
  if (!id) return undefined;
  let pcms = capturePcms(list(procCard));
  if (pcms.length === 0) {
    // Without procfs PCM entries, sysfs names them pcmC<card>D<dev>c.
    pcms = list(join(roots.sys, 'class/sound'))
      .map((e) => new RegExp(`^pcmC${card}D(\\d{1,2})c$`).exec(e))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }
  if (pcms.length === 0) return undefined;
  return { card, id, device: pcms[0]!, pcm: pcmName(id, pcms[0]!), via };
}

/** The ALSA capture device of a USB device, or undefined when the kernel made none for it. */
export function findAlsaCapture(
  device: Pick<UsbDeviceLike, 'bus' | 'ports' | 'address' | 'vendorId' | 'productId'>,
  roots: AlsaRoots = DEFAULT_ROOTS,
): AlsaCapture | undefined {
  const name = sysfsName(device);
  if (name) {
    for (const card of cardsFromSysfs(name, roots)) {
      const found = describeCard(card, 'sysfs', roots);
      if (found) return found;
    }
  }
  const bus = busNumber(device);
  if (bus === undefined) return undefined;
  for (const card of cardsFromProcfs({ bus, device: device.address, vendorId: device.vendorId, productId: device.productId }, roots)) {
    const found = describeCard(card, 'procfs', roots);
    if (found) return found;
  }
  return undefined;
}

/** For messages: `card 2 (ArrayUAC10)`. */
export function describeCapture(c: AlsaCapture | undefined, device?: Pick<UsbDeviceLike, 'vendorId' | 'productId'>): string {
  if (!c) return device ? `no ALSA capture card for ${hex4(device.vendorId)}:${hex4(device.productId)}` : 'no ALSA capture card';
  return `card ${c.card} (${c.id}), ${c.pcm}`;
}
