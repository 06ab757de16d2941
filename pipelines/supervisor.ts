/**
 * Keeps one pipeline running: start, wait for it to fail (an error, an unexpected end of stream,
 * or a stall the owner reports with `kick`), stop, wait a jittered backoff, start again, until
 * the lesson ends. The owner learns about every transition through hooks and decides what the
 * rest of the lesson does about it (camera note, stream.failed, device health).
 */
import type { Logger } from '../agent/log.js';
import { Backoff, sleep } from '../agent/backoff.js';
import { errorMessage } from '../agent/errors.js';
import type { ManagedPipeline } from './gst.js';

export interface SupervisorHooks {
  /** The pipeline to run now (main swaps it when it falls back to another encoder). */
  pipeline(): ManagedPipeline;
  /** A check before each start (device present…); a string is the reason not to start now. */
  preflight?(): Promise<string | undefined>;
  /** Just before play: set properties that depend on the lesson so far. */
  beforeStart?(p: ManagedPipeline): void;
  onUp(): void;
  onDown(reason: string): void;
  /** After a failed start: true to try again at once (the hook changed something). */
  retryNow?(err: unknown): boolean;
}

export interface SupervisorOptions {
  name: string;
  log: Logger;
  minMs: number;
  maxMs: number;
  /** A run that lasted this long counts as healthy: the next outage starts from the shortest delay. */
  healthyAfterMs?: number;
}

export class Supervisor {
  private readonly backoff: Backoff;
  private kicked: string | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly hooks: SupervisorHooks,
    private readonly signal: AbortSignal,
  ) {
    this.backoff = new Backoff({ minMs: opts.minMs, maxMs: opts.maxMs });
  }

  /** Restarts the pipeline now (a stall seen from statistics). */
  kick(reason: string): void {
    if (this.kicked !== undefined) return;
    this.kicked = reason;
    this.wake?.();
  }

  /**
   * Starts the loop. `first` resolves after the first attempt: undefined when the pipeline came
   * up, else the reason it did not (the loop keeps trying in the background).
   */
  start(): { first: Promise<string | undefined>; done: Promise<void> } {
    let settleFirst: (r: string | undefined) => void = () => undefined;
    const first = new Promise<string | undefined>((resolve) => (settleFirst = resolve));
    this.loop = this.run(settleFirst).catch((e: unknown) => {
      this.opts.log.error({ err: e, pipeline: this.opts.name }, 'pipeline supervisor failed');
      settleFirst(errorMessage(e));
    });
    return { first, done: this.loop };
  }

  /** Resolves when the loop has ended (after the abort signal). */
  async done(): Promise<void> {
    await this.loop;
  }

  private async run(settleFirst: (r: string | undefined) => void): Promise<void> {
    let firstDone = false;
    const first = (r: string | undefined): void => {
      if (!firstDone) {
        firstDone = true;
        settleFirst(r);
      }
    };
    while (!this.signal.aborted) {
      const problem = this.hooks.preflight ? await this.hooks.preflight() : undefined;
      if (this.signal.aborted) break;
      if (problem) {
        first(problem);
        this.hooks.onDown(problem);
        await sleep(this.backoff.next(), this.signal);
        continue;
      }
      const pipeline = this.hooks.pipeline();
      this.kicked = undefined;
      try {
        await pipeline.prepare();
        this.hooks.beforeStart?.(pipeline);
        await pipeline.start(this.signal);
      } catch (e) {
        const reason = errorMessage(e);
        if (this.signal.aborted) break;
        if (this.hooks.retryNow?.(e)) continue;
        first(reason);
        this.hooks.onDown(reason);
        await sleep(this.backoff.next(), this.signal);
        continue;
      }
      const upAt = Date.now();
      first(undefined);
      this.hooks.onUp();
      const reason = await this.waitForFailure(pipeline);
      if (reason === undefined || this.signal.aborted) break;
      await pipeline.stop();
      if (Date.now() - upAt >= (this.opts.healthyAfterMs ?? 30_000)) this.backoff.reset();
      this.opts.log.warn({ pipeline: this.opts.name, reason }, 'pipeline failed; restarting after a pause');
      this.hooks.onDown(reason);
      await sleep(this.backoff.next(), this.signal);
    }
    first('stopped');
  }

  /** Resolves with the reason the running pipeline failed, or undefined when the lesson ends. */
  private waitForFailure(pipeline: ManagedPipeline): Promise<string | undefined> {
    return new Promise<string | undefined>((resolve) => {
      const finish = (r: string | undefined): void => {
        off();
        this.signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        resolve(r);
      };
      const onAbort = (): void => finish(undefined);
      const off = pipeline.onMessage((m) => {
        if (m.kind === 'error') finish(`${m.src}: ${m.text}`);
        else if (m.kind === 'eos' && /^pipeline\d+$/.test(m.src)) finish('the stream ended');
      });
      this.wake = () => finish(this.kicked ?? 'restart requested');
      this.signal.addEventListener('abort', onAbort, { once: true });
      if (this.signal.aborted) finish(undefined);
      else if (this.kicked !== undefined) finish(this.kicked);
    });
  }
}
