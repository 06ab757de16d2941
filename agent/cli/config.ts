import type { Command } from 'commander';
import { loadConfig, redactConfig } from '../config/load.js';
import { runAction } from './common.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check and show the device config');
  config
    .command('validate')
    .description('check a config file against the schema; lists every problem with its path')
    .argument('<file>', 'config file (JSON)')
    .action((file: string) =>
      runAction(() => {
        loadConfig({ file });
        process.stdout.write(`${file}: valid\n`);
        return 0;
      }),
    );
  config
    .command('show')
    .description('print the effective config (defaults filled in, secrets hidden)')
    .option('-c, --config <file>', 'config file')
    .option('--simulate', 'the simulated kit’s embedded config')
    .action((opts: { config?: string; simulate?: boolean }) =>
      runAction(() => {
        const c = loadConfig({ file: opts.config, simulate: opts.simulate, placeholderUrl: opts.simulate ? 'mqtt://127.0.0.1:1883' : undefined });
        process.stdout.write(JSON.stringify(redactConfig(c), null, 2) + '\n');
        return 0;
      }),
    );
}
