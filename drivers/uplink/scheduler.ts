/**
 * A time-ordered queue of callbacks driven by one timer. The emulator schedules a callback per
 * datagram (UDP) or per connection head (TCP); a timer per packet would put thousands of
 * handles on the event loop for one 20 Mbit/s stream, so instead a binary heap keeps the due
 * times and a single timer is armed for the earliest one.
 */
import { performance } from 'node:perf_hooks';

/** Milliseconds on a monotonic clock; every time in the emulator is on this clock. */
export function now(): number {
  return performance.now();
}

interface Entry {
  at: number;
  seq: number;
  run: () => void;
}


export class TimerQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Infinity;
  private closed = false;
  private firing = false;

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Runs `run` at monotonic time `at` (or as soon as possible if that is past). */
  at(at: number, run: () => void): void {
    if (this.closed) return;
    this.push({ at, seq: this.seq++, run });
    if (!this.firing && at < this.armedAt) this.arm();
  }

  get size(): number {
    return this.heap.length;
  }

  /** Drops every pending callback and the timer; the queue accepts nothing afterwards. */
  close(): void {
    this.closed = true;
    this.heap.length = 0;
    this.disarm();
  }

  private arm(): void {
    this.disarm();
    const head = this.heap[0];
    if (!head) return;
    this.armedAt = head.at;
    // Node counts a timeout from the loop's cached clock, which can lag the real one, so a timer
    // may fire a little early; fire() then finds nothing due and arms again for the rest.
    const wait = head.at - now();
    this.timer = setTimeout(() => this.fire(), wait > 0 ? Math.ceil(wait) : 0);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    const limit = now();
    this.firing = true;
    // Callbacks may schedule more; those due within this pass also run now, in order.
    for (let head = this.heap[0]; head && head.at <= limit && !this.closed; head = this.heap[0]) {
      this.pop();
      try {
        head.run();
      } catch (e) {
        this.onError(e);
      }
    }
    this.firing = false;
    if (!this.closed) this.arm();
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
