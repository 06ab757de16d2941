import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATE_FILE } from '../../agent/state/db.js';
import { startBroker } from '../support/broker.js';
import { CLI, LAUNCHER, REPO, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The sd_notify protocol as systemd sees it: datagrams on a real unix socket named by
// NOTIFY_SOCKET, received here by socat.
let broker: Awaited<ReturnType<typeof startBroker>>;
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.cleanup();
  dir.cleanup();
});

class NotifyListener {
  private proc: ChildProcess;
  text = '';
  constructor(readonly path: string) {
    this.proc = spawn('socat', ['-u', `UNIX-RECV:${path}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.proc.stdout?.on('data', (d: Buffer) => (this.text += d.toString()));
  }
  count(assignment: string): number {
    return this.text.split('\n').filter((l) => l === assignment).length;
  }
  stop(): void {
    this.proc.kill();
  }
}

describe('systemd integration', () => {
  it('sends READY=1, WATCHDOG=1 from the work loop, and STOPPING=1', async () => {
    const socketPath = join(dir.path, 'notify.sock');
    const listener = new NotifyListener(socketPath);
    await waitUntil(() => spawnSync('test', ['-S', socketPath]).status === 0, 'notify socket');
    const cfg = join(dir.path, 'a.json');
    writeFileSync(cfg, JSON.stringify(testConfig(join(dir.path, 'a'), broker.url, { deviceId: 'QZ-SD-0001-R101' })));
    const agent = spawn(process.execPath, [CLI, 'agent', '--config', cfg], {
      env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '2000000' },
      stdio: 'ignore',
    });
    try {
      await waitUntil(() => listener.text.includes('READY=1'), 'READY=1');
      expect(listener.text).toContain(`MAINPID=${agent.pid}`);
      await waitUntil(() => listener.count('WATCHDOG=1') >= 3, 'three watchdog pings', 15_000);
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
      await waitUntil(() => listener.text.includes('STOPPING=1'), 'STOPPING=1');
    } finally {
      agent.kill('SIGKILL');
      listener.stop();
    }
  });

  it('a stalled work loop stops the watchdog pings (state database locked by another process)', async () => {
    const socketPath = join(dir.path, 'notify2.sock');
    const listener = new NotifyListener(socketPath);
    await waitUntil(() => spawnSync('test', ['-S', socketPath]).status === 0, 'notify socket');
    const dataDir = join(dir.path, 'b');
    const cfg = join(dir.path, 'b.json');
    writeFileSync(cfg, JSON.stringify(testConfig(dataDir, broker.url, { deviceId: 'QZ-SD-0002-R101' })));
    const agent = spawn(process.execPath, [CLI, 'agent', '--config', cfg], {
      env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '2000000' },
      stdio: 'ignore',
    });
    try {
      await waitUntil(() => listener.count('WATCHDOG=1') >= 2, 'pings before the stall', 15_000);
      // Another process takes the database and holds it: the loop's write waits and then fails.
      const db = new Database(join(dataDir, STATE_FILE));
      db.exec('BEGIN EXCLUSIVE');
      // The loop records that it is alive every 10 s; from its first write under the lock on,
      // every round waits 5 s for the lock and fails.
      await new Promise((r) => setTimeout(r, 16_000));
      const before = listener.count('WATCHDOG=1');
      await new Promise((r) => setTimeout(r, 8000));
      const during = listener.count('WATCHDOG=1') - before;
      db.exec('ROLLBACK');
      db.close();
      expect(during).toBe(0);
      // Released: pings resume.
      await waitUntil(() => listener.count('WATCHDOG=1') > before + during, 'pings after the stall', 20_000);
    } finally {
      agent.kill('SIGKILL');
      listener.stop();
    }
  });

  it('the unit file passes systemd-analyze verify', () => {
    const unit = readFileSync(join(REPO, 'systemd/lectern.service'), 'utf8').replace('/opt/lectern/agent/bin/lectern', LAUNCHER);
    const path = join(dir.path, 'lectern.service');
    writeFileSync(path, unit);
    const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    // `User=lectern` need not exist on a test machine; anything else is a real problem.
    const problems = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() && !/user|group/i.test(l));
    expect(problems).toEqual([]);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=\d+$/m);
  });
});
