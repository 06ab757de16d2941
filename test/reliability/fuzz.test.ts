import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openState, type Db } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { Ledger } from '../../agent/ledger.js';
import { EventPublisher } from '../../agent/events.js';
import { TimetableStore } from '../../agent/timetable/store.js';
import { TimetableReceiver } from '../../agent/timetable/receiver.js';
import { LessonLoop } from '../../agent/lessons/loop.js';
import { CommandDispatcher } from '../../agent/commands.js';
import { registerCommands } from '../../agent/command-handlers.js';
import { HealthCollector } from '../../agent/health.js';
import { Contract } from '../../agent/contract/validate.js';
import { LogRing } from '../../agent/logring.js';
import { silentLogger } from '../../agent/log.js';
import { isoInZone } from '../../agent/contract/time.js';
import { ConfigError } from '../../agent/errors.js';
import { loadConfig, validateConfigObject } from '../../agent/config/load.js';
import type { EventMessage, Health, ReplyMessage, StatusMessage, Timetable } from '../../agent/contract/types.js';
import { contractProblems } from '../support/contract.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { sampleRecord } from '../support/records.js';

// Property-based bad input: arbitrary payloads on every `cmd/…` topic of the contract and on the
// timetable topic, and arbitrary config files. The dispatcher and timetable receiver run with a
// real SQLite database, ledger, outbox and lesson loop (hundreds of cases; a broker round trip
// each would be slow), then a smaller sample goes through a real broker to the built agent.
// Whatever arrives: no exception escapes, nothing hangs, every request with a usable requestId
// is answered with a contract error naming what is wrong, every other payload is reported as a
// `command.rejected` / `timetable.rejected` event, and rejected input changes no state.
const DEVICE = 'QZ-FUZ-0001-R201';
const ZONE = 'Asia/Shanghai';
const COMMANDS = ['health.get', 'lessons.count', 'lessons.list', 'lesson.start', 'lesson.stop', 'camera.preset.recall', 'camera.preset.save', 'timetable.get', 'uploads.retry', 'logs.tail'];
const ERROR_CODES = ['unknown-command', 'bad-request', 'expired', 'conflict', 'device-error', 'internal'];
const ARG_NAMES = ['from', 'to', 'groupBy', 'limit', 'subject', 'durationMin', 'peerRoomIds', 'preset', 'lessonId', 'camera', 'lines'];
const TIMETABLE: Timetable = {
  version: 'fuzz-1',
  timezone: ZONE,
  term: { start: '2026-09-01', end: '2026-12-31' },
  bells: [
    { period: 1, start: '08:00', end: '08:40' },
    { period: 2, start: '08:50', end: '09:30' },
  ],
  entries: [
    { id: 'mon-1', weekday: 1, period: 1, subject: '数学', role: 'lecture', peerRoomIds: ['QZ-AX-0312-R101'] },
    { id: 'mon-2', weekday: 1, period: 2, subject: '语文', role: 'listen', weeks: 'odd' },
  ],
  exceptions: [{ date: '2026-10-01', type: 'holiday' }],
};
const NOW = Date.parse('2026-09-07T11:00:00+08:00'); // between lessons

