/**
 * The TCP side of the emulator. Each accepted client gets an upstream connection to the target
 * and two pipes, one per direction. A pipe never reorders or loses bytes: jitter and emulated
 * loss only ever delay a chunk and everything behind it (head-of-line blocking, as in TCP).
 * Memory stays bounded because a pipe pauses its source socket whenever it cannot pass data on.
 */
import net from 'node:net';
import type { HostPort } from './address.js';
import { Fifo } from './fifo.js';
import type { LinkDirection } from './link.js';
import type { OutageMode } from './outage.js';
import type { ConnectionCounts, Proxy, ProxyContext } from './proxy.js';
import { now } from './scheduler.js';

interface InFlight {
  chunk: Buffer;
  at: number;
}

/** Default cap on what one pipe holds (delay line plus the destination's write buffer). */
export const DEFAULT_TCP_WINDOW_BYTES = 2 * 1024 * 1024;

/** One direction of one connection: source socket → link → destination socket. */
class Pipe {
  source: net.Socket | null = null;
  dest: net.Socket | null = null;
  private readonly pending = new Fifo<Buffer>();
  private pendingBytes = 0;
  private readonly inflight = new Fifo<InFlight>();
  private inflightBytes = 0;
  private lastDeliverAt = 0;
  private armed = false;
  private waiting = false;
  private paused = false;
  private sourceEnded = false;
  private destEnded = false;
  private closed = false;

  constructor(
    private readonly link: LinkDirection,
    private readonly ctx: ProxyContext,
    private readonly windowBytes: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.closed) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.link.counters.heldBytes += chunk.length;
    this.pump();
  }

  /** The source sent FIN: pass it on once everything before it has been delivered. */
  end(): void {
    this.sourceEnded = true;
    this.maybeEnd();
  }

  setDest(dest: net.Socket): void {
    this.dest = dest;
    this.flush();
  }

  /** After a blackhole: held data goes out as if retransmitted, one delay after the link is back. */
  resume(): void {
    if (this.closed) return;
    const earliest = now() + this.link.impairment.delayMs;
    for (const item of this.inflight) item.at = Math.max(item.at, earliest);
    this.lastDeliverAt = Math.max(this.lastDeliverAt, this.inflight.last()?.at ?? 0);
    this.pump();
    this.flush();
  }

  /** Stops for good; returns what was still held so it can be counted as lost. */
  close(): { bytes: number; chunks: number } {
    const lost = { bytes: this.pendingBytes + this.inflightBytes, chunks: this.pending.length + this.inflight.length };
    if (!this.closed) {
      this.closed = true;
      this.link.counters.heldBytes -= this.pendingBytes;
      this.link.counters.inFlightBytes -= this.inflightBytes;
      this.pending.clear();
      this.inflight.clear();
      this.pendingBytes = 0;
      this.inflightBytes = 0;
    }
    return lost;
  }

  /** Re-checks whether the source may read (after the destination drained, say). */
  updateFlow(): void {
    const source = this.source;
    if (this.closed || !source || source.destroyed) return;
    const buffered = this.pendingBytes + this.inflightBytes + (this.dest?.writableLength ?? 0);
    const pause = this.pendingBytes > 0 || buffered > this.windowBytes;
    if (pause && !this.paused) {
      this.paused = true;
      source.pause();
    } else if (!pause && this.paused) {
      this.paused = false;
      source.resume();
    }
  }

  private pump(): void {
    if (this.closed) return;
    for (let chunk = this.pending.peek(); chunk; chunk = this.pending.peek()) {
      if (this.ctx.outage() !== null) break;
      const t = now();
      const size = this.link.capped ? Math.min(chunk.length, this.link.segmentBytes) : chunk.length;
      const departAt = this.link.admit(size, t);
      if (departAt === null) {
        if (!this.waiting) {
          this.waiting = true;
          this.link.waitForSpace(() => {
            this.waiting = false;
            this.pump();
          });
        }
        break;
      }
      let piece = chunk;
      if (size < chunk.length) {
        piece = chunk.subarray(0, size);
        this.pending.replaceHead(chunk.subarray(size));
      } else {
        this.pending.shift();
      }
      this.pendingBytes -= size;
      this.link.counters.heldBytes -= size;
      const stall = this.link.drawStall(size);
      if (stall > 0) this.link.counters.stalls++;
      // Never before the previous chunk: TCP delivers in order, so a late chunk delays the rest.
      const at = Math.max(departAt + this.link.drawTransit() + stall, this.lastDeliverAt);
      this.lastDeliverAt = at;
      this.inflight.push({ chunk: piece, at });
      this.inflightBytes += size;
      this.link.counters.inFlightBytes += size;
      if (!this.armed) this.arm(at);
    }
    this.maybeEnd();
    this.updateFlow();
  }

  private arm(at: number): void {
    this.armed = true;
    this.link.timers.at(at, () => {
      this.armed = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed) return;
    const dest = this.dest;
    // In a blackhole nothing arrives; resume() re-times what is held once the link is back.
    if (dest && this.ctx.outage() === null) {
      const limit = now();
      for (let head = this.inflight.peek(); head && head.at <= limit; head = this.inflight.peek()) {
        this.inflight.shift();
        this.inflightBytes -= head.chunk.length;
        this.link.counters.inFlightBytes -= head.chunk.length;
        if (dest.destroyed || this.destEnded) continue;
        dest.write(head.chunk);
        this.link.forwarded(head.chunk.length);
      }
      const head = this.inflight.peek();
      if (head && !this.armed) this.arm(head.at);
    }
    this.maybeEnd();
    this.updateFlow();
  }

  private maybeEnd(): void {
    if (!this.sourceEnded || this.destEnded || !this.dest || this.closed) return;
    if (this.pending.length > 0 || this.inflight.length > 0) return;
    this.destEnded = true;
    this.dest.end();
  }
}

