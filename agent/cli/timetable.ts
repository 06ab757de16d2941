import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import stringWidth from 'string-width';
import { controlRequest } from '../control.js';
import { Contract } from '../contract/validate.js';
import type { Timetable, TimetableException } from '../contract/types.js';
import { isValidDate, isoInZone, localDate } from '../contract/time.js';
import { openState } from '../state/db.js';
import { Outbox } from '../outbox.js';
import { EventPublisher } from '../events.js';
import { TimetableStore } from '../timetable/store.js';
import { TimetableReceiver, type ReceiveResult } from '../timetable/receiver.js';
import { MAX_TIMETABLE_BYTES, timetableProblems } from '../timetable/validate.js';
import { addDays, isoWeekday, lessonsOn, teachingWeek, type ResolvedLesson } from '../timetable/resolve.js';
import { systemClock } from '../clock.js';
import { DEFAULT_DATA_DIR } from '../config/schema.js';
import { silentLogger } from '../log.js';
import { deviceRoot } from '../link.js';
import { ConfigError, LecternError, errorMessage } from '../errors.js';
import { EXIT, addStateOptions, configFor, dataDirFor, jsonOption, runAction, type StateOptions } from './common.js';

const WEEKDAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const WEEKDAY_NAMES = ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MAX_DAYS = 400;

/** A timetable file, read and checked exactly as the agent checks one from the platform. */
interface TimetableFile {
  bytes: Buffer;
  timetable?: Timetable;
  problems: string[];
}

function readTimetableFile(file: string, deviceId: string | undefined): TimetableFile {
  let bytes: Buffer;
  try {
    // Refuse a huge file before reading it: the agent would refuse it too.
    const size = statSync(file).size;
    if (size > MAX_TIMETABLE_BYTES) return { bytes: Buffer.alloc(0), problems: [`/: the file has ${size} bytes, more than the ${MAX_TIMETABLE_BYTES} a timetable may have`] };
    bytes = readFileSync(file);
  } catch (e) {
    throw new LecternError(`cannot read ${file}: ${errorMessage(e)}`, 'failed');
  }
  if (bytes.length === 0) return { bytes, problems: ['/: the file is empty'] };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { bytes, problems: [`/: not JSON (${errorMessage(e)})`] };
  }
  const problems = timetableProblems(new Contract(), value, deviceId);
  return problems.length ? { bytes, problems } : { bytes, timetable: value as Timetable, problems };
}

function printProblems(what: string, problems: readonly string[]): void {
  process.stderr.write(`${what} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
}

function summary(t: Timetable): string {
  return `version ${t.version}, ${t.entries.length} entries, ${t.bells.length} bells, ${(t.exceptions ?? []).length} exceptions, term ${t.term.start} to ${t.term.end}, zone ${t.timezone}`;
}

export function registerTimetableCommands(program: Command): void {
  const timetable = program.command('timetable').description('check, apply and show the weekly timetable (周课表)');

  timetable
    .command('validate')
    .description('check a timetable file: the contract schema and every rule the agent applies; lists each problem with its path')
    .argument('<file>', 'timetable file (JSON, as the platform publishes it)')
    .option('-c, --config <file>', 'the device config: also checks that lesson ids fit its device id')
    .action((file: string, opts: { config?: string }) =>
      runAction(() => {
        const deviceId = opts.config ? configFor(opts)?.deviceId : undefined;
        const r = readTimetableFile(file, deviceId);
        if (!r.timetable) {
          printProblems(file, r.problems);
          return EXIT.failed;
        }
        process.stdout.write(`${file}: valid (${summary(r.timetable)})\n`);
        return EXIT.ok;
      }),
    );

  addStateOptions(
    timetable
      .command('apply')
      .description('apply a timetable file on a device without a platform: through the running agent, or into its state when it is stopped')
      .argument('<file>', 'timetable file (JSON)')
      .addOption(jsonOption()),
  ).action((file: string, opts: StateOptions & { json?: boolean }) =>
    runAction(async () => {
      const config = configFor(opts);
      const dataDir = opts.dataDir ?? config?.dataDir ?? DEFAULT_DATA_DIR;
      // Checked here first so that a bad file is reported before anything is touched; the agent
      // (or the direct path below) checks it again on its way in.
      const checked = readTimetableFile(file, config?.deviceId);
      if (!checked.timetable) {
        printProblems(file, checked.problems);
        return EXIT.failed;
      }
      let result: ReceiveResult;
      let via: 'agent' | 'state';
      try {
        const reply = await controlRequest(dataDir, 'POST', '/timetable/apply', checked.bytes);
        const err = reply.body.error as { code?: string; message?: string } | undefined;
        if (err || reply.status >= 400) throw new LecternError(`the agent refused the timetable: ${err?.code ?? reply.status}: ${err?.message ?? ''}`, 'failed');
        result = reply.body as unknown as ReceiveResult;
        via = 'agent';
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith('the agent is not running')) throw e;
        if (!config) {
          throw new ConfigError(
            `the agent is not running with data dir ${dataDir}; applying into its state needs the device config for its device id (--config FILE)`,
          );
        }
        result = applyToState(dataDir, config.deviceId, config.timezone, checked.bytes);
        via = 'state';
      }
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...result, via })}\n`);
      return reportApply(file, result, via, opts.json ?? false);
    }),
  );

  addStateOptions(
    timetable
      .command('show')
      .description('the lessons the timetable gives, day by day, in its time zone (the applied one, or FILE)')
      .argument('[file]', 'a timetable file to show instead of the applied one')
      .option('--from <date>', 'first day, YYYY-MM-DD (default: today in the timetable’s zone)')
      .option('--days <n>', `number of days, 1–${MAX_DAYS}`, '7')
      .addOption(jsonOption()),
  ).action((file: string | undefined, opts: StateOptions & { from?: string; days: string; json?: boolean }) =>
    runAction(() => {
      const problems: string[] = [];
      if (opts.from !== undefined && !isValidDate(opts.from)) problems.push(`--from: "${opts.from}" is not a date (YYYY-MM-DD)`);
      const days = Number(opts.days);
      if (!/^\d+$/.test(opts.days) || days < 1 || days > MAX_DAYS) problems.push(`--days: "${opts.days}" is not a whole number from 1 to ${MAX_DAYS}`);
      if (problems.length) throw new ConfigError('bad options', problems);
      const config = opts.config || !file ? configFor(opts) : undefined;
      let t: Timetable;
      let source: string;
      if (file) {
        const r = readTimetableFile(file, config?.deviceId);
        if (!r.timetable) {
          printProblems(file, r.problems);
          return EXIT.failed;
        }
        t = r.timetable;
        source = file;
      } else {
        const dataDir = dataDirFor(opts);
        const db = openState({ dataDir, readonly: true });
        try {
          const stored = new TimetableStore(db).current();
          if (!stored) throw new LecternError(`no timetable has been applied on this device (data dir ${dataDir})`, 'failed');
          t = stored.timetable;
          source = `applied ${stored.appliedAt}`;
        } finally {
          db.close();
        }
      }
      const from = opts.from ?? localDate(systemClock.now(), t.timezone);
      const view = resolveDays(t, from, days, config?.deviceId);
      if (opts.json) process.stdout.write(`${JSON.stringify({ version: t.version, timezone: t.timezone, term: t.term, source, days: view }, null, 2)}\n`);
      else process.stdout.write(describeDays(t, source, view));
      return EXIT.ok;
    }),
  );
}

