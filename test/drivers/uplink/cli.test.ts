// `lectern sim uplink`: option checks (pure) and a short real run through both proxies.
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError } from '../../../agent/errors.js';
import { parseHostPort, parseSimUplinkOptions, registerSimUplink, runSimUplink } from '../../../drivers/uplink/cli.js';
import { LOCAL, TcpClient, UdpPeer, sleep, stamped, tcpServer } from './helpers.js';

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseHostPort', () => {
  it('reads host and port, IPv6 in brackets', () => {
    expect(parseHostPort('127.0.0.1:5000', '--listen')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(parseHostPort('kit-42.local:0', '--listen')).toEqual({ host: 'kit-42.local', port: 0 });
    expect(parseHostPort('[::1]:9000', '--target')).toEqual({ host: '::1', port: 9000 });
  });

  it.each([
    ['127.0.0.1', 'expected HOST:PORT'],
    [':80', 'host is missing'],
    ['127.0.0.1:', 'port must be a number'],
    ['127.0.0.1:65536', 'port must be a number'],
    ['127.0.0.1:-1', 'port must be a number'],
    ['bad host:80', 'not a valid host name'],
    ['::1:80', 'in brackets'],
    ['[nope]:80', 'not an IPv6 address'],
  ])('rejects %j naming the option', (text, why) => {
    const message = problemsOf(() => parseHostPort(text, '--target'));
    expect(message).toContain('--target');
    expect(message).toContain(why);
  });
});

describe('sim uplink options', () => {
  const base = { listen: '127.0.0.1:0', target: '127.0.0.1:9000' };

  it('applies overrides on top of the profile: delay, jitter, loss both ways, rate and queue up', () => {
    const config = parseSimUplinkOptions({
      ...base,
      profile: 'weak-5g',
      delay: '50',
      loss: '5',
      rate: '1500',
      queue: '30000',
      protocol: 'both',
      reorder: true,
    });
    expect(config).toMatchObject({
      protocols: ['tcp', 'udp'],
      profile: 'weak-5g',
      up: { delayMs: 50, loss: 0.05, rateBps: 1_500_000, queueBytes: 30_000, reorder: true },
      down: { delayMs: 50, loss: 0.05, reorder: true },
      intervalMs: 5_000,
      json: false,
    });
    expect(config.down).not.toHaveProperty('rateBps');
  });

  it('lists the valid profiles for an unknown one', () => {
    const message = problemsOf(() => parseSimUplinkOptions({ ...base, profile: 'great-6g' }));
    expect(message).toContain('--profile: unknown profile "great-6g"');
    expect(message).toContain('perfect, good-5g, weak-5g, congested-bell, outage');
  });

  it('reports every bad option at once, each by name', () => {
    const message = problemsOf(() =>
      parseSimUplinkOptions({
        listen: 'nowhere',
        delay: '-5',
        jitter: 'lots',
        loss: '150',
        rate: '-1',
        queue: '1.5',
        protocol: 'sctp',
        interval: '0',
      }),
    );
    for (const expected of [
      '--listen: expected HOST:PORT',
      '--target: required',
      '--delay: must not be negative',
      '--jitter: expected a number',
      '--loss: must be at most 100',
      '--rate: must not be negative',
      '--queue: must be a whole number',
      '--protocol: must be one of tcp, udp, both',
      '--interval: must be more than 0',
    ]) {
      expect(message).toContain(expected);
    }
  });

  it('refuses port 0 as a target', () => {
    expect(problemsOf(() => parseSimUplinkOptions({ listen: base.listen, target: '127.0.0.1:0' }))).toContain('--target');
  });

  it('fails the command with the option named, before binding anything', async () => {
    const program = new Command('lectern').exitOverride();
    registerSimUplink(program.command('sim'));
    const run = program.parseAsync(['sim', 'uplink', '--listen', '127.0.0.1:0', '--target', 'x:y'], { from: 'user' });
    await expect(run).rejects.toThrow(/--target: the port must be a number/);
  });
});

describe('sim uplink run', () => {
  it('forwards through the profile and prints JSON stats until stopped', async () => {
    const echo = await tcpServer();
    onTestFinished(() => echo.close());
    const config = parseSimUplinkOptions({
      listen: `${LOCAL}:0`,
      target: `${LOCAL}:${echo.port}`,
      protocol: 'tcp',
      delay: '20',
      interval: '0.1',
      json: true,
    });
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const stop = new AbortController();
    const running = runSimUplink(config, { out, signal: stop.signal });
    while (!text.includes('"started"')) await sleep(10);
    const started = JSON.parse(text.split('\n')[0]!) as { listen: { port: number }; up: { delayMs: number } };
    expect(started.up.delayMs).toBe(20);
    const c = await TcpClient.connect(started.listen.port);
    onTestFinished(() => c.destroy());
    const rtt = await c.ping();
    expect(rtt).toBeGreaterThanOrEqual(39);
    await sleep(250);
    stop.abort();
    const [final] = await running;
    expect(final).toMatchObject({ protocol: 'tcp', up: { forwardedBytes: 8 }, down: { forwardedBytes: 8 } });
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; up?: { forwardedBytes: number } });
    const stats = lines.filter((l) => l.event === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(2);
    expect(stats.at(-1)?.up?.forwardedBytes).toBe(8);
    // Stopped means closed: the port is free and the client was let go.
    expect(await c.waitClosed(2_000)).toBe(true);
  });

  it('with --protocol both, serves UDP on the TCP port number', async () => {
    const echo = await tcpServer();
    onTestFinished(() => echo.close());
    const config = parseSimUplinkOptions({ listen: `${LOCAL}:0`, target: `${LOCAL}:${echo.port}`, protocol: 'both', interval: '10' });
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const stop = new AbortController();
    const running = runSimUplink(config, { out, signal: stop.signal });
    while (text.split('\n').length < 3) await sleep(10);
    const ports = [...text.matchAll(/uplink emulator (tcp|udp) 127\.0\.0\.1:(\d+)/g)].map((m) => [m[1], Number(m[2])]);
    expect(ports).toHaveLength(2);
    expect(ports[0]![1]).toBe(ports[1]![1]);
    // The UDP listener answers on that port: a datagram goes out towards the target.
    const udp = await UdpPeer.open();
    onTestFinished(() => udp.close());
    udp.send(stamped(1), ports[1]![1] as number);
    await sleep(100);
    stop.abort();
    const [tcpStats, udpStats] = await running;
    expect(tcpStats?.protocol).toBe('tcp');
    expect(udpStats).toMatchObject({ protocol: 'udp', up: { forwardedPackets: 1 } });
    expect(text).toMatch(/\[udp\] up .* 1 pkts/);
  });
});
