/**
 * VISCA packet encoders and decoders. Pure functions only: no I/O, no clocks, no state.
 *
 * A packet is a header byte, 1–14 data bytes and the terminator `FF`. A command to camera x
 * starts `8x`; camera x answers with header `(x + 8) << 4`. Encoders validate their arguments
 * (a RangeError means a bug in the caller, which should have checked user input first);
 * decoders never throw on arbitrary bytes and return a `malformed` variant instead.
 */

export const TERMINATOR = 0xff;
export const MIN_PACKET = 3;
export const MAX_PACKET = 16;
/** The broadcast address: Address Set and IF_Clear to every camera on the chain. */
export const BROADCAST = 8;
export const MIN_ADDRESS = 1;
export const MAX_ADDRESS = 7;

/** Pan speed `01–18` and tilt speed `01–17` (some models only `01–14`). */
export const PAN_SPEED_MAX = 0x18;
export const TILT_SPEED_MAX = 0x17;
/** Presets 0–0xFE (older models only 0–0x0F); 0xFF would be the terminator. */
export const PRESET_MAX = 0xfe;
/** Variable zoom speed p in `2p` / `3p`. */
export const ZOOM_SPEED_MAX = 7;

/** Typical ranges (Sony SRG-300H); a model can differ, so the camera takes these as settings. */
export const PAN_MIN = -0x2200; // DE00
export const PAN_MAX = 0x2200;
export const TILT_MIN = -0x0400; // FC00
export const TILT_MAX = 0x1200;
export const ZOOM_MIN = 0;
export const ZOOM_MAX = 0x4000;

export type RequestType = 'command' | 'inquiry' | 'cancel' | 'address-set' | 'if-clear';

/** What a request does, so the controller can apply the powered-off rule and track power. */
export type RequestOp =
  | 'power.on'
  | 'power.standby'
  | 'pan-tilt.drive'
  | 'pan-tilt.absolute'
  | 'pan-tilt.relative'
  | 'pan-tilt.home'
  | 'pan-tilt.reset'
  | 'zoom.drive'
  | 'zoom.direct'
  | 'focus'
  | 'preset.reset'
  | 'preset.set'
  | 'preset.recall'
  | 'cancel'
  | 'if-clear'
  | 'address-set'
  | 'inquiry.power'
  | 'inquiry.zoom'
  | 'inquiry.pan-tilt'
  | 'inquiry.version'
  | 'inquiry.last-preset';

export interface ViscaRequest {
  /** For messages: `preset recall 3`. */
  readonly name: string;
  readonly op: RequestOp;
  readonly type: RequestType;
  /** The whole packet, header to `FF`. */
  readonly bytes: Uint8Array;
  /** While in standby a camera accepts only power and inquiry (and interface) messages. */
  readonly allowedInStandby: boolean;
  /**
   * Safe to send again when no reply came: a lost ACK may mean the camera did run it, and a
   * relative move run twice goes twice as far.
   */
  readonly idempotent: boolean;
  /** Inquiries: the number of data bytes between `50` and `FF` in a valid answer. */
  readonly answerLength?: number;
}

