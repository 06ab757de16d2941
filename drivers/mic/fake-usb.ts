/**
 * A USB bus and devices without hardware, in the `usb` package's shapes (see usb.ts): for tests
 * and for the simulated kit of `lectern agent --simulate`. Only this lowest layer is fake; the
 * enumeration, vendor controls and health above it are the real code.
 *
 * `FakeXmosArray` answers vendor control transfers the way the reference describes the XMOS
 * array (hardware reference, "USB array microphone"): it decodes each setup packet itself, keeps
 * the written parameters, serves direction of arrival and voice activity, and records every
 * transfer as raw setup bytes so tests can compare them with the reference.
 */
import type {
  UsbBus,
  UsbConfigurationLike,
  UsbConnectionListener,
  UsbControlSetup,
  UsbDeviceLike,
  UsbInResult,
  UsbOutResult,
} from './usb.js';

/** One control transfer as it would appear on the wire. */
export interface RecordedTransfer {
  bmRequestType: number;
  bRequest: number;
  wValue: number;
  wIndex: number;
  wLength: number;
  /** Host-to-device payload (writes). */
  data?: Uint8Array;
}

const TYPE_BITS = { standard: 0, class: 1, vendor: 2 } as const;
const RECIPIENT_BITS = { device: 0, interface: 1, endpoint: 2, other: 3 } as const;

/** bmRequestType from a WebUSB-style setup (USB 2.0 spec, 9.3): direction, type, recipient. */
export function bmRequestType(direction: 'in' | 'out', setup: UsbControlSetup): number {
  return (direction === 'in' ? 0x80 : 0) | (TYPE_BITS[setup.requestType] << 5) | RECIPIENT_BITS[setup.recipient];
}

export interface FakeDeviceOptions {
  vendorId: number;
  productId: number;
  bus?: string;
  address?: number;
  ports?: number[];
  manufacturerName?: string;
  productName?: string;
  serialNumber?: string;
  /** Interfaces of the active configuration; default: a USB Audio Class microphone. */
  configuration?: UsbConfigurationLike;
  /** The first `failOpens` opens fail like a node without udev permissions yet. */
  failOpens?: number;
}

/** Descriptors of a USB Audio Class microphone: control interface, streaming interface with an IN endpoint. */
export function audioCaptureConfiguration(): UsbConfigurationLike {
  const control = { alternateSetting: 0, interfaceClass: 1, interfaceSubclass: 1, interfaceProtocol: 0, endpoints: [] };
  const idle = { alternateSetting: 0, interfaceClass: 1, interfaceSubclass: 2, interfaceProtocol: 0, endpoints: [] };
  const streaming = {
    alternateSetting: 1,
    interfaceClass: 1,
    interfaceSubclass: 2,
    interfaceProtocol: 0,
    endpoints: [{ endpointNumber: 2, direction: 'in' as const, type: 'isochronous' as const, packetSize: 200 }],
  };
  return {
    configurationValue: 1,
    interfaces: [
      { interfaceNumber: 0, alternate: control, alternates: [control] },
      { interfaceNumber: 1, alternate: idle, alternates: [idle, streaming] },
    ],
  };
}

/** Descriptors of something that is not a microphone (a USB serial adapter, say). */
export function vendorOnlyConfiguration(): UsbConfigurationLike {
  const alt = {
    alternateSetting: 0,
    interfaceClass: 0xff,
    interfaceSubclass: 0,
    interfaceProtocol: 0,
    endpoints: [
      { endpointNumber: 1, direction: 'in' as const, type: 'bulk' as const, packetSize: 64 },
      { endpointNumber: 2, direction: 'out' as const, type: 'bulk' as const, packetSize: 64 },
    ],
  };
  return { configurationValue: 1, interfaces: [{ interfaceNumber: 0, alternate: alt, alternates: [alt] }] };
}

let nextAddress = 2;