/**
 * Applies a timetable into a stopped agent's state database through the same receiver the agent
 * uses: full validation, stored and its `timetable.applied` event queued in one transaction (the
 * agent sends the event and its new status when it next connects). The stored timetable is
 * replaced only when the new one is valid.
 */
function applyToState(dataDir: string, deviceId: string, configZone: string, bytes: Buffer): ReceiveResult {
  const db = openState({ dataDir });
  try {
    const store = new TimetableStore(db);
    const zone = (): string => store.current()?.timetable.timezone ?? configZone;
    const outbox = new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100_000 });
    // Event ids are `bootId-n`; a fresh random id keeps them apart from the agent's own.
    const events = new EventPublisher({ bootId: randomBytes(6).toString('hex'), topic: `${deviceRoot(deviceId)}events`, outbox, clock: systemClock, timeZone: zone });
    const receiver = new TimetableReceiver({
      db,
      store,
      contract: new Contract(),
      events,
      clock: systemClock,
      log: silentLogger(),
      formatTs: (d) => isoInZone(d, zone()),
      onApplied: () => undefined,
      deviceId,
    });
    return receiver.receive(bytes);
  } finally {
    db.close();
  }
}

function reportApply(file: string, r: ReceiveResult, via: 'agent' | 'state', json: boolean): number {
  const where = via === 'agent' ? 'by the running agent' : 'in the state database (the agent is not running; it uses it when it starts)';
  switch (r.outcome) {
    case 'applied':
      if (!json) process.stdout.write(`applied timetable ${r.version} ${where}; previous: ${r.previousVersion ?? 'none'}\n`);
      return EXIT.ok;
    case 'unchanged':
      if (!json) process.stdout.write(`timetable ${r.version} is already applied; nothing changed\n`);
      return EXIT.ok;
    case 'rejected':
      printProblems(file, r.problems);
      process.stderr.write(`kept ${r.keptVersion ?? 'no timetable'}\n`);
      return EXIT.failed;
    case 'ignored':
      process.stderr.write(`${file}: empty; kept ${r.keptVersion ?? 'no timetable'}\n`);
      return EXIT.failed;
  }
}

// ---------------------------------------------------------------------------------------------
// `timetable show`

