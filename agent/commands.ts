import type { SchemaObject, ValidateFunction } from 'ajv';
import { describeErrors, type Contract } from './contract/validate.js';
import type { CommandMessage, ErrorCode, ReplyMessage } from './contract/types.js';
import type { Db } from './state/db.js';
import type { Outbox } from './outbox.js';
import type { Logger } from './log.js';
import type { Clock } from './clock.js';
import type { EventPublisher } from './events.js';
import { DeviceError, errorMessage } from './errors.js';
import { withTimeout } from './backoff.js';

export const MAX_COMMAND_BYTES = 256 * 1024;

/** A handler's way to answer with a contract error code. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export interface CommandSpec {
  /** JSON Schema of `args`; unknown fields are refused so a typo is named, not ignored. */
  args: SchemaObject;
  run(args: Record<string, unknown>, ctx: { requestId: string }): Promise<Record<string, unknown>>;
  /** Longest the command may take before it is answered `internal` (default 60 s). */
  timeoutMs?: number;
}

export interface DispatcherDeps {
  db: Db;
  outbox: Outbox;
  contract: Contract;
  events: EventPublisher;
  clock: Clock;
  log: Logger;
  /** Full topic of `reply` under the device root. */
  replyTopic: string;
  formatTs(date: Date): string;
  /** MQTT 5: also answer on the request's Response Topic. */
  mqtt5: boolean;
}

type Outcome = { result: Record<string, unknown>; error?: undefined } | { error: { code: ErrorCode; message: string } };

export interface IncomingCommand {
  name: string;
  payload: Buffer;
  responseTopic?: string;
  correlationData?: Buffer;
}

/**
 * Runs the platform's commands (`cmd/{name}`) and answers each `requestId` exactly once on
 * `reply` (and on the MQTT 5 response topic). Answers are stored with the request id before
 * they are sent, so a redelivered request, even after a restart, gets the same answer without
 * running the command twice. A payload that cannot be answered (not JSON, too large, no
 * request id) is reported as a `command.rejected` event instead. Nothing a command sends can
 * crash or stall the dispatcher.
 */
export class CommandDispatcher {
  private readonly specs = new Map<string, { spec: CommandSpec; validate: ValidateFunction }>();
  private readonly running = new Set<string>();

  constructor(private readonly deps: DispatcherDeps) {}

  register(name: string, spec: CommandSpec): void {
    this.specs.set(name, { spec, validate: this.deps.contract.compile(spec.args) });
  }

  names(): string[] {
    return [...this.specs.keys()];
  }

  /** Forgets answers older than `maxAgeDays`: the platform does not redeliver that late. */
  prune(maxAgeDays = 30): number {
    const cutoff = new Date(this.deps.clock.now().getTime() - maxAgeDays * 86_400_000).toISOString();
    return this.deps.db.prepare('DELETE FROM command_replies WHERE received_at < ? AND reply IS NOT NULL').run(cutoff).changes;
  }

  async handle(cmd: IncomingCommand): Promise<void> {
    const name = cmd.name;
    if (cmd.payload.length > MAX_COMMAND_BYTES) {
      this.reject(name, `payload of ${cmd.payload.length} bytes is larger than ${MAX_COMMAND_BYTES}`);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(cmd.payload.toString('utf8'));
    } catch (e) {
      this.reject(name, `payload is not JSON (${errorMessage(e)})`);
      return;
    }
    const envelope = this.deps.contract.validate('command', body);
    const requestId = requestIdOf(body);
    if (requestId === undefined) {
      this.reject(name, `cannot answer: ${envelope.problems.join('; ') || '/requestId: is required'}`);
      return;
    }
    const stored = this.deps.db.prepare('SELECT reply FROM command_replies WHERE request_id = ?').get(requestId) as
      | { reply: string | null }
      | undefined;
    if (stored?.reply) {
      this.deps.log.info({ requestId, command: name }, 'repeated request: sending the stored answer again');
      this.send(JSON.parse(stored.reply) as ReplyMessage, cmd);
      return;
    }
    if (stored && this.running.has(requestId)) return; // answered once the first delivery finishes
    if (stored) {
      this.finish(cmd, requestId, { error: { code: 'internal', message: 'the agent restarted while running this command; check the device state and send a new request' } });
      return;
    }
    if (!envelope.ok) {
      this.finish(cmd, requestId, { error: { code: 'bad-request', message: envelope.problems.join('; ') } });
      return;
    }
    const msg = body as CommandMessage;
    if (msg.expiresAt && Date.parse(msg.expiresAt) < this.deps.clock.now().getTime()) {
      this.finish(cmd, requestId, { error: { code: 'expired', message: `request expired at ${msg.expiresAt}; not run` } });
      return;
    }
    const entry = this.specs.get(name);
    if (!entry) {
      this.finish(cmd, requestId, { error: { code: 'unknown-command', message: `unknown command "${name.slice(0, 200)}"` } });
      return;
    }
    const args = msg.args ?? {};
    if (!entry.validate(args)) {
      this.finish(cmd, requestId, { error: { code: 'bad-request', message: describeErrors(entry.validate.errors, '/args').join('; ') } });
      return;
    }
    this.deps.db
      .prepare('INSERT INTO command_replies (request_id, command, received_at) VALUES (?, ?, ?)')
      .run(requestId, name, this.deps.clock.now().toISOString());
    this.running.add(requestId);
    try {
      const timeoutMs = entry.spec.timeoutMs ?? 60_000;
      const result = await withTimeout(entry.spec.run(args, { requestId }), timeoutMs, () => new CommandError('internal', `${name} did not finish within ${timeoutMs / 1000} s`));
      this.finish(cmd, requestId, { result });
    } catch (e) {
      this.finish(cmd, requestId, { error: toContractError(e) });
      if (!(e instanceof CommandError) && !(e instanceof DeviceError)) {
        this.deps.log.error({ err: e, command: name, requestId }, 'command failed');
      }
    } finally {
      this.running.delete(requestId);
    }
  }