/** Settles within `ms` or fails: a hang is a defect like a crash. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Rig {
  db: Db;
  dispatcher: CommandDispatcher;
  receiver: TimetableReceiver;
  timetables: TimetableStore;
}

const dir = tempDir();
let rig: Rig;
let openDb: Db;

function buildRig(): Rig {
  const db = openState({ dataDir: dir.path });
  openDb = db;
  const clock = { now: () => new Date(NOW) };
  const log = silentLogger();
  const outbox = new Outbox(db, log, { window: 10, maxPendingEvents: 1_000_000 });
  const events = new EventPublisher({ bootId: 'fuzzboot01', topic: `classroom/v1/${DEVICE}/events`, outbox, clock, timeZone: () => ZONE });
  const ledger = new Ledger(db, outbox, `classroom/v1/${DEVICE}/lessons`);
  const timetables = new TimetableStore(db);
  db.transaction(() => timetables.replace(TIMETABLE, JSON.stringify(TIMETABLE), isoInZone(new Date(NOW), ZONE)))();
  // Some history for lessons.count / lessons.list to read.
  for (let i = 0; i < 20; i++) ledger.record(sampleRecord(DEVICE, i), isoInZone(new Date(NOW), ZONE));
  const contract = new Contract();
  const formatTs = (d: Date): string => isoInZone(d, ZONE);
  const lessons = new LessonLoop({
    db,
    ledger,
    events,
    timetables,
    clock,
    log,
    cameras: new Map(),
    linkConnected: () => false,
    clockSynced: async () => 'unknown',
    formatTs,
    timeZone: () => ZONE,
    settings: { deviceId: DEVICE, role: 'both', effectiveThresholdPct: 80, preRollSec: 120, readinessLeadSec: 600, dataDir: dir.path, lessonBitrateKbps: 1 },
  });
  const health = new HealthCollector({
    bootId: 'fuzzboot01',
    startedAt: new Date(NOW),
    dataDir: dir.path,
    clock,
    timeZone: () => ZONE,
    devices: () => [],
    outbox: () => outbox.stats(),
    timetableVersion: () => timetables.current()?.version ?? null,
    lesson: () => lessons.lessonNow(),
    stream: () => lessons.streamNow(),
    readiness: () => lessons.readiness(),
  });
  const dispatcher = new CommandDispatcher({ db, outbox, contract, events, clock, log, replyTopic: `classroom/v1/${DEVICE}/reply`, formatTs, mqtt5: true });
  const ring = new LogRing(50);
  ring.write(JSON.stringify({ level: 30, msg: 'hello' }) + '\n');
  registerCommands(dispatcher, { health, cameras: new Map(), lessons, ledger, timetables, logRing: ring, timeZone: () => ZONE, formatTs });
  const receiver = new TimetableReceiver({ db, store: timetables, contract, events, clock, log, formatTs, deviceId: DEVICE, onApplied: () => undefined });
  return { db, dispatcher, receiver, timetables };
}

beforeAll(() => {
  rig = buildRig();
});
afterAll(() => {
  openDb.close();
  dir.cleanup();
});

/** The state a rejected input must leave as it was. */
function snapshot(db: Db): string {
  return JSON.stringify([
    db.prepare('SELECT version, body FROM timetable').all(),
    db.prepare('SELECT lesson_id, status, record FROM lessons ORDER BY lesson_id').all(),
    db.prepare('SELECT lesson_id, kind, body FROM lesson_overrides ORDER BY lesson_id').all(),
    db.prepare('SELECT * FROM lesson_state').all(),
  ]);
}

const lastOutbox = (db: Db, kind: string): { payload: string; key: string | null } | undefined =>
  db.prepare('SELECT payload, key FROM outbox WHERE kind = ? ORDER BY id DESC LIMIT 1').get(kind) as { payload: string; key: string | null } | undefined;

// ---- generators -------------------------------------------------------------------------------

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('2026-09-07', '2026-02-30', '9999-99-99', '2026-9-7', '', '../../etc/passwd', 'QZ-AX-0312-R101', 'a"b\'c;$(rm -rf /)`x`', '\u0000', 'x'.repeat(5000)),
  fc.integer({ min: -1e6, max: 1e6 }),
  fc.double(),
);
/** Argument values that pass the schemas now and then, so that handlers run too. */
const plausibleValue = fc.oneof(
  fc.constantFrom('2026-09-01', '2026-09-30', '2026-12-31', 'subject', 'day', 'peer', 'status', '数学', 'teacher', 'QZ-AX-0312-R101'),
  fc.integer({ min: 0, max: 600 }),
);
const anyArgs = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...ARG_NAMES), fc.string({ maxLength: 10 })), fc.oneof(anyValue, plausibleValue, plausibleValue), { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
let counter = 0;
/** A payload as the platform (or anyone) might send it: raw bytes, any JSON, or a near-envelope. */
const anyPayload = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  {
    weight: 10,
    arbitrary: fc
      .record(
        {
          requestId: fc.oneof(
            { weight: 30, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
            { weight: 1, arbitrary: fc.constant('') },
            { weight: 1, arbitrary: fc.string({ minLength: 129, maxLength: 200 }) },
            { weight: 1, arbitrary: fc.integer() },
            { weight: 1, arbitrary: fc.constant(null) },
          ),
          expiresAt: fc.oneof(fc.constant('2026-09-07T10:00:00+08:00'), fc.constant('2026-09-07T12:00:00+08:00'), fc.string({ maxLength: 30 }), fc.integer()),
          args: anyArgs,
          extra: fc.option(anyValue, { freq: 10, nil: undefined }),
        },
        { requiredKeys: ['requestId'] },
      )
      .map((o) => {
        // Mostly fresh request ids (a repeat is its own case below), kept as the generator made
        // them when they are not plain strings.
        const body: Record<string, unknown> = { ...o };
        if (body.extra === undefined) delete body.extra;
        if (typeof o.requestId === 'string' && o.requestId.length >= 1 && o.requestId.length <= 100) body.requestId = `${o.requestId}#${++counter}`;
        return Buffer.from(JSON.stringify(body));
      }),
  },
);
const anyName = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...COMMANDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 70 }) });