export class FakeUsbDevice implements UsbDeviceLike {
  readonly vendorId: number;
  readonly productId: number;
  readonly deviceClass = 0xef;
  readonly deviceSubclass = 2;
  readonly deviceProtocol = 1;
  readonly bus: string;
  readonly address: number;
  readonly ports: number[];
  readonly manufacturerName: string | null;
  readonly productName: string | null;
  readonly serialNumber: string | null;
  readonly configuration: UsbConfigurationLike;
  /** Every control transfer received, oldest first. */
  readonly transfers: RecordedTransfer[] = [];
  private isOpen = false;
  private failOpens: number;
  /** Set while unplugged: everything fails like a device that went away. */
  gone = false;
  opens = 0;

  constructor(o: FakeDeviceOptions) {
    this.vendorId = o.vendorId;
    this.productId = o.productId;
    this.bus = o.bus ?? '001';
    this.address = o.address ?? nextAddress++;
    this.ports = o.ports ?? [1];
    this.manufacturerName = o.manufacturerName ?? null;
    this.productName = o.productName ?? null;
    this.serialNumber = o.serialNumber ?? null;
    this.configuration = o.configuration ?? audioCaptureConfiguration();
    this.failOpens = o.failOpens ?? 0;
  }

  get opened(): boolean {
    return this.isOpen;
  }

  /** Makes the next `n` opens fail with a permission error. */
  refuseOpens(n: number): void {
    this.failOpens = n;
  }

  async open(): Promise<void> {
    if (this.gone) throw new Error('open error: No such device (os error 19)');
    if (this.failOpens > 0) {
      this.failOpens--;
      throw new Error('open error: Permission denied (os error 13)');
    }
    this.opens++;
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }

  async controlTransferIn(setup: UsbControlSetup, length: number): Promise<UsbInResult> {
    this.check();
    this.transfers.push({ bmRequestType: bmRequestType('in', setup), bRequest: setup.request, wValue: setup.value, wIndex: setup.index, wLength: length });
    const answer = this.answerIn(this.transfers[this.transfers.length - 1]!);
    if (!answer) return { status: 'stall' };
    return { status: 'ok', data: new DataView(answer.buffer, answer.byteOffset, Math.min(answer.byteLength, length)) };
  }

  async controlTransferOut(setup: UsbControlSetup, data?: ArrayBuffer | ArrayBufferView): Promise<UsbOutResult> {
    this.check();
    const bytes = data === undefined ? new Uint8Array(0) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() : new Uint8Array(data).slice();
    const t: RecordedTransfer = { bmRequestType: bmRequestType('out', setup), bRequest: setup.request, wValue: setup.value, wIndex: setup.index, wLength: bytes.length, data: bytes };
    this.transfers.push(t);
    return this.answerOut(t) ? { status: 'ok', bytesWritten: bytes.length } : { status: 'stall', bytesWritten: 0 };
  }

  /** A plain device answers no vendor requests. */
  protected answerIn(_t: RecordedTransfer): Uint8Array | undefined {
    return undefined;
  }

  protected answerOut(_t: RecordedTransfer): boolean {
    return false;
  }

  private check(): void {
    if (this.gone) throw new Error('transfer error: device disconnected');
    if (!this.isOpen) throw new Error('transfer error: the device is not open');
  }
}

/** Parameter (id, offset) of the XMOS array, as the reference lists them. */
interface XmosSlot {
  type: 'int' | 'float';
  readOnly: boolean;
  value: number;
}

/**
 * The XMOS-based array (VID 0x2886, PID 0x0018) with its parameter store. DOA and voice activity
 * are set by the test or the simulator (`speak(angle)`, `quiet()`).
 */
export class FakeXmosArray extends FakeUsbDevice {
  private readonly params = new Map<string, XmosSlot>([
    ['21:0', { type: 'int', readOnly: true, value: 0 }], // DOA angle
    ['19:32', { type: 'int', readOnly: true, value: 0 }], // voice activity
    ['19:22', { type: 'int', readOnly: true, value: 0 }], // speech detected
    ['19:0', { type: 'int', readOnly: false, value: 1 }], // AGC on/off
    ['19:3', { type: 'float', readOnly: false, value: 1 }], // AGC gain
    ['19:8', { type: 'int', readOnly: false, value: 1 }], // stationary noise suppression
    ['19:11', { type: 'int', readOnly: false, value: 1 }], // non-stationary noise suppression
    ['19:14', { type: 'int', readOnly: false, value: 0 }], // echo suppression
  ]);