  private finish(cmd: IncomingCommand, requestId: string, outcome: Outcome): void {
    const base = { requestId, command: cmd.name.slice(0, 64), ts: this.deps.formatTs(this.deps.clock.now()) };
    let reply: ReplyMessage = outcome.error
      ? { ...base, ok: false, error: { code: outcome.error.code, message: clip(outcome.error.message || outcome.error.code) } }
      : { ...base, ok: true, result: outcome.result };
    const check = this.deps.contract.validate('reply', reply);
    if (!check.ok) {
      this.deps.log.error({ problems: check.problems, command: cmd.name }, 'reply failed the contract schema');
      reply = { ...base, ok: false, error: { code: 'internal', message: clip(`reply failed the contract: ${check.problems.join('; ')}`) } };
    }
    const text = JSON.stringify(reply);
    this.deps.db.transaction(() => {
      this.deps.db
        .prepare(
          `INSERT INTO command_replies (request_id, command, received_at, reply) VALUES (?, ?, ?, ?)
           ON CONFLICT(request_id) DO UPDATE SET reply = excluded.reply`,
        )
        .run(requestId, reply.command, this.deps.clock.now().toISOString(), text);
      this.addToOutbox(reply, text, cmd);
    })();
    this.deps.outbox.kick();
  }

  private send(reply: ReplyMessage, cmd: IncomingCommand): void {
    this.deps.db.transaction(() => this.addToOutbox(reply, JSON.stringify(reply), cmd))();
    this.deps.outbox.kick();
  }

  private addToOutbox(reply: ReplyMessage, text: string, cmd: IncomingCommand): void {
    const now = this.deps.clock.now().toISOString();
    this.deps.outbox.add({ topic: this.deps.replyTopic, payload: text, kind: 'reply', key: reply.requestId }, now);
    if (this.deps.mqtt5 && cmd.responseTopic && isPublishableTopic(cmd.responseTopic)) {
      this.deps.outbox.add(
        { topic: cmd.responseTopic, payload: text, kind: 'reply', key: reply.requestId, correlationData: cmd.correlationData },
        now,
      );
    }
  }

  private reject(name: string, why: string): void {
    this.deps.log.warn({ command: name, why }, 'command rejected');
    this.deps.events.emit({
      type: 'command.rejected',
      severity: 'warning',
      message: clip(`cmd/${name.slice(0, 64)}: ${why}`),
      details: { command: name.slice(0, 64) },
    });
  }
}

function requestIdOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const id = (body as { requestId?: unknown }).requestId;
  return typeof id === 'string' && id.length >= 1 && id.length <= 128 ? id : undefined;
}

function toContractError(e: unknown): { code: ErrorCode; message: string } {
  if (e instanceof CommandError) return { code: e.code, message: e.message };
  if (e instanceof DeviceError) return { code: 'device-error', message: e.message };
  return { code: 'internal', message: errorMessage(e) };
}

function clip(text: string): string {
  return text.length <= 1000 ? text : `${text.slice(0, 997)}...`;
}

/** A response topic must be a valid topic to publish to: no wildcards, no NUL, not empty. */
function isPublishableTopic(topic: string): boolean {
  return topic.length > 0 && topic.length <= 65535 && !/[#+]/.test(topic) && !topic.includes(String.fromCharCode(0));
}
