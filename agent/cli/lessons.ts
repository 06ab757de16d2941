import { Option, type Command } from 'commander';
import { openState } from '../state/db.js';
import { Ledger, type GroupBy } from '../ledger.js';
import { Outbox } from '../outbox.js';
import { silentLogger } from '../log.js';
import { isValidDate } from '../contract/time.js';
import { ConfigError } from '../errors.js';
import { addStateOptions, dataDirFor, jsonOption, runAction, type StateOptions } from './common.js';

interface RangeOptions extends StateOptions {
  from: string;
  to: string;
  json?: boolean;
}

function checkRange(opts: RangeOptions): void {
  const problems: string[] = [];
  if (!isValidDate(opts.from)) problems.push(`--from: "${opts.from}" is not a date (YYYY-MM-DD)`);
  if (!isValidDate(opts.to)) problems.push(`--to: "${opts.to}" is not a date (YYYY-MM-DD)`);
  if (!problems.length && opts.from > opts.to) problems.push(`--from ${opts.from} is after --to ${opts.to}`);
  if (problems.length) throw new ConfigError('bad dates', problems);
}

function withLedger<T>(opts: StateOptions, fn: (ledger: Ledger) => T): T {
  const db = openState({ dataDir: dataDirFor(opts), readonly: true });
  try {
    // Read-only: the outbox is never written through this ledger.
    return fn(new Ledger(db, new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }), ''));
  } finally {
    db.close();
  }
}

export function registerLessonsCommands(program: Command): void {
  const lessons = program.command('lessons').description('the class-hour ledger (课时记录) kept on this device');
  addStateOptions(
    lessons
      .command('count')
      .description('count lessons between two dates (inclusive), as the platform’s lessons.count does')
      .requiredOption('--from <date>', 'first day, YYYY-MM-DD')
      .requiredOption('--to <date>', 'last day, YYYY-MM-DD')
      .addOption(new Option('--group-by <key>', 'group by').choices(['subject', 'day', 'peer', 'status']))
      .addOption(jsonOption()),
  ).action((opts: RangeOptions & { groupBy?: GroupBy }) =>
    runAction(() => {
      checkRange(opts);
      const r = withLedger(opts, (l) => l.count(opts.from, opts.to, opts.groupBy));
      if (opts.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return 0;
      }
      const lines = [`${r.from} to ${r.to}: ${r.total} lessons, ${r.effective} effective`];
      if (r.groups.length) {
        const w = Math.max(5, ...r.groups.map((g) => g.key.length));
        lines.push(`${opts.groupBy ?? ''}`.padEnd(w) + '  total  effective  hours');
        for (const g of r.groups) {
          lines.push(`${g.key.padEnd(w)}  ${String(g.total).padStart(5)}  ${String(g.effective).padStart(9)}  ${(g.durationSec / 3600).toFixed(1).padStart(5)}`);
        }
      }
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    }),
  );
  addStateOptions(
    lessons
      .command('list')
      .description('list lesson records between two dates (inclusive)')
      .requiredOption('--from <date>', 'first day, YYYY-MM-DD')
      .requiredOption('--to <date>', 'last day, YYYY-MM-DD')
      .option('--limit <n>', 'at most this many (1–500)', '100')
      .addOption(jsonOption()),
  ).action((opts: RangeOptions & { limit: string }) =>
    runAction(() => {
      checkRange(opts);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ConfigError(`--limit: "${opts.limit}" is not a whole number from 1 to 500`);
      const records = withLedger(opts, (l) => l.list(opts.from, opts.to, limit));
      if (opts.json) {
        process.stdout.write(JSON.stringify(records, null, 2) + '\n');
        return 0;
      }
      if (!records.length) process.stdout.write(`no lessons from ${opts.from} to ${opts.to}\n`);
      for (const r of records) {
        const when = r.scheduledStart ?? r.actualStart ?? r.date;
        process.stdout.write(
          `${when}  ${r.status.padEnd(11)} ${r.effective ? 'effective' : '         '}  ${r.subject}  ${Math.round(r.durationSec / 60)} min  ${r.lessonId}\n`,
        );
      }
      return 0;
    }),
  );
}
