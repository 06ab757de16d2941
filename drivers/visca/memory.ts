/**
 * An in-memory transport and its far end, for running the controller against the simulator
 * in one process (tests, the agent's simulate mode) or against a fuzzing peer. Delivery is
 * asynchronous in both directions, like a real port, so no caller sees its own reply before
 * its write returned.
 */
import { ViscaBusError } from './errors.js';
import { Listeners, type TransportEvents, type ViscaTransport } from './transport.js';

export class MemoryPeer {
  private readonly received = new Listeners<{ data: Uint8Array }>();
  private transportSide: MemoryTransport | undefined;
  private present = true;

  /** Whether the "port" exists: while unplugged, opening it fails as a missing port. */
  get plugged(): boolean {
    return this.present;
  }

  /** Bytes the controller wrote. */
  onData(listener: (bytes: Uint8Array) => void): () => void {
    return this.received.on('data', listener);
  }

  /** Send bytes to the controller. */
  write(bytes: Uint8Array): void {
    const copy = Uint8Array.from(bytes);
    setImmediate(() => this.transportSide?.deliver(copy));
  }

  /** The port disappears: an open transport closes as disconnected, opening fails with ENOENT. */
  unplug(): void {
    this.present = false;
    this.transportSide?.disconnect();
  }

  replug(): void {
    this.present = true;
  }

  /** @internal */
  bind(transport: MemoryTransport | undefined): void {
    this.transportSide = transport;
  }

  /** @internal */
  fromController(bytes: Uint8Array): void {
    const copy = Uint8Array.from(bytes);
    setImmediate(() => this.received.emit('data', copy));
  }
}

export class MemoryTransport implements ViscaTransport {
  readonly kind = 'memory';
  readonly supportsAddressSet: boolean;
  private open_ = false;
  private readonly events = new Listeners<TransportEvents>();

  constructor(
    readonly name: string,
    readonly peer: MemoryPeer,
    options: { supportsAddressSet?: boolean } = {},
  ) {
    this.supportsAddressSet = options.supportsAddressSet ?? true;
  }

  get isOpen(): boolean {
    return this.open_;
  }

  on<E extends keyof TransportEvents>(event: E, listener: (payload: TransportEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  async open(): Promise<void> {
    if (!this.peer.plugged) throw new ViscaBusError(`port ${this.name} is missing`, this.name, true);
    this.open_ = true;
    this.peer.bind(this);
  }

  async close(): Promise<void> {
    this.open_ = false;
    this.peer.bind(undefined);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.open_) throw new ViscaBusError(`port ${this.name} is not open`, this.name, false);
    this.peer.fromController(bytes);
  }

  /** @internal */
  deliver(bytes: Uint8Array): void {
    if (this.open_) this.events.emit('data', bytes);
  }

  /** @internal */
  disconnect(): void {
    if (!this.open_) return;
    this.open_ = false;
    this.peer.bind(undefined);
    this.events.emit('close', { disconnected: true });
  }
}

/** A transport and the peer end that stands for the camera (or the chain). */
export function createMemoryLink(name = 'memory', options: { supportsAddressSet?: boolean } = {}): { transport: MemoryTransport; peer: MemoryPeer } {
  const peer = new MemoryPeer();
  return { transport: new MemoryTransport(name, peer, options), peer };
}
