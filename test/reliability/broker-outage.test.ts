import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EventMessage, Health, LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, CLI, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { SrtServer, freeUdpPort, haveGst, testMediaInput } from '../support/media.js';

// The platform's broker goes away in the middle of a lesson and stays away past the lesson's end
// (OUTAGE_SEC; "several minutes" on a real kit, scaled down so the suite stays short: what matters
// is that the lesson ends, and a second one is run and recorded, while it is down). Then the
// broker comes back on the same port with its persisted sessions. Nothing the device produced
// meanwhile may be lost, the backlog drains, and heartbeats go on with the same bootId and the
// next seq (the contract: seq starts at 1 per bootId and grows by 1 per heartbeat; heartbeats are
// not queued while offline).
const DEVICE = 'QZ-BRK-0001-R201';
const OUTAGE_SEC = 75;
const execFileAsync = promisify(execFile);

let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

type Heartbeat = Health & { seq: number };

interface Arrival<T> {
  at: number;
  payload: T;
}

describe.skipIf(!haveGst('srtsink', 'x264enc', 'shmsink', 'splitmuxsink'))('the broker goes down mid-lesson', () => {
  it(`for ${OUTAGE_SEC} s, through the lesson's end: nothing lost, backlog drains, heartbeat seq continues`, async () => {
    const srtPort = await freeUdpPort();
    const server = new SrtServer(srtPort, join(dir.path, 'received.ts'));
    server.start();
    const dataDir = join(dir.path, 'data');
    const proc = AgentProcess.withConfig(
      dir.path,
      testConfig(dataDir, broker.url, {
        deviceId: DEVICE,
        media: testMediaInput({
          uplink: { urlTemplate: `srt://127.0.0.1:${srtPort}?streamid=#!::r=live/{deviceId},m=publish` },
          recording: { segmentSec: 5 },
        }),
      }),
    );
    // Arrival times of what the platform gets (the FakePlatform keeps payloads in order).
    const arrivals: Arrival<{ subtopic: string; payload: unknown }>[] = [];
    const onMessage = (topic: string, payload: Buffer): void => {
      const sub = /^classroom\/v1\/[^/]+\/(.+)$/.exec(topic)?.[1] ?? topic;
      let value: unknown;
      try {
        value = JSON.parse(payload.toString('utf8'));
      } catch {
        value = undefined;
      }
      arrivals.push({ at: Date.now(), payload: { subtopic: sub, payload: value } });
    };
    platform.mqtt.on('message', onMessage);
    proc.start();
    let downAt = 0;
    let upAt = 0;
    try {
      const birth = await waitUntil(() => platform.payloads<StatusMessage>('status', DEVICE).find((s) => s.online), 'birth', 30_000);
      const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId: 'outage-1', args: { subject: '数学', durationMin: 1 } });
      expect(started.ok, JSON.stringify(started)).toBe(true);
      const first = started.result!.lessonId;
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === first, 'lesson.started', 30_000);
      await waitUntil(() => platform.payloads<Heartbeat>('heartbeat', DEVICE).length >= 2, 'two heartbeats', 30_000);
      await new Promise((r) => setTimeout(r, 5000));

      // Down: a service stop (its sessions and queued messages are saved to disk).
      await broker.stop();
      downAt = Date.now();
      // The lesson ends on its own while the broker is away, and a technician runs a short lesson
      // on the kit meanwhile (through the local control socket, which needs no platform).
      await waitUntil(async () => (await lessonState(dataDir)) === null, 'the first lesson to end offline', 90_000);
      const second = await lectern(['lesson', 'start', '--subject', '科学', '--duration', '5', '--json', '--data-dir', dataDir]);
      const secondId = (JSON.parse(second) as { lessonId: string }).lessonId;
      await new Promise((r) => setTimeout(r, 8000));
      await lectern(['lesson', 'stop', '--json', '--data-dir', dataDir]);
      const pendingOffline = countPending(dataDir);
      const remaining = OUTAGE_SEC * 1000 - (Date.now() - downAt);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
      expect(arrivals.filter((a) => a.at > downAt + 1000 && a.at < Date.now())).toEqual([]);

      // Back on the same port.
      await broker.start();
      upAt = Date.now();
      const records = await waitUntil(
        () => {
          const got = platform.payloads<LessonRecord>('lessons', DEVICE);
          const a = got.find((r) => r.lessonId === first);
          const b = got.find((r) => r.lessonId === secondId);
          return a && b ? { a, b } : undefined;
        },
        'both lesson records after the outage',
        60_000,
      );
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === secondId, 'the offline lesson.started', 30_000);
      const drained = await waitUntil(() => (countPending(dataDir) === 0 ? Date.now() : undefined), 'the outbox to drain', 30_000);
      await waitUntil(() => arrivals.filter((a) => a.payload.subtopic === 'heartbeat' && a.at >= upAt).length >= 3, 'heartbeats after the outage', 40_000);

      expect(records.a).toMatchObject({ status: 'completed', trigger: 'platform', subject: '数学' });
      expect(records.b).toMatchObject({ status: 'completed', trigger: 'manual', subject: '科学' });
      expect(records.a.durationSec).toBeGreaterThanOrEqual(55);
      expect(records.a.durationSec).toBeLessThanOrEqual(65);
      // The broker is the platform's, not the stream's: the recording and stream went on.
      expect(records.a.recording.segments).toBeGreaterThanOrEqual(10);
      expect(records.a.streamUptimePct).toBeGreaterThan(70);

      // Heartbeats: one boot, seq 1, 2, 3… in arrival order; none sent or queued while down; on
      // return the newest only, not a burst.
      const beats = arrivals.filter((a) => a.payload.subtopic === 'heartbeat').map((a) => ({ at: a.at, hb: a.payload.payload as Heartbeat }));
      expect(new Set(beats.map((b) => b.hb.bootId))).toEqual(new Set([birth.bootId]));
      const seqs = beats.map((b) => b.hb.seq);
      const before = beats.filter((b) => b.at < downAt);
      const after = beats.filter((b) => b.at >= upAt);
      expect(seqs[0]).toBe(1);
      for (let i = 1; i < seqs.length; i++) {
        // QoS 0: the one heartbeat on the wire as the broker went down may be lost; the device
        // itself never skips a number.
        const step = seqs[i]! - seqs[i - 1]!;
        if (i === before.length) expect([1, 2]).toContain(step);
        else expect(step, `seq ${seqs[i - 1]} → ${seqs[i]}`).toBe(1);
      }
      expect(after.filter((b) => b.at < upAt + 3000).length).toBeLessThanOrEqual(2);
      const lastHb = after[after.length - 1]!.hb;
      expect(lastHb.outbox.pending).toBe(0);

      // Duplicates (at-least-once) are the same message again, never a different one.
      const events = platform.payloads<EventMessage>('events', DEVICE);
      const byEventId = new Map<string, string>();
      for (const s of platform.of('events', DEVICE)) {
        const id = (s.payload as EventMessage).eventId;
        if (byEventId.has(id)) expect(s.raw).toBe(byEventId.get(id));
        byEventId.set(id, s.raw);
      }
      const figures = {
        outageSec: Math.round((upAt - downAt) / 1000),
        pendingWhileOffline: pendingOffline,
        drainMs: drained - upAt,
        events: events.length,
        duplicateEvents: events.length - byEventId.size,
        lessonRecords: platform.payloads<LessonRecord>('lessons', DEVICE).length,
        heartbeatsBefore: before.length,
        heartbeatsAfter: after.length,
        seqAcross: `${before[before.length - 1]?.hb.seq} → ${after[0]?.hb.seq}`,
      };
      console.log(`broker-outage figures: ${JSON.stringify(figures)}`);
      expect(pendingOffline).toBeGreaterThanOrEqual(3);
    } finally {
      platform.mqtt.removeListener('message', onMessage);
      if (!broker.running) await broker.start();
      await proc.stop();
      await server.stop();
    }
  }, 240_000);
});

async function lectern(args: string[]): Promise<string> {
  try {
    const r = await execFileAsync(process.execPath, [CLI, ...args], { timeout: 40_000 });
    return r.stdout;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`lectern ${args.join(' ')} failed: ${x.message}\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

/** The lesson the agent keeps as live in its state (null when none). */
async function lessonState(dataDir: string): Promise<string | null> {
  const db = new Database(join(dataDir, 'lectern.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT lesson FROM lesson_state WHERE id = 1').get() as { lesson: string } | undefined;
    return row ? row.lesson : null;
  } finally {
    db.close();
  }
}

/** Messages in the device's outbox not yet acknowledged by the broker. */
function countPending(dataDir: string): number {
  const db = new Database(join(dataDir, 'lectern.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) FROM outbox').pluck().get() as number) ?? 0;
  } finally {
    db.close();
  }
}
