// The named profiles: their figures, and that they behave as named through a real emulator.
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError } from '../../../agent/errors.js';
import { startUplinkEmulator } from '../../../drivers/uplink/emulator.js';
import { impairmentProblems } from '../../../drivers/uplink/impairment.js';
import { PROFILE_NAMES, getProfile, profileByName } from '../../../drivers/uplink/profiles.js';
import { LOCAL, TcpClient, median, sleep, tcpServer } from './helpers.js';

describe('uplink profiles', () => {
  it('are all valid and have the documented figures', () => {
    expect(PROFILE_NAMES).toEqual(['perfect', 'good-5g', 'weak-5g', 'congested-bell', 'outage']);
    for (const name of PROFILE_NAMES) {
      const p = getProfile(name);
      expect(p.description.length).toBeGreaterThan(10);
      expect(impairmentProblems(p.up, `${name}.up`)).toEqual([]);
      expect(impairmentProblems(p.down, `${name}.down`)).toEqual([]);
    }
    const rtt = (name: (typeof PROFILE_NAMES)[number]): number => getProfile(name).up.delayMs + getProfile(name).down.delayMs;
    expect(rtt('good-5g')).toBe(20);
    expect(getProfile('good-5g').up).toMatchObject({ loss: 0, rateBps: 20_000_000 });
    expect(rtt('weak-5g')).toBe(60);
    expect(getProfile('weak-5g').up.jitterMs + getProfile('weak-5g').down.jitterMs).toBe(20);
    expect(getProfile('weak-5g').up).toMatchObject({ loss: 0.01, rateBps: 3_000_000 });
    expect(rtt('congested-bell')).toBe(80);
    expect(getProfile('congested-bell').up).toMatchObject({ loss: 0.02, rateBps: 1_500_000 });
    expect(getProfile('outage').outage).toBe('blackhole');
    expect(getProfile('perfect').up).toMatchObject({ delayMs: 0, jitterMs: 0, loss: 0, rateBps: 0 });
  });

  it('hands out copies', () => {
    const p = getProfile('weak-5g');
    p.up.delayMs = 999;
    expect(getProfile('weak-5g').up.delayMs).toBe(30);
  });

  it('names the valid profiles when asked for an unknown one', () => {
    expect(() => profileByName('lte')).toThrow(/unknown profile "lte" \(valid: perfect, good-5g/);
  });

  it('good-5g measures 20 ms RTT; outage blackholes until another profile is applied', async () => {
    const echo = await tcpServer();
    onTestFinished(() => echo.close());
    const link = await startUplinkEmulator({
      protocol: 'tcp',
      listen: { host: LOCAL, port: 0 },
      target: { host: LOCAL, port: echo.port },
      profile: 'good-5g',
    });
    onTestFinished(() => link.close());
    const c = await TcpClient.connect(link.address.port);
    onTestFinished(() => c.destroy());
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await c.ping());
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(19);
    expect(median(rtts)).toBeLessThan(20 + 100);

    link.setProfile('outage');
    expect(link.stats().outage).toEqual({ mode: 'blackhole', remainingMs: Infinity });
    c.socket.write(Buffer.from('are you there'));
    expect(await c.waitFor(13, 300)).toBe(false);
    link.setProfile('perfect');
    expect(await c.waitFor(13, 2_000)).toBe(true);
    expect(c.take().toString()).toBe('are you there');
    expect(link.impairment('up')).toMatchObject({ delayMs: 0, rateBps: 0 });
  });

  it('a link started on the outage profile passes nothing', async () => {
    const echo = await tcpServer();
    onTestFinished(() => echo.close());
    const link = await startUplinkEmulator({
      protocol: 'tcp',
      listen: { host: LOCAL, port: 0 },
      target: { host: LOCAL, port: echo.port },
      profile: 'outage',
    });
    onTestFinished(() => link.close());
    const c = await TcpClient.connect(link.address.port);
    onTestFinished(() => c.destroy());
    c.socket.write(Buffer.from('hello???'));
    await sleep(200);
    expect(c.received).toBe(0);
    expect(echo.sockets.size).toBe(0);
    link.endOutage();
    expect(await c.waitFor(8, 2_000)).toBe(true);
  });
});

describe('uplink emulator options', () => {
  it('refuses bad options with every problem named, binding nothing', async () => {
    const attempt = startUplinkEmulator({
      protocol: 'sctp' as 'tcp',
      listen: { host: LOCAL, port: 70_000 },
      target: { host: LOCAL, port: 0 },
      up: { delayMs: -1 },
    });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/protocol: must be tcp or udp[\s\S]*listen\.port[\s\S]*target\.port/);
  });

  it('refuses bad impairments', async () => {
    const attempt = startUplinkEmulator({
      protocol: 'udp',
      listen: { host: LOCAL, port: 0 },
      target: { host: LOCAL, port: 9 },
      up: { delayMs: -1, loss: 1.5, queueBytes: 0.5, reorder: 'yes' as unknown as boolean },
    });
    await expect(attempt).rejects.toThrow(/up\.delayMs[\s\S]*up\.loss[\s\S]*up\.queueBytes[\s\S]*up\.reorder: must be true or false/);
  });

  it('reports a port in use and leaves nothing behind', async () => {
    const taken = await startUplinkEmulator({ protocol: 'udp', listen: { host: LOCAL, port: 0 }, target: { host: LOCAL, port: 9 } });
    onTestFinished(() => taken.close());
    const again = startUplinkEmulator({ protocol: 'udp', listen: taken.address, target: { host: LOCAL, port: 9 } });
    await expect(again).rejects.toThrow(/EADDRINUSE/);
  });
});
