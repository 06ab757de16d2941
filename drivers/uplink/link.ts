/**
 * One direction of the emulated link: its settings, its bottleneck (a FIFO queue served at the
 * capped rate), its scheduler and its counters. TCP and UDP share this model; they differ only
 * in what happens to a packet that does not fit (drop or pause the source) or is "lost".
 */
import { Fifo } from './fifo.js';
import { stallFor, type Direction, type Impairment } from './impairment.js';
import { TimerQueue, now } from './scheduler.js';

/** A typical Ethernet-path TCP segment; emulated TCP loss is per segment, not per read chunk. */
export const SEGMENT_BYTES = 1448;

export interface DirectionStats {
  /** Bytes and packets (datagrams, or TCP chunks) handed to the far side. */
  forwardedBytes: number;
  forwardedPackets: number;
  /** Packets dropped, by cause. TCP drops only on `outage` (data lost with a reset connection). */
  dropped: { loss: number; queue: number; outage: number };
  droppedBytes: number;
  /** TCP chunks held back by emulated loss. */
  stalls: number;
  /** Bytes waiting for the bandwidth cap now. */
  queuedBytes: number;
  /** Bytes past the cap and in the delay line now. */
  inFlightBytes: number;
  /** TCP bytes read from a source but not yet let onto the link (backpressure, outage). */
  heldBytes: number;
}

export type DropCause = keyof DirectionStats['dropped'];

interface Departure {
  at: number;
  size: number;
}

export class LinkDirection {
  readonly counters: Omit<DirectionStats, 'queuedBytes'> = {
    forwardedBytes: 0,
    forwardedPackets: 0,
    dropped: { loss: 0, queue: 0, outage: 0 },
    droppedBytes: 0,
    stalls: 0,
    inFlightBytes: 0,
    heldBytes: 0,
  };
  private readonly backlog = new Fifo<Departure>();
  private backlogBytes = 0;
  private busyUntil = 0;
  private readonly waiters = new Set<() => void>();
  private wakeArmed = false;

  constructor(
    readonly name: Direction,
    private settings: Impairment,
    private readonly random: () => number,
    readonly timers: TimerQueue,
  ) {}

  get impairment(): Readonly<Impairment> {
    return this.settings;
  }

  /** Takes effect for packets that arrive from now on; queued ones keep their schedule. */
  set impairment(next: Impairment) {
    this.settings = next;
    // A larger queue or a lifted cap may let a paused TCP source go on at once.
    this.wake();
  }

  get capped(): boolean {
    return this.settings.rateBps > 0;
  }

  /** The largest piece a TCP chunk is cut into on a capped link: about 5 ms of serialization. */
  get segmentBytes(): number {
    const fiveMs = (this.settings.rateBps / 8) * 0.005;
    return Math.round(Math.min(16 * 1024, Math.max(SEGMENT_BYTES, fiveMs)));
  }

  /** Bytes admitted to the bottleneck that have not left it by time `t`. */
  queuedBytes(t = now()): number {
    for (let head = this.backlog.peek(); head && head.at <= t; head = this.backlog.peek()) {
      this.backlog.shift();
      this.backlogBytes -= head.size;
    }
    return this.backlogBytes;
  }

  /**
   * Lets `size` bytes onto the link at time `t`: returns when they finish serializing, or null
   * when the queue has no room. A packet larger than the whole queue still passes an empty
   * queue, or it could never pass at all.
   */
  admit(size: number, t: number): number | null {
    const { rateBps, queueBytes } = this.settings;
    if (rateBps <= 0) return t;
    const queued = this.queuedBytes(t);
    if (queued > 0 && queued + size > queueBytes) return null;
    const departAt = Math.max(t, this.busyUntil) + (size * 8 * 1000) / rateBps;
    this.busyUntil = departAt;
    this.backlog.push({ at: departAt, size });
    this.backlogBytes += size;
    return departAt;
  }

  /** Whether a UDP datagram is lost. Draws from `random` only when loss is configured. */
  drawLoss(): boolean {
    const p = this.settings.loss;
    return p > 0 && this.random() < p;
  }

  /**
   * The extra hold for a TCP chunk of `size` bytes, 0 when it is not hit. The chance is that of
   * losing at least one of the segments it would have been sent as, so read sizes do not change
   * the emulated loss rate.
   */
  drawStall(size: number): number {
    const p = this.settings.loss;
    if (p <= 0) return 0;
    const segments = Math.max(1, Math.ceil(size / SEGMENT_BYTES));
    const chance = 1 - (1 - p) ** segments;
    return this.random() < chance ? stallFor(this.settings) : 0;
  }

  /** One-way delay for the next packet, jitter included. Draws only when jitter is configured. */
  drawTransit(): number {
    const { delayMs, jitterMs } = this.settings;
    if (jitterMs <= 0) return delayMs;
    return Math.max(0, delayMs + (this.random() * 2 - 1) * jitterMs);
  }

  /** Calls `fn` once the bottleneck has sent something, so a blocked TCP pipe can try again. */
  waitForSpace(fn: () => void): void {
    this.waiters.add(fn);
    if (this.wakeArmed) return;
    const head = this.backlog.peek();
    this.wakeArmed = true;
    this.timers.at(head ? head.at : now(), () => {
      this.wakeArmed = false;
      this.wake();
    });
  }

  drop(cause: DropCause, bytes: number, packets = 1): void {
    this.counters.dropped[cause] += packets;
    this.counters.droppedBytes += bytes;
  }

  forwarded(bytes: number): void {
    this.counters.forwardedBytes += bytes;
    this.counters.forwardedPackets++;
  }

  stats(): DirectionStats {
    return {
      ...this.counters,
      dropped: { ...this.counters.dropped },
      queuedBytes: this.queuedBytes(),
    };
  }

  close(): void {
    this.waiters.clear();
    this.timers.close();
  }

  private wake(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const fn of waiting) fn();
  }
}
