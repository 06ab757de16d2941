import type { DeviceHealth, HealthSource } from './devices.js';
import type { EventPublisher } from './events.js';
import type { Logger } from './log.js';

const BAD = new Set(['fault', 'absent']);

/** Default for `DeviceWatch`'s `debounceMs` (config `deviceHealth.debounceSec`). */
export const DEFAULT_DEVICE_DEBOUNCE_MS = 10_000;

interface Tracked {
  source: HealthSource;
  /** What the platform was last told: a fault (true) or working (false). */
  reportedBad: boolean;
  /** A change of side waiting to last `debounceMs` before it is reported. */
  pending: NodeJS.Timeout | undefined;
  /** Changes of side that ended before they were reported, since the last report. */
  blips: number;
}

/**
 * Turns drivers' health changes into `device.fault` / `device.recovered` events. A device that
 * goes from working (ok, degraded) to broken (fault, absent) raises a fault; back again, a
 * recovery. Changes within one side (ok ↔ degraded) only show in the heartbeat.
 *
 * Flapping is suppressed: a change of side is reported only once it has lasted `debounceMs`.
 * A device that drops and returns within that time raises nothing; one that keeps dropping and
 * returning raises one fault (once a drop lasts) and one recovery (once it has stayed back that
 * long), not a pair per drop. The heartbeat's device list always shows the status as it is.
 * Every device is presumed working when the watch starts, so one broken at boot raises a fault
 * after the debounce.
 */
export class DeviceWatch {
  private readonly unsubscribe: (() => void)[] = [];
  private readonly tracked = new Map<HealthSource, Tracked>();
  private readonly debounceMs: number;

  constructor(
    private readonly deps: {
      sources: readonly HealthSource[];
      events: Pick<EventPublisher, 'emit'>;
      log: Logger;
      lessonId: () => string | null;
      /** How long a change of side must last before it is reported (0: at once). */
      debounceMs?: number;
    },
  ) {
    this.debounceMs = deps.debounceMs ?? DEFAULT_DEVICE_DEBOUNCE_MS;
  }

  start(): void {
    for (const source of this.deps.sources) {
      const t: Tracked = { source, reportedBad: false, pending: undefined, blips: 0 };
      this.tracked.set(source, t);
      this.unsubscribe.push(source.onHealthChange((now) => this.changed(t, now)));
      // Already broken before the watch started (a driver that checked in its constructor).
      const now = source.health();
      if (BAD.has(now.status)) this.changed(t, now);
    }
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    for (const t of this.tracked.values()) clearTimeout(t.pending);
    this.tracked.clear();
  }

  devices(): DeviceHealth[] {
    return this.deps.sources.map((s) => s.health());
  }

  private changed(t: Tracked, now: DeviceHealth): void {
    const isBad = BAD.has(now.status);
    if (isBad === t.reportedBad) {
      // Back on the side last reported before the change was: a blip, not an event.
      if (t.pending) {
        clearTimeout(t.pending);
        t.pending = undefined;
        t.blips++;
        this.deps.log.debug({ device: now, blips: t.blips }, 'device health change ended within the debounce; not reported');
      }
      return;
    }
    if (t.pending) return;
    if (this.debounceMs <= 0) {
      this.report(t);
      return;
    }
    t.pending = setTimeout(() => {
      t.pending = undefined;
      this.report(t);
    }, this.debounceMs);
  }

  private report(t: Tracked): void {
    const now = t.source.health();
    const isBad = BAD.has(now.status);
    if (isBad === t.reportedBad) return;
    t.reportedBad = isBad;
    const blips = t.blips;
    t.blips = 0;
    const flapped = blips > 0 ? ` (after ${blips} shorter ${blips === 1 ? 'change' : 'changes'})` : '';
    this.deps.log[isBad ? 'warn' : 'info']({ device: now, blips }, isBad ? 'device fault' : 'device recovered');
    this.deps.events.emit({
      type: isBad ? 'device.fault' : 'device.recovered',
      severity: isBad ? 'error' : 'info',
      device: now,
      lessonId: this.deps.lessonId(),
      message: isBad
        ? `${now.kind} ${now.id} ${now.status}${now.detail ? `: ${now.detail}` : ''}${flapped}`
        : `${now.kind} ${now.id} is back (${now.status})${flapped}`,
      ...(blips > 0 && { details: { suppressedChanges: blips } }),
    });
  }
}
