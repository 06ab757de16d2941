/**
 * A user-space stand-in for netem: a TCP or UDP proxy that makes loopback behave like a
 * classroom's 5G CPE uplink (delay, jitter, loss, a bandwidth cap with a bounded queue, and
 * outages), with every setting changeable while it runs. Benchmarks, `lectern doctor`'s
 * self-test and `lectern sim uplink` put it between a sender and a receiver.
 *
 *   const link = await startUplinkEmulator({ protocol: 'udp', listen: { host: '127.0.0.1', port: 0 },
 *     target: { host: '127.0.0.1', port: 9000 }, profile: 'weak-5g' });
 *   link.setImpairment('up', { rateBps: 1_500_000 });
 *   link.outage({ durationMs: 5000, mode: 'blackhole' });
 *   await link.close();
 *
 * Each direction has one scheduler (a heap driven by one timer) rather than a timer per packet.
 * Changes apply to packets that arrive after them; packets already queued keep their timing.
 */
import { ConfigError } from '../../agent/errors.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { formatHostPort, type HostPort } from './address.js';
import { NO_IMPAIRMENT, applyImpairment, type Direction, type Impairment } from './impairment.js';
import { LinkDirection, type DirectionStats } from './link.js';
import {
  OutageControl,
  type OutageMode,
  type OutageSpec,
  type OutageState,
  type OutageWindow,
  type ScheduleOptions,
} from './outage.js';
import { profileByName, type ProfileName } from './profiles.js';
import type { Proxy, ProxyContext } from './proxy.js';
import { TimerQueue } from './scheduler.js';
import { DEFAULT_TCP_WINDOW_BYTES, TcpProxy } from './tcp.js';
import { DEFAULT_UDP_IDLE_MS, UdpProxy } from './udp.js';

export type { HostPort } from './address.js';
export type { Direction, Impairment } from './impairment.js';
export type { DirectionStats } from './link.js';
export type { OutageMode, OutageSpec, OutageState, OutageWindow, ScheduleOptions } from './outage.js';
export type { ProfileName } from './profiles.js';

export type UplinkProtocol = 'tcp' | 'udp';

export interface UplinkEmulatorOptions {
  protocol: UplinkProtocol;
  /** Where clients connect; port 0 picks a free port (see `address`). */
  listen: HostPort;
  /** Where the emulator forwards to. */
  target: HostPort;
  /** Starting conditions; `up` and `down` are applied on top. Default `perfect`. */
  profile?: ProfileName;
  up?: Partial<Impairment>;
  down?: Partial<Impairment>;
  /**
   * Source of randomness in [0, 1), for deterministic tests. Per packet it is called for loss
   * first (only when loss > 0), then for jitter (only when jitter > 0). Default Math.random.
   */
  random?: () => number;
  log?: Logger;
  /** UDP: a client mapping with no traffic for this long is forgotten. Default 60 s. */
  udpIdleMs?: number;
  /** TCP: most bytes one direction of one connection may hold before its source is paused. */
  tcpWindowBytes?: number;
}

export interface UplinkStats {
  protocol: UplinkProtocol;
  up: DirectionStats;
  down: DirectionStats;
  /** Open now: TCP connections, or UDP client mappings. */
  connections: number;
  connectionsTotal: number;
  /** TCP connections reset by an outage (existing and refused); UDP mappings dropped by one. */
  connectionsReset: number;
  outage: OutageState | null;
  /** How many times the link has gone down. */
  outages: number;
}

export interface UplinkEmulator {
  readonly protocol: UplinkProtocol;
  /** The address actually bound. */
  readonly address: HostPort;
  readonly target: HostPort;
  impairment(direction: Direction): Impairment;
  setImpairment(direction: Direction | 'both', patch: Partial<Impairment>): void;
  /** Replaces both directions' settings with the profile's; `outage` starts an open-ended blackhole, any other ends a manual outage. */
  setProfile(name: ProfileName): void;
  outage(spec: OutageSpec): void;
  /** Ends a manual outage now (a scheduled window stays as scheduled). */
  endOutage(): void;
  /** Replaces the outage schedule; `[]` cancels it. */
  schedule(windows: readonly OutageWindow[], opts?: ScheduleOptions): void;
  stats(): UplinkStats;
  close(): Promise<void>;
}

class Emulator implements UplinkEmulator {
  readonly protocol: UplinkProtocol;
  readonly target: HostPort;
  private bound: HostPort | null = null;
  private readonly log: Logger;
  private readonly up: LinkDirection;
  private readonly down: LinkDirection;
  private readonly outages: OutageControl;
  private readonly proxy: Proxy;
  private closing: Promise<void> | null = null;

