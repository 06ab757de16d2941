/**
 * `lectern sim uplink`: runs the uplink emulator in front of a real target until SIGINT or
 * SIGTERM, printing its counters every few seconds, so a technician can rehearse a lesson over
 * a weak or failing 5G link on the bench.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../agent/errors.js';
import { silentLogger, type Logger } from '../../agent/log.js';
import { formatHostPort, parseHostPort, type HostPort } from './address.js';
import { startUplinkEmulator, type UplinkEmulator, type UplinkProtocol, type UplinkStats } from './emulator.js';
import { impairmentProblems, type Impairment } from './impairment.js';
import { PROFILE_NAMES, profileByName, type ProfileName } from './profiles.js';

export { parseHostPort } from './address.js';

/** The options as commander hands them over (all strings, `json` a boolean). */
export interface SimUplinkRawOptions {
  profile?: string;
  listen?: string;
  target?: string;
  protocol?: string;
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  queue?: string;
  interval?: string;
  reorder?: boolean;
  json?: boolean;
}

export interface SimUplinkConfig {
  protocols: UplinkProtocol[];
  listen: HostPort;
  target: HostPort;
  profile: ProfileName;
  /** Overrides on top of the profile; delay, jitter and loss apply both ways. */
  up: Partial<Impairment>;
  down: Partial<Impairment>;
  intervalMs: number;
  json: boolean;
}

const PROTOCOLS = ['tcp', 'udp', 'both'] as const;

/** Checks every option and turns it into a config; throws ConfigError listing each bad one. */
export function parseSimUplinkOptions(raw: SimUplinkRawOptions): SimUplinkConfig {
  const problems: string[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConfigError) problems.push(e.message);
      else throw e;
      return undefined;
    }
  };

  const profileName = raw.profile ?? 'perfect';
  attempt(() => profileByName(profileName, '--profile'));
  const { listen: listenText, target: targetText } = raw;
  const listen = listenText === undefined ? missing('--listen', problems) : attempt(() => parseHostPort(listenText, '--listen'));
  const target = targetText === undefined ? missing('--target', problems) : attempt(() => parseHostPort(targetText, '--target'));
  if (target && target.port === 0) problems.push('--target: the port must be 1-65535, got 0');

  const protocol = raw.protocol ?? 'tcp';
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    problems.push(`--protocol: must be one of ${PROTOCOLS.join(', ')}, got ${JSON.stringify(protocol)}`);
  }

  const num = (text: string | undefined, option: string, unit: string, max: number, integer = false): number | undefined =>
    text === undefined ? undefined : attempt(() => parseNumber(text, option, unit, max, integer));
  const delay = num(raw.delay, '--delay', 'ms', 60_000);
  const jitter = num(raw.jitter, '--jitter', 'ms', 60_000);
  const lossPct = num(raw.loss, '--loss', 'percent', 100);
  const rateKbps = num(raw.rate, '--rate', 'kbit/s (0 = uncapped)', 100_000_000);
  const queue = num(raw.queue, '--queue', 'bytes', 1024 * 1024 * 1024, true);
  const intervalS = num(raw.interval, '--interval', 's', 3600);
  if (queue === 0) problems.push('--queue: must be at least 1 byte, got 0');
  if (intervalS === 0) problems.push('--interval: must be more than 0 s');

  const both: Partial<Impairment> = {};
  if (delay !== undefined) both.delayMs = delay;
  if (jitter !== undefined) both.jitterMs = jitter;
  if (lossPct !== undefined) both.loss = lossPct / 100;
  if (raw.reorder === true) both.reorder = true;
  const up: Partial<Impairment> = { ...both };
  if (rateKbps !== undefined) up.rateBps = rateKbps * 1000;
  if (queue !== undefined) up.queueBytes = queue;
  if (problems.length === 0) problems.push(...impairmentProblems(up, 'uplink'));

  if (problems.length || !listen || !target) throw new ConfigError('lectern sim uplink: invalid options', problems);
  return {
    protocols: protocol === 'both' ? ['tcp', 'udp'] : [protocol as UplinkProtocol],
    listen,
    target,
    profile: profileName as ProfileName,
    up,
    down: both,
    intervalMs: (intervalS ?? 5) * 1000,
    json: raw.json === true,
  };
}

function missing(option: string, problems: string[]): undefined {
  problems.push(`${option}: required (HOST:PORT)`);
  return undefined;
}

function parseNumber(text: string, option: string, unit: string, max: number, integer: boolean): number {
  const value = /^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(value)) throw new ConfigError(`${option}: expected a number of ${unit}, got ${JSON.stringify(text)}`);
  if (value < 0) throw new ConfigError(`${option}: must not be negative, got ${text.trim()}`);
  if (value > max) throw new ConfigError(`${option}: must be at most ${max} ${unit}, got ${text.trim()}`);
  if (integer && !Number.isInteger(value)) throw new ConfigError(`${option}: must be a whole number of ${unit}, got ${text.trim()}`);
  return value;
}

export interface SimUplinkIo {
  out: NodeJS.WritableStream;
  /** Aborting stops the emulators and resolves `runSimUplink`. */
  signal: AbortSignal;
  log?: Logger;
}

