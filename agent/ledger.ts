import type { Db } from './state/db.js';
import type { LessonRecord } from './contract/types.js';
import type { Outbox } from './outbox.js';

export type GroupBy = 'subject' | 'day' | 'peer' | 'status';

export interface CountGroup {
  key: string;
  total: number;
  effective: number;
  durationSec: number;
}

export interface CountResult {
  from: string;
  to: string;
  total: number;
  effective: number;
  groups: CountGroup[];
}

/**
 * The class-hour ledger (课时台账): every final lesson record, the source of the platform's
 * lesson counts. `record()` stores a record and queues it for the platform in one transaction,
 * so a record is never counted locally without being on its way, nor sent without being kept.
 * Counting covers every final status; `effective` counts the records marked effective.
 */
export class Ledger {
  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly lessonsTopic: string,
  ) {}

  record(rec: LessonRecord, now: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO lessons (lesson_id, date, subject, status, effective, duration_sec, scheduled_start, record, updated_at)
           VALUES (@lessonId, @date, @subject, @status, @effective, @durationSec, @scheduledStart, @record, @now)
           ON CONFLICT(lesson_id) DO UPDATE SET date = excluded.date, subject = excluded.subject, status = excluded.status,
             effective = excluded.effective, duration_sec = excluded.duration_sec,
             scheduled_start = excluded.scheduled_start, record = excluded.record, updated_at = excluded.updated_at`,
        )
        .run({
          lessonId: rec.lessonId,
          date: rec.date,
          subject: rec.subject,
          status: rec.status,
          effective: rec.effective ? 1 : 0,
          durationSec: rec.durationSec,
          scheduledStart: rec.scheduledStart ?? rec.actualStart,
          record: JSON.stringify(rec),
          now,
        });
      this.outbox.add({ topic: this.lessonsTopic, payload: JSON.stringify(rec), kind: 'lesson', key: rec.lessonId }, now);
    })();
    this.outbox.kick();
  }

  get(lessonId: string): LessonRecord | undefined {
    const row = this.db.prepare('SELECT record FROM lessons WHERE lesson_id = ?').get(lessonId) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as LessonRecord) : undefined;
  }

  count(from: string, to: string, groupBy?: GroupBy): CountResult {
    const totals = this.db
      .prepare('SELECT COUNT(*) AS total, COALESCE(SUM(effective), 0) AS effective FROM lessons WHERE date BETWEEN ? AND ?')
      .get(from, to) as { total: number; effective: number };
    let groups: CountGroup[] = [];
    if (groupBy) {
      const sql =
        groupBy === 'peer'
          ? `SELECT p.value AS key, COUNT(*) AS total, SUM(l.effective) AS effective, SUM(l.duration_sec) AS durationSec
             FROM lessons l, json_each(l.record, '$.peerRoomIds') p
             WHERE l.date BETWEEN ? AND ? GROUP BY p.value ORDER BY total DESC, key`
          : `SELECT ${GROUP_COLUMN[groupBy]} AS key, COUNT(*) AS total, SUM(effective) AS effective, SUM(duration_sec) AS durationSec
             FROM lessons WHERE date BETWEEN ? AND ? GROUP BY key ORDER BY ${groupBy === 'day' ? 'key' : 'total DESC, key'}`;
      groups = (this.db.prepare(sql).all(from, to) as CountGroup[]).map((g) => ({
        key: String(g.key),
        total: g.total,
        effective: g.effective,
        durationSec: g.durationSec,
      }));
    }
    return { from, to, total: totals.total, effective: totals.effective, groups };
  }

  list(from: string, to: string, limit: number): LessonRecord[] {
    const rows = this.db
      .prepare('SELECT record FROM lessons WHERE date BETWEEN ? AND ? ORDER BY date, scheduled_start, lesson_id LIMIT ?')
      .all(from, to, limit) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as LessonRecord);
  }
}

// Only these fixed column names ever reach the SQL text.
const GROUP_COLUMN: Record<Exclude<GroupBy, 'peer'>, string> = { subject: 'subject', day: 'date', status: 'status' };
