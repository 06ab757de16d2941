// The UDP proxy, measured with real datagrams. Senders pace their bursts so the kernel never
// drops anything: every loss counted here is the emulator's, and the receivers' counts must
// agree with the emulator's own counters.
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startUplinkEmulator, type UplinkEmulator, type UplinkEmulatorOptions } from '../../../drivers/uplink/emulator.js';
import { LOCAL, UdpPeer, median, sendPaced, sentAt, seqOf, sleep, stamped, waitUntil } from './helpers.js';

async function peer(echo = false): Promise<UdpPeer> {
  const p = await UdpPeer.open(echo);
  onTestFinished(() => p.close());
  return p;
}

async function emulator(target: number, opts: Partial<UplinkEmulatorOptions> = {}): Promise<UplinkEmulator> {
  const link = await startUplinkEmulator({
    protocol: 'udp',
    listen: { host: LOCAL, port: 0 },
    target: { host: LOCAL, port: target },
    ...opts,
  });
  onTestFinished(() => link.close());
  return link;
}

/** Round trips (ms) of echoed stamped datagrams. */
function rtts(client: UdpPeer): number[] {
  return client.received.map((d) => d.at - sentAt(d.data));
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Runs of consecutive sequence numbers that never arrived, at least `minRun` long. */
function gaps(received: readonly number[], total: number, minRun: number): number {
  const got = new Set(received);
  let runs = 0;
  let run = 0;
  for (let i = 0; i <= total; i++) {
    if (i < total && !got.has(i)) run++;
    else {
      if (run >= minRun) runs++;
      run = 0;
    }
  }
  return runs;
}

describe('uplink emulator over UDP', () => {
  it('adds the configured one-way delays to the round trip', async () => {
    const echo = await peer(true);
    const c = await peer();
    const link = await emulator(echo.port, { up: { delayMs: 30 }, down: { delayMs: 20 } });
    for (let i = 0; i < 20; i++) {
      c.send(stamped(i), link.address.port);
      await sleep(10);
    }
    expect(await c.waitFor(20, 3_000)).toBe(true);
    const r = rtts(c);
    expect(Math.min(...r)).toBeGreaterThanOrEqual(49);
    expect(median(r)).toBeLessThan(50 + 100);
    expect(link.stats()).toMatchObject({
      up: { forwardedPackets: 20, forwardedBytes: 20 * 64 },
      down: { forwardedPackets: 20 },
      connections: 1,
    });
  });

  it('drops exactly the datagrams the injected randomness picks', async () => {
    const sink = await peer();
    const c = await peer();
    let i = 0;
    // 0.0, 0.1, ... 0.9, 0.0, ...: with loss 0.1 every tenth datagram (draw 0.0) is lost.
    const link = await emulator(sink.port, { up: { loss: 0.1 }, random: () => (i++ % 10) / 10 });
    await sendPaced(c, link.address.port, 1_000, (n) => stamped(n));
    await sink.waitFor(900, 3_000);
    await sleep(50);
    const seqs = sink.received.map((d) => seqOf(d.data));
    expect(seqs).toHaveLength(900);
    expect(seqs.some((s) => s % 10 === 0)).toBe(false);
    expect(link.stats().up).toMatchObject({ forwardedPackets: 900, dropped: { loss: 100, queue: 0, outage: 0 } });
  });

  it('loses about 10% of thousands of datagrams with real randomness', async () => {
    const sink = await peer();
    const c = await peer();
    const link = await emulator(sink.port, { up: { loss: 0.1 } });
    const n = 3_000;
    await sendPaced(c, link.address.port, n, (k) => stamped(k));
    await sleep(100);
    const { up } = link.stats();
    expect(up.forwardedPackets + up.dropped.loss).toBe(n);
    // Binomial(3000, 0.1): sd ≈ 16.4 datagrams; ±75 is more than 4.5 sd.
    expect(up.dropped.loss).toBeGreaterThan(300 - 75);
    expect(up.dropped.loss).toBeLessThan(300 + 75);
    expect(sink.received).toHaveLength(up.forwardedPackets);
  });

  it('spreads delays uniformly over delay ± jitter, reordering when allowed to', async () => {
    const echo = await peer(true);
    const c = await peer();
    const link = await emulator(echo.port, { up: { delayMs: 40, jitterMs: 20, reorder: true } });
    for (let i = 0; i < 150; i++) {
      c.send(stamped(i), link.address.port);
      await sleep(3);
    }
    expect(await c.waitFor(150, 3_000)).toBe(true);
    const r = rtts(c);
    expect(Math.min(...r)).toBeGreaterThanOrEqual(19);
    expect(median(r)).toBeLessThan(40 + 40);
    expect(Math.max(...r)).toBeLessThan(60 + 300);
    // Uniform over 40 ms: the middle 80% spans ~32 ms. Without jitter it would be ~1 ms.
    expect(percentile(r, 0.9) - percentile(r, 0.1)).toBeGreaterThan(20);
    // Independent delays 3 ms apart with ±20 ms jitter overtake each other.
    const order = c.received.map((d) => seqOf(d.data));
    expect(order.some((s, k) => k > 0 && s < order[k - 1]!)).toBe(true);
  });

  it('keeps each flow in order under jitter by default, as a cellular link does', async () => {
    const echo = await peer(true);
    const c = await peer();
    const link = await emulator(echo.port, { up: { delayMs: 40, jitterMs: 20 } });
    for (let i = 0; i < 150; i++) {
      c.send(stamped(i), link.address.port);
      await sleep(3);
    }
    expect(await c.waitFor(150, 3_000)).toBe(true);
    expect(c.received.map((d) => seqOf(d.data))).toEqual(Array.from({ length: 150 }, (_, k) => k));
    const r = rtts(c);
    expect(Math.min(...r)).toBeGreaterThanOrEqual(19);
    expect(Math.max(...r)).toBeLessThan(60 + 300);
  });

  it('caps throughput at the configured rate', async () => {
    const sink = await peer();
    const c = await peer();
    const link = await emulator(sink.port, { up: { rateBps: 2_000_000, queueBytes: 300_000 } });
    const n = 250;
    // Offered at ~4 Mbit/s: 10 datagrams of 1000 bytes every 20 ms.
    await sendPaced(c, link.address.port, n, (k) => stamped(k, 1000), { burst: 10, gapMs: 20 });
    expect(await sink.waitFor(n, 5_000)).toBe(true);
    const first = sink.received[0]!.at;
    const last = sink.received[n - 1]!.at;
    const bps = ((n - 1) * 1000 * 8) / ((last - first) / 1000);
    expect(bps).toBeGreaterThan(2_000_000 * 0.75);
    expect(bps).toBeLessThan(2_000_000 * 1.25);
    expect(link.stats().up.dropped.queue).toBe(0);
  });

  it('drops what does not fit in the bounded queue and counts it', async () => {
    const sink = await peer();
    const c = await peer();
    const queueBytes = 10_000;
    const link = await emulator(sink.port, { up: { rateBps: 1_000_000, queueBytes } });
    const t0 = performance.now();
    await sendPaced(c, link.address.port, 200, (k) => stamped(k, 1000), { burst: 20, gapMs: 1 });
    const sendingMs = performance.now() - t0;
    await sleep(5);
    const queued = link.stats().up.queuedBytes;
    expect(queued).toBeGreaterThan(0);
    expect(queued).toBeLessThanOrEqual(queueBytes);
    await sleep(300);
    const { up } = link.stats();
    expect(up.forwardedPackets + up.dropped.queue).toBe(200);
    // 10 fit in the queue, plus one per 8 ms (1000 bytes at 1 Mbit/s) drained while sending.
    expect(up.forwardedPackets).toBeGreaterThanOrEqual(10);
    expect(up.forwardedPackets).toBeLessThanOrEqual(10 + Math.ceil(sendingMs / 8) + 2);
    expect(up.dropped.queue).toBeGreaterThan(100);
    expect(sink.received).toHaveLength(up.forwardedPackets);
    expect(up.queuedBytes).toBe(0);
  });

  it('applies changes to datagrams sent after them, not to those already on the way', async () => {
    const sink = await peer();
    const c = await peer();
    // Reordering allowed, so the second datagram shows its own, new delay.
    const link = await emulator(sink.port, { up: { delayMs: 200, reorder: true } });
    c.send(stamped(1), link.address.port);
    await sleep(20);
    link.setImpairment('up', { delayMs: 0 });
    c.send(stamped(2), link.address.port);
    expect(await sink.waitFor(2, 2_000)).toBe(true);
    expect(sink.received.map((d) => seqOf(d.data))).toEqual([2, 1]);
    const [second, first] = sink.received;
    expect(first!.at - sentAt(first!.data)).toBeGreaterThanOrEqual(199);
    expect(second!.at - sentAt(second!.data)).toBeLessThan(100);
  });

  it('blackhole drops everything for its duration, counted as outage', async () => {
    const sink = await peer();
    const c = await peer();
    const link = await emulator(sink.port);
    const total = 180;
    let started = false;
    for (let k = 0; k < total; k++) {
      if (k === 60) {
        link.outage({ durationMs: 300, mode: 'blackhole' });
        started = true;
      }
      c.send(stamped(k), link.address.port);
      await sleep(5);
    }
    await sleep(50);
    expect(started).toBe(true);
    const seqs = sink.received.map((d) => seqOf(d.data));
    const { up } = link.stats();
    expect(up.forwardedPackets + up.dropped.outage).toBe(total);
    expect(seqs).toHaveLength(up.forwardedPackets);
    expect(seqs).toContain(59);
    expect(seqs).not.toContain(60);
    expect(seqs).toContain(total - 1);
    // One run of losses as long as the outage: the last datagram before it and the first one
    // through again were sent at least the 300 ms apart.
    expect(gaps(seqs, total, 1)).toBe(1);
    const back = sink.received.find((d) => seqOf(d.data) > 60)!;
    const lastBefore = sentAt(sink.received.find((d) => seqOf(d.data) === 59)!.data);
    expect(sentAt(back.data) - lastBefore).toBeGreaterThanOrEqual(295);
    expect(sentAt(back.data) - lastBefore).toBeLessThan(300 + 200);
    expect(up.dropped.outage).toBe(seqOf(back.data) - 60);
  });

  it('repeats a schedule of outages', async () => {
    const sink = await peer();
    const c = await peer();
    const link = await emulator(sink.port);
    link.schedule([{ atMs: 100, durationMs: 200, mode: 'blackhole' }], { repeat: true, periodMs: 500 });
    const t0 = performance.now();
    let total = 0;
    while (performance.now() - t0 < 1_550) {
      c.send(stamped(total++), link.address.port);
      await sleep(5);
    }
    await sleep(50);
    link.schedule([]);
    const seqs = sink.received.map((d) => seqOf(d.data));
    const { up, outages } = link.stats();
    // 1.55 s of sending covers the windows at 100, 600 and 1100 ms, each 200 ms long.
    expect(outages).toBeGreaterThanOrEqual(3);
    expect(gaps(seqs, total, 2)).toBeGreaterThanOrEqual(3);
    expect(up.forwardedPackets + up.dropped.outage).toBe(total);
    const dropped = up.dropped.outage / total;
    expect(dropped).toBeGreaterThan(0.2);
    expect(dropped).toBeLessThan(0.6);
  });

  it('reset forgets the NAT mappings; clients come back on new ones', async () => {
    const sink = await peer();
    const c = await peer();
    const link = await emulator(sink.port);
    c.send(stamped(1), link.address.port);
    expect(await sink.waitFor(1, 1_000)).toBe(true);
    expect(link.stats().connections).toBe(1);
    link.outage({ durationMs: 100, mode: 'reset' });
    c.send(stamped(2), link.address.port);
    expect(await waitUntil(() => link.stats().up.dropped.outage === 1)).toBe(true);
    expect(link.stats()).toMatchObject({ connections: 0, connectionsReset: 1 });
    expect(await waitUntil(() => link.stats().outage === null)).toBe(true);
    c.send(stamped(3), link.address.port);
    expect(await sink.waitFor(2, 1_000)).toBe(true);
    expect(sink.received.map((d) => seqOf(d.data))).toEqual([1, 3]);
    expect(sink.received[1]!.from.port).not.toBe(sink.received[0]!.from.port);
  });

  it('gives each client its own mapping and expires idle ones', async () => {
    const echo = await peer(true);
    const a = await peer();
    const b = await peer();
    const link = await emulator(echo.port, { udpIdleMs: 200 });
    a.send(stamped(1), link.address.port);
    b.send(stamped(2), link.address.port);
    expect(await a.waitFor(1, 1_000)).toBe(true);
    expect(await b.waitFor(1, 1_000)).toBe(true);
    expect(seqOf(a.received[0]!.data)).toBe(1);
    expect(seqOf(b.received[0]!.data)).toBe(2);
    const ports = new Set(echo.received.map((d) => d.from.port));
    expect(ports.size).toBe(2);
    expect(link.stats().connections).toBe(2);
    await sleep(250);
    expect(await waitUntil(() => link.stats().connections === 0)).toBe(true);
    expect(link.stats().connectionsTotal).toBe(2);
  });

  it('close() frees the port and every handle', async () => {
    const types = ['UDPWrap', 'Timeout'];
    const count = (): number => process.getActiveResourcesInfo().filter((r) => types.includes(r)).length;
    const sink = await peer();
    const c = await peer();
    await sleep(100); // let sockets closed by earlier tests finish closing
    const before = count();
    const link = await startUplinkEmulator({
      protocol: 'udp',
      listen: { host: LOCAL, port: 0 },
      target: { host: LOCAL, port: sink.port },
      up: { delayMs: 500 },
    });
    link.schedule([{ atMs: 5_000, durationMs: 1_000, mode: 'blackhole' }], { repeat: true });
    c.send(stamped(1), link.address.port);
    await sleep(20);
    const port = link.address.port;
    await link.close();
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, LOCAL, resolve);
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    await waitUntil(() => count() <= before, 2_000);
    expect(count()).toBe(before);
    await sleep(600);
    expect(sink.received).toHaveLength(0);
  });
});
