// Numbered schema migrations of the state database. Append only: a released migration is never
// edited, a change is a new number. Each runs in its own transaction.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, class-hour ledger, command replies, timetable, key-value',
    sql: `
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        qos INTEGER NOT NULL DEFAULT 1,
        retain INTEGER NOT NULL DEFAULT 0,
        properties TEXT,
        kind TEXT NOT NULL,
        key TEXT,
        created_at TEXT NOT NULL
      );
      CREATE INDEX outbox_kind ON outbox(kind, id);

      CREATE TABLE lessons (
        lesson_id TEXT PRIMARY KEY,
        date TEXT NOT NULL,
        subject TEXT NOT NULL,
        status TEXT NOT NULL,
        effective INTEGER NOT NULL,
        duration_sec INTEGER NOT NULL,
        scheduled_start TEXT,
        record TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX lessons_date ON lessons(date);

      CREATE TABLE command_replies (
        request_id TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        received_at TEXT NOT NULL,
        reply TEXT
      );
      CREATE INDEX command_replies_received ON command_replies(received_at);

      CREATE TABLE timetable (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version TEXT NOT NULL,
        body TEXT NOT NULL,
        applied_at TEXT NOT NULL
      );

      CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'the lesson in progress and lesson overrides',
    sql: `
      CREATE TABLE lesson_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        lesson TEXT NOT NULL,
        actual_start TEXT NOT NULL,
        interruptions TEXT NOT NULL,
        live_ms INTEGER NOT NULL,
        stream_up_ms INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE lesson_overrides (
        lesson_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('start', 'stop')),
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'recording cache and uploads',
    sql: `
      CREATE TABLE recording_lessons (
        lesson_id TEXT PRIMARY KEY,
        dir TEXT NOT NULL UNIQUE,
        date TEXT NOT NULL,
        ended_at TEXT,
        manifest_key TEXT NOT NULL,
        manifest_uploaded_at TEXT,
        created_at TEXT NOT NULL
      );
      CREATE TABLE recording_segments (
        lesson_id TEXT NOT NULL REFERENCES recording_lessons(lesson_id),
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        file_bytes INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        duration_sec REAL,
        condition TEXT NOT NULL,
        object_key TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'uploaded', 'skipped', 'evicted')),
        upload_id TEXT,
        part_size INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        uploaded_at TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (lesson_id, idx)
      );
      CREATE INDEX recording_segments_state ON recording_segments(state, created_at);
      CREATE TABLE recording_parts (
        lesson_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        PRIMARY KEY (lesson_id, idx, upload_id, part_number)
      );
    `,
  },
];