interface DayLesson {
  lessonId?: string;
  entryId: string;
  period: number;
  /** Local wall times `HH:MM` in the timetable's zone. */
  start: string;
  end: string;
  scheduledStart: string;
  scheduledEnd: string;
  subject: string;
  role: string;
  /** `odd` or `even` for an entry that runs every other week. */
  weeks: 'all' | 'odd' | 'even';
  peerRoomIds: string[];
  preset?: number;
  grade?: string;
  className?: string;
  teacher?: string;
}

interface DayView {
  date: string;
  weekday: number;
  inTerm: boolean;
  teachingWeek: number | null;
  parity: 'odd' | 'even' | null;
  /** `holiday`, `workday` (调休) or null. */
  exception: { type: TimetableException['type']; note?: string; followsWeekday?: number } | null;
  /** The weekday whose entries run that day (another one on a make-up workday); null when none run. */
  runsWeekday: number | null;
  lessons: DayLesson[];
}

function resolveDays(t: Timetable, from: string, days: number, deviceId: string | undefined): DayView[] {
  const exceptions = new Map((t.exceptions ?? []).map((x) => [x.date, x]));
  const weeks = new Map(t.entries.map((e) => [e.id, e.weeks ?? 'all']));
  const out: DayView[] = [];
  for (let i = 0; i < days; i++) {
    const date = addDays(from, i);
    const week = teachingWeek(t, date);
    const x = exceptions.get(date);
    const inTerm = week !== null;
    const lessons = inTerm ? lessonsOn(t, date, deviceId ?? 'DEVICE') : [];
    out.push({
      date,
      weekday: isoWeekday(date),
      inTerm,
      teachingWeek: week,
      parity: week === null ? null : week % 2 === 1 ? 'odd' : 'even',
      exception: x ? { type: x.type, ...(x.note !== undefined && { note: x.note }), ...(x.followsWeekday !== undefined && { followsWeekday: x.followsWeekday }) } : null,
      runsWeekday: !inTerm || x?.type === 'holiday' ? null : (x?.followsWeekday ?? isoWeekday(date)),
      lessons: lessons.map((l) => dayLesson(l, weeks.get(l.entryId) ?? 'all', deviceId !== undefined)),
    });
  }
  return out;
}

function dayLesson(l: ResolvedLesson, weeks: DayLesson['weeks'], withId: boolean): DayLesson {
  return {
    ...(withId && { lessonId: l.lessonId }),
    entryId: l.entryId,
    period: l.period,
    start: l.scheduledStart.slice(11, 16),
    end: l.scheduledEnd.slice(11, 16),
    scheduledStart: l.scheduledStart,
    scheduledEnd: l.scheduledEnd,
    subject: l.subject,
    role: l.role,
    weeks,
    peerRoomIds: l.peerRoomIds,
    ...(l.preset !== undefined && { preset: l.preset }),
    ...(l.grade !== undefined && { grade: l.grade }),
    ...(l.className !== undefined && { className: l.className }),
    ...(l.teacher !== undefined && { teacher: l.teacher }),
  };
}

/** Pads to a display width: CJK characters take two columns in a terminal. */
function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

function describeDays(t: Timetable, source: string, view: DayView[]): string {
  const lines = [`timetable ${t.version} (${source}); term ${t.term.start} to ${t.term.end}; times in ${t.timezone}`, ''];
  const rows = view.flatMap((d) => d.lessons);
  const w = {
    entry: Math.max(5, ...rows.map((l) => stringWidth(l.entryId))),
    subject: Math.max(7, ...rows.map((l) => stringWidth(l.subject))),
  };
  for (const d of view) {
    let head = `${d.date} ${WEEKDAYS[d.weekday]}`;
    if (!d.inTerm) head += '  outside the term';
    else head += `  week ${d.teachingWeek} (${d.parity})`;
    if (d.exception?.type === 'holiday') head += `  HOLIDAY${d.exception.note ? ` ${d.exception.note}` : ''}: no lessons`;
    if (d.exception?.type === 'workday') {
      const note = d.exception.note && d.exception.note !== '调休' ? ` ${d.exception.note}` : '';
      head += `  MAKE-UP WORKDAY (调休)${note}: runs ${WEEKDAY_NAMES[d.runsWeekday ?? d.weekday]}'s lessons`;
    }
    lines.push(head);
    if (d.inTerm && d.exception?.type !== 'holiday' && !d.lessons.length) lines.push('  no lessons');
    for (const l of d.lessons) {
      const extra = [
        l.weeks !== 'all' ? `${l.weeks} weeks only` : '',
        l.peerRoomIds.length ? `peers ${l.peerRoomIds.join(', ')}` : '',
        l.preset !== undefined ? `preset ${l.preset}` : '',
        [l.grade && `grade ${l.grade}`, l.className, l.teacher].filter(Boolean).join(' '),
      ].filter(Boolean);
      lines.push(
        `  ${l.start}-${l.end}  P${String(l.period).padEnd(2)}  ${pad(l.entryId, w.entry)}  ${pad(l.subject, w.subject)}  ${l.role.padEnd(7)}  ${extra.join('; ')}`.trimEnd(),
      );
    }
  }
  return lines.join('\n') + '\n';
}
