/**
 * Which USB devices are microphones, and what each known model can do. A device is a microphone
 * when its descriptors show a USB Audio Class streaming interface with an IN endpoint (audio
 * towards the host); a known model adds vendor controls on top. Pure functions of descriptors.
 */
import { hex4, type UsbDeviceLike } from './usb.js';

export type MicCapability = 'agc' | 'noiseSuppression' | 'echoSuppression' | 'vad' | 'doa';

export const ALL_CAPABILITIES: readonly MicCapability[] = ['agc', 'noiseSuppression', 'echoSuppression', 'vad', 'doa'];

export interface MicModel {
  /** Short key used in config (`microphone.match.model`). */
  key: string;
  name: string;
  vendorId: number;
  productId: number;
  /** How the vendor controls are spoken; absent for a plain microphone. */
  protocol?: 'xmos';
  capabilities: readonly MicCapability[];
}

/**
 * Models known by VID/PID. Add a model here when its VID/PID and control protocol are known;
 * anything else with an audio capture interface still works as a plain microphone.
 */
export const KNOWN_MODELS: readonly MicModel[] = [
  {
    key: 'respeaker-v2',
    name: 'ReSpeaker Mic Array v2.0 (XMOS)',
    vendorId: 0x2886,
    productId: 0x0018,
    protocol: 'xmos',
    capabilities: ALL_CAPABILITIES,
  },
];

export function knownModel(vendorId: number, productId: number): MicModel | undefined {
  return KNOWN_MODELS.find((m) => m.vendorId === vendorId && m.productId === productId);
}

export function modelByKey(key: string): MicModel | undefined {
  return KNOWN_MODELS.find((m) => m.key === key);
}

/** USB class codes (usb.org): Audio, and its AudioStreaming subclass. */
export const USB_CLASS_AUDIO = 0x01;
export const AUDIO_SUBCLASS_STREAMING = 0x02;

/**
 * True when some interface of the active configuration is an AudioStreaming interface with an
 * IN endpoint in one of its alternate settings (alternate 0 of a streaming interface has no
 * endpoints; the ones carrying audio are the others).
 */
export function hasAudioCapture(device: Pick<UsbDeviceLike, 'configuration'>): boolean {
  const interfaces = device.configuration?.interfaces ?? [];
  return interfaces.some((itf) =>
    itf.alternates.some(
      (alt) => alt.interfaceClass === USB_CLASS_AUDIO && alt.interfaceSubclass === AUDIO_SUBCLASS_STREAMING && alt.endpoints.some((e) => e.direction === 'in'),
    ),
  );
}

export interface MicCandidate {
  device: UsbDeviceLike;
  /** `2886:0018`. */
  vidPid: string;
  /** The known model, or undefined for a plain USB Audio Class microphone. */
  model: MicModel | undefined;
  /** The model's name, else what the device calls itself, else "USB audio device". */
  label: string;
  capabilities: readonly MicCapability[];
  /** Descriptors show an audio capture interface. */
  audioCapture: boolean;
}

/**
 * Classifies one device: a known model (even before its configuration can be read) or a device
 * with an audio capture interface is a microphone; anything else is undefined.
 */
export function classify(device: UsbDeviceLike): MicCandidate | undefined {
  const model = knownModel(device.vendorId, device.productId);
  let audioCapture = false;
  try {
    audioCapture = hasAudioCapture(device);
  } catch {
    // Descriptors unreadable (device going away): known models still count.
  }
  if (!model && !audioCapture) return undefined;
  const product = safeString(() => device.productName);
  return {
    device,
    vidPid: `${hex4(device.vendorId)}:${hex4(device.productId)}`,
    model,
    label: model?.name ?? product ?? 'USB audio device',
    capabilities: model?.capabilities ?? [],
    audioCapture,
  };
}

function safeString(get: () => string | null | undefined): string | undefined {
  try {
    const v = get();
    return v ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What config may say about which microphone to use. */
export interface MicMatch {
  /** Hex, as lsusb prints it: `2886`. */
  vid?: string;
  pid?: string;
  /** A key of KNOWN_MODELS. */
  model?: string;
  serial?: string;
}

export function parseHexId(text: string): number {
  return parseInt(text.replace(/^0x/i, ''), 16);
}

export function matches(c: MicCandidate, match: MicMatch | undefined): boolean {
  if (!match) return true;
  if (match.vid !== undefined && c.device.vendorId !== parseHexId(match.vid)) return false;
  if (match.pid !== undefined && c.device.productId !== parseHexId(match.pid)) return false;
  if (match.model !== undefined && c.model?.key !== match.model) return false;
  if (match.serial !== undefined && safeString(() => c.device.serialNumber) !== match.serial) return false;
  return true;
}

/** The sysfs-style location (`1-1.4`) used to order candidates the same way on every scan. */
function location(c: MicCandidate): string {
  return `${c.device.bus.padStart(3, '0')}-${c.device.ports.map((p) => String(p).padStart(3, '0')).join('.')}`;
}

/**
 * The microphone to use among those present: those the config matches, a known model with
 * vendor controls first (when nothing is configured, the array microphone is the one meant),
 * then by position on the bus so the choice is stable.
 */
export function choose(candidates: readonly MicCandidate[], match: MicMatch | undefined): MicCandidate | undefined {
  return [...candidates]
    .filter((c) => matches(c, match))
    .sort((a, b) => Number(Boolean(b.model?.protocol)) - Number(Boolean(a.model?.protocol)) || location(a).localeCompare(location(b)))[0];
}

export function describeMatch(match: MicMatch | undefined): string {
  if (!match) return 'any USB microphone';
  const parts: string[] = [];
  if (match.model) parts.push(`model ${match.model}`);
  if (match.vid || match.pid) parts.push(`${match.vid ? hex4(parseHexId(match.vid)) : '*'}:${match.pid ? hex4(parseHexId(match.pid)) : '*'}`);
  if (match.serial) parts.push(`serial ${match.serial}`);
  return parts.length ? parts.join(', ') : 'any USB microphone';
}