function requestIdIn(payload: Buffer): string | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as { requestId?: unknown };
    return v && typeof v === 'object' && !Array.isArray(v) && typeof v.requestId === 'string' && v.requestId.length >= 1 && v.requestId.length <= 128 ? v.requestId : undefined;
  } catch {
    return undefined;
  }
}

describe('fuzz: commands through the dispatcher (real SQLite)', () => {
  it('every payload on every cmd/ topic: answered or reported, never thrown, never hung; rejected ones change nothing', async () => {
    const codes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(anyName, anyPayload, async (name, payload) => {
        const before = snapshot(rig.db);
        const eventsBefore = rig.db.prepare("SELECT count(*) FROM outbox WHERE kind = 'event'").pluck().get() as number;
        await within(rig.dispatcher.handle({ name, payload, responseTopic: 'platform/responses/x', correlationData: Buffer.from('c') }), 5000, `cmd/${name}`);
        const requestId = requestIdIn(payload);
        if (requestId === undefined) {
          // Cannot be answered: reported as an event naming the topic and what is wrong.
          const ev = JSON.parse(lastOutbox(rig.db, 'event')!.payload) as EventMessage;
          expect(rig.db.prepare("SELECT count(*) FROM outbox WHERE kind = 'event'").pluck().get()).toBe(eventsBefore + 1);
          expect(ev.type).toBe('command.rejected');
          expect(ev.message?.startsWith(`cmd/${name.slice(0, 64)}: `)).toBe(true);
          expect(contractProblems('event', ev)).toEqual([]);
          expect(snapshot(rig.db)).toBe(before);
          codes.set('(event)', (codes.get('(event)') ?? 0) + 1);
          return;
        }
        const stored = rig.db.prepare('SELECT reply FROM command_replies WHERE request_id = ?').pluck().get(requestId) as string | null;
        expect(stored, `a stored reply to ${requestId}`).toBeTruthy();
        const reply = JSON.parse(stored!) as ReplyMessage;
        expect(contractProblems('reply', reply)).toEqual([]);
        expect(reply.requestId).toBe(requestId);
        // Sent on `reply` and on the MQTT 5 response topic.
        expect(lastOutbox(rig.db, 'reply')!.key).toBe(requestId);
        if (!reply.ok) {
          codes.set(reply.error!.code, (codes.get(reply.error!.code) ?? 0) + 1);
          expect(ERROR_CODES).toContain(reply.error!.code);
          expect(reply.error!.message.length).toBeGreaterThan(0);
          // A bad request names the field (a JSON path such as /args/from).
          if (reply.error!.code === 'bad-request') expect(reply.error!.message).toMatch(/(^|\s|")\/[A-Za-z]*/);
          if (reply.error!.code === 'unknown-command') expect(COMMANDS).not.toContain(name);
          expect(reply.error!.code).not.toBe('internal');
          expect(snapshot(rig.db)).toBe(before);
        } else {
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
          expect(COMMANDS).toContain(name);
        }
      }),
      { numRuns: 3000, seed: 11092026 },
    );
    console.log(`fuzz command outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
    // The generators reach past the envelope into the handlers.
    expect(codes.get('bad-request')).toBeGreaterThan(50);
    expect(codes.get('ok') ?? 0).toBeGreaterThan(10);
  }, 120_000);

  it('a repeated requestId is answered again from the store, not run again', async () => {
    await fc.assert(
      fc.asyncProperty(anyName, anyPayload, async (name, payload) => {
        const requestId = requestIdIn(payload);
        await within(rig.dispatcher.handle({ name, payload }), 5000, `cmd/${name}`);
        if (!requestId) return;
        const first = rig.db.prepare('SELECT reply FROM command_replies WHERE request_id = ?').pluck().get(requestId) as string;
        const before = snapshot(rig.db);
        await within(rig.dispatcher.handle({ name, payload }), 5000, `cmd/${name} again`);
        expect(lastOutbox(rig.db, 'reply')!.payload).toBe(first);
        expect(snapshot(rig.db)).toBe(before);
      }),
      { numRuns: 300, seed: 12092026 },
    );
  }, 60_000);
});

describe('fuzz: the timetable topic (real SQLite)', () => {
  /** A valid timetable with one part replaced by something arbitrary. */
  const mutated = fc
    .tuple(
      fc.constantFrom('version', 'timezone', 'term', 'bells', 'entries', 'exceptions', 'term.start', 'bells.0.end', 'entries.0.id', 'entries.1.weekday', 'entries.0.peerRoomIds', 'entries.0.role', 'exceptions.0.date'),
      fc.oneof(anyValue, fc.constant(undefined)),
    )
    .map(([path, value]) => {
      const t = structuredClone(TIMETABLE) as unknown as Record<string, unknown>;
      const keys = path.split('.');
      let o: Record<string, unknown> = t;
      for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
      if (value === undefined) delete o[keys[keys.length - 1]!];
      else o[keys[keys.length - 1]!] = value;
      return Buffer.from(JSON.stringify(t));
    });
  const anyTimetable = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    mutated,
    mutated,
    mutated,
  );

  it('anything on the timetable topic: applied only when valid, else rejected with reasons and the stored one kept', () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(anyTimetable, (payload) => {
        const before = snapshot(rig.db);
        const kept = rig.timetables.current();
        const outcome = rig.receiver.handle(payload);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome === 'rejected') {
          expect(snapshot(rig.db)).toBe(before);
          expect(rig.timetables.current()).toEqual(kept);
          const ev = JSON.parse(lastOutbox(rig.db, 'event')!.payload) as EventMessage;
          expect(ev.type).toBe('timetable.rejected');
          expect(contractProblems('event', ev)).toEqual([]);
          const reasons = (ev.details as { reasons: string[] }).reasons;
          expect(reasons.length).toBeGreaterThan(0);
          expect(reasons.every((r) => r.length > 0)).toBe(true);
        } else if (outcome === 'applied') {
          expect(rig.timetables.current()!.version).toBe((JSON.parse(payload.toString('utf8')) as Timetable).version);
          // Back to the reference timetable for the next case.
          expect(rig.receiver.handle(Buffer.from(JSON.stringify(TIMETABLE)))).toBe('applied');
        } else {
          expect(snapshot(rig.db)).toBe(before);
        }
      }),
      { numRuns: 800, seed: 13092026 },
    );
    console.log(`fuzz timetable outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    expect(outcomes.get('rejected')).toBeGreaterThan(400);
  }, 60_000);
});

describe('fuzz: the config loader', () => {
  const base = testConfig('/var/lib/lectern', 'mqtt://127.0.0.1:1883', { deviceId: DEVICE }) as Record<string, unknown>;
  const mutatedConfig = fc
    .tuple(
      fc.constantFrom('deviceId', 'role', 'timezone', 'dataDir', 'logLevel', 'platform', 'platform.mqttUrl', 'platform.caFile', 'platform.keepaliveSec', 'platform.password', 'outbox', 'lessons', 'lessons.preRollSec', 'cameras', 'media', 'media.video', 'media.uplink', 'unknownKey'),
      fc.oneof(anyValue, fc.constant(undefined)),
    )
    .map(([path, value]) => {
      const c = structuredClone(base);
      const keys = path.split('.');
      let o: Record<string, unknown> = c;
      for (const k of keys.slice(0, -1)) {
        if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
        o = o[k] as Record<string, unknown>;
      }
      if (value === undefined) delete o[keys[keys.length - 1]!];
      else o[keys[keys.length - 1]!] = value;
      return c;
    });

  it('any JSON value as a config: a Config, or one ConfigError listing each problem with its path', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), mutatedConfig, mutatedConfig), (input) => {
        try {
          const config = validateConfigObject(input, 'fuzz config');
          expect(config.deviceId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/);
        } catch (e) {
          rejected++;
          expect(e).toBeInstanceOf(ConfigError);
          const problems = (e as ConfigError).problems;
          if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
            expect(problems.length).toBeGreaterThan(0);
            for (const p of problems) expect(p).toMatch(/^\//);
          }
        }
      }),
      { numRuns: 1000, seed: 14092026 },
    );
    expect(rejected).toBeGreaterThan(500);
  });

  it('any bytes as a config file: a Config, or a ConfigError naming the file (JSON errors with line and column)', () => {
    const file = join(dir.path, 'fuzz-config.json');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          mutatedConfig.map((c) => Buffer.from(JSON.stringify(c, null, 2))),
          mutatedConfig.map((c) => Buffer.from(JSON.stringify(c, null, 2).slice(0, -3))),
        ),
        (bytes) => {
          writeFileSync(file, bytes);
          try {
            loadConfig({ file });
          } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
            expect((e as Error).message).toContain(file);
            if (/not valid JSON/.test((e as Error).message) && bytes.length > 0) expect((e as Error).message).toMatch(/line \d+, column \d+|Unexpected end|Bad control|Unterminated|Unexpected token|position/);
          }
        },
      ),
      { numRuns: 400, seed: 15092026 },
    );
  });
});

