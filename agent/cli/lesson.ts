import type { Command } from 'commander';
import { controlRequest } from '../control.js';
import { openState } from '../state/db.js';
import { Outbox } from '../outbox.js';
import { TimetableStore } from '../timetable/store.js';
import { silentLogger } from '../log.js';
import { ConfigError, LecternError } from '../errors.js';
import { addStateOptions, dataDirFor, jsonOption, runAction, type StateOptions } from './common.js';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function failIfError(r: Reply): Record<string, unknown> {
  const err = r.body.error as { code?: string; message?: string } | undefined;
  if (r.status >= 400 || err) {
    const e = new LecternError(`${err?.code ?? 'error'}: ${err?.message ?? `status ${r.status}`}`, err?.code === 'bad-request' ? 'config' : 'failed');
    throw e;
  }
  return r.body;
}

export function registerLessonCommands(program: Command): void {
  const lesson = program.command('lesson').description('start, stop or look at the lesson on this device (talks to the running agent)');
  addStateOptions(
    lesson
      .command('start')
      .description('start a lesson now (refused while one is live or about to start)')
      .requiredOption('--subject <subject>', 'subject, e.g. 数学')
      .option('--duration <minutes>', 'length in minutes, 1–240 (default 45)')
      .option('--peer <deviceId...>', 'paired rooms')
      .option('--preset <n>', 'camera preset for the main camera, 0–254')
      .addOption(jsonOption()),
  ).action((opts: StateOptions & { subject: string; duration?: string; peer?: string[]; preset?: string; json?: boolean }) =>
    runAction(async () => {
      const body: Record<string, unknown> = { subject: opts.subject };
      if (opts.duration !== undefined) body.durationMin = wholeNumber(opts.duration, '--duration');
      if (opts.preset !== undefined) body.preset = wholeNumber(opts.preset, '--preset');
      if (opts.peer) body.peerRoomIds = opts.peer;
      const r = failIfError(await controlRequest(dataDirFor(opts), 'POST', '/lesson/start', body));
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `started ${String(r.lessonId)}\n`);
      return 0;
    }),
  );
  addStateOptions(
    lesson
      .command('stop')
      .description('stop the live lesson (or cancel the named one before it starts)')
      .option('--lesson-id <id>', 'the lesson to stop (default: the live one)')
      .addOption(jsonOption()),
  ).action((opts: StateOptions & { lessonId?: string; json?: boolean }) =>
    runAction(async () => {
      const r = failIfError(await controlRequest(dataDirFor(opts), 'POST', '/lesson/stop', opts.lessonId ? { lessonId: opts.lessonId } : {}));
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${String(r.lessonId)}: ${String(r.status)}\n`);
      return 0;
    }),
  );
  addStateOptions(lesson.command('status').description('the lesson now, the next readiness result').addOption(jsonOption())).action(
    (opts: StateOptions & { json?: boolean }) =>
      runAction(async () => {
        const s = await agentStatus(dataDirFor(opts));
        const view = { lesson: s.lesson ?? null, stream: s.stream ?? null, readiness: s.readiness ?? null, source: s.source };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
          return 0;
        }
        const l = view.lesson as { lessonId: string; state: string; subject: string; startedAt: string } | null;
        process.stdout.write(l ? `${l.state}: ${l.subject} since ${l.startedAt} (${l.lessonId})\n` : 'no lesson now\n');
        const r = view.readiness as { ready: boolean; failures: string[]; lessonId: string } | null;
        if (r) process.stdout.write(`next lesson ${r.lessonId}: ${r.ready ? 'ready' : `NOT ready: ${r.failures.join('; ')}`}\n`);
        return 0;
      }),
  );
  addStateOptions(program.command('status').description('what the agent is doing now: lesson, devices, stream, outbox (running agent, or its state)').addOption(jsonOption())).action(
    (opts: StateOptions & { json?: boolean }) =>
      runAction(async () => {
        const s = await agentStatus(dataDirFor(opts));
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
          return 0;
        }
        process.stdout.write(describeStatus(s));
        return 0;
      }),
  );
}

function wholeNumber(text: string, option: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new ConfigError(`${option}: "${text}" is not a whole number`);
  return n;
}

/** From the running agent; when it is not running, what its state database says. */
async function agentStatus(dataDir: string): Promise<Record<string, unknown>> {
  try {
    return { source: 'agent', ...failIfError(await controlRequest(dataDir, 'GET', '/status')) };
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('the agent is not running')) throw e;
    const db = openState({ dataDir, readonly: true });
    try {
      const row = db.prepare('SELECT lesson, actual_start FROM lesson_state WHERE id = 1').get() as { lesson: string; actual_start: string } | undefined;
      const lesson = row ? (JSON.parse(row.lesson) as { lessonId: string; subject: string }) : undefined;
      const outbox = new Outbox(db, silentLogger(), { window: 1, maxPendingEvents: 100 }).stats();
      return {
        source: 'state (the agent is not running)',
        lesson: lesson ? { lessonId: lesson.lessonId, state: 'interrupted (agent not running)', subject: lesson.subject, startedAt: row!.actual_start } : null,
        outbox: { pending: outbox.pending, oldestTs: outbox.oldestTs },
        timetableVersion: new TimetableStore(db).current()?.version ?? null,
      };
    } finally {
      db.close();
    }
  }
}

function describeStatus(s: Record<string, unknown>): string {
  const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));
  const lines: string[] = [`source: ${text(s.source)}`];
  if (s.deviceId) lines.push(`device: ${text(s.deviceId)}  version ${text(s.version)}  up ${text(s.uptimeSec)} s`);
  const link = s.link as { connected: boolean; broker: string; lastError?: string } | undefined;
  if (link) lines.push(`platform: ${link.connected ? 'connected' : 'NOT connected'} to ${link.broker}${link.lastError ? ` (last error: ${link.lastError})` : ''}`);
  const l = s.lesson as { lessonId: string; state: string; subject: string; startedAt: string } | null | undefined;
  lines.push(l ? `lesson: ${l.state} ${l.subject} since ${l.startedAt} (${l.lessonId})` : 'lesson: none');
  const st = s.stream as { state: string; bitrateKbps: number } | null | undefined;
  if (st) lines.push(`stream: ${st.state} ${st.bitrateKbps} kbit/s`);
  for (const d of (s.devices as { kind: string; id: string; status: string; detail?: string }[] | undefined) ?? []) {
    lines.push(`${d.kind} ${d.id}: ${d.status}${d.detail ? ` (${d.detail})` : ''}`);
  }
  const o = s.outbox as { pending: number; oldestTs?: string | null } | undefined;
  if (o) lines.push(`outbox: ${o.pending} pending${o.oldestTs ? ` since ${o.oldestTs}` : ''}`);
  lines.push(`timetable: ${text(s.timetableVersion ?? 'none')}`);
  return lines.join('\n') + '\n';
}
