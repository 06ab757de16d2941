import { Readable } from 'node:stream';
import { sleep } from '../backoff.js';

/**
 * A token bucket in bytes: `rate` bytes a second, bursts up to one second's worth (at least one
 * chunk). The rate can change at any time (a lesson starts or ends); 0 means no limit.
 */
export class TokenBucket {
  private tokens = 0;
  private last = performance.now();
  private rateBps = 0;

  constructor(
    rateBytesPerSec: number,
    private readonly minBurst = 64 * 1024,
  ) {
    this.setRate(rateBytesPerSec);
  }

  setRate(rateBytesPerSec: number): void {
    this.refill();
    this.rateBps = Math.max(0, rateBytesPerSec);
    this.tokens = Math.min(this.tokens, this.capacity());
  }

  get rate(): number {
    return this.rateBps;
  }

  private capacity(): number {
    return Math.max(this.minBurst, this.rateBps);
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.capacity(), this.tokens + ((now - this.last) / 1000) * this.rateBps);
    this.last = now;
  }

  /** Waits until `n` bytes may be sent (at once when unlimited), or the signal aborts. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.rateBps === 0) return;
      this.refill();
      if (this.tokens >= n || (this.tokens >= this.capacity() && n > this.capacity())) {
        this.tokens -= n;
        return;
      }
      if (signal?.aborted) return;
      const wantMs = ((Math.min(n, this.capacity()) - this.tokens) / this.rateBps) * 1000;
      await sleep(Math.min(250, Math.max(5, wantMs)), signal);
    }
  }
}

/** A request body that hands out `data` in slices no faster than the bucket allows. */
export function throttledBody(data: Buffer, bucket: TokenBucket, signal?: AbortSignal, slice = 16 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null);
        return;
      }
      const n = Math.min(slice, data.length - off);
      bucket.take(n, signal).then(
        () => {
          if (signal?.aborted) {
            this.destroy(new Error('upload stopped'));
            return;
          }
          const chunk = data.subarray(off, off + n);
          off += n;
          this.push(chunk);
        },
        (e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e))),
      );
    },
  });
}
