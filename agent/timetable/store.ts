import type { Db } from '../state/db.js';
import type { Timetable } from '../contract/types.js';

export interface StoredTimetable {
  version: string;
  appliedAt: string;
  timetable: Timetable;
}

/**
 * The applied timetable, durable in SQLite. Replaced only by a timetable that passed every
 * check (the caller validates), so the device always runs its lessons from the last good one,
 * with or without the platform.
 */
export class TimetableStore {
  private cached: StoredTimetable | null | undefined;

  constructor(private readonly db: Db) {}

  current(): StoredTimetable | null {
    if (this.cached === undefined) {
      const row = this.db.prepare('SELECT version, body, applied_at FROM timetable WHERE id = 1').get() as
        | { version: string; body: string; applied_at: string }
        | undefined;
      this.cached = row ? { version: row.version, appliedAt: row.applied_at, timetable: JSON.parse(row.body) as Timetable } : null;
    }
    return this.cached;
  }

  /** True when `body` is exactly what is applied already (a retained redelivery). */
  isCurrent(body: string): boolean {
    const row = this.db.prepare('SELECT body FROM timetable WHERE id = 1').get() as { body: string } | undefined;
    return row?.body === body;
  }

  /** Stores a validated timetable; call inside the transaction that also queues the event. */
  replace(timetable: Timetable, body: string, appliedAt: string): void {
    this.db
      .prepare(
        `INSERT INTO timetable (id, version, body, applied_at) VALUES (1, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET version = excluded.version, body = excluded.body, applied_at = excluded.applied_at`,
      )
      .run(timetable.version, body, appliedAt);
    // Re-read after the surrounding transaction, whether it committed or rolled back.
    this.cached = undefined;
  }
}
