/**
 * A protocol-faithful VISCA camera simulator: one camera or a daisy chain of up to seven, on a
 * serial-like byte stream (one end of a pty pair, opened with serialport), on raw TCP, and on
 * Sony VISCA over IP (UDP). Used in-process by tests and by the agent's simulate mode, and by
 * `lectern sim camera`.
 *
 * Besides correct behaviour it can misbehave on purpose: lose, delay or split replies, put
 * noise between packets, send stray Network Change, go silent ("unplugged") and come back.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { SimSerialPorts } from '../sim-serial.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { sleep } from '../../agent/backoff.js';
import {
  BROADCAST,
  IP_ERROR_SEQUENCE,
  IP_ERROR_TYPE,
  IP_TYPE,
  MAX_ADDRESS,
  TERMINATOR,
  decodeIp,
  encodeIp,
  hex,
  isCommandHeader,
  packetProblem,
  type VersionInfo,
} from './codec.js';
import { ViscaFramer } from './framing.js';
import type { MemoryPeer } from './memory.js';
import { SimCamera, type SimQuirks } from './sim-camera.js';

export type { SimQuirks } from './sim-camera.js';
export { SimCamera } from './sim-camera.js';

export interface SimFaults {
  /** Probability (0–1) that a reply is lost. */
  drop?: number;
  /** Every reply waits this long before it is sent. */
  delayMs?: number;
  /** Probability (0–1) of 1–3 noise bytes (never `FF`) before a reply. */
  noise?: number;
  /** Probability (0–1) that a reply is written in two pieces, a moment apart. */
  split?: number;
}

export interface SimulatorOptions {
  /** Cameras on the chain, 1–7 (VISCA over IP always talks to the first). */
  cameras?: number;
  /** Motion speed factor: 10 makes moves ten times shorter. Tests use this. */
  moveSpeed?: number;
  /** Power-on time at speed factor 1. */
  bootMs?: number;
  /** Initial power of every camera. */
  power?: 'on' | 'standby';
  version?: Partial<VersionInfo>;
  faults?: SimFaults;
  quirks?: SimQuirks;
  /** Random source for faults; inject a seeded one for reproducible tests. */
  random?: () => number;
  log?: Logger;
}

export interface SimStats {
  packets: number;
  repliesSent: number;
  repliesDropped: number;
  noiseBytes: number;
  lengthErrors: number;
}

/** A byte stream into the chain: feed it what the controller sent. */
export interface SimLink {
  receive(bytes: Uint8Array): void;
  close(): void;
}

const DEFAULT_VERSION: VersionInfo = { vendor: 0x0001, model: 0x0519, rom: 0x0100, maxSocket: 0x02 };

/**
 * Sends replies on one stream or to one UDP peer, applying the configured faults while
 * keeping their order (a delayed ACK must not arrive after its Completion).
 */
class Output {
  private chain: Promise<void> = Promise.resolve();
  private busy = 0;

  constructor(
    private readonly sim: ViscaSimulator,
    private readonly write: (bytes: Uint8Array) => void,
    /** UDP: a datagram is lost or delayed whole, never split or mixed with noise. */
    private readonly datagrams = false,
  ) {}

  send(packet: Uint8Array): void {
    if (!this.sim.plugged) return;
    if (this.sim.shouldDrop()) return;
    const f = this.sim.currentFaults;
    const noise = !this.datagrams && this.sim.chance(f.noise) ? this.sim.noiseBytes() : undefined;
    const split = !this.datagrams && this.sim.chance(f.split) && packet.length > 1;
    const delay = f.delayMs ?? 0;
    this.sim.countSent(noise?.length ?? 0);
    if (!split && delay <= 0 && this.busy === 0) {
      this.emit(noise, packet);
      return;
    }
    this.busy++;
    this.chain = this.chain
      .then(async () => {
        if (delay > 0) await sleep(delay);
        await this.emitAsync(noise, packet, split);
      })
      .catch(() => undefined)
      .finally(() => {
        this.busy--;
      });
  }

  private emit(noise: Uint8Array | undefined, packet: Uint8Array): void {
    if (noise) this.safeWrite(Uint8Array.from([...noise, ...packet]));
    else this.safeWrite(packet);
  }

