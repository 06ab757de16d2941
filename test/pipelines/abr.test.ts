// The adaptive bitrate controller on synthetic SRT statistics sequences.
import { describe, expect, it } from 'vitest';
import { AbrController, type AbrDecision } from '../../pipelines/abr.js';
import type { SrtStats } from '../../pipelines/gst-structure.js';

interface Interval {
  /** Packets sent in this interval. */
  sent?: number;
  lost?: number;
  dropped?: number;
  rttMs?: number;
  bandwidthMbps?: number;
}

/** Feeds one-second intervals, accumulating counters as srtsink does. */
function run(abr: AbrController, intervals: Interval[], startMs = 0): AbrDecision[] {
  const c: SrtStats = { connected: true, packetsSent: 0, packetsLost: 0, packetsRetransmitted: 0, packetsDropped: 0, acksReceived: 0, nacksReceived: 0, bytesSent: 0, callers: 1, rttMs: 20 };
  const out: AbrDecision[] = [abr.update({ ...c }, startMs)];
  intervals.forEach((iv, i) => {
    const sent = iv.sent ?? 200;
    c.packetsSent += sent;
    c.bytesSent += sent * 1316;
    c.acksReceived += 100;
    c.packetsLost += iv.lost ?? 0;
    c.packetsDropped += iv.dropped ?? 0;
    c.rttMs = iv.rttMs ?? 20;
    c.bandwidthMbps = iv.bandwidthMbps;
    out.push(abr.update({ ...c }, startMs + (i + 1) * 1000));
  });
  return out;
}

const clean = (n: number): Interval[] => Array.from({ length: n }, () => ({}));
const opts = { floorKbps: 500, startKbps: 2000, ceilingKbps: 3000 };

describe('adaptive bitrate', () => {
  it('a clean link: slow steps up to the ceiling, never above', () => {
    const abr = new AbrController(opts);
    const d = run(abr, clean(120));
    const changes = d.filter((x) => x.changed);
    expect(changes.length).toBeGreaterThan(3);
    // Each step is small (5%) and needs three clean samples.
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.bitrateKbps - changes[i - 1]!.bitrateKbps).toBeLessThanOrEqual(Math.ceil(changes[i - 1]!.bitrateKbps * 0.05) + 1);
    const firstUp = d.findIndex((x) => x.changed);
    expect(firstUp).toBe(3);
    expect(abr.bitrateKbps).toBe(3000);
    expect(Math.max(...d.map((x) => x.bitrateKbps))).toBe(3000);
    expect(d.at(-1)!.sendKbps).toBeCloseTo((200 * 1316 * 8) / 1000, 1);
  });

  it('congestion: down 25% at once, then no increase while holding', () => {
    const abr = new AbrController(opts);
    // Loss is judged over the latest 300+ packets: 20 lost in this interval and none in the one
    // before is 5 % of 400.
    const d = run(abr, [...clean(2), { lost: 20 }, ...clean(9), ...clean(6)]);
    expect(d[3]).toMatchObject({ changed: true, condition: 'congested', bitrateKbps: 1500 });
    expect(d[3]!.lossPct).toBeCloseTo(5, 5);
    // Hold for 10 s after the decrease, then three clean samples before the first step up.
    expect(d.slice(4, 13).every((x) => !x.changed)).toBe(true);
    expect(d.slice(13).some((x) => x.changed && x.bitrateKbps > 1500)).toBe(true);
  });

  it('sender drops and a rising RTT count as congestion; the floor holds', () => {
    const abr = new AbrController(opts);
    const d = run(abr, [{ dropped: 20 }, { rttMs: 400 }, { lost: 50 }, { lost: 50 }, { lost: 50 }, { lost: 50 }, { lost: 50 }]);
    expect(d[1]).toMatchObject({ changed: true, bitrateKbps: 1500, reason: 'loss 10.0%' });
    expect(d[2]).toMatchObject({ changed: true, bitrateKbps: 1125, reason: 'rtt +380 ms' });
    expect(abr.bitrateKbps).toBe(500);
    expect(d.at(-1)).toMatchObject({ changed: false, condition: 'congested', reason: 'loss 25.0%, at the floor' });
  });

  it('hysteresis: loss between the two thresholds neither raises nor lowers', () => {
    const abr = new AbrController(opts);
    // 4 % loss: above what a lossy radio loses at random, below congestion.
    const mild = Array.from({ length: 30 }, () => ({ lost: 8 }));
    const d = run(abr, mild);
    expect(d.every((x) => !x.changed)).toBe(true);
    expect(d.filter((x) => x.condition === 'neutral').length).toBeGreaterThan(10);
    expect(abr.bitrateKbps).toBe(2000);
  });

  it("a low SRT bandwidth estimate does not hold the bitrate down on a clean link", () => {
    // SRT estimates bandwidth from what is being sent: at a low bitrate it reads low. The target
    // still climbs on a clean link (a real limit shows as RTT rise and loss).
    const abr = new AbrController({ ...opts, startKbps: 400 });
    const d = run(abr, clean(40).map(() => ({ bandwidthMbps: 0.5 })));
    expect(Math.max(...d.map((x) => x.bitrateKbps))).toBeGreaterThan(1000);
  });

  it('not connected, the first sample and a new connection decide nothing', () => {
    const abr = new AbrController(opts);
    expect(abr.update({ connected: false, packetsSent: 0, packetsLost: 0, packetsRetransmitted: 0, packetsDropped: 0, acksReceived: 0, nacksReceived: 0, bytesSent: 0, callers: 0 }, 0)).toMatchObject({
      changed: false,
      condition: 'unknown',
      reason: 'not connected',
    });
    run(abr, clean(3));
    // Counters that restart from zero are a new connection, not negative traffic.
    const d = run(abr, clean(2), 10_000);
    expect(d[0]).toMatchObject({ changed: false, reason: 'first sample' });
    abr.reset(700);
    expect(abr.bitrateKbps).toBe(700);
    abr.reset(100);
    expect(abr.bitrateKbps).toBe(500);
  });

  it('a lossy radio link (1-2 % random loss, RTT at its floor) still counts as clean', () => {
    const abr = new AbrController(opts);
    const d = run(abr, Array.from({ length: 30 }, (_, i) => ({ lost: i % 3 === 0 ? 4 : 2 })));
    expect(d.some((x) => x.changed && x.condition === 'clean')).toBe(true);
    expect(abr.bitrateKbps).toBeGreaterThan(2000);
  });
});
