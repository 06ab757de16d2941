/**
 * Vendor controls of the XMOS-based array microphone (ReSpeaker Mic Array v2.0 family): each
 * parameter is an (id, offset) pair read and written with vendor control transfers, request 0.
 *
 * - read:  bmRequestType 0xC0 (device-to-host, vendor, device), wValue = 0x80 | offset, plus 0x40
 *          for an integer parameter, wIndex = id, 8 bytes back: two int32 LE; an integer is the
 *          first, a float is first × 2^second.
 * - write: bmRequestType 0x40 (host-to-device, vendor, device), wValue 0, wIndex = id, 12 bytes:
 *          int32 LE offset, the value (int32 LE, or float32 LE for a float), int32 LE type
 *          (1 integer, 0 float).
 *
 * The encoders and decoders are pure; `XmosControl` runs them over a `UsbDeviceLike`.
 */
import { DeviceError, errorMessage } from '../../agent/errors.js';
import type { UsbControlSetup, UsbDeviceLike } from './usb.js';

export interface XmosParam {
  name: string;
  id: number;
  offset: number;
  type: 'int' | 'float';
  readOnly: boolean;
  /** Allowed range for writes. */
  min?: number;
  max?: number;
}

export const XMOS_PARAMS = {
  doaAngle: { name: 'DOAANGLE', id: 21, offset: 0, type: 'int', readOnly: true },
  voiceActivity: { name: 'VOICEACTIVITY', id: 19, offset: 32, type: 'int', readOnly: true },
  speechDetected: { name: 'SPEECHDETECTED', id: 19, offset: 22, type: 'int', readOnly: true },
  agc: { name: 'AGCONOFF', id: 19, offset: 0, type: 'int', readOnly: false, min: 0, max: 1 },
  agcGain: { name: 'AGCGAIN', id: 19, offset: 3, type: 'float', readOnly: false, min: 0, max: 1000 },
  stationaryNoiseSuppression: { name: 'STATNOISEONOFF', id: 19, offset: 8, type: 'int', readOnly: false, min: 0, max: 1 },
  nonStationaryNoiseSuppression: { name: 'NONSTATNOISEONOFF', id: 19, offset: 11, type: 'int', readOnly: false, min: 0, max: 1 },
  echoSuppression: { name: 'ECHOONOFF', id: 19, offset: 14, type: 'int', readOnly: false, min: 0, max: 1 },
} as const satisfies Record<string, XmosParam>;

export type XmosParamName = keyof typeof XMOS_PARAMS;

/** The vendor request number of every parameter transfer. */
export const XMOS_REQUEST = 0;
export const XMOS_READ_LENGTH = 8;

export function readSetup(p: XmosParam): UsbControlSetup {
  return { requestType: 'vendor', recipient: 'device', request: XMOS_REQUEST, value: 0x80 | p.offset | (p.type === 'int' ? 0x40 : 0), index: p.id };
}

export function writeSetup(p: XmosParam): UsbControlSetup {
  return { requestType: 'vendor', recipient: 'device', request: XMOS_REQUEST, value: 0, index: p.id };
}

/** The 12-byte payload of a write. */
export function encodeWrite(p: XmosParam, value: number): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setInt32(0, p.offset, true);
  if (p.type === 'int') view.setInt32(4, Math.round(value), true);
  else view.setFloat32(4, value, true);
  view.setInt32(8, p.type === 'int' ? 1 : 0, true);
  return out;
}

/** The value in a read's 8-byte answer. */
export function decodeRead(p: XmosParam, data: DataView): number {
  if (data.byteLength < 8) throw new RangeError(`${p.name}: the device answered ${data.byteLength} bytes, 8 expected`);
  const first = data.getInt32(0, true);
  if (p.type === 'int') return first;
  return first * 2 ** data.getInt32(4, true);
}

export function checkWriteValue(p: XmosParam, value: number): string | undefined {
  if (p.readOnly) return `${p.name} is read-only`;
  if (!Number.isFinite(value)) return `${p.name}: ${value} is not a number`;
  if (p.type === 'int' && !Number.isInteger(value)) return `${p.name}: ${value} is not a whole number`;
  if ((p.min !== undefined && value < p.min) || (p.max !== undefined && value > p.max)) return `${p.name}: ${value} is outside ${p.min}–${p.max}`;
  return undefined;
}

/** A control transfer failed or was refused (stall). */
export class MicControlError extends DeviceError {}

/** Reads and writes the vendor parameters of one opened XMOS array. */
export class XmosControl {
  constructor(
    private readonly device: UsbDeviceLike,
    /** For messages: `microphone 2886:0018 on 1-1.4`. */
    private readonly name: string,
  ) {}

  async read(param: XmosParamName): Promise<number> {
    const p: XmosParam = XMOS_PARAMS[param];
    let result;
    try {
      result = await this.device.controlTransferIn(readSetup(p), XMOS_READ_LENGTH);
    } catch (e) {
      throw new MicControlError(`${this.name}: reading ${p.name} failed: ${errorMessage(e)}`, { cause: e });
    }
    if (result.status !== 'ok' || !result.data) throw new MicControlError(`${this.name}: reading ${p.name} was refused (${result.status})`);
    try {
      return decodeRead(p, result.data);
    } catch (e) {
      throw new MicControlError(`${this.name}: ${errorMessage(e)}`);
    }
  }

  async write(param: XmosParamName, value: number): Promise<void> {
    const p: XmosParam = XMOS_PARAMS[param];
    const bad = checkWriteValue(p, value);
    if (bad) throw new MicControlError(`${this.name}: ${bad}`);
    let result;
    try {
      result = await this.device.controlTransferOut(writeSetup(p), encodeWrite(p, value));
    } catch (e) {
      throw new MicControlError(`${this.name}: writing ${p.name} = ${value} failed: ${errorMessage(e)}`, { cause: e });
    }
    if (result.status !== 'ok') throw new MicControlError(`${this.name}: writing ${p.name} = ${value} was refused (${result.status})`);
  }
}
