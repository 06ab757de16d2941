/**
 * Raw VISCA over TCP (PTZOptics and others, port 5678): no header, the stream carries packets
 * exactly like a serial line, split and glued as TCP pleases.
 */
import { Socket } from 'node:net';
import { VISCA_TCP_PORT } from './codec.js';
import { ViscaBusError } from './errors.js';
import { Listeners, type TransportEvents, type ViscaTransport } from './transport.js';

export interface TcpTransportOptions {
  host: string;
  port?: number;
  /** How long a connect may take before it counts as failed. */
  connectTimeoutMs?: number;
}

export class TcpTransport implements ViscaTransport {
  readonly kind = 'tcp';
  readonly supportsAddressSet = true;
  private socket: Socket | undefined;
  private readonly events = new Listeners<TransportEvents>();

  constructor(private readonly options: TcpTransportOptions) {}

  get name(): string {
    return `${this.options.host}:${this.options.port ?? VISCA_TCP_PORT}`;
  }

  get isOpen(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (payload: TransportEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  async open(): Promise<void> {
    if (this.socket) throw new ViscaBusError(`${this.name} is already open`, this.name, false);
    const socket = new Socket();
    const timeoutMs = this.options.connectTimeoutMs ?? 3000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no connection within ${timeoutMs} ms`));
        }, timeoutMs);
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        socket.connect({ host: this.options.host, port: this.options.port ?? VISCA_TCP_PORT }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (e) {
      socket.destroy();
      throw new ViscaBusError(`cannot connect to VISCA camera at ${this.name}: ${e instanceof Error ? e.message : String(e)}`, this.name, false, { cause: e });
    }
    // Packets are tiny and latency matters more than throughput.
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.socket = socket;
    let lastError: Error | undefined;
    socket.on('data', (chunk: Buffer) => this.events.emit('data', chunk));
    socket.on('error', (err) => {
      lastError = err;
      this.events.emit('error', err);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.events.emit('close', { disconnected: true, ...(lastError ? { error: lastError } : {}) });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    if (socket.closed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) throw new ViscaBusError(`connection to ${this.name} is not open`, this.name, false);
    await new Promise<void>((resolve, reject) => {
      socket.write(bytes, (err) => (err ? reject(new ViscaBusError(`write to ${this.name} failed: ${err.message}`, this.name, false, { cause: err })) : resolve()));
    });
  }
}