// ---------------------------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------------------------

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer ${min}–${max}, got ${value}`);
  }
}

function checkAddress(address: number): void {
  checkInt('VISCA camera address', address, MIN_ADDRESS, MAX_ADDRESS);
}

/** Four bytes `0p 0q 0r 0s`, one nibble each, most significant first (16-bit two's complement). */
export function toNibbles(value: number): [number, number, number, number] {
  const v = value & 0xffff;
  return [(v >> 12) & 0x0f, (v >> 8) & 0x0f, (v >> 4) & 0x0f, v & 0x0f];
}

function packet(address: number, ...data: number[]): Uint8Array {
  return Uint8Array.from([0x80 | address, ...data, TERMINATOR]);
}

function command(
  op: RequestOp,
  name: string,
  address: number,
  data: number[],
  extra: Partial<Pick<ViscaRequest, 'allowedInStandby' | 'idempotent'>> = {},
): ViscaRequest {
  checkAddress(address);
  return {
    name,
    op,
    type: 'command',
    bytes: packet(address, ...data),
    allowedInStandby: extra.allowedInStandby ?? false,
    idempotent: extra.idempotent ?? true,
  };
}

function inquiry(op: RequestOp, name: string, address: number, data: number[], answerLength: number): ViscaRequest {
  checkAddress(address);
  return { name, op, type: 'inquiry', bytes: packet(address, ...data), allowedInStandby: true, idempotent: true, answerLength };
}

export function powerOn(address: number): ViscaRequest {
  return command('power.on', 'power on', address, [0x01, 0x04, 0x00, 0x02], { allowedInStandby: true });
}

export function powerStandby(address: number): ViscaRequest {
  return command('power.standby', 'power standby', address, [0x01, 0x04, 0x00, 0x03], { allowedInStandby: true });
}

export type Direction = 'up' | 'down' | 'left' | 'right' | 'up-left' | 'up-right' | 'down-left' | 'down-right';
export const DIRECTIONS: readonly Direction[] = ['up', 'down', 'left', 'right', 'up-left', 'up-right', 'down-left', 'down-right'];

const DRIVE: Record<Direction | 'stop', readonly [number, number]> = {
  up: [0x03, 0x01],
  down: [0x03, 0x02],
  left: [0x01, 0x03],
  right: [0x02, 0x03],
  'up-left': [0x01, 0x01],
  'up-right': [0x02, 0x01],
  'down-left': [0x01, 0x02],
  'down-right': [0x02, 0x02],
  stop: [0x03, 0x03],
};

/** Pan-tilt drive: moves until stopped or at the end of travel. */
export function panTiltDrive(address: number, direction: Direction | 'stop', panSpeed: number, tiltSpeed: number): ViscaRequest {
  checkInt('pan speed', panSpeed, 1, PAN_SPEED_MAX);
  checkInt('tilt speed', tiltSpeed, 1, TILT_SPEED_MAX);
  const [a, b] = DRIVE[direction];
  return command('pan-tilt.drive', direction === 'stop' ? 'pan-tilt stop' : `pan-tilt ${direction}`, address, [0x01, 0x06, 0x01, panSpeed, tiltSpeed, a, b]);
}

export function panTiltStop(address: number, panSpeed = 1, tiltSpeed = 1): ViscaRequest {
  return panTiltDrive(address, 'stop', panSpeed, tiltSpeed);
}

function positionMove(kind: 0x02 | 0x03, address: number, pan: number, tilt: number, panSpeed: number, tiltSpeed: number): ViscaRequest {
  checkInt('pan speed', panSpeed, 1, PAN_SPEED_MAX);
  checkInt('tilt speed', tiltSpeed, 1, TILT_SPEED_MAX);
  checkInt('pan position', pan, -0x8000, 0x7fff);
  checkInt('tilt position', tilt, -0x8000, 0x7fff);
  const absolute = kind === 0x02;
  return command(
    absolute ? 'pan-tilt.absolute' : 'pan-tilt.relative',
    `${absolute ? 'absolute' : 'relative'} move ${pan}/${tilt}`,
    address,
    [0x01, 0x06, kind, panSpeed, tiltSpeed, ...toNibbles(pan), ...toNibbles(tilt)],
    { idempotent: absolute },
  );
}

/** Absolute pan/tilt position, signed 16-bit each. */
export function absoluteMove(address: number, pan: number, tilt: number, panSpeed: number, tiltSpeed: number): ViscaRequest {
  return positionMove(0x02, address, pan, tilt, panSpeed, tiltSpeed);
}

/** Move by a signed 16-bit pan/tilt offset. Not idempotent: never resent blindly. */
export function relativeMove(address: number, pan: number, tilt: number, panSpeed: number, tiltSpeed: number): ViscaRequest {
  return positionMove(0x03, address, pan, tilt, panSpeed, tiltSpeed);
}

export function home(address: number): ViscaRequest {
  return command('pan-tilt.home', 'home', address, [0x01, 0x06, 0x04]);
}

export function panTiltReset(address: number): ViscaRequest {
  return command('pan-tilt.reset', 'pan-tilt reset', address, [0x01, 0x06, 0x05]);
}

export function zoomStop(address: number): ViscaRequest {
  return command('zoom.drive', 'zoom stop', address, [0x01, 0x04, 0x07, 0x00]);
}

/** Zoom in at the standard speed, or at variable speed p 0–7. */
export function zoomTele(address: number, speed?: number): ViscaRequest {
  if (speed === undefined) return command('zoom.drive', 'zoom tele', address, [0x01, 0x04, 0x07, 0x02]);
  checkInt('zoom speed', speed, 0, ZOOM_SPEED_MAX);
  return command('zoom.drive', `zoom tele ${speed}`, address, [0x01, 0x04, 0x07, 0x20 | speed]);
}

/** Zoom out at the standard speed, or at variable speed p 0–7. */
export function zoomWide(address: number, speed?: number): ViscaRequest {
  if (speed === undefined) return command('zoom.drive', 'zoom wide', address, [0x01, 0x04, 0x07, 0x03]);
  checkInt('zoom speed', speed, 0, ZOOM_SPEED_MAX);
  return command('zoom.drive', `zoom wide ${speed}`, address, [0x01, 0x04, 0x07, 0x30 | speed]);
}

export function zoomDirect(address: number, position: number): ViscaRequest {
  checkInt('zoom position', position, 0, 0xffff);
  return command('zoom.direct', `zoom to ${position}`, address, [0x01, 0x04, 0x47, ...toNibbles(position)]);
}

export function focusAuto(address: number): ViscaRequest {
  return command('focus', 'focus auto', address, [0x01, 0x04, 0x38, 0x02]);
}

export function focusManual(address: number): ViscaRequest {
  return command('focus', 'focus manual', address, [0x01, 0x04, 0x38, 0x03]);
}

export function focusOnePush(address: number): ViscaRequest {
  return command('focus', 'focus one-push', address, [0x01, 0x04, 0x18, 0x01]);
}

function preset(op: 'preset.reset' | 'preset.set' | 'preset.recall', n: 0 | 1 | 2, address: number, number: number): ViscaRequest {
  checkInt('preset number', number, 0, PRESET_MAX);
  const word = op === 'preset.reset' ? 'reset' : op === 'preset.set' ? 'set' : 'recall';
  return command(op, `preset ${word} ${number}`, address, [0x01, 0x04, 0x3f, n, number]);
}

export function presetReset(address: number, number: number): ViscaRequest {
  return preset('preset.reset', 0, address, number);
}

export function presetSet(address: number, number: number): ViscaRequest {
  return preset('preset.set', 1, address, number);
}

export function presetRecall(address: number, number: number): ViscaRequest {
  return preset('preset.recall', 2, address, number);
}

/** Cancel the command executing in socket 1 or 2. */
export function cancel(address: number, socket: number): ViscaRequest {
  checkAddress(address);
  checkInt('socket', socket, 1, 0x0f);
  return { name: `cancel socket ${socket}`, op: 'cancel', type: 'cancel', bytes: packet(address, 0x20 | socket), allowedInStandby: true, idempotent: true };
}

/** IF_Clear to one camera (answered `z0 50 FF`) or, without an address, broadcast (echoed). */
export function ifClear(address?: number): ViscaRequest {
  if (address !== undefined) checkAddress(address);
  return {
    name: address === undefined ? 'IF_Clear broadcast' : 'IF_Clear',
    op: 'if-clear',
    type: 'if-clear',
    bytes: packet(address ?? BROADCAST, 0x01, 0x00, 0x01),
    allowedInStandby: true,
    idempotent: true,
  };
}

/** Address Set broadcast: the first camera takes `first`, the next `first + 1`, and so on. */
export function addressSet(first = 1): ViscaRequest {
  checkAddress(first);
  return { name: 'Address Set', op: 'address-set', type: 'address-set', bytes: packet(BROADCAST, 0x30, first), allowedInStandby: true, idempotent: true };
}

export function inquirePower(address: number): ViscaRequest {
  return inquiry('inquiry.power', 'power inquiry', address, [0x09, 0x04, 0x00], 1);
}

export function inquireZoom(address: number): ViscaRequest {
  return inquiry('inquiry.zoom', 'zoom position inquiry', address, [0x09, 0x04, 0x47], 4);
}

export function inquirePanTilt(address: number): ViscaRequest {
  return inquiry('inquiry.pan-tilt', 'pan-tilt position inquiry', address, [0x09, 0x06, 0x12], 8);
}

export function inquireVersion(address: number): ViscaRequest {
  return inquiry('inquiry.version', 'version inquiry', address, [0x09, 0x00, 0x02], 7);
}

export function inquireLastPreset(address: number): ViscaRequest {
  return inquiry('inquiry.last-preset', 'last preset inquiry', address, [0x09, 0x04, 0x3f], 1);
}

// ---------------------------------------------------------------------------------------------
// Reply decoder
// ---------------------------------------------------------------------------------------------

export const ERROR_CODES = [0x01, 0x02, 0x03, 0x04, 0x05, 0x41] as const;
export type ViscaErrorCode = (typeof ERROR_CODES)[number];

const ERROR_TEXT: Record<ViscaErrorCode, string> = {
  0x01: 'message length error',
  0x02: 'syntax error',
  0x03: 'command buffer full',
  0x04: 'command cancelled',
  0x05: 'no socket (nothing to cancel)',
  0x41: 'command not executable now',
};

export function errorText(code: number): string {
  const text = (ERROR_TEXT as Record<number, string | undefined>)[code];
  return `${text ?? 'unknown error'} (VISCA error ${hexByte(code)})`;
}

export function isErrorCode(code: number): code is ViscaErrorCode {
  return (ERROR_CODES as readonly number[]).includes(code);
}

export type ViscaReply =
  | { kind: 'ack'; address: number; socket: number }
  | { kind: 'completion'; address: number; socket: number }
  | { kind: 'error'; address: number; socket: number; code: ViscaErrorCode }
  | { kind: 'answer'; address: number; data: Uint8Array }
  | { kind: 'address-set'; next: number }
  | { kind: 'network-change'; address: number }
  | { kind: 'if-clear'; address: number | 'broadcast' }
  | { kind: 'unknown'; bytes: Uint8Array; address?: number }
  | { kind: 'malformed'; bytes: Uint8Array; reason: string };

/** A reply header: camera 1–7 to the controller (`90`…`F0`), or a broadcast `88` coming back. */
export function isReplyHeader(byte: number): boolean {
  return byte === 0x88 || (byte >= 0x90 && byte <= 0xf0 && (byte & 0x0f) === 0);
}

/** A command header: the controller (0) to camera 1–7 or broadcast (`81`…`88`). */
export function isCommandHeader(byte: number): boolean {
  return byte >= 0x81 && byte <= 0x88;
}

/** Checks the framing rules shared by both directions; returns why a packet is invalid. */
export function packetProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < MIN_PACKET) return `packet too short (${bytes.length} bytes)`;
  if (bytes.length > MAX_PACKET) return `packet too long (${bytes.length} bytes)`;
  if (bytes[bytes.length - 1] !== TERMINATOR) return 'packet does not end with FF';
  if (bytes.subarray(0, -1).includes(TERMINATOR)) return 'FF inside packet';
  if (((bytes[0] ?? 0) & 0x80) === 0) return `not a header byte: ${hexByte(bytes[0] ?? 0)}`;
  return undefined;
}

/** Decode one packet from a camera. Never throws. */
export function decodeReply(bytes: Uint8Array): ViscaReply {
  const problem = packetProblem(bytes);
  if (problem) return { kind: 'malformed', bytes, reason: problem };
  const header = bytes[0] ?? 0;
  const body = bytes.subarray(1, -1);
  const b0 = body[0] ?? -1;

  if (header === 0x88) {
    if (body.length === 2 && b0 === 0x30) {
      const next = body[1] ?? 0;
      if (next >= 1 && next <= BROADCAST) return { kind: 'address-set', next };
      return { kind: 'malformed', bytes, reason: `Address Set reply with address ${hexByte(next)}` };
    }
    if (body.length === 3 && b0 === 0x01 && body[1] === 0x00 && body[2] === 0x01) return { kind: 'if-clear', address: 'broadcast' };
    return { kind: 'unknown', bytes };
  }
  if (!isReplyHeader(header)) return { kind: 'unknown', bytes };
  const address = (header >> 4) - 8;
  const high = b0 & 0xf0;
  const low = b0 & 0x0f;

  if (body.length === 1) {
    if (b0 === 0x38) return { kind: 'network-change', address };
    if (high === 0x40 && low !== 0) return { kind: 'ack', address, socket: low };
    if (high === 0x50) return low === 0 ? { kind: 'if-clear', address } : { kind: 'completion', address, socket: low };
    return { kind: 'unknown', bytes, address };
  }
  if (b0 === 0x50) return { kind: 'answer', address, data: body.slice(1) };
  if (high === 0x60 && body.length === 2) {
    const code = body[1] ?? 0;
    if (isErrorCode(code)) return { kind: 'error', address, socket: low, code };
    return { kind: 'unknown', bytes, address };
  }
  return { kind: 'unknown', bytes, address };
}

/** Whether a decoded packet is one the controller can act on. */
export function isKnownReply(bytes: Uint8Array): boolean {
  const kind = decodeReply(bytes).kind;
  return kind !== 'malformed' && kind !== 'unknown';
}

/**
 * The framer's preference when resynchronising: a known reply, and for answers one without a
 * header-like byte inside (which is more likely the start of the next packet after a lost
 * `FF`). A version answer may legitimately hold such a byte; the framer still takes it when no
 * better start exists.
 */
export function isPlausibleReply(bytes: Uint8Array): boolean {
  const r = decodeReply(bytes);
  if (r.kind === 'malformed' || r.kind === 'unknown') return false;
  return r.kind !== 'answer' || !r.data.some(isReplyHeader);
}

// ---------------------------------------------------------------------------------------------
// Inquiry answer decoders (the data bytes between `50` and `FF`)
// ---------------------------------------------------------------------------------------------

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail<T>(reason: string): Decoded<T> {
  return { ok: false, reason };
}

/** Four nibble bytes (each `00`–`0F`) to an unsigned 16-bit value. */
export function fromNibbles(data: Uint8Array, offset: number): number | undefined {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const b = data[offset + i];
    if (b === undefined || b > 0x0f) return undefined;
    value = (value << 4) | b;
  }
  return value;
}

export function toSigned16(value: number): number {
  return value >= 0x8000 ? value - 0x10000 : value;
}

export type PowerState = 'on' | 'standby';

export function decodePowerAnswer(data: Uint8Array): Decoded<PowerState> {
  if (data.length !== 1) return fail(`power answer has ${data.length} data bytes, expected 1`);
  if (data[0] === 0x02) return { ok: true, value: 'on' };
  if (data[0] === 0x03) return { ok: true, value: 'standby' };
  return fail(`unknown power state ${hexByte(data[0] ?? 0)}`);
}

export function decodeZoomAnswer(data: Uint8Array): Decoded<number> {
  if (data.length !== 4) return fail(`zoom answer has ${data.length} data bytes, expected 4`);
  const v = fromNibbles(data, 0);
  return v === undefined ? fail('zoom answer is not four nibbles') : { ok: true, value: v };
}

export function decodePanTiltAnswer(data: Uint8Array): Decoded<{ pan: number; tilt: number }> {
  if (data.length !== 8) return fail(`pan-tilt answer has ${data.length} data bytes, expected 8`);
  const pan = fromNibbles(data, 0);
  const tilt = fromNibbles(data, 4);
  if (pan === undefined || tilt === undefined) return fail('pan-tilt answer is not eight nibbles');
  return { ok: true, value: { pan: toSigned16(pan), tilt: toSigned16(tilt) } };
}

export interface VersionInfo {
  vendor: number;
  model: number;
  rom: number;
  maxSocket: number;
}

export function decodeVersionAnswer(data: Uint8Array): Decoded<VersionInfo> {
  if (data.length !== 7) return fail(`version answer has ${data.length} data bytes, expected 7`);
  const word = (i: number): number => ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  return { ok: true, value: { vendor: word(0), model: word(2), rom: word(4), maxSocket: data[6] ?? 0 } };
}

export function decodeLastPresetAnswer(data: Uint8Array): Decoded<number> {
  if (data.length !== 1) return fail(`last preset answer has ${data.length} data bytes, expected 1`);
  const n = data[0] ?? 0;
  return n <= PRESET_MAX ? { ok: true, value: n } : fail(`preset number ${hexByte(n)} out of range`);
}

/** `VISCA 0x0001/0x0519`: the model string health reports carry. */
export function modelString(v: VersionInfo): string {
  return `VISCA 0x${hex16(v.vendor)}/0x${hex16(v.model)}`;
}

// ---------------------------------------------------------------------------------------------
// Sony VISCA over IP (UDP 52381): 8-byte big-endian header before each VISCA packet
// ---------------------------------------------------------------------------------------------

export const IP_TYPE = {
  command: 0x0100,
  inquiry: 0x0110,
  reply: 0x0111,
  setting: 0x0120,
  control: 0x0200,
  controlReply: 0x0201,
} as const;
export const IP_HEADER = 8;
export const VISCA_IP_PORT = 52381;
export const VISCA_TCP_PORT = 5678;

export function encodeIp(type: number, sequence: number, payload: Uint8Array): Uint8Array {
  checkInt('payload length', payload.length, 1, MAX_PACKET);
  const out = new Uint8Array(IP_HEADER + payload.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, type);
  view.setUint16(2, payload.length);
  view.setUint32(4, sequence >>> 0);
  out.set(payload, IP_HEADER);
  return out;
}

export type IpMessage = { ok: true; type: number; sequence: number; payload: Uint8Array } | { ok: false; reason: string };

export function decodeIp(datagram: Uint8Array): IpMessage {
  if (datagram.length < IP_HEADER + 1) return { ok: false, reason: `datagram too short (${datagram.length} bytes)` };
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const type = view.getUint16(0);
  const length = view.getUint16(2);
  const sequence = view.getUint32(4);
  if (length < 1 || length > MAX_PACKET) return { ok: false, reason: `payload length ${length} out of range 1–16` };
  if (datagram.length !== IP_HEADER + length) {
    return { ok: false, reason: `payload length ${length} does not match datagram (${datagram.length - IP_HEADER} bytes)` };
  }
  return { ok: true, type, sequence, payload: datagram.slice(IP_HEADER) };
}

/** The control payload that resets the sequence number. */
export const IP_RESET = Uint8Array.of(0x01);
/** Control reply errors: `0F 01` sequence number, `0F 02` message type. */
export const IP_ERROR_SEQUENCE = Uint8Array.of(0x0f, 0x01);
export const IP_ERROR_TYPE = Uint8Array.of(0x0f, 0x02);

// ---------------------------------------------------------------------------------------------

export function hexByte(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

function hex16(v: number): string {
  return v.toString(16).padStart(4, '0');
}

/** `81 01 04 00 02 FF`, for logs and messages. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, hexByte).join(' ');
}
