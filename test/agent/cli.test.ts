import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../agent/state/db.js';
import { Ledger } from '../../agent/ledger.js';
import { Outbox } from '../../agent/outbox.js';
import { silentLogger } from '../../agent/log.js';
import { CLI } from '../support/agent.js';
import { tempDir } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

const dir = tempDir();
const dataDir = join(dir.path, 'data');
const DEVICE = 'QZ-CLI-0001-R101';

beforeAll(() => {
  const db = openState({ dataDir });
  const ledger = new Ledger(db, new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), 'x');
  for (let i = 0; i < 14; i++) ledger.record(sampleRecord(DEVICE, i), new Date().toISOString());
  db.close();
});
afterAll(() => dir.cleanup());

function lectern(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

describe('lectern lessons', () => {
  it('count --json gives the same shape as the platform’s lessons.count', () => {
    const r = lectern('lessons', 'count', '--data-dir', dataDir, '--from', '2026-09-01', '--to', '2026-09-30', '--group-by', 'status', '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { total: number; groups: { key: string; total: number }[] };
    expect(out.total).toBe(14);
    expect(Object.fromEntries(out.groups.map((g) => [g.key, g.total]))).toEqual({ completed: 12, missed: 2 });
  });

  it('count prints a table for a person', () => {
    const r = lectern('lessons', 'count', '--data-dir', dataDir, '--from', '2026-09-01', '--to', '2026-09-07', '--group-by', 'day');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^2026-09-01 to 2026-09-07: 7 lessons, \d+ effective/);
    expect(r.stdout).toContain('2026-09-03');
  });

  it('list honours the range and the limit', () => {
    const r = lectern('lessons', 'list', '--data-dir', dataDir, '--from', '2026-09-02', '--to', '2026-09-10', '--limit', '3', '--json');
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { date: string }[];
    expect(rows.map((x) => x.date)).toEqual(['2026-09-02', '2026-09-03', '2026-09-04']);
  });

  it('reads the data dir from --config too', () => {
    const cfg = join(dir.path, 'config.json');
    writeFileSync(cfg, JSON.stringify({ deviceId: DEVICE, dataDir, platform: { mqttUrl: 'mqtt://127.0.0.1:1883' } }));
    const r = lectern('lessons', 'count', '--config', cfg, '--from', '2026-09-01', '--to', '2026-09-30', '--json');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { total: number }).total).toBe(14);
  });

  it('bad input gets a clear error and exit status 2; a missing state exit 1', () => {
    const bad = lectern('lessons', 'count', '--data-dir', dataDir, '--from', '2026-02-30', '--to', 'tomorrow');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--from: "2026-02-30" is not a date');
    expect(bad.stderr).toContain('--to: "tomorrow" is not a date');
    const limit = lectern('lessons', 'list', '--data-dir', dataDir, '--from', '2026-09-01', '--to', '2026-09-02', '--limit', '9999');
    expect(limit.status).toBe(2);
    expect(limit.stderr).toContain('--limit');
    const none = lectern('lessons', 'count', '--data-dir', join(dir.path, 'nowhere'), '--from', '2026-09-01', '--to', '2026-09-02');
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('no state database');
  });
});
