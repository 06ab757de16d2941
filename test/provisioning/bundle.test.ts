import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, testConfig } from '../support/agent.js';
import { startBroker } from '../support/broker.js';
import { runCli } from '../support/kit.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// A support bundle from a kit whose agent is running: the config with its secrets hidden, the
// agent's recent logs (journald has none here, so its log ring through the control socket), the
// doctor report and a state summary, in a .tar.gz only its owner can read.
let broker: Awaited<ReturnType<typeof startBroker>>;
const dir = tempDir('lectern-bundle-');
const PASSWORD = 'bundle-s3cret-Password';
let agent: AgentProcess;
let configFile: string;

beforeAll(async () => {
  broker = await startBroker();
  const dataDir = join(dir.path, 'data');
  agent = AgentProcess.withConfig(
    dir.path,
    testConfig(dataDir, broker.url, {
      deviceId: 'QZ-BU-0001-R101',
      logLevel: 'info',
      platform: { mqttUrl: broker.url, username: 'room101', password: PASSWORD },
    }),
  );
  configFile = join(dir.path, 'config.json');
  agent.start();
  await waitUntil(() => existsSync(join(dataDir, 'control.sock')) && agent.output.includes('connected to the platform broker'), 'agent connected', 30_000).catch((e: unknown) => {
    throw new Error(`${String(e)}: ${agent.output}`);
  });
});
afterAll(async () => {
  await agent.stop();
  await broker.cleanup();
  dir.cleanup();
});

describe('lectern support-bundle', () => {
  it('writes config (secrets hidden), logs from the agent, doctor report, state summary; 0600', async () => {
    const out = join(dir.path, 'bundle.tar.gz');
    const r = await runCli(['support-bundle', '--config', configFile, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const x = join(dir.path, 'x');
    mkdirSync(x);
    expect(spawnSync('tar', ['-xzf', out, '-C', x]).status).toBe(0);
    const [top] = readdirSync(x);
    expect(top).toMatch(/^lectern-support-/);
    const base = join(x, top!);
    expect(readdirSync(base).sort()).toEqual(['config.json', 'doctor.json', 'logs.txt', 'state.json', 'system.txt']);
    const read = (f: string) => readFileSync(join(base, f), 'utf8');

    // The password nowhere.
    for (const f of readdirSync(base)) expect(read(f), f).not.toContain(PASSWORD);
    const config = JSON.parse(read('config.json')) as { platform: Record<string, string> };
    expect(config.platform.password).toBe('[hidden]');
    expect(config.platform.username).toBe('room101');

    const logs = read('logs.txt');
    expect(logs).toMatch(/^# .*the running agent's last \d+ log lines/);
    expect(logs).toContain('connected to the platform broker');

    const doctor = JSON.parse(read('doctor.json')) as { deviceId: string; agentRunning: boolean; results: { id: string; status: string }[] };
    expect(doctor.deviceId).toBe('QZ-BU-0001-R101');
    expect(doctor.agentRunning).toBe(true);
    expect(doctor.results.find((x) => x.id === 'broker')?.status).toBe('pass');
    // The bundle never runs the uplink test.
    expect(doctor.results.find((x) => x.id === 'uplink')?.status).toBe('skip');

    const state = JSON.parse(read('state.json')) as { schemaVersion: number; outbox: unknown[]; lessonsByStatus: unknown[]; timetable: unknown };
    expect(state.schemaVersion).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(state.outbox)).toBe(true);
    expect(state.timetable).toBeNull();
    expect(read('system.txt')).toContain(`node: ${process.version}`);
  });
});
