/**
 * The UDP side of the emulator. It behaves like the CPE's NAT: each client address gets its own
 * upstream socket (so the target sees one source port per client, and replies find their way
 * back), and a mapping that carries no traffic for `idleMs` is forgotten. Datagrams may be
 * dropped and, under jitter, reordered, as on a real radio link.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { HostPort } from './address.js';
import type { LinkDirection } from './link.js';
import type { OutageMode } from './outage.js';
import type { ConnectionCounts, Proxy, ProxyContext } from './proxy.js';
import { now } from './scheduler.js';

export const DEFAULT_UDP_IDLE_MS = 60_000;

interface Session {
  key: string;
  client: HostPort;
  socket: dgram.Socket;
  lastActive: number;
  closed: boolean;
  /** When this client's latest datagram is due, per direction, to keep the flow in order. */
  lastDue: { up: number; down: number };
}

export class UdpProxy implements Proxy {
  private server: dgram.Socket | null = null;
  private targetAddress: HostPort | null = null;
  private readonly sessions = new Map<string, Session>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly counts = { total: 0, reset: 0 };

  constructor(
    private readonly ctx: ProxyContext,
    private readonly listen: HostPort,
    private readonly target: HostPort,
    private readonly idleMs: number,
  ) {}

  async start(): Promise<HostPort> {
    const [listenAddr, targetAddr] = await Promise.all([resolve(this.listen.host), resolve(this.target.host)]);
    this.targetAddress = { host: targetAddr, port: this.target.port };
    const server = dgram.createSocket(net.isIPv6(listenAddr) ? 'udp6' : 'udp4');
    this.server = server;
    try {
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.bind(this.listen.port, listenAddr, () => {
          server.off('error', fail);
          ok();
        });
      });
    } catch (e) {
      this.server = null;
      server.close();
      throw e;
    }
    server.on('error', (e) => this.ctx.log.warn({ err: e }, 'uplink emulator: UDP listener error'));
    server.on('message', (msg, rinfo) => this.fromClient(msg, { host: rinfo.address, port: rinfo.port }));
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(this.idleMs / 2, 5_000)));
    const addr = server.address();
    return { host: addr.address, port: addr.port };
  }

  connectionCounts(): ConnectionCounts {
    return { current: this.sessions.size, ...this.counts };
  }

  outageChanged(next: OutageMode | null): void {
    // A reset is a modem that lost its NAT state: clients come back on fresh mappings.
    if (next === 'reset') {
      this.counts.reset += this.sessions.size;
      for (const session of [...this.sessions.values()]) this.closeSession(session);
    }
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const session of [...this.sessions.values()]) this.closeSession(session);
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((ok) => server.close(() => ok()));
  }

  private fromClient(msg: Buffer, client: HostPort): void {
    const target = this.targetAddress;
    if (!target) return;
    if (this.ctx.outage() !== null) {
      this.ctx.up.drop('outage', msg.length);
      return;
    }
    const key = `${client.host}|${client.port}`;
    const session = this.sessions.get(key) ?? this.openSession(key, target, client);
    session.lastActive = now();
    this.forward(this.ctx.up, session, msg, () => {
      if (session.closed) return false;
      session.socket.send(msg, target.port, target.host);
      return true;
    });
  }

  private fromTarget(session: Session, msg: Buffer): void {
    if (session.closed) return;
    if (this.ctx.outage() !== null) {
      this.ctx.down.drop('outage', msg.length);
      return;
    }
    session.lastActive = now();
    this.forward(this.ctx.down, session, msg, () => {
      const server = this.server;
      if (!server) return false;
      server.send(msg, session.client.port, session.client.host);
      return true;
    });
  }

  /** Loss, then the bottleneck queue, then the delay line; `send` returns false if it could not. */
  private forward(link: LinkDirection, session: Session, msg: Buffer, send: () => boolean): void {
    const size = msg.length;
    if (link.drawLoss()) {
      link.drop('loss', size);
      return;
    }
    const t = now();
    const departAt = link.admit(size, t);
    if (departAt === null) {
      link.drop('queue', size);
      return;
    }
    let at = departAt + link.drawTransit();
    if (!link.impairment.reorder) {
      // Equal due times run in the order scheduled, so this keeps the flow in order.
      at = Math.max(at, session.lastDue[link.name]);
      session.lastDue[link.name] = at;
    }
    link.counters.inFlightBytes += size;
    link.timers.at(at, () => {
      link.counters.inFlightBytes -= size;
      // Whatever is on the air when the link goes down is lost with it.
      if (this.ctx.outage() !== null || !send()) link.drop('outage', size);
      else link.forwarded(size);
    });
  }

  private openSession(key: string, target: HostPort, client: HostPort): Session {
    const socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
    const session: Session = { key, client, socket, lastActive: now(), closed: false, lastDue: { up: 0, down: 0 } };
    socket.on('error', (e) => this.ctx.log.debug({ err: e, client }, 'uplink emulator: UDP upstream error'));
    socket.on('message', (msg, rinfo) => {
      // Like a NAT with port-restricted filtering: only the target may answer on this mapping.
      if (rinfo.address === target.host && rinfo.port === target.port) this.fromTarget(session, msg);
    });
    this.sessions.set(key, session);
    this.counts.total++;
    return session;
  }

  private closeSession(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    this.sessions.delete(session.key);
    session.socket.close();
  }

  private sweep(): void {
    const cutoff = now() - this.idleMs;
    for (const session of [...this.sessions.values()]) {
      if (session.lastActive < cutoff) this.closeSession(session);
    }
  }
}

async function resolve(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  return (await lookup(host)).address;
}