  private async emitAsync(noise: Uint8Array | undefined, packet: Uint8Array, split: boolean): Promise<void> {
    if (!this.sim.plugged) return;
    if (!split) return this.emit(noise, packet);
    const whole = noise ? Uint8Array.from([...noise, ...packet]) : packet;
    const cut = 1 + Math.floor(this.sim.rand() * (whole.length - 1));
    this.safeWrite(whole.subarray(0, cut));
    // Long enough for the reader to see two reads.
    await sleep(3);
    this.safeWrite(whole.subarray(cut));
  }

  private safeWrite(bytes: Uint8Array): void {
    try {
      this.write(bytes);
    } catch {
      // The far end went away; the reply is lost, as on a real line.
    }
  }
}

interface StreamEntry {
  output: Output;
  close: () => void;
}

interface IpSession {
  output: Output;
  /** The next sequence number expected after a RESET; undefined before any. */
  expected: number | undefined;
  lastSequence: number | undefined;
  /** What was sent for lastSequence, resent when the same number comes again. */
  cached: Uint8Array[];
}

export class ViscaSimulator {
  private readonly log: Logger;
  private readonly chainList: SimCamera[];
  private faults: SimFaults;
  private quirks: SimQuirks;
  private dropCount = 0;
  private muted = false;
  private readonly streams = new Set<StreamEntry>();
  private readonly serial: SimSerialPorts;
  private udp: UdpSocket | undefined;
  private readonly ipSessions = new Map<string, IpSession>();
  private tcp: Server | undefined;
  private readonly tcpSockets = new Set<Socket>();
  private readonly statsData: SimStats = { packets: 0, repliesSent: 0, repliesDropped: 0, noiseBytes: 0, lengthErrors: 0 };
  /** Hex of every packet received, newest last (bounded). */
  readonly received: string[] = [];

