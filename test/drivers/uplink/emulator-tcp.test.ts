// The TCP proxy, measured through real sockets: what a client sees is what a classroom's
// encoder would see. Lower bounds are tight (a delay is never shorter than configured); upper
// bounds leave room for a loaded machine.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError } from '../../../agent/errors.js';
import { startUplinkEmulator, type UplinkEmulatorOptions, type UplinkEmulator } from '../../../drivers/uplink/emulator.js';
import { LOCAL, TcpClient, median, sleep, tcpServer, waitUntil, type TcpServer } from './helpers.js';

async function echoServer(): Promise<TcpServer> {
  const server = await tcpServer();
  onTestFinished(() => server.close());
  return server;
}

async function emulator(target: number, opts: Partial<UplinkEmulatorOptions> = {}): Promise<UplinkEmulator> {
  const link = await startUplinkEmulator({
    protocol: 'tcp',
    listen: { host: LOCAL, port: 0 },
    target: { host: LOCAL, port: target },
    ...opts,
  });
  onTestFinished(() => link.close());
  return link;
}

async function client(link: UplinkEmulator): Promise<TcpClient> {
  const c = await TcpClient.connect(link.address.port);
  onTestFinished(() => c.destroy());
  return c;
}

/** A server that counts what it receives and when the first and last bytes came. */
async function sinkServer(): Promise<TcpServer & { bytes: () => number; first: () => number; last: () => number }> {
  let bytes = 0;
  let first = 0;
  let last = 0;
  const server = await tcpServer((s) =>
    s.on('data', (c: Buffer) => {
      const t = performance.now();
      if (bytes === 0) first = t;
      bytes += c.length;
      last = t;
    }),
  );
  onTestFinished(() => server.close());
  return { ...server, bytes: () => bytes, first: () => first, last: () => last };
}