class Connection {
  upstream: net.Socket | null = null;
  readonly up: Pipe;
  readonly down: Pipe;
  private finished = false;

  constructor(
    readonly client: net.Socket,
    private readonly target: HostPort,
    private readonly ctx: ProxyContext,
    windowBytes: number,
    private readonly onFinished: (conn: Connection) => void,
  ) {
    this.up = new Pipe(ctx.up, ctx, windowBytes);
    this.down = new Pipe(ctx.down, ctx, windowBytes);
  }

  open(): void {
    const client = this.client;
    this.up.source = client;
    this.down.dest = client;
    client.on('data', (chunk: Buffer) => this.up.push(chunk));
    client.on('end', () => this.up.end());
    client.on('drain', () => this.down.updateFlow());
    client.on('error', (e) => this.ctx.log.debug({ err: e }, 'uplink emulator: client socket error'));
    client.on('close', (hadError) => this.onSocketClose(hadError));
    // In a blackhole the SYN would not get through: the target sees the connection later.
    if (this.ctx.outage() === null) this.connectUpstream();
  }

  connectUpstream(): void {
    if (this.upstream || this.finished) return;
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    this.upstream = upstream;
    upstream.setNoDelay(true);
    this.down.source = upstream;
    upstream.on('data', (chunk: Buffer) => this.down.push(chunk));
    upstream.on('end', () => this.down.end());
    upstream.on('drain', () => this.up.updateFlow());
    upstream.on('error', (e) => this.ctx.log.debug({ err: e }, 'uplink emulator: target socket error'));
    upstream.on('close', (hadError) => this.onSocketClose(hadError));
    this.up.setDest(upstream);
  }

  resume(): void {
    this.connectUpstream();
    this.up.resume();
    this.down.resume();
  }

  /** Resets both sides (RST) and forgets the data in flight, counted as lost when an outage did it. */
  reset(byOutage = false): void {
    resetSocket(this.client);
    if (this.upstream) resetSocket(this.upstream);
    this.finish(byOutage);
  }

  private onSocketClose(hadError: boolean): void {
    // An error on one side (refused, reset) is passed on as a reset; a clean close waits for
    // the other side to finish delivering what is still in the delay line.
    if (hadError) {
      this.reset();
      return;
    }
    const upstreamDone = this.upstream === null ? this.client.destroyed : this.upstream.destroyed;
    if (this.client.destroyed && upstreamDone) this.finish(false);
  }

  private finish(byOutage: boolean): void {
    if (this.finished) return;
    this.finished = true;
    for (const [pipe, link] of [
      [this.up, this.ctx.up],
      [this.down, this.ctx.down],
    ] as const) {
      const lost = pipe.close();
      if (byOutage && lost.bytes > 0) link.drop('outage', lost.bytes, lost.chunks);
    }
    this.onFinished(this);
  }
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

export class TcpProxy implements Proxy {
  private server: net.Server | null = null;
  private readonly connections = new Set<Connection>();
  private readonly counts = { total: 0, reset: 0 };

  constructor(
    private readonly ctx: ProxyContext,
    private readonly listen: HostPort,
    private readonly target: HostPort,
    private readonly windowBytes: number,
  ) {}

  async start(): Promise<HostPort> {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.accept(client));
    this.server = server;
    server.on('error', (e) => this.ctx.log.error({ err: e }, 'uplink emulator: listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.listen.host, port: this.listen.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as net.AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  connectionCounts(): ConnectionCounts {
    return { current: this.connections.size, ...this.counts };
  }

  outageChanged(next: OutageMode | null, prev: OutageMode | null): void {
    if (next === 'reset') {
      for (const conn of [...this.connections]) {
        this.counts.reset++;
        conn.reset(true);
      }
    } else if (next === null && prev !== null) {
      for (const conn of [...this.connections]) conn.resume();
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const conn of [...this.connections]) conn.reset();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.counts.total++;
    if (this.ctx.outage() === 'reset' || !this.server) {
      this.counts.reset++;
      client.on('error', () => undefined);
      resetSocket(client);
      return;
    }
    client.setNoDelay(true);
    const conn = new Connection(client, this.target, this.ctx, this.windowBytes, (c) => this.connections.delete(c));
    this.connections.add(conn);
    conn.open();
  }
}
