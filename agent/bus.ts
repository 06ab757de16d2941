import type { Logger } from './log.js';

/**
 * A typed event bus between drivers and features. Each listener is wrapped: one that throws or
 * rejects is logged and the others still run. Listeners are registered with an owner so a
 * feature removes all of its own on stop.
 */
export type Listener<T> = (payload: T) => void | Promise<void>;

export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, { owner: object; fn: Listener<never> }[]>();

  constructor(private readonly log: Logger) {}

  on<K extends keyof Events>(event: K, owner: object, fn: Listener<Events[K]>): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, fn: fn });
    this.listeners.set(event, list);
  }

  removeOwner(owner: object): void {
    for (const [event, list] of this.listeners) {
      this.listeners.set(
        event,
        list.filter((l) => l.owner !== owner),
      );
    }
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const { fn } of this.listeners.get(event) ?? []) {
      try {
        const result = (fn as Listener<Events[K]>)(payload);
        if (result instanceof Promise) {
          result.catch((e: unknown) => this.log.error({ err: e, event: String(event) }, 'event listener failed'));
        }
      } catch (e) {
        this.log.error({ err: e, event: String(event) }, 'event listener failed');
      }
    }
  }
}
