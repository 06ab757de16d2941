import type { HealthCollector } from './health.js';
import type { Logger } from './log.js';

/**
 * Sends a heartbeat every interval while connected, and one at once on every connect (the
 * newest, never a backlog: heartbeats are not queued while offline). `seq` counts the
 * heartbeats of this boot: 1, 2, 3… with no gap made by the device itself.
 */
export class HeartbeatService {
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;

  constructor(
    private readonly deps: {
      intervalMs: number;
      health: HealthCollector;
      publish: (payload: unknown) => Promise<void>;
      connected: () => boolean;
      log: Logger;
    },
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  /** The link came up: beat now, then every interval. */
  connected(): void {
    this.stopTimer();
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.deps.intervalMs);
  }

  disconnected(): void {
    this.stopTimer();
  }

  stop(): void {
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async beat(): Promise<void> {
    if (this.sending || !this.deps.connected()) return;
    this.sending = true;
    try {
      const health = await this.deps.health.measure();
      if (!this.deps.connected()) return;
      const seq = this.seq + 1;
      await this.deps.publish({ ...health, seq });
      this.seq = seq;
    } catch (e) {
      this.deps.log.warn({ err: e }, 'heartbeat not sent');
    } finally {
      this.sending = false;
    }
  }
}
