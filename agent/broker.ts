import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on `host` (the OS picks it; it is released again before returning). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface MosquittoOptions {
  /** Working dir for its config, persistence and log; must be writable. */
  dir: string;
  host?: string;
  port?: number;
  /** Extra lines for mosquitto.conf (TLS listeners, ACLs…). Replace the default listener by
   * setting `listenerLines`. */
  extraConfig?: string[];
  listenerLines?: string[];
}

/**
 * A real Mosquitto on loopback, for tests and for the simulated kit on a bare machine. It runs
 * as the current user (`user` set to it, so started as root it does not switch to the
 * `mosquitto` account and lose access to its own dir), with persistence in `dir`, so a
 * stop/start keeps retained messages and sessions like a real broker restart.
 */
export class MosquittoBroker {
  private proc: ChildProcess | undefined;
  private output = '';
  port = 0;

  constructor(private readonly opts: MosquittoOptions) {}

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.port) this.port = this.opts.port ?? (await freePort(this.host));
    mkdirSync(join(this.opts.dir, 'data'), { recursive: true });
    const conf = join(this.opts.dir, 'mosquitto.conf');
    const lines = [
      ...(this.opts.listenerLines ?? [`listener ${this.port} ${this.host}`, 'allow_anonymous true']),
      'persistence true',
      `persistence_location ${join(this.opts.dir, 'data')}/`,
      'autosave_interval 1',
      `user ${userInfo().username}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      ...(this.opts.extraConfig ?? []),
    ];
    writeFileSync(conf, lines.join('\n') + '\n');
    this.output = '';
    // Its own process group: a Ctrl-C meant for the agent must not take the broker down before
    // the agent has published its shutdown status. Killed with us if we exit first.
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.proc = proc;
    const killOnExit = (): void => {
      proc.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    proc.once('exit', () => process.removeListener('exit', killOnExit));
    proc.stdout?.on('data', (d: Buffer) => this.keep(d));
    proc.stderr?.on('data', (d: Buffer) => this.keep(d));
    const spawnError = new Promise<never>((_, reject) => {
      proc.once('error', (e) => reject(new Error(`cannot start mosquitto (is it installed? provisioning/bootstrap.sh installs it): ${e.message}`)));
      proc.once('exit', (code) => reject(new Error(`mosquitto exited with ${code} at start:\n${this.output}`)));
    });
    spawnError.catch(() => undefined);
    await Promise.race([waitForPort(this.host, this.port, 10_000), spawnError]);
  }

  /** Stops it like a service stop (SIGTERM), or like a crash/power cut with `hard`. */
  async stop(hard = false): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
    this.proc = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  logs(): string {
    return this.output;
  }

  private keep(d: Buffer): void {
    this.output = (this.output + d.toString()).slice(-20_000);
  }
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
