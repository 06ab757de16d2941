import type { DeviceHealth } from './devices.js';
import type { EventMessage, EventType, Severity } from './contract/types.js';
import type { Outbox } from './outbox.js';
import type { Clock } from './clock.js';
import { isoInZone } from './contract/time.js';

export interface EventInput {
  type: EventType;
  severity: Severity;
  message?: string;
  lessonId?: string | null;
  device?: DeviceHealth;
  details?: Record<string, unknown>;
}

/**
 * Builds contract events and puts them in the outbox (delivered at least once). Event ids are
 * `bootId-n`: unique across restarts because every process start has a fresh random bootId.
 */
export class EventPublisher {
  private counter = 0;

  constructor(
    private readonly deps: { bootId: string; topic: string; outbox: Outbox; clock: Clock; timeZone: () => string },
  ) {}

  build(input: EventInput): EventMessage {
    this.counter++;
    const ev: EventMessage = {
      eventId: `${this.deps.bootId}-${this.counter}`,
      ts: isoInZone(this.deps.clock.now(), this.deps.timeZone()),
      type: input.type,
      severity: input.severity,
    };
    if (input.lessonId !== undefined) ev.lessonId = input.lessonId;
    if (input.device) ev.device = input.device;
    if (input.message !== undefined) ev.message = input.message.length > 1000 ? `${input.message.slice(0, 997)}...` : input.message;
    if (input.details) ev.details = input.details;
    return ev;
  }

  /** Stores the event durably (call inside a transaction to commit it with related state). */
  add(input: EventInput): EventMessage {
    const ev = this.build(input);
    this.deps.outbox.add({ topic: this.deps.topic, payload: JSON.stringify(ev), kind: 'event', key: ev.eventId }, ev.ts);
    return ev;
  }

  emit(input: EventInput): EventMessage {
    const ev = this.add(input);
    this.send();
    return ev;
  }

  /** Starts sending events added inside a transaction, once it has committed. */
  send(): void {
    this.deps.outbox.kick();
  }
}