describe('fuzz: a sample through a real broker to the built agent', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let platform: FakePlatform;
  const d = tempDir();
  beforeAll(async () => {
    broker = await startBroker();
    platform = new FakePlatform(broker.url);
    await platform.start();
  });
  afterAll(async () => {
    await platform.stop();
    await broker.cleanup();
    d.cleanup();
    expect(platform.invalid).toEqual([]);
  });

  it('120 arbitrary commands and 40 arbitrary timetables: each answered or reported; the agent stays up with its timetable', async () => {
    const proc = AgentProcess.withConfig(d.path, testConfig(join(d.path, 'data'), broker.url, { deviceId: DEVICE }));
    proc.start();
    try {
      const birth = await waitUntil(() => platform.payloads<StatusMessage>('status', DEVICE).find((s) => s.online), 'birth', 30_000);
      await platform.publishTimetable(DEVICE, TIMETABLE);
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied', 'timetable applied', 20_000);
      const cases = fc.sample(fc.tuple(anyName, anyPayload), { numRuns: 120, seed: 16092026 });
      const expectedReplies = new Set<string>();
      let expectedRejections = 0;
      for (const [name, payload] of cases) {
        // A topic level may not be empty or hold wildcards or NUL (such names cannot be
        // published), and the device subscribes to one level under cmd/.
        const topicName = [...name].map((ch) => ('#+/'.includes(ch) || ch === String.fromCharCode(0) ? '_' : ch)).join('') || '_';
        const id = requestIdIn(payload);
        if (id) expectedReplies.add(id);
        else expectedRejections++;
        await platform.command(DEVICE, topicName, payload);
      }
      const timetables = fc.sample(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)), fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? '1'))), { numRuns: 40, seed: 17092026 });
      for (const t of timetables) await platform.mqtt.publishAsync(`classroom/v1/${DEVICE}/timetable`, t, { qos: 1, retain: true });
      await waitUntil(
        () => {
          const got = new Set(platform.payloads<ReplyMessage>('reply', DEVICE).map((r) => r.requestId));
          return [...expectedReplies].every((id) => got.has(id));
        },
        'a reply to every request with a request id',
        60_000,
      );
      await waitUntil(
        () => platform.payloads<EventMessage>('events', DEVICE).filter((e) => e.type === 'command.rejected').length >= expectedRejections,
        'the command.rejected events',
        30_000,
      ).catch((e: unknown) => {
        console.log(expectedRejections, JSON.stringify(platform.payloads<EventMessage>('events', DEVICE).map((x) => x.type)), proc.output.slice(-3000));
        throw e;
      });
      await waitUntil(() => platform.payloads<EventMessage>('events', DEVICE).filter((e) => e.type === 'timetable.rejected').length >= 40, 'the timetable.rejected events', 30_000);
      // Still up, same boot, and still on the last good timetable.
      const health = await platform.reply<Health>(DEVICE, 'health.get', { requestId: 'after-fuzz' });
      expect(health.ok).toBe(true);
      expect(health.result!.bootId).toBe(birth.bootId);
      expect(health.result!.timetableVersion).toBe('fuzz-1');
      expect(proc.running).toBe(true);
      expect(platform.payloads<ReplyMessage>('reply', DEVICE).filter((r) => !r.ok && r.error!.code === 'internal')).toEqual([]);
      // Restore an empty retained timetable so the broker does not keep fuzz.
      await platform.mqtt.publishAsync(`classroom/v1/${DEVICE}/timetable`, '', { qos: 1, retain: true });
    } finally {
      await proc.stop();
    }
  }, 150_000);
});
