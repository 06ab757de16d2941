/**
 * The byte pipe a VISCA controller talks through. The controller depends on this interface
 * only, so the same logic drives a serial line, a raw TCP stream, Sony VISCA over IP, or an
 * in-memory peer in tests.
 */

export type TransportKind = 'serial' | 'visca-ip' | 'tcp' | 'memory';

export interface TransportClose {
  /** True when the device went away (unplugged, connection reset), false after close(). */
  disconnected: boolean;
  error?: Error;
}

export interface WriteOptions {
  /**
   * The same packet sent again because no reply came. VISCA over IP resends it with the same
   * sequence number so the camera can tell a retry from a new command; streams ignore this.
   */
  retry?: boolean;
}

export interface TransportEvents {
  /** Bytes as they arrive: packets may be split or glued together. */
  data: Uint8Array;
  close: TransportClose;
  error: Error;
}

export interface ViscaTransport {
  readonly kind: TransportKind;
  /** The path or host:port, for messages. */
  readonly name: string;
  /** Stream transports carry a daisy chain and answer Address Set; VISCA over IP does not. */
  readonly supportsAddressSet: boolean;
  readonly isOpen: boolean;
  /** Rejects with a ViscaBusError (absent: true when the port does not exist). */
  open(): Promise<void>;
  close(): Promise<void>;
  write(bytes: Uint8Array, options?: WriteOptions): Promise<void>;
  on<E extends keyof TransportEvents>(event: E, listener: (payload: TransportEvents[E]) => void): () => void;
}

/**
 * A minimal typed listener registry. Unlike EventEmitter, an `error` with no listener is
 * not thrown (a transport error must never crash the daemon), and a listener that throws does
 * not stop the others.
 */
export class Listeners<Events extends { [K in keyof Events]: unknown }> {
  private readonly map = new Map<keyof Events, Set<(payload: never) => void>>();

  constructor(private readonly onListenerError?: (e: unknown) => void) {}

  on<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): () => void {
    let set = this.map.get(event);
    if (!set) {
      set = new Set();
      this.map.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    for (const listener of [...(this.map.get(event) ?? [])]) {
      try {
        (listener as (payload: Events[E]) => void)(payload);
      } catch (e) {
        this.onListenerError?.(e);
      }
    }
  }

  clear(): void {
    this.map.clear();
  }
}

/**
 * `host:port` or `host` (with a default port); IPv6 in brackets: `[::1]:52381`. Port 0 (any
 * free port) only where `allowZero`, for listening.
 */
export function parseHostPort(value: string, defaultPort: number, options: { allowZero?: boolean } = {}): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  const plain = /^([^:[\]]+)(?::(\d+))?$/.exec(value);
  const m = bracketed ?? plain;
  if (!m?.[1]) throw new RangeError(`expected HOST or HOST:PORT, got "${value}"`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  const min = options.allowZero ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65535) throw new RangeError(`port must be ${min}–65535, got "${m[2]}"`);
  return { host: m[1], port };
}
