/**
 * Jittered exponential backoff ("full jitter" over an exponentially growing ceiling, with a floor):
 * the n-th delay is uniform in [base·2^n / 2, base·2^n], capped at `maxMs`. A whole city of kits
 * reconnecting after a broker restart spreads out instead of arriving in one second.
 */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  factor?: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.minMs > 0) || !(opts.maxMs >= opts.minMs)) {
      throw new RangeError(`backoff needs 0 < minMs <= maxMs, got ${opts.minMs}..${opts.maxMs}`);
    }
    this.factor = opts.factor ?? 2;
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.minMs * this.factor ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 64);
    const delay = ceiling / 2 + this.random() * (ceiling / 2);
    return Math.max(this.opts.minMs / 2, Math.round(delay));
  }

  /** After a success: the next failure starts from the floor again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** A promise that resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Settles like `p`, or rejects with `onTimeout()` after `ms` (the timer is cleared either way).
 * The promise itself is not cancelled: pass work that is safe to leave running.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error = () => new Error(`timed out after ${ms} ms`)): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
