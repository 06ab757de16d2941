/**
 * A pty pair made by socat, for `lectern sim camera --create-pty`: the driver opens one link,
 * the simulator the other, as if a serial cable joined them.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PtyPairHandle {
  /** The end the driver should open. */
  driverPath: string;
  /** The end the simulator opens. */
  devicePath: string;
  close(): Promise<void>;
}

export async function createSocatPair(driverPath: string, devicePath: string, timeoutMs = 10_000): Promise<PtyPairHandle> {
  for (const p of [driverPath, devicePath]) {
    if (existsSync(p)) throw new Error(`${p} already exists; remove it or choose another link path`);
  }
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${driverPath}`, `pty,raw,echo=0,link=${devicePath}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  let exited = false;
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
    exited = true;
  });
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void done.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(driverPath) && existsSync(devicePath))) {
    if (exited) throw new Error(`socat failed to create the pty pair${spawnError ? `: ${spawnError.message}` : `:\n${stderr}`}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`socat did not create ${driverPath} and ${devicePath} within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    driverPath,
    devicePath,
    close: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      await done;
    },
  };
}
