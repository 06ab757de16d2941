import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { StateError, errorMessage } from '../errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

export type Db = Database.Database;

export const STATE_FILE = 'lectern.db';

export interface OpenStateOptions {
  dataDir: string;
  /** Read-only use by CLI subcommands: never creates, migrates or moves anything. */
  readonly?: boolean;
  migrations?: readonly Migration[];
}

/**
 * Opens the device's state database in the data dir: WAL journal, full sync (a class-hour
 * record committed is on disk when the call returns, power cut or not), numbered migrations.
 * A missing file starts a new database. A corrupt one is refused with StateError; it is never
 * modified.
 */
export function openState(opts: OpenStateOptions): Db {
  const path = join(opts.dataDir, STATE_FILE);
  const migrations = opts.migrations ?? MIGRATIONS;
  if (opts.readonly && !existsSync(path)) {
    throw new StateError(`no state database at ${path} (has the agent run with this data dir?)`);
  }
  if (!opts.readonly) {
    try {
      mkdirSync(opts.dataDir, { recursive: true });
    } catch (e) {
      throw new StateError(`cannot create data dir ${opts.dataDir}: ${errorMessage(e)}`, { cause: e });
    }
  }
  let db: Db | undefined;
  try {
    // Check before SQLite may write anything: a read-write connection would replay or delete
    // the -wal file of a damaged database, destroying what a technician needs to inspect.
    if (existsSync(path)) checkFile(path);
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db, migrations, path);
    } else {
      checkVersion(db, migrations, path);
    }
    return db;
  } catch (e) {
    db?.close();
    if (e instanceof StateError && !isCorruption(e)) throw e;
    if (!(e instanceof StateError) && !isSqliteCorruption(e)) {
      throw new StateError(`cannot open state database ${path}: ${errorMessage(e)}`, { cause: e });
    }
    throw new StateError(
      `state database ${path} is corrupt or not a lectern database (${errorMessage(e)}); ` +
        'it was left untouched for inspection',
      { cause: e },
    );
  }
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Header and integrity check through a read-only connection. */
function checkFile(path: string): void {
  const head = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (n === 0) return; // an empty file is a database SQLite has not written yet
  if (n < 16 || !head.equals(SQLITE_HEADER)) throw new StateError('integrity check failed: not an SQLite file');
  const ro = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const check = ro.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new StateError(`integrity check failed: ${String(check)}`);
  } finally {
    ro.close();
  }
}

function isSqliteCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
}

function isCorruption(e: StateError): boolean {
  return e.message.startsWith('integrity check failed');
}

function currentVersion(db: Db): number {
  const hasTable = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!hasTable) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

function checkVersion(db: Db, migrations: readonly Migration[], path: string): number {
  const latest = migrations.at(-1)?.version ?? 0;
  const version = currentVersion(db);
  if (version > latest) {
    throw new StateError(
      `state database ${path} has schema version ${version}, newer than this lectern knows (${latest}); ` +
        'was a newer version installed before?',
    );
  }
  return version;
}

function migrate(db: Db, migrations: readonly Migration[], path: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const version = checkVersion(db, migrations, path);
  for (const m of migrations) {
    if (m.version <= version) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    })();
  }
}

/**
 * For the daemon, which must run its lessons whatever happened to its disk: a database that
 * cannot be opened is moved aside (with its -wal and -shm files, renamed, never deleted) and a
 * fresh one started. Returns the path it was kept under, for the fault report.
 */
export function openStateOrSetAside(opts: OpenStateOptions): { db: Db; setAside?: string; reason?: string } {
  try {
    return { db: openState(opts) };
  } catch (e) {
    if (!(e instanceof StateError) || !e.message.includes('is corrupt')) throw e;
    const path = join(opts.dataDir, STATE_FILE);
    const kept = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(path + suffix)) renameSync(path + suffix, kept + suffix);
    }
    return { db: openState(opts), setAside: kept, reason: e.message };
  }
}

/** Values that must survive a restart but have no table of their own. */
export class KeyValue {
  constructor(private readonly db: Db) {}

  get(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  set(key: string, value: string): void {
    this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
