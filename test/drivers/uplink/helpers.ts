// Real sockets for the uplink emulator tests: echo servers and sinks on 127.0.0.1 port 0, and
// clients that time what comes back.
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export const LOCAL = '127.0.0.1';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds or `timeoutMs` passes; a loaded machine runs timers late. */
export async function waitUntil(condition: () => boolean, timeoutMs = 3_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

export interface TcpServer {
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A TCP server on a free port; `onSocket` decides what it does (echo by default). */
export async function tcpServer(onSocket: (s: net.Socket) => void = (s) => s.pipe(s)): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, LOCAL, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP client that collects everything it receives and can wait for a number of bytes. */
export class TcpClient {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private waiters: (() => void)[] = [];
  error: NodeJS.ErrnoException | null = null;
  closed = false;

  private constructor(readonly socket: net.Socket) {}

  static async connect(port: number): Promise<TcpClient> {
    const socket = net.connect({ host: LOCAL, port });
    socket.setNoDelay(true);
    const client = new TcpClient(socket);
    socket.on('data', (c: Buffer) => {
      client.chunks.push(c);
      client.bytes += c.length;
      client.notify();
    });
    socket.on('error', (e) => {
      client.error = e;
      client.notify();
    });
    socket.on('close', () => {
      client.closed = true;
      client.notify();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return client;
  }

  get received(): number {
    return this.bytes;
  }

  /** Everything received so far, removed from the client. */
  take(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [];
    this.bytes = 0;
    return all;
  }

  /** Resolves true once `n` bytes are in, false on timeout or close. */
  async waitFor(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.bytes < n) {
      const left = deadline - performance.now();
      if (left <= 0 || this.closed) return this.bytes >= n;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        this.waiters.push(done);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    return true;
  }

  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed && performance.now() < deadline) await sleep(10);
    return this.closed;
  }

  /** Round trip of a small message through an echo server, in ms. */
  async ping(timeoutMs = 5_000): Promise<number> {
    this.take();
    const t0 = performance.now();
    this.socket.write(Buffer.from('ping1234'));
    if (!(await this.waitFor(8, timeoutMs))) throw new Error(`no echo within ${timeoutMs} ms`);
    const rtt = performance.now() - t0;
    this.take();
    return rtt;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

export interface Datagram {
  data: Buffer;
  at: number;
  from: dgram.RemoteInfo;
}

/** A UDP socket on a free port that records what arrives, optionally echoing it back. */
export class UdpPeer {
  readonly received: Datagram[] = [];
  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
  ) {}

  static async open(echo = false): Promise<UdpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, LOCAL, resolve));
    // Bursts in the tests must not be lost in the kernel, only in the emulator.
    socket.setRecvBufferSize(4 * 1024 * 1024);
    const peer = new UdpPeer(socket, socket.address().port);
    socket.on('message', (data, from) => {
      peer.received.push({ data, at: performance.now(), from });
      if (echo) socket.send(data, from.port, from.address);
    });
    return peer;
  }

  send(data: Buffer, port: number): void {
    this.socket.send(data, port, LOCAL);
  }

  async waitFor(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.received.length < n && performance.now() < deadline) await sleep(5);
    return this.received.length >= n;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A datagram of `size` bytes carrying a sequence number and the send time. */
export function stamped(seq: number, size = 64): Buffer {
  const b = Buffer.alloc(Math.max(size, 12));
  b.writeUInt32BE(seq, 0);
  b.writeDoubleBE(performance.now(), 4);
  return b;
}

export function seqOf(b: Buffer): number {
  return b.readUInt32BE(0);
}

export function sentAt(b: Buffer): number {
  return b.readDoubleBE(4);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Sends datagrams in small paced bursts, so the kernel's socket buffers never overflow even on
 * a loaded machine: the only losses in a test are then the emulator's.
 */
export async function sendPaced(
  peer: UdpPeer,
  port: number,
  count: number,
  make: (i: number) => Buffer,
  opts: { burst?: number; gapMs?: number } = {},
): Promise<void> {
  const burst = opts.burst ?? 20;
  const gap = opts.gapMs ?? 2;
  for (let i = 0; i < count; i++) {
    peer.send(make(i), port);
    if ((i + 1) % burst === 0) await sleep(gap);
  }
}
