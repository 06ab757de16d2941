/**
 * VISCA over RS-232/RS-422 through serialport: 8N1, no flow control, 9600 baud unless the
 * camera is set to 19200 or 38400.
 *
 * serialport notices an unplugged adapter only while a read is pending (it then closes with
 * `disconnected: true`); the controller's periodic inquiry covers the rest. Opening a missing
 * path fails with "No such file or directory", which becomes `absent`.
 */
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { ViscaBusError } from './errors.js';
import { Listeners, type TransportEvents, type ViscaTransport } from './transport.js';

export const BAUD_RATES = [9600, 19200, 38400] as const;
export type BaudRate = (typeof BAUD_RATES)[number];

export interface SerialTransportOptions {
  path: string;
  baudRate?: BaudRate;
}

function isMissing(e: unknown, path: string): boolean {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  if (err?.code === 'ENOENT') return true;
  if (typeof err?.message === 'string' && /no such file or directory/i.test(err.message)) return true;
  return !existsSync(path);
}

export class SerialTransport implements ViscaTransport {
  readonly kind = 'serial';
  readonly supportsAddressSet = true;
  private port: SerialPort | undefined;
  private readonly events = new Listeners<TransportEvents>();

  constructor(private readonly options: SerialTransportOptions) {}

  get name(): string {
    return this.options.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (payload: TransportEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  async open(): Promise<void> {
    if (this.port) throw new ViscaBusError(`${this.name} is already open`, this.name, false);
    const port = new SerialPort({
      path: this.options.path,
      baudRate: this.options.baudRate ?? 9600,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      rtscts: false,
      autoOpen: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        port.open((err) => (err ? reject(err) : resolve()));
      });
    } catch (e) {
      const absent = isMissing(e, this.options.path);
      const why = e instanceof Error ? e.message : String(e);
      throw new ViscaBusError(absent ? `serial port ${this.name} is missing` : `cannot open serial port ${this.name}: ${why}`, this.name, absent, { cause: e });
    }
    this.port = port;
    port.on('data', (chunk: Buffer) => this.events.emit('data', chunk));
    port.on('error', (err: Error) => this.events.emit('error', err));
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.port !== port) return;
      this.port = undefined;
      this.events.emit('close', { disconnected: err?.disconnected === true, ...(err ? { error: err } : {}) });
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port) return;
    // Cleared first, so the close event is not reported as a disconnection.
    this.port = undefined;
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => {
      port.close(() => resolve());
    });
  }

  async write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) throw new ViscaBusError(`serial port ${this.name} is not open`, this.name, false);
    await new Promise<void>((resolve, reject) => {
      port.write(Buffer.from(bytes), (err) => (err ? reject(new ViscaBusError(`write to ${this.name} failed: ${err.message}`, this.name, false, { cause: err })) : resolve()));
    });
  }
}
