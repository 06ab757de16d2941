import type { DeviceHealth, HealthSource } from './devices.js';
import type { EventPublisher } from './events.js';
import type { Logger } from './log.js';

const BAD = new Set(['fault', 'absent']);

/**
 * Turns drivers' health changes into `device.fault` / `device.recovered` events. A device that
 * goes from working (ok, degraded) to broken (fault, absent) raises a fault; back again, a
 * recovery. Changes within one side (ok ↔ degraded) only show in the heartbeat.
 */
export class DeviceWatch {
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly deps: { sources: readonly HealthSource[]; events: EventPublisher; log: Logger; lessonId: () => string | null },
  ) {}

  start(): void {
    for (const source of this.deps.sources) {
      this.unsubscribe.push(source.onHealthChange((now, before) => this.changed(now, before)));
    }
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  devices(): DeviceHealth[] {
    return this.deps.sources.map((s) => s.health());
  }

  private changed(now: DeviceHealth, before: DeviceHealth): void {
    const wasBad = BAD.has(before.status);
    const isBad = BAD.has(now.status);
    if (wasBad === isBad) return;
    this.deps.log[isBad ? 'warn' : 'info']({ device: now }, isBad ? 'device fault' : 'device recovered');
    this.deps.events.emit({
      type: isBad ? 'device.fault' : 'device.recovered',
      severity: isBad ? 'error' : 'info',
      device: now,
      lessonId: this.deps.lessonId(),
      message: isBad
        ? `${now.kind} ${now.id} ${now.status}${now.detail ? `: ${now.detail}` : ''}`
        : `${now.kind} ${now.id} is back (${now.status})`,
    });
  }
}
