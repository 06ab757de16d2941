import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import type { ConfigInput } from '../../agent/config/schema.js';
import { validateConfigObject } from '../../agent/config/load.js';
import { createLogger } from '../../agent/log.js';
import { LogRing } from '../../agent/logring.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(REPO, 'dist/agent/cli.js');
/** The installed launcher (memory settings included): what systemd runs. */
export const LAUNCHER = join(REPO, 'agent/bin/lectern');

export function testConfig(dataDir: string, mqttUrl: string, extra: ConfigInput = {}): ConfigInput {
  return {
    deviceId: 'QZ-TEST-0001-R201',
    school: '测试小学',
    room: 'R201',
    role: 'lecture',
    dataDir,
    logLevel: 'warn',
    ...extra,
    platform: { mqttUrl, heartbeatIntervalSec: 5, reconnectMinSec: 0.2, reconnectMaxSec: 2, keepaliveSec: 5, ...extra.platform },
  };
}

/** The agent in this process (fast, inspectable); logs to a ring, or stdout with LECTERN_TEST_LOG. */
export function inProcessAgent(input: ConfigInput, extra: Partial<Omit<AgentOptions, 'config' | 'log' | 'logRing'>> = {}): { agent: Agent; ring: LogRing } {
  const config = validateConfigObject(input, 'test config');
  const ring = new LogRing(500);
  const log = process.env.LECTERN_TEST_LOG ? createLogger('debug') : createLogger('info', ring);
  return { agent: new Agent({ ...extra, config, log, logRing: ring }), ring };
}

/** The built `lectern agent` as its own process, to be killed like a power cut. */
export class AgentProcess {
  private proc: ChildProcess | undefined;
  output = '';

  constructor(
    private readonly configFile: string,
    /** Run through the launcher, as installed, instead of plain `node cli.js`. */
    private readonly viaLauncher = false,
    /**
     * Start the agent in a process group of its own, so that `powerCut()` takes its children
     * (the lesson media process) down at the same instant, as a power cut or systemd's
     * control-group kill does.
     */
    private readonly ownGroup = false,
  ) {}

  static withConfig(dir: string, input: ConfigInput, viaLauncher = false, ownGroup = false): AgentProcess {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(input, null, 2));
    return new AgentProcess(file, viaLauncher, ownGroup);
  }

  start(extraArgs: string[] = []): void {
    this.output = '';
    const args = ['agent', '--config', this.configFile, ...extraArgs];
    const proc = this.viaLauncher
      ? spawn(LAUNCHER, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: this.ownGroup })
      : spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: this.ownGroup });
    if (this.ownGroup) {
      // Never leave a group behind if the test process ends first.
      const killGroup = (): void => {
        try {
          if (proc.pid) process.kill(-proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      process.once('exit', killGroup);
      proc.once('exit', () => process.removeListener('exit', killGroup));
    }
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc = proc;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /**
   * SIGKILL to the agent's whole process group (needs `ownGroup`): the agent and its media
   * process die at the same instant, with no chance to finish a write. Resolves once the agent
   * has exited.
   */
  async powerCut(): Promise<void> {
    const proc = this.proc;
    if (!this.ownGroup) throw new Error('powerCut() needs an agent started in its own process group');
    if (!proc?.pid || !this.running) return;
    const exited = new Promise<void>((res) => proc.once('exit', () => res()));
    process.kill(-proc.pid, 'SIGKILL');
    await exited;
    this.proc = undefined;
  }

  /** Resolves with the exit code (or signal) once the process has ended. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return { code: proc?.exitCode ?? null, signal: proc?.signalCode ?? null, ms: 0 };
    const t0 = Date.now();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((res) =>
      proc.once('exit', (code, sig) => res({ code, signal: sig, ms: Date.now() - t0 })),
    );
    proc.kill(signal);
    const r = await exited;
    this.proc = undefined;
    return r;
  }
}