  constructor(opts: UplinkEmulatorOptions, profile: { up: Impairment; down: Impairment }) {
    this.protocol = opts.protocol;
    this.target = { ...opts.target };
    this.log = opts.log ?? silentLogger();
    const random = opts.random ?? Math.random;
    const onError = (e: unknown): void => this.log.error({ err: e }, 'uplink emulator: scheduled step failed');
    this.up = new LinkDirection('up', profile.up, random, new TimerQueue(onError));
    this.down = new LinkDirection('down', profile.down, random, new TimerQueue(onError));
    this.outages = new OutageControl((next, prev) => this.outageChanged(next, prev));
    const ctx: ProxyContext = { up: this.up, down: this.down, outage: () => this.outages.mode, log: this.log };
    this.proxy =
      opts.protocol === 'tcp'
        ? new TcpProxy(ctx, opts.listen, opts.target, opts.tcpWindowBytes ?? DEFAULT_TCP_WINDOW_BYTES)
        : new UdpProxy(ctx, opts.listen, opts.target, opts.udpIdleMs ?? DEFAULT_UDP_IDLE_MS);
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('uplink emulator is not started');
    return { ...this.bound };
  }

  async start(startDown: boolean): Promise<void> {
    try {
      this.bound = await this.proxy.start();
    } catch (e) {
      await this.close();
      throw e;
    }
    this.log.info(
      { protocol: this.protocol, listen: formatHostPort(this.bound), target: formatHostPort(this.target) },
      'uplink emulator started',
    );
    if (startDown) this.outages.start({ durationMs: Infinity, mode: 'blackhole' });
  }

  impairment(direction: Direction): Impairment {
    return { ...(direction === 'up' ? this.up : this.down).impairment };
  }

  setImpairment(direction: Direction | 'both', patch: Partial<Impairment>): void {
    const links = this.links(direction);
    // Validate for every direction before changing any, so a bad patch changes nothing.
    const next = links.map((link) => applyImpairment(link.impairment, patch, link.name));
    links.forEach((link, i) => (link.impairment = next[i]!));
    this.log.info({ direction, patch }, 'uplink emulator: impairment changed');
  }

  setProfile(name: ProfileName): void {
    const profile = profileByName(name);
    this.up.impairment = profile.up;
    this.down.impairment = profile.down;
    if (profile.outage) this.outages.start({ durationMs: Infinity, mode: profile.outage });
    else this.outages.end();
    this.log.info({ profile: name }, 'uplink emulator: profile applied');
  }

  outage(spec: OutageSpec): void {
    this.outages.start(spec);
  }

  endOutage(): void {
    this.outages.end();
  }

  schedule(windows: readonly OutageWindow[], opts?: ScheduleOptions): void {
    this.outages.schedule(windows, opts);
  }

  stats(): UplinkStats {
    const conns = this.proxy.connectionCounts();
    return {
      protocol: this.protocol,
      up: this.up.stats(),
      down: this.down.stats(),
      connections: conns.current,
      connectionsTotal: conns.total,
      connectionsReset: conns.reset,
      outage: this.outages.state(),
      outages: this.outages.count,
    };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.outages.close();
    try {
      await this.proxy.close();
    } finally {
      this.up.close();
      this.down.close();
      this.log.info({ protocol: this.protocol }, 'uplink emulator closed');
    }
  }

  private links(direction: Direction | 'both'): LinkDirection[] {
    switch (direction) {
      case 'up':
        return [this.up];
      case 'down':
        return [this.down];
      case 'both':
        return [this.up, this.down];
      default:
        throw new ConfigError(`direction: must be up, down or both, got ${String(direction)}`);
    }
  }

  private outageChanged(next: OutageMode | null, prev: OutageMode | null): void {
    this.log.info({ outage: next, before: prev }, next ? 'uplink emulator: link down' : 'uplink emulator: link up');
    this.proxy.outageChanged(next, prev);
  }
}

/** Checks the options, binds the listen address and starts forwarding. */
export async function startUplinkEmulator(opts: UplinkEmulatorOptions): Promise<UplinkEmulator> {
  const problems: string[] = [];
  if (opts.protocol !== 'tcp' && opts.protocol !== 'udp') {
    problems.push(`protocol: must be tcp or udp, got ${String(opts.protocol)}`);
  }
  problems.push(...addressProblems(opts.listen, 'listen', true), ...addressProblems(opts.target, 'target', false));
  if (opts.udpIdleMs !== undefined && !(opts.udpIdleMs > 0)) problems.push(`udpIdleMs: must be > 0, got ${opts.udpIdleMs}`);
  if (opts.tcpWindowBytes !== undefined && !(opts.tcpWindowBytes >= 1)) {
    problems.push(`tcpWindowBytes: must be >= 1, got ${opts.tcpWindowBytes}`);
  }
  if (problems.length) throw new ConfigError('invalid uplink emulator options', problems);
  const base = opts.profile ? profileByName(opts.profile) : { up: { ...NO_IMPAIRMENT }, down: { ...NO_IMPAIRMENT } };
  const profile = {
    up: applyImpairment(base.up, opts.up ?? {}, 'up'),
    down: applyImpairment(base.down, opts.down ?? {}, 'down'),
  };
  const emulator = new Emulator(opts, profile);
  await emulator.start('outage' in base && base.outage === 'blackhole');
  return emulator;
}

function addressProblems(hp: HostPort | undefined, name: string, portZeroOk: boolean): string[] {
  if (!hp || typeof hp.host !== 'string' || !hp.host) return [`${name}.host: required`];
  const min = portZeroOk ? 0 : 1;
  if (!Number.isInteger(hp.port) || hp.port < min || hp.port > 65535) {
    return [`${name}.port: must be a whole number ${min}-65535, got ${String(hp.port)}`];
  }
  return [];
}