/** Runs the emulators until `signal` aborts; resolves with their final counters. */
export async function runSimUplink(config: SimUplinkConfig, io: SimUplinkIo): Promise<UplinkStats[]> {
  const links: UplinkEmulator[] = [];
  const print = (line: string): void => void io.out.write(`${line}\n`);
  try {
    for (const protocol of config.protocols) {
      // With both protocols, UDP takes the port number TCP was given, so one address serves both.
      const port = links[0]?.address.port ?? config.listen.port;
      links.push(
        await startUplinkEmulator({
          protocol,
          listen: { host: config.listen.host, port },
          target: config.target,
          profile: config.profile,
          up: config.up,
          down: config.down,
          log: io.log ?? silentLogger(),
        }),
      );
    }
    for (const link of links) {
      const up = link.impairment('up');
      const down = link.impairment('down');
      if (config.json) {
        print(JSON.stringify({ event: 'started', protocol: link.protocol, listen: link.address, target: link.target, profile: config.profile, up, down }));
      } else {
        print(
          `uplink emulator ${link.protocol} ${formatHostPort(link.address)} -> ${formatHostPort(link.target)} ` +
            `profile ${config.profile}; up ${describeImpairment(up)}; down ${describeImpairment(down)}`,
        );
      }
    }
    await reportUntilAborted(links, config, io.signal, print);
    return links.map((l) => l.stats());
  } finally {
    await Promise.all(links.map((l) => l.close()));
  }
}

async function reportUntilAborted(
  links: readonly UplinkEmulator[],
  config: SimUplinkConfig,
  signal: AbortSignal,
  print: (line: string) => void,
): Promise<void> {
  let previous = links.map((l) => l.stats());
  let last = Date.now();
  const report = (): void => {
    const t = Date.now();
    const seconds = Math.max(0.001, (t - last) / 1000);
    links.forEach((link, i) => {
      const s = link.stats();
      const before = previous[i]!;
      const upBps = ((s.up.forwardedBytes - before.up.forwardedBytes) * 8) / seconds;
      const downBps = ((s.down.forwardedBytes - before.down.forwardedBytes) * 8) / seconds;
      print(config.json ? JSON.stringify({ event: 'stats', time: new Date(t).toISOString(), upBps, downBps, ...s }) : statsLine(s, upBps, downBps));
    });
    previous = links.map((l) => l.stats());
    last = t;
  };
  await new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setInterval(report, config.intervalMs);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(timer);
        resolve();
      },
      { once: true },
    );
  });
  report();
}

function describeImpairment(imp: Impairment): string {
  const parts = [`${imp.delayMs} ms`];
  if (imp.jitterMs > 0) parts[0] += ` ±${imp.jitterMs} ms`;
  if (imp.loss > 0) parts.push(`${+(imp.loss * 100).toFixed(3)}% loss`);
  parts.push(imp.rateBps > 0 ? `${+(imp.rateBps / 1000).toFixed(1)} kbit/s, queue ${imp.queueBytes} B` : 'uncapped');
  return parts.join(', ');
}

function statsLine(s: UplinkStats, upBps: number, downBps: number): string {
  const dir = (name: string, d: UplinkStats['up'], bps: number): string =>
    `${name} ${(bps / 1e6).toFixed(2)} Mbit/s ${d.forwardedPackets} pkts ` +
    `drop loss ${d.dropped.loss} queue ${d.dropped.queue} outage ${d.dropped.outage}` +
    (s.protocol === 'tcp' ? ` stalls ${d.stalls}` : '') +
    ` queued ${d.queuedBytes} B`;
  const outage = s.outage ? ` | OUTAGE ${s.outage.mode}` : '';
  return `[${s.protocol}] ${dir('up', s.up, upBps)} | ${dir('down', s.down, downBps)} | conns ${s.connections}${outage}`;
}

/** Adds `uplink` under `lectern sim`. */
export function registerSimUplink(sim: Command): void {
  sim
    .command('uplink')
    .description('emulate a 5G CPE uplink between a local address and a target (delay, jitter, loss, rate cap, outages)')
    .option('--profile <name>', `starting conditions: ${PROFILE_NAMES.join(', ')}`, 'perfect')
    .option('--listen <host:port>', 'address clients connect to (port 0 picks one)')
    .option('--target <host:port>', 'address the traffic is forwarded to')
    .option('--protocol <tcp|udp|both>', 'what to proxy; both uses the same port number for TCP and UDP', 'tcp')
    .option('--delay <ms>', 'one-way delay, each direction (overrides the profile)')
    .option('--jitter <ms>', 'uniform ± jitter, each direction (overrides the profile)')
    .option('--loss <pct>', 'loss in percent, each direction (overrides the profile)')
    .option('--rate <kbps>', 'uplink cap in kbit/s, 0 = uncapped (overrides the profile)')
    .option('--queue <bytes>', 'uplink queue size in bytes (overrides the profile)')
    .option('--reorder', 'UDP: let jitter reorder datagrams (by default each flow stays in order)')
    .option('--interval <s>', 'seconds between stats lines', '5')
    .option('--json', 'print one JSON object per line instead of text')
    .action(async (raw: SimUplinkRawOptions) => {
      const config = parseSimUplinkOptions(raw);
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await runSimUplink(config, { out: process.stdout, signal: stop.signal });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
