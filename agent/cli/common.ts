import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { loadConfig, type ConfigOverrides } from '../config/load.js';
import { DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, type Config } from '../config/schema.js';
import { LecternError, errorMessage } from '../errors.js';

/** Exit statuses of every subcommand. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface StateOptions {
  config?: string;
  dataDir?: string;
}

/** `--config FILE` and `--data-dir DIR`, the same on every subcommand that touches the state. */
export function addStateOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_FILE} when it exists)`)
    .option('-d, --data-dir <dir>', 'data dir holding the state database (overrides the config)');
}

export function jsonOption(): Option {
  return new Option('--json', 'print JSON instead of text');
}

/** The config a state-reading subcommand uses, or undefined when there is none to read. */
export function configFor(opts: StateOptions & { simulate?: boolean }, overrides: ConfigOverrides = {}): Config | undefined {
  const file = opts.config ?? (existsSync(DEFAULT_CONFIG_FILE) && !opts.simulate ? DEFAULT_CONFIG_FILE : undefined);
  if (!file && !opts.simulate) return undefined;
  return loadConfig({ file, simulate: opts.simulate, overrides: { ...overrides, dataDir: opts.dataDir }, placeholderUrl: 'mqtt://127.0.0.1:1883' });
}

export function dataDirFor(opts: StateOptions & { simulate?: boolean }): string {
  if (opts.dataDir) return opts.dataDir;
  return configFor(opts)?.dataDir ?? DEFAULT_DATA_DIR;
}

/** Runs a subcommand body: typed errors become a message on stderr and an exit status. */
export async function runAction(body: () => Promise<number | void> | number | void): Promise<void> {
  try {
    const code = await body();
    if (typeof code === 'number') process.exitCode = code;
  } catch (e) {
    process.stderr.write(`lectern: ${errorMessage(e)}\n`);
    process.exitCode = e instanceof LecternError && e.code === 'config' ? EXIT.usage : EXIT.failed;
  }
}