  constructor(o: Partial<FakeDeviceOptions> = {}) {
    super({ vendorId: 0x2886, productId: 0x0018, manufacturerName: 'SEEED', productName: 'ReSpeaker 4 Mic Array (UAC1.0)', ...o });
  }

  /** Someone speaks from `angle` degrees. */
  speak(angle: number): void {
    this.set('21:0', ((Math.round(angle) % 360) + 360) % 360);
    this.set('19:32', 1);
    this.set('19:22', 1);
  }

  quiet(): void {
    this.set('19:32', 0);
    this.set('19:22', 0);
  }

  /** The stored value of parameter (id, offset). */
  param(id: number, offset: number): number | undefined {
    return this.params.get(`${id}:${offset}`)?.value;
  }

  private set(key: string, value: number): void {
    const slot = this.params.get(key);
    if (slot) slot.value = value;
  }

  protected override answerIn(t: RecordedTransfer): Uint8Array | undefined {
    // Vendor, device-to-host, device recipient; request 0; 8 bytes.
    if (t.bmRequestType !== 0xc0 || t.bRequest !== 0 || t.wLength < 8) return undefined;
    if ((t.wValue & 0x80) === 0) return undefined;
    const offset = t.wValue & 0x3f;
    const asInt = (t.wValue & 0x40) !== 0;
    const slot = this.params.get(`${t.wIndex}:${offset}`);
    if (!slot || (slot.type === 'int') !== asInt) return undefined;
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    if (slot.type === 'int') {
      view.setInt32(0, slot.value, true);
      view.setInt32(4, 0, true);
    } else {
      // value = mantissa × 2^exponent, with a fixed exponent of −16.
      view.setInt32(0, Math.round(slot.value * 65536), true);
      view.setInt32(4, -16, true);
    }
    return out;
  }

  protected override answerOut(t: RecordedTransfer): boolean {
    if (t.bmRequestType !== 0x40 || t.bRequest !== 0 || t.wValue !== 0 || !t.data || t.data.length !== 12) return false;
    const view = new DataView(t.data.buffer, t.data.byteOffset, 12);
    const offset = view.getInt32(0, true);
    const type = view.getInt32(8, true);
    const slot = this.params.get(`${t.wIndex}:${offset}`);
    if (!slot || slot.readOnly) return false;
    if ((type === 1) !== (slot.type === 'int') || (type !== 0 && type !== 1)) return false;
    slot.value = type === 1 ? view.getInt32(4, true) : view.getFloat32(4, true);
    return true;
  }
}

/** The `usb` object of a machine whose ports the test or simulator plugs devices into. */
export class FakeUsbBus implements UsbBus {
  private readonly present = new Set<FakeUsbDevice>();
  private readonly listeners = { connect: new Set<UsbConnectionListener>(), disconnect: new Set<UsbConnectionListener>() };
  /** Makes getDevices() fail, like a host without a USB tree. */
  unavailable: string | undefined;

  constructor(devices: readonly FakeUsbDevice[] = []) {
    for (const d of devices) this.present.add(d);
  }

  get devices(): FakeUsbDevice[] {
    return [...this.present];
  }

  async getDevices(): Promise<UsbDeviceLike[]> {
    if (this.unavailable) throw new Error(this.unavailable);
    return [...this.present];
  }

  addEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    this.listeners[type].add(listener);
  }

  removeEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    this.listeners[type].delete(listener);
  }

  /** Plugs a device in; `silently` adds it without an event (a host where hot-plug is missing). */
  plug(device: FakeUsbDevice, silently = false): void {
    device.gone = false;
    this.present.add(device);
    if (!silently) for (const l of [...this.listeners.connect]) l({ device });
  }

  unplug(device: FakeUsbDevice, silently = false): void {
    if (!this.present.delete(device)) return;
    device.gone = true;
    void device.close();
    if (!silently) for (const l of [...this.listeners.disconnect]) l({ device });
  }

  listenerCount(): number {
    return this.listeners.connect.size + this.listeners.disconnect.size;
  }
}