  constructor(private readonly options: SimulatorOptions = {}) {
    this.log = (options.log ?? silentLogger()).child({ module: 'visca-sim' });
    this.serial = new SimSerialPorts(this.log, 'simulator');
    this.faults = { ...options.faults };
    this.quirks = { ...options.quirks };
    const count = Math.min(MAX_ADDRESS, Math.max(1, Math.floor(options.cameras ?? 1)));
    const version = { ...DEFAULT_VERSION, ...options.version };
    this.chainList = Array.from(
      { length: count },
      (_, i) =>
        new SimCamera(i + 1, {
          moveSpeed: options.moveSpeed ?? 1,
          bootMs: options.bootMs ?? 2000,
          power: options.power ?? 'on',
          version,
          quirks: () => this.quirks,
          now: () => performance.now(),
          onPowerUp: (cam) => this.announce(cam.address),
        }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // State and misbehaviour controls
  // -------------------------------------------------------------------------------------------

  /** The cameras in chain order. */
  get cameras(): readonly SimCamera[] {
    return this.chainList;
  }

  /** The camera that currently has this address. */
  camera(address: number): SimCamera {
    const cam = this.chainList.find((c) => c.address === address);
    if (!cam) throw new RangeError(`no simulated camera has address ${address}`);
    return cam;
  }

  get stats(): SimStats {
    return { ...this.statsData };
  }

  get plugged(): boolean {
    return !this.muted;
  }

  get currentFaults(): SimFaults {
    return this.faults;
  }

  /** Replace the fault settings (an empty object: behave). */
  setFaults(faults: SimFaults): void {
    this.faults = { ...faults };
  }

  setQuirks(quirks: SimQuirks): void {
    this.quirks = { ...quirks };
  }

  /** Lose the next n replies. */
  dropNext(n: number): void {
    this.dropCount = Math.max(0, Math.floor(n));
  }

  /** Stop answering (serial and UDP stay open but silent; TCP connections are dropped). */
  unplug(): void {
    this.muted = true;
    for (const s of this.tcpSockets) s.destroy();
  }

  /** Answer again; every camera announces itself as after a power-up. */
  replug(): void {
    this.muted = false;
    for (const cam of this.chainList) this.announce(cam.address);
  }

  /** A Network Change `z0 38 FF` from a camera (on power-up, or stray), on every stream. */
  networkChange(address = 1): void {
    this.announce(address);
  }

  /** @internal */
  shouldDrop(): boolean {
    if (this.dropCount > 0) {
      this.dropCount--;
      this.statsData.repliesDropped++;
      return true;
    }
    if (this.chance(this.faults.drop)) {
      this.statsData.repliesDropped++;
      return true;
    }
    return false;
  }

  /** @internal */
  chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.rand() < p;
  }

  /** @internal */
  rand(): number {
    return (this.options.random ?? Math.random)();
  }

  /** @internal */
  noiseBytes(): Uint8Array {
    const n = 1 + Math.floor(this.rand() * 3);
    return Uint8Array.from({ length: n }, () => Math.floor(this.rand() * 0xff));
  }

  /** @internal */
  countSent(noise: number): void {
    this.statsData.repliesSent++;
    this.statsData.noiseBytes += noise;
  }

  private announce(address: number): void {
    if (this.muted) return;
    const packet = Uint8Array.of((address + 8) << 4, 0x38, TERMINATOR);
    for (const s of this.streams) s.output.send(packet);
  }

  // -------------------------------------------------------------------------------------------
  // The chain
  // -------------------------------------------------------------------------------------------

  private record(packet: Uint8Array): void {
    this.statsData.packets++;
    if (this.received.length >= 1000) this.received.shift();
    this.received.push(hex(packet));
  }

  /** A packet from the controller on a stream (serial, TCP, memory): the whole chain sees it. */
  private onStreamPacket(packet: Uint8Array, reply: (p: Uint8Array) => void): void {
    this.record(packet);
    if (this.muted) return;
    const header = packet[0] ?? 0;
    const body = Array.from(packet.subarray(1, -1));
    if (header === 0x80 + BROADCAST) {
      if (body.length === 2 && body[0] === 0x30) {
        // Address Set: each camera takes the number it receives and passes on the next.
        let next = body[1] ?? 1;
        if (next < 1 || next > MAX_ADDRESS) return;
        for (const cam of this.chainList) {
          cam.address = Math.min(MAX_ADDRESS, next);
          next++;
        }
        reply(Uint8Array.of(0x88, 0x30, Math.min(next, BROADCAST), TERMINATOR));
        return;
      }
      if (body.length === 3 && body[0] === 0x01 && body[1] === 0x00 && body[2] === 0x01) {
        for (const cam of this.chainList) cam.clear();
      }
      // Broadcasts travel round the ring and come back unchanged.
      reply(packet);
      return;
    }
    const cam = this.chainList.find((c) => c.address === (header & 0x07));
    if (!cam) {
      // Nobody took it: it travels round the ring back to the controller.
      reply(packet);
      return;
    }
    cam.handle(packet, reply);
  }

  /** Connect a byte stream: `write` gets the chain's output; feed the controller's bytes in. */
  connect(write: (bytes: Uint8Array) => void): SimLink {
    const output = new Output(this, write);
    const framer = new ViscaFramer({ isHeader: isCommandHeader });
    const entry: StreamEntry = { output, close: () => this.streams.delete(entry) };
    this.streams.add(entry);
    const reply = (p: Uint8Array): void => output.send(p);
    return {
      receive: (bytes) => {
        for (const e of framer.push(bytes)) {
          if (e.type === 'packet') {
            this.onStreamPacket(e.bytes, reply);
          } else if ((e.reason === 'oversize' || e.reason === 'short') && !this.muted) {
            // Too long or too short: the first camera reports a message length error.
            this.statsData.lengthErrors++;
            const first = this.chainList[0];
            if (first) reply(Uint8Array.of((first.address + 8) << 4, 0x60, 0x01, TERMINATOR));
          }
        }
      },
      close: () => entry.close(),
    };
  }

  /** Serve the controller end of an in-memory link (createMemoryLink). */
  attachMemory(peer: MemoryPeer): () => void {
    const link = this.connect((bytes) => peer.write(bytes));
    const off = peer.onData((bytes) => link.receive(bytes));
    return () => {
      off();
      link.close();
    };
  }

  /** Open a serial port (e.g. one end of a socat pty pair) and serve the chain on it. */
  async attachSerial(path: string, options: { baudRate?: number } = {}): Promise<void> {
    await this.serial.attach(path, options.baudRate ?? 9600, (send) => this.connect(send));
  }

  /** Close the serial ports (the far end then sees silence, as with a pulled cable). */
  async detachSerial(): Promise<void> {
    await this.serial.detach();
  }

  /** Raw VISCA on TCP (PTZOptics style). Port 0 picks a free one; returns the port. */
  async listenTcp(port = 0, host = '127.0.0.1'): Promise<number> {
    if (this.tcp) throw new Error('the simulator already listens on TCP');
    const server = createServer((socket) => {
      if (this.muted) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      this.tcpSockets.add(socket);
      const link = this.connect((bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      });
      socket.on('data', (chunk: Buffer) => link.receive(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        link.close();
        this.tcpSockets.delete(socket);
      });
    });
    this.tcp = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  /** Sony VISCA over IP on UDP. Port 0 picks a free one; returns the port. */
  async listenUdp(port = 0, host = '127.0.0.1'): Promise<number> {
    if (this.udp) throw new Error('the simulator already listens on UDP');
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.udp = socket;
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onDatagram(socket, msg, rinfo));
    socket.on('error', (err) => this.log.debug({ err }, 'simulator UDP error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().port;
  }

  private onDatagram(socket: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    if (this.muted) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let session = this.ipSessions.get(key);
    if (!session) {
      const output = new Output(this, (bytes) => socket.send(bytes, rinfo.port, rinfo.address), true);
      session = { output, expected: undefined, lastSequence: undefined, cached: [] };
      this.ipSessions.set(key, session);
    }
    const s = session;
    const m = decodeIp(msg);
    if (!m.ok) {
      this.log.debug({ reason: m.reason }, 'simulator: bad VISCA over IP datagram');
      return;
    }
    const control = (sequence: number, payload: Uint8Array): void => {
      // Control replies are not subject to reply faults: they concern the session itself.
      socket.send(encodeIp(IP_TYPE.controlReply, sequence, payload), rinfo.port, rinfo.address);
    };
    if (m.type === IP_TYPE.control) {
      if (m.payload.length === 1 && m.payload[0] === 0x01) {
        s.expected = 0;
        s.lastSequence = undefined;
        s.cached = [];
        control(m.sequence, Uint8Array.of(0x01));
      } else {
        control(m.sequence, IP_ERROR_TYPE);
      }
      return;
    }
    if (m.type !== IP_TYPE.command && m.type !== IP_TYPE.inquiry) {
      control(m.sequence, IP_ERROR_TYPE);
      return;
    }
    if (m.sequence === s.lastSequence) {
      // A retransmission: the camera already ran it; send again what it answered.
      for (const d of s.cached) s.output.send(d);
      return;
    }
    if (s.expected !== undefined && m.sequence !== s.expected) {
      control(m.sequence, IP_ERROR_SEQUENCE);
      return;
    }
    s.expected = (m.sequence + 1) >>> 0;
    s.lastSequence = m.sequence;
    s.cached = [];
    const sequence = m.sequence;
    const reply = (packet: Uint8Array): void => {
      const datagram = encodeIp(IP_TYPE.reply, sequence, packet);
      if (s.lastSequence === sequence) s.cached.push(datagram);
      s.output.send(datagram);
    };
    const packet = m.payload;
    this.record(packet);
    const isInquiry = packet[1] === 0x09;
    if (packetProblem(packet) || !isCommandHeader(packet[0] ?? 0)) {
      this.statsData.lengthErrors++;
      reply(Uint8Array.of(0x90, 0x60, 0x01, TERMINATOR));
      return;
    }
    if (isInquiry !== (m.type === IP_TYPE.inquiry)) {
      control(m.sequence, IP_ERROR_TYPE);
      return;
    }
    // One camera, address 1: anything else is not for it.
    const cam = this.chainList[0];
    if (!cam || (packet[0] ?? 0) !== 0x81) return;
    cam.handle(packet, reply);
  }

  /** Close every port and socket and stop every timer. */
  async close(): Promise<void> {
    for (const cam of this.chainList) cam.close();
    await this.detachSerial();
    for (const s of this.tcpSockets) s.destroy();
    this.tcpSockets.clear();
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    const udp = this.udp;
    this.udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    this.ipSessions.clear();
    this.streams.clear();
  }
}
