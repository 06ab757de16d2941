/**
 * A pseudo-terminal pair from socat, standing in for a serial cable: the driver opens `a`, a
 * simulated device opens `b`. kill() is an unplug (socat exits, both links disappear, open
 * ports see a disconnect); restart() is a replug (new ptys at the same link paths).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class PtyPair {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly dir: string,
    /** The driver's end. */
    readonly a: string,
    /** The device's end. */
    readonly b: string,
  ) {}

  /** Make a temporary directory and start socat in it. */
  static async create(prefix = 'lectern-pty-'): Promise<PtyPair> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const pair = new PtyPair(dir, join(dir, 'a'), join(dir, 'b'));
    await pair.start();
    return pair;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Start socat and wait until both links exist. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child) throw new Error('socat is already running');
    this.stderr = '';
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      // Keep the tail only: socat -d -d is chatty and may run for a whole suite.
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    while (!(existsSync(this.a) && existsSync(this.b))) {
      if (exited) throw new Error(`socat exited before creating the ptys:\n${this.stderr}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`socat did not create ${this.a} and ${this.b} within ${timeoutMs} ms:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop socat (an unplug) and wait until it is gone and its links are removed. */
  async kill(timeoutMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
    // socat removes its links on exit; make sure before reporting the unplug done.
    const deadline = Date.now() + timeoutMs;
    while ((existsSync(this.a) || existsSync(this.b)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kill and start again: new ptys behind the same link paths (a replug). */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  /** Kill socat and remove the temporary directory. */
  async dispose(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** socat's recent diagnostics, for failure messages. */
  get diagnostics(): string {
    return this.stderr;
  }
}