describe('uplink emulator over TCP', () => {
  it('adds the configured one-way delays to the round trip', async () => {
    const echo = await echoServer();
    const link = await emulator(echo.port, { up: { delayMs: 40 }, down: { delayMs: 25 } });
    const c = await client(link);
    await c.ping();
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await c.ping());
    expect(Math.min(...rtts)).toBeGreaterThanOrEqual(64);
    expect(median(rtts)).toBeLessThan(65 + 100);
    const stats = link.stats();
    expect(stats.up.forwardedBytes).toBe(6 * 8);
    expect(stats.down.forwardedBytes).toBe(6 * 8);
    expect(stats.connections).toBe(1);
  });

  it('caps throughput at the configured rate', async () => {
    const sink = await sinkServer();
    const link = await emulator(sink.port, { up: { rateBps: 2_000_000, queueBytes: 64 * 1024 } });
    const c = await client(link);
    const total = 300 * 1024;
    c.socket.write(Buffer.alloc(total, 7));
    let maxQueued = 0;
    const deadline = performance.now() + 5_000;
    while (sink.bytes() < total && performance.now() < deadline) {
      maxQueued = Math.max(maxQueued, link.stats().up.queuedBytes);
      await sleep(20);
    }
    expect(sink.bytes()).toBe(total);
    // Rate between the first and the last byte; the first segment (1448 bytes at this rate)
    // arrived when the clock started, so it does not count.
    const seconds = (sink.last() - sink.first()) / 1000;
    const bps = ((total - 1448) * 8) / seconds;
    expect(bps).toBeGreaterThan(2_000_000 * 0.75);
    expect(bps).toBeLessThan(2_000_000 * 1.25);
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(64 * 1024);
  });

  it('keeps byte order under jitter that would reorder the chunks', async () => {
    const echo = await echoServer();
    // Each chunk's jitter draw is lower than the one before: without the ordering rule every
    // chunk would overtake its predecessor.
    let draw = 1;
    const link = await emulator(echo.port, {
      up: { delayMs: 40, jitterMs: 35 },
      random: () => (draw = Math.max(0, draw - 0.02)),
    });
    const c = await client(link);
    const chunks = 40;
    const chunkBytes = 512;
    const sent: Buffer[] = [];
    for (let i = 0; i < chunks; i++) {
      const b = Buffer.alloc(chunkBytes);
      for (let off = 0; off < chunkBytes; off += 4) b.writeUInt32BE(i * chunkBytes + off, off);
      sent.push(b);
      c.socket.write(b);
      await sleep(3);
    }
    expect(await c.waitFor(chunks * chunkBytes, 10_000)).toBe(true);
    expect(c.take().equals(Buffer.concat(sent))).toBe(true);
    // The chunks really went through the jittered line one by one, not as one read.
    expect(link.stats().up.forwardedPackets).toBeGreaterThan(10);
  });

  it('keeps a random byte stream identical under real jitter and stalls', async () => {
    const echo = await echoServer();
    const link = await emulator(echo.port, {
      // Loss is per 1448-byte segment however the stream is chunked: no stall at all over
      // ~140 segments has a chance of 0.9^140 ≈ 4e-7.
      up: { delayMs: 15, jitterMs: 15, loss: 0.1, stallMs: 40 },
      down: { delayMs: 5, jitterMs: 5 },
    });
    const c = await client(link);
    const sent: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const b = Buffer.alloc(2048);
      for (let off = 0; off < b.length; off += 4) b.writeUInt32BE((i << 16) + off, off);
      sent.push(b);
      c.socket.write(b);
      if (i % 5 === 4) await sleep(2);
    }
    const all = Buffer.concat(sent);
    expect(await c.waitFor(all.length, 15_000)).toBe(true);
    expect(c.take().equals(all)).toBe(true);
    expect(link.stats().up.stalls).toBeGreaterThan(0);
  });

  it('turns loss into a retransmission-like stall, never lost bytes', async () => {
    const echo = await echoServer();
    let r = 0; // every draw "hits": each chunk stalls
    const link = await emulator(echo.port, { up: { delayMs: 10, loss: 0.05 }, random: () => r });
    const c = await client(link);
    const stalled = await c.ping();
    // max(200 ms, 3 × 10 ms) extra on top of the 10 ms delay.
    expect(stalled).toBeGreaterThanOrEqual(209);
    expect(stalled).toBeLessThan(210 + 300);
    expect(link.stats().up.stalls).toBe(1);
    r = 0.99; // no draw hits any more
    const clean = await c.ping();
    expect(clean).toBeGreaterThanOrEqual(9);
    expect(clean).toBeLessThan(200); // no 200 ms stall
    expect(link.stats().up.stalls).toBe(1);
    expect(link.stats().up.dropped).toEqual({ loss: 0, queue: 0, outage: 0 });
  });

  it('pauses the sender when the queue is full, so memory stays bounded', async () => {
    const sink = await sinkServer();
    const queueBytes = 32 * 1024;
    const link = await emulator(sink.port, { up: { rateBps: 1_000_000, queueBytes } });
    const c = await client(link);
    const total = 4 * 1024 * 1024;
    const t0 = performance.now();
    c.socket.write(Buffer.alloc(total, 1));
    let maxHeld = 0;
    let maxQueued = 0;
    for (let i = 0; i < 40; i++) {
      await sleep(20);
      const { up } = link.stats();
      maxHeld = Math.max(maxHeld, up.heldBytes + up.inFlightBytes);
      maxQueued = Math.max(maxQueued, up.queuedBytes);
    }
    expect(maxQueued).toBeLessThanOrEqual(queueBytes);
    expect(maxQueued).toBeGreaterThan(queueBytes / 2);
    // At most a couple of socket reads (64 KiB each) wait in front of the queue.
    expect(maxHeld).toBeLessThan(256 * 1024);
    // Only what 1 Mbit/s carries arrived: the proxy passed on the rate, not the 4 MB.
    const capped = (1_000_000 / 8) * ((performance.now() - t0) / 1000);
    expect(sink.bytes()).toBeGreaterThan(capped * 0.5);
    expect(sink.bytes()).toBeLessThan(capped * 1.1 + 2 * 1448);
  });

  it('applies runtime changes to what is sent after them', async () => {
    const echo = await echoServer();
    const link = await emulator(echo.port);
    const c = await client(link);
    const pings = async (): Promise<number[]> => [await c.ping(), await c.ping(), await c.ping()];
    await c.ping();
    expect(median(await pings())).toBeLessThan(50);
    link.setImpairment('both', { delayMs: 60 });
    expect(link.impairment('up').delayMs).toBe(60);
    expect(link.impairment('down').delayMs).toBe(60);
    const slow = await pings();
    expect(Math.min(...slow)).toBeGreaterThanOrEqual(119);
    expect(median(slow)).toBeLessThan(120 + 100);
    // A bad change is refused as a whole.
    expect(() => link.setImpairment('up', { delayMs: 5, loss: 2 })).toThrow(ConfigError);
    expect(link.impairment('up')).toMatchObject({ delayMs: 60, loss: 0 });
    expect(() => link.setImpairment('sideways' as 'up', { delayMs: 5 })).toThrow(/direction: must be up, down or both/);
    link.setImpairment('down', { delayMs: 0 });
    const faster = await pings();
    expect(Math.min(...faster)).toBeGreaterThanOrEqual(59);
    expect(median(faster)).toBeLessThan(119); // the down delay is gone
  });

  it('blackhole: data is held and new connections hang, then everything flows again', async () => {
    const echo = await echoServer();
    const link = await emulator(echo.port, { up: { delayMs: 5 }, down: { delayMs: 5 } });
    const c = await client(link);
    await c.ping();
    link.outage({ durationMs: 900, mode: 'blackhole' });
    const t0 = performance.now();
    c.socket.write(Buffer.from('during!!'));
    const late = await TcpClient.connect(link.address.port);
    onTestFinished(() => late.destroy());
    late.socket.write(Buffer.from('new conn'));
    expect(await c.waitFor(8, 400)).toBe(false);
    expect(late.received).toBe(0);
    // The new connection was accepted but not passed on: the target has only the first one.
    expect(echo.sockets.size).toBe(1);
    expect(link.stats()).toMatchObject({ connections: 2, outage: { mode: 'blackhole' } });
    expect(await c.waitFor(8, 3_000)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(895);
    expect(c.take().toString()).toBe('during!!');
    expect(await late.waitFor(8, 2_000)).toBe(true);
    expect(late.take().toString()).toBe('new conn');
    expect(c.closed || late.closed).toBe(false);
    expect(echo.sockets.size).toBe(2);
    expect(link.stats().outage).toBeNull();
    expect(link.stats().outages).toBe(1);
  });

  it('reset: connections get ECONNRESET and new ones are reset until the link is back', async () => {
    const echo = await echoServer();
    const link = await emulator(echo.port);
    const c = await client(link);
    await c.ping();
    link.setImpairment('up', { delayMs: 500 });
    c.socket.write(Buffer.from('in the air'));
    await sleep(50);
    link.outage({ durationMs: 700, mode: 'reset' });
    expect(await c.waitClosed(2_000)).toBe(true);
    expect(c.error?.code).toBe('ECONNRESET');
    // What was on its way is gone with the connection.
    expect(link.stats().up).toMatchObject({ dropped: { outage: 1 }, droppedBytes: 10, inFlightBytes: 0 });
    link.setImpairment('up', { delayMs: 0 });
    // A new connection during the outage: accepted by the kernel, then reset at once.
    const during = await TcpClient.connect(link.address.port).catch((e: NodeJS.ErrnoException) => e);
    if (during instanceof TcpClient) {
      expect(await during.waitClosed(2_000)).toBe(true);
      expect(during.error?.code).toBe('ECONNRESET');
    } else {
      expect(during.code).toBe('ECONNRESET');
    }
    expect(link.stats()).toMatchObject({ connections: 0, connectionsReset: 2 });
    expect(await waitUntil(() => link.stats().outage === null)).toBe(true);
    const after = await client(link);
    expect(await after.ping()).toBeLessThan(1_000);
  });

  it('propagates a refused target as a reset', async () => {
    const gone = await tcpServer();
    const port = gone.port;
    await gone.close();
    const link = await emulator(port);
    const c = await client(link);
    expect(await c.waitClosed(2_000)).toBe(true);
    expect(c.error?.code).toBe('ECONNRESET');
    expect(link.stats().connections).toBe(0);
  });

  it('close() ends connections and frees the port and every handle', async () => {
    const types = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'];
    const count = (): number => process.getActiveResourcesInfo().filter((r) => types.includes(r)).length;
    await sleep(100); // let sockets closed by earlier tests finish closing
    const before = count();
    const echo = await tcpServer();
    const link = await startUplinkEmulator({
      protocol: 'tcp',
      listen: { host: LOCAL, port: 0 },
      target: { host: LOCAL, port: echo.port },
      up: { delayMs: 200, rateBps: 1_000_000 },
    });
    const c = await TcpClient.connect(link.address.port);
    c.socket.write(Buffer.alloc(50_000));
    link.schedule([{ atMs: 5_000, durationMs: 1_000, mode: 'blackhole' }], { repeat: true });
    await sleep(50);
    const port = link.address.port;
    await link.close();
    expect(await c.waitClosed(2_000)).toBe(true);
    await echo.close();
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, LOCAL, resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    await waitUntil(() => count() <= before, 2_000);
    expect(count()).toBe(before);
  });
});
