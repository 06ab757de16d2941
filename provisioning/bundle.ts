/**
 * `lectern support-bundle`: one .tar.gz to send to remote support. It holds
 *
 *   config.json    the config with secrets replaced by "[hidden]" (passwords, keys, tokens,
 *                  passphrases; file paths stay: they are not secrets and help)
 *   logs.txt       recent logs: journald's for the lectern unit where there is one, else the
 *                  running agent's in-memory log ring (through its control socket)
 *   doctor.json    the `lectern doctor --json` report
 *   state.json     a summary of the state database: outbox by kind, lessons by status and the
 *                  latest ones, the timetable version, the lesson in progress
 *   system.txt     versions and the machine (kernel, OS, node, lectern, uptime, disk)
 *
 * Never the private key files or the database itself. Every text is also scrubbed of the
 * config's secret values wherever they appear. Written atomically, mode 0600.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, release, tmpdir, uptime } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { controlRequest } from '../agent/control.js';
import { errorMessage } from '../agent/errors.js';
import { openState } from '../agent/state/db.js';
import { TimetableStore } from '../agent/timetable/store.js';
import { agentVersion } from '../agent/version.js';
import type { DoctorReport } from './doctor.js';

const SECRET_KEY = /pass(word|phrase)|secret|token|^key$|privatekey|apikey|accesskey/i;

/** A deep copy with every secret-looking field's value replaced; collects the values found. */
export function redactSecrets(value: unknown, found: Set<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, found));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number')) {
        if (String(v).length >= 4) found.add(String(v));
        out[k] = '[hidden]';
      } else {
        out[k] = redactSecrets(v, found);
      }
    }
    return out;
  }
  return value;
}

/** Query parameters of URLs that carry secrets (an SRT passphrase, an RTMP token). */
function scrubUrls(text: string): string {
  return text.replace(/([?&](?:passphrase|token|key|password|secret)=)[^&"\s]*/gi, '$1[hidden]');
}

function scrub(text: string, secrets: ReadonlySet<string>): string {
  let out = scrubUrls(text);
  for (const s of secrets) out = out.split(s).join('[hidden]');
  return out;
}

function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ ok: !err, out: err ? `${stderr || errorMessage(err)}` : stdout }));
  });
}

/** Recent logs: journald first, the agent's log ring second. */
async function recentLogs(dataDir: string | undefined, lines: number): Promise<string> {
  const j = await run('journalctl', ['-u', 'lectern', '-n', String(lines), '--no-pager', '-o', 'short-iso']);
  if (j.ok && j.out.split('\n').some((l) => l.trim() && !l.startsWith('-- No entries'))) return `# journalctl -u lectern -n ${lines}\n${j.out}`;
  const why = j.ok ? 'journald has no entries for the lectern unit' : `journalctl: ${j.out.trim().split('\n')[0] ?? 'failed'}`;
  if (!dataDir) return `# no logs: ${why}, and no data dir to find the agent\n`;
  try {
    const r = await controlRequest(dataDir, 'GET', `/logs?lines=${Math.min(lines, 2000)}`);
    const got = Array.isArray(r.body.lines) ? (r.body.lines as unknown[]).map(String) : [];
    return `# ${why}; the running agent's last ${got.length} log lines (its in-memory ring)\n${got.join('\n')}\n`;
  } catch (e) {
    return `# no logs: ${why}; the agent's log ring: ${errorMessage(e)}\n`;
  }
}

/** Counts and recent records from the state database, read-only. */
export function stateSummary(dataDir: string): Record<string, unknown> {
  if (!existsSync(join(dataDir, 'lectern.db'))) return { note: `no state database in ${dataDir}` };
  try {
    const db = openState({ dataDir, readonly: true });
    try {
      const outbox = db.prepare('SELECT kind, count(*) AS n, min(created_at) AS oldest FROM outbox GROUP BY kind').all();
      const lessonsByStatus = db.prepare('SELECT status, count(*) AS n FROM lessons GROUP BY status').all();
      const recentLessons = db.prepare('SELECT lesson_id AS lessonId, date, subject, status, effective, duration_sec AS durationSec FROM lessons ORDER BY date DESC, lesson_id DESC LIMIT 20').all();
      const current = new TimetableStore(db).current();
      const inProgress = db.prepare('SELECT lesson, actual_start AS actualStart, updated_at AS updatedAt FROM lesson_state WHERE id = 1').get() as { lesson: string; actualStart: string; updatedAt: string } | undefined;
      const schemaVersion = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v;
      return {
        schemaVersion,
        outbox,
        lessonsByStatus,
        recentLessons,
        timetable: current ? { version: current.version, appliedAt: current.appliedAt } : null,
        lessonInProgress: inProgress ? { ...inProgress, lesson: JSON.parse(inProgress.lesson) as unknown } : null,
      };
    } finally {
      db.close();
    }
  } catch (e) {
    return { error: errorMessage(e) };
  }
}

async function systemText(): Promise<string> {
  const osRelease = (() => {
    try {
      return readFileSync('/etc/os-release', 'utf8').split('\n').find((l) => l.startsWith('PRETTY_NAME=')) ?? '';
    } catch {
      return '';
    }
  })();
  const df = await run('df', ['-h']);
  return [
    `host: ${hostname()}`,
    `kernel: ${release()}`,
    `os: ${osRelease.replace(/^PRETTY_NAME=/, '').replace(/"/g, '')}`,
    `node: ${process.version}`,
    `lectern: ${agentVersion()}`,
    `uptime: ${Math.round(uptime())} s`,
    `time: ${new Date().toISOString()}`,
    '',
    '# df -h',
    df.out,
  ].join('\n');
}

export interface BundleOptions {
  out: string;
  configFile: string;
  /** The raw config file (null when it cannot be read), and its data dir when known. */
  rawConfig: unknown;
  dataDir?: string;
  doctor: DoctorReport | { error: string };
  logLines?: number;
}

/** Writes the bundle; returns the files it holds. */
export async function writeSupportBundle(o: BundleOptions): Promise<string[]> {
  const secrets = new Set<string>();
  const config = o.rawConfig === null ? { error: `cannot read ${o.configFile}` } : redactSecrets(o.rawConfig, secrets);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const name = `lectern-support-${stamp}`;
  const work = mkdtempSync(join(tmpdir(), 'lectern-bundle-'));
  try {
    const dir = join(work, name);
    const files: Record<string, string> = {
      'config.json': JSON.stringify(config, null, 2) + '\n',
      'logs.txt': await recentLogs(o.dataDir, o.logLines ?? 2000),
      'doctor.json': JSON.stringify(o.doctor, null, 2) + '\n',
      'state.json': JSON.stringify(o.dataDir ? stateSummary(o.dataDir) : { note: 'no data dir known' }, null, 2) + '\n',
      'system.txt': await systemText(),
    };
    mkdirSync(dir, { mode: 0o700 });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), scrub(text, secrets), { mode: 0o600 });
    const tmpOut = join(dirname(o.out), `.${basename(o.out)}.tmp-${process.pid}`);
    const tar = await run('tar', ['-czf', tmpOut, '-C', work, name]);
    if (!tar.ok) {
      rmSync(tmpOut, { force: true });
      throw new Error(`tar failed: ${tar.out.trim()}`);
    }
    chmodSync(tmpOut, 0o600);
    renameSync(tmpOut, o.out);
    return Object.keys(files).map((f) => `${name}/${f}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
