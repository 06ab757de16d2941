/**
 * Sony VISCA over IP: UDP 52381, each VISCA packet behind an 8-byte big-endian header
 * (payload type, payload length, sequence number). The camera address is always 1 and there is
 * no Address Set.
 *
 * Sequence numbers let the camera tell a retransmission (same number) from a new message, so a
 * retry after a lost reply reuses the number of the first send. On open, and whenever the
 * camera reports a sequence error, a control RESET puts both ends back at 0.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { IP_RESET, IP_TYPE, VISCA_IP_PORT, decodeIp, encodeIp, hex } from './codec.js';
import { ViscaBusError } from './errors.js';
import { Listeners, type TransportEvents, type ViscaTransport, type WriteOptions } from './transport.js';

export interface ViscaIpTransportOptions {
  host: string;
  port?: number;
  /** How long to wait for the RESET reply on open; the camera may simply be slow to boot. */
  resetTimeoutMs?: number;
}

export class ViscaIpTransport implements ViscaTransport {
  readonly kind = 'visca-ip';
  readonly supportsAddressSet = false;
  private socket: Socket | undefined;
  private readonly events = new Listeners<TransportEvents>();
  private nextSequence = 0;
  private lastSequence: number | undefined;
  private resetWaiter: ((ok: boolean) => void) | undefined;

  constructor(private readonly options: ViscaIpTransportOptions) {}

  get name(): string {
    return `${this.options.host}:${this.port}`;
  }

  private get port(): number {
    return this.options.port ?? VISCA_IP_PORT;
  }

  get isOpen(): boolean {
    return this.socket !== undefined;
  }

  /** The sequence number the next new message will carry (for tests and logs). */
  get sequence(): number {
    return this.nextSequence;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (payload: TransportEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  async open(): Promise<void> {
    if (this.socket) throw new ViscaBusError(`${this.name} is already open`, this.name, false);
    const socket = createSocket(isIP(this.options.host) === 6 ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        // Connected: the kernel drops datagrams from anyone but the camera.
        socket.connect(this.port, this.options.host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      socket.close();
      throw new ViscaBusError(`cannot reach VISCA over IP camera at ${this.name}: ${e instanceof Error ? e.message : String(e)}`, this.name, false, { cause: e });
    }
    this.socket = socket;
    socket.on('message', (msg: Buffer) => this.receive(msg));
    // Connected UDP reports ICMP port unreachable as ECONNREFUSED; the camera may come back.
    socket.on('error', (err) => this.events.emit('error', err));
    // No reply is not fatal: UDP cannot tell a booting camera from a missing one, and the
    // controller's liveness inquiry will report it.
    await this.reset();
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    this.resetWaiter?.(false);
    await new Promise<void>((resolve) => {
      socket.close(() => resolve());
    });
  }

  async write(bytes: Uint8Array, options: WriteOptions = {}): Promise<void> {
    let sequence: number;
    if (options.retry && this.lastSequence !== undefined) {
      sequence = this.lastSequence;
    } else {
      sequence = this.nextSequence;
      this.nextSequence = (this.nextSequence + 1) >>> 0;
      this.lastSequence = sequence;
    }
    const type = bytes[1] === 0x09 ? IP_TYPE.inquiry : IP_TYPE.command;
    await this.send(encodeIp(type, sequence, bytes));
  }

  /** Control RESET: the sequence number goes back to 0 on both ends. */
  async reset(): Promise<boolean> {
    const timeoutMs = this.options.resetTimeoutMs ?? 500;
    const acked = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        if (this.resetWaiter === done) this.resetWaiter = undefined;
        resolve(ok);
      };
      this.resetWaiter?.(false);
      this.resetWaiter = done;
    });
    try {
      await this.send(encodeIp(IP_TYPE.control, this.nextSequence, IP_RESET));
    } catch {
      this.resetWaiter?.(false);
    }
    this.nextSequence = 0;
    // A retry after a reset must not reuse a number from before it.
    this.lastSequence = undefined;
    return acked;
  }

  private async send(datagram: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!socket) throw new ViscaBusError(`VISCA over IP socket for ${this.name} is not open`, this.name, false);
    await new Promise<void>((resolve, reject) => {
      socket.send(datagram, (err) => (err ? reject(new ViscaBusError(`send to ${this.name} failed: ${err.message}`, this.name, false, { cause: err })) : resolve()));
    });
  }

  private receive(msg: Buffer): void {
    const m = decodeIp(msg);
    if (!m.ok) {
      this.events.emit('error', new Error(`VISCA over IP datagram from ${this.name} ignored: ${m.reason}`));
      return;
    }
    if (m.type === IP_TYPE.reply) {
      this.events.emit('data', m.payload);
      return;
    }
    if (m.type === IP_TYPE.controlReply) {
      if (m.payload.length === 1 && m.payload[0] === 0x01) {
        this.resetWaiter?.(true);
        return;
      }
      if (m.payload[0] === 0x0f && m.payload[1] === 0x01) {
        // The camera lost track of our numbering; start again at 0 and let the controller's
        // timeout and retry resend the message.
        this.events.emit('error', new Error(`VISCA over IP camera at ${this.name} reported a sequence number error; resetting`));
        this.reset().catch(() => undefined);
        return;
      }
      if (m.payload[0] === 0x0f && m.payload[1] === 0x02) {
        this.events.emit('error', new Error(`VISCA over IP camera at ${this.name} reported a message type error`));
        return;
      }
    }
    this.events.emit('error', new Error(`VISCA over IP datagram from ${this.name} ignored: type ${m.type.toString(16)} payload ${hex(m.payload)}`));
  }
}
