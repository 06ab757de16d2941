/**
 * The USB layer under the microphone driver: the part of the `usb` package (version 3, whose
 * API follows WebUSB) that the driver uses, as structural types, and the real bus built on it.
 * Everything above depends on `UsbBus` and `UsbDeviceLike` only; `fake-usb.ts` gives the same
 * shapes without hardware (tests and `lectern agent --simulate`).
 *
 * Why a thin wrapper around the real `usb` object rather than the object itself:
 * - the package's `getDevices()` rejects when the host has no USB sysfs tree (containers, some
 *   test machines), and its connect/disconnect listener starts a device scan whose rejection
 *   nobody catches, which ends a Node 20 process; the wrapper checks for sysfs first and turns
 *   the failure into a `UsbUnavailableError`;
 * - the native binding is loaded on first use, so an agent on a host where it cannot load still
 *   runs (the microphone is reported, not the daemon lost).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceError, errorMessage } from '../../agent/errors.js';

export type UsbDirection = 'in' | 'out';

export interface UsbEndpointLike {
  endpointNumber: number;
  direction: UsbDirection;
  type: 'bulk' | 'interrupt' | 'isochronous';
  packetSize: number;
}

export interface UsbAlternateLike {
  alternateSetting: number;
  interfaceClass: number;
  interfaceSubclass: number;
  interfaceProtocol: number;
  interfaceName?: string | null;
  endpoints: UsbEndpointLike[];
}

export interface UsbInterfaceLike {
  interfaceNumber: number;
  alternate: UsbAlternateLike;
  alternates: UsbAlternateLike[];
}

export interface UsbConfigurationLike {
  configurationValue: number;
  configurationName?: string | null;
  interfaces: UsbInterfaceLike[];
}

/** A control transfer's setup, WebUSB style: bmRequestType is split into type and recipient. */
export interface UsbControlSetup {
  requestType: 'standard' | 'class' | 'vendor';
  recipient: 'device' | 'interface' | 'endpoint' | 'other';
  request: number;
  value: number;
  index: number;
}

export interface UsbInResult {
  data?: DataView;
  status: 'ok' | 'stall' | 'babble';
}

export interface UsbOutResult {
  bytesWritten: number;
  status: 'ok' | 'stall';
}

/** One USB device as the `usb` package (v3) gives it. */
export interface UsbDeviceLike {
  readonly vendorId: number;
  readonly productId: number;
  readonly deviceClass: number;
  readonly deviceSubclass: number;
  readonly deviceProtocol: number;
  /** The bus number (as text); see `busNumber()`. */
  readonly bus: string;
  /** The device's address on its bus (devnum). */
  readonly address: number;
  /** Hub port numbers from the root hub down, e.g. [1, 4] for sysfs `1-1.4`. */
  readonly ports: number[];
  readonly manufacturerName?: string | null;
  readonly productName?: string | null;
  readonly serialNumber?: string | null;
  readonly opened: boolean;
  /** The active configuration; undefined when the device has none (unconfigured). */
  readonly configuration?: UsbConfigurationLike | null;
  open(): Promise<void>;
  close(): Promise<void>;
  controlTransferIn(setup: UsbControlSetup, length: number): Promise<UsbInResult>;
  controlTransferOut(setup: UsbControlSetup, data?: ArrayBuffer | ArrayBufferView): Promise<UsbOutResult>;
}

export interface UsbConnectionEventLike {
  readonly device: UsbDeviceLike;
}

export type UsbConnectionListener = (event: UsbConnectionEventLike) => void;

/** The `usb` object: the devices present now, and connect/disconnect events. */
export interface UsbBus {
  getDevices(): Promise<UsbDeviceLike[]>;
  addEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void;
  removeEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void;
}

/** USB cannot be used on this host at all (no sysfs tree, native binding missing). */
export class UsbUnavailableError extends DeviceError {}

/** The bus number of a device: `bus` may read `1`, `001` or a sysfs name such as `1-1.4`. */
export function busNumber(device: Pick<UsbDeviceLike, 'bus'>): number | undefined {
  const m = /^0*(\d+)/.exec(device.bus);
  return m ? Number(m[1]) : undefined;
}

/** The device's sysfs name, `<bus>-<port>.<port>…` (for example `1-1.4`); undefined for a root hub. */
export function sysfsName(device: Pick<UsbDeviceLike, 'bus' | 'ports'>): string | undefined {
  const bus = busNumber(device);
  if (bus === undefined || device.ports.length === 0) return undefined;
  return `${bus}-${device.ports.join('.')}`;
}

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** `2886:0018`, as lsusb prints it. */
export function vidPid(device: Pick<UsbDeviceLike, 'vendorId' | 'productId'>): string {
  return `${hex4(device.vendorId)}:${hex4(device.productId)}`;
}

/**
 * The real bus on the `usb` package. `sysRoot` is where sysfs is mounted (tests point it at a
 * directory without a USB tree to see the unavailable path).
 */
export class NodeUsbBus implements UsbBus {
  private loaded: Promise<UsbBus> | undefined;
  private readonly pending = new Map<UsbConnectionListener, 'connect' | 'disconnect'>();

  constructor(private readonly sysRoot = '/sys') {}

  private available(): boolean {
    return existsSync(join(this.sysRoot, 'bus/usb/devices'));
  }

  private load(): Promise<UsbBus> {
    this.loaded ??= import('usb').then(
      (mod: { usb?: unknown; default?: { usb?: unknown } }) => {
        const bus = (mod.usb ?? mod.default?.usb) as UsbBus | undefined;
        if (!bus) throw new UsbUnavailableError('the usb package has no `usb` object (unexpected version)');
        return bus;
      },
      (e: unknown) => {
        throw new UsbUnavailableError(`the usb package's native part could not be loaded: ${errorMessage(e)}`, { cause: e });
      },
    );
    return this.loaded;
  }

  async getDevices(): Promise<UsbDeviceLike[]> {
    if (!this.available()) throw new UsbUnavailableError(`no USB devices can be seen on this host (${join(this.sysRoot, 'bus/usb/devices')} is missing)`);
    const bus = await this.load();
    try {
      return await bus.getDevices();
    } catch (e) {
      throw new UsbUnavailableError(`listing USB devices failed: ${errorMessage(e)}`, { cause: e });
    }
  }

  /**
   * Passed on to the package only where sysfs exists (see the file comment); elsewhere the
   * caller's polling of `getDevices()` is all there is, and it reports the host as without USB.
   */
  addEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    if (!this.available()) return;
    this.pending.set(listener, type);
    this.load().then(
      (bus) => {
        if (this.pending.get(listener) === type) bus.addEventListener(type, listener);
      },
      () => undefined,
    );
  }

  removeEventListener(type: 'connect' | 'disconnect', listener: UsbConnectionListener): void {
    if (this.pending.get(listener) !== type) return;
    this.pending.delete(listener);
    this.loaded?.then(
      (bus) => bus.removeEventListener(type, listener),
      () => undefined,
    );
  }
}
