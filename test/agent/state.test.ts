import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openState, openStateOrSetAside, STATE_FILE, KeyValue } from '../../agent/state/db.js';
import { MIGRATIONS } from '../../agent/state/migrations.js';
import { StateError } from '../../agent/errors.js';
import { tempDir } from '../support/tmp.js';

const dirs: { cleanup: () => void }[] = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d.path;
}
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

describe('state database', () => {
  it('starts cleanly when the file is missing: WAL, full sync, every migration applied', () => {
    const d = dir();
    const db = openState({ dataDir: join(d, 'nested', 'data') });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    new KeyValue(db).set('k', 'v1');
    db.close();
    const again = openState({ dataDir: join(d, 'nested', 'data') });
    expect(new KeyValue(again).get('k')).toBe('v1');
    again.close();
  });

  it('applies only new migrations to an existing database, keeping its data', () => {
    const d = dir();
    const first = openState({ dataDir: d, migrations: MIGRATIONS.slice(0, 1) });
    new KeyValue(first).set('kept', 'yes');
    first.close();
    const extra = [...MIGRATIONS, { version: 999, name: 'test column', sql: 'CREATE TABLE t999 (x INTEGER);' }];
    const db = openState({ dataDir: d, migrations: extra });
    expect(new KeyValue(db).get('kept')).toBe('yes');
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 't999'").pluck().get()).toBe('t999');
    db.close();
  });

  it('refuses a database from a newer lectern instead of guessing', () => {
    const d = dir();
    openState({ dataDir: d, migrations: [...MIGRATIONS, { version: 999, name: 'future', sql: 'SELECT 1;' }] }).close();
    expect(() => openState({ dataDir: d })).toThrow(/schema version 999, newer than this lectern knows/);
  });

  it('refuses a corrupt file with a clear message and leaves it untouched', () => {
    const d = dir();
    const file = join(d, STATE_FILE);
    const garbage = Buffer.from('this is not an SQLite database, it is a power-cut casualty '.repeat(100));
    writeFileSync(file, garbage);
    let err: unknown;
    try {
      openState({ dataDir: d });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateError);
    expect((err as Error).message).toMatch(/state database .*lectern\.db is corrupt .*left untouched for inspection/);
    expect(readFileSync(file).equals(garbage)).toBe(true);
  });

  it('detects a damaged page inside a real database', () => {
    const d = dir();
    const db = openState({ dataDir: d });
    const insert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`key-${i}`, 'x'.repeat(200));
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const file = join(d, STATE_FILE);
    const bytes = readFileSync(file);
    // Overwrite the middle pages (table b-tree pages) with noise.
    for (let i = 8192; i < 8192 + 4096 * 4 && i < bytes.length; i++) bytes[i] = (i * 131) & 0xff;
    writeFileSync(file, bytes);
    expect(() => openState({ dataDir: d })).toThrow(StateError);
  });

  it('the daemon keeps a corrupt file aside (renamed, not deleted) and starts a new database', () => {
    const d = dir();
    writeFileSync(join(d, STATE_FILE), 'garbage'.repeat(1000));
    writeFileSync(join(d, `${STATE_FILE}-wal`), 'wal garbage');
    const { db, setAside } = openStateOrSetAside({ dataDir: d });
    expect(setAside).toBeDefined();
    expect(readFileSync(setAside!, 'utf8')).toBe('garbage'.repeat(1000));
    expect(readFileSync(`${setAside!}-wal`, 'utf8')).toBe('wal garbage');
    expect(db.prepare('SELECT COUNT(*) FROM outbox').pluck().get()).toBe(0);
    db.close();
    expect(readdirSync(d).filter((f) => f.includes('.corrupt-')).length).toBe(2);
  });

  it('read-only use never creates a database', () => {
    const d = dir();
    expect(() => openState({ dataDir: d, readonly: true })).toThrow(/no state database/);
    expect(existsSync(join(d, STATE_FILE))).toBe(false);
  });

  it('a committed transaction survives the process being killed (WAL replay)', async () => {
    const d = dir();
    // A child process writes and is SIGKILLed without closing; the parent then reads.
    const { spawnSync } = await import('node:child_process');
    const script = `
      const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new Database(${JSON.stringify(join(d, 'x.db'))});
      db.pragma('journal_mode = WAL'); db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE t (v INTEGER)');
      db.prepare('INSERT INTO t VALUES (42)').run();
      process.kill(process.pid, 'SIGKILL');
    `;
    const r = spawnSync(process.execPath, ['-e', script]);
    expect(r.signal).toBe('SIGKILL');
    const db = new Database(join(d, 'x.db'));
    expect(db.prepare('SELECT v FROM t').pluck().get()).toBe(42);
    db.close();
  });
});
