/**
 * A typed event emitter for parts that tell others what happened (lesson pipelines, media
 * workers). Each listener is wrapped: one that throws, or returns a promise that rejects, is
 * reported through `onError` and the others still run.
 */
export type Listener<T> = (payload: T) => unknown;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onError: (err: unknown, event: keyof Events) => void) {}

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        const result = (fn as Listener<Events[K]>)(payload);
        if (result instanceof Promise) result.catch((e: unknown) => this.onError(e, event));
      } catch (e) {
        this.onError(e, event);
      }
    }
  }
}
