/**
 * Adaptive bitrate for the uplink: reads successive SRT statistics and decides the encoder's
 * target bitrate between a floor and a ceiling.
 *
 * - Congestion (loss or sender drops above `lossHighPct` (5 %), or RTT risen `rttRiseMs` above the
 *   lowest RTT seen on this connection): decrease at once, multiplicatively, and no increase for
 *   `holdAfterDecreaseMs`. A 5G cell that degrades needs the bitrate down within a second or two,
 *   before SRT's latency window runs out and packets are dropped.
 * - Clean (loss below `lossLowPct` (3 %: a lossy radio that SRT repairs counts as clean) and RTT
 *   near its floor) for `cleanIntervalsToIncrease` samples
 *   in a row: increase by a small step. Slow increases keep the bitrate from oscillating around
 *   the link's capacity.
 * - In between: hold (and the clean count starts over).
 * - SRT's bandwidth estimate is not used: it is measured from packet pairs of what is being
 *   sent, so at a low bitrate it reads low and would hold the target down (found through the
 *   uplink emulator: the bitrate stuck near the floor after a cap was lifted). A real capacity
 *   limit shows as RTT rise (the bottleneck queue filling) and then loss, which the rules above see.
 *
 * Pure: no timers, no GStreamer; the runtime feeds it and applies the result.
 */
import type { SrtStats } from './gst-structure.js';

export interface AbrOptions {
  floorKbps: number;
  startKbps: number;
  ceilingKbps: number;
  decreaseFactor?: number;
  /** Each increase adds this fraction of the current bitrate (at least `minStepKbps`). */
  increaseFraction?: number;
  minStepKbps?: number;
  cleanIntervalsToIncrease?: number;
  holdAfterDecreaseMs?: number;
  lossHighPct?: number;
  lossLowPct?: number;
  rttRiseMs?: number;
  /** Loss is measured over the latest intervals that hold at least this many packets. */
  lossWindowPackets?: number;
}

export type LinkCondition = 'congested' | 'clean' | 'neutral' | 'unknown';

export interface AbrDecision {
  bitrateKbps: number;
  changed: boolean;
  condition: LinkCondition;
  reason: string;
  /** Loss over the last interval: packets reported lost or dropped by the sender, % of sent. */
  lossPct?: number;
  rttMs?: number;
  sendKbps?: number;
}

export class AbrController {
  private current: number;
  private last: SrtStats | undefined;
  private lastAt: number | undefined;
  private minRtt: number | undefined;
  private clean = 0;
  private holdUntil = 0;
  /** Recent intervals' packets sent and lost: loss is judged over enough packets to mean something. */
  private recent: { sent: number; lost: number }[] = [];

  constructor(private readonly opts: AbrOptions) {
    this.current = opts.startKbps;
  }

  get bitrateKbps(): number {
    return this.current;
  }

  /** A new connection: start again from `startKbps` (or the given value) and forget the history. */
  reset(kbps = this.opts.startKbps): void {
    this.current = this.clamp(kbps);
    this.last = undefined;
    this.lastAt = undefined;
    this.minRtt = undefined;
    this.clean = 0;
    this.holdUntil = 0;
    this.recent = [];
  }

  private clamp(kbps: number): number {
    return Math.round(Math.min(this.opts.ceilingKbps, Math.max(this.opts.floorKbps, kbps)));
  }

  update(stats: SrtStats, nowMs: number): AbrDecision {
    const o = {
      decreaseFactor: 0.75,
      increaseFraction: 0.05,
      minStepKbps: 50,
      cleanIntervalsToIncrease: 3,
      holdAfterDecreaseMs: 10_000,
      // A 5G link loses 1-3 % of packets at random in bad weather and SRT recovers them: that
      // alone is not congestion (a filling queue shows as RTT rise) and must not stop increases.
      lossHighPct: 5,
      lossLowPct: 3,
      rttRiseMs: 150,
      lossWindowPackets: 300,
      ...this.opts,
    };
    const prev = this.last;
    const prevAt = this.lastAt;
    const unchanged = (condition: LinkCondition, reason: string, extra: Partial<AbrDecision> = {}): AbrDecision => ({
      bitrateKbps: this.current,
      changed: false,
      condition,
      reason,
      ...extra,
    });
    if (!stats.connected) {
      this.last = undefined;
      return unchanged('unknown', 'not connected');
    }
    this.last = stats;
    this.lastAt = nowMs;
    if (stats.rttMs !== undefined && stats.rttMs > 0) this.minRtt = this.minRtt === undefined ? stats.rttMs : Math.min(this.minRtt, stats.rttMs);
    // First sample of a connection, or counters that went backwards (a new connection).
    if (!prev || prevAt === undefined || stats.packetsSent < prev.packetsSent) return unchanged('unknown', 'first sample');
    const dSent = stats.packetsSent - prev.packetsSent;
    const dLost = Math.max(0, stats.packetsLost - prev.packetsLost) + Math.max(0, stats.packetsDropped - prev.packetsDropped);
    const dt = Math.max(1, nowMs - prevAt);
    const sendKbps = ((stats.bytesSent - prev.bytesSent) * 8) / dt;
    // At a few hundred kbit/s an interval carries a few dozen packets, where one random loss is
    // already 2-3 %: judge loss over the most recent intervals holding `lossWindowPackets`.
    this.recent.unshift({ sent: dSent, lost: dLost });
    let wSent = 0;
    let wLost = 0;
    let used = 0;
    for (const r of this.recent) {
      wSent += r.sent;
      wLost += r.lost;
      used++;
      if (wSent >= o.lossWindowPackets) break;
    }
    this.recent.length = Math.min(this.recent.length, Math.max(used, 1));
    const lossPct = wSent > 0 ? (100 * wLost) / wSent : wLost > 0 ? 100 : 0;
    const rtt = stats.rttMs;
    const rttRise = rtt !== undefined && this.minRtt !== undefined ? rtt - this.minRtt : 0;
    const measured = { lossPct, rttMs: rtt, sendKbps };

    if (dSent === 0 && dLost === 0) return unchanged('unknown', 'no packets in the interval', measured);

    if (lossPct >= o.lossHighPct || rttRise >= o.rttRiseMs) {
      this.clean = 0;
      this.recent = [];
      this.holdUntil = nowMs + o.holdAfterDecreaseMs;
      const target = this.clamp(this.current * o.decreaseFactor);
      const reason = lossPct >= o.lossHighPct ? `loss ${lossPct.toFixed(1)}%` : `rtt +${Math.round(rttRise)} ms`;
      if (target < this.current) {
        this.current = target;
        return { bitrateKbps: target, changed: true, condition: 'congested', reason, ...measured };
      }
      return unchanged('congested', `${reason}, at the floor`, measured);
    }

    if (lossPct < o.lossLowPct && rttRise < o.rttRiseMs / 2) {
      this.clean++;
      if (nowMs >= this.holdUntil && this.clean >= o.cleanIntervalsToIncrease && this.current < o.ceilingKbps) {
        this.clean = 0;
        const step = Math.max(o.minStepKbps, this.current * o.increaseFraction);
        const target = this.clamp(this.current + step);
        if (target > this.current) {
          this.current = target;
          return { bitrateKbps: target, changed: true, condition: 'clean', reason: 'clean link', ...measured };
        }
      }
      return unchanged('clean', 'clean link', measured);
    }
    this.clean = 0;
    return unchanged('neutral', 'holding', measured);
  }
}
