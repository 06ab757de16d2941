/**
 * Writes the device's config file: validated first with the agent's own validator (so a file
 * that provisioning writes is one the agent starts with), then written atomically (temp file in
 * the same directory, fsync, rename, fsync of the directory), mode 0600 because it holds the
 * broker password. A file it replaces is kept beside it as `<name>.previous`.
 */
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { validateConfigObject } from '../agent/config/load.js';
import type { Config, ConfigInput } from '../agent/config/schema.js';

export function writeFileAtomic(path: string, content: string | Buffer, mode = 0o600): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  // openSync's mode is filtered by the umask; the file must be exactly `mode`.
  chmodSync(tmp, mode);
  renameSync(tmp, path);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Validates `input` and writes it to `path`. Returns the effective config (defaults filled in).
 * Throws ConfigError listing every problem; nothing is written then.
 */
export function writeConfigFile(path: string, input: ConfigInput, owner?: { uid: number; gid: number }): Config {
  const config = validateConfigObject(input, 'the new config');
  if (existsSync(path)) copyFileSync(path, `${path}.previous`);
  if (existsSync(`${path}.previous`)) chmodSync(`${path}.previous`, 0o600);
  writeFileAtomic(path, JSON.stringify(input, null, 2) + '\n', 0o600);
  // Run as root for a service that runs as `lectern`: the agent must be able to read it.
  if (owner) chownSync(path, owner.uid, owner.gid);
  return config;
}
