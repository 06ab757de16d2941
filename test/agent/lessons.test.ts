import { afterEach, describe, expect, it } from 'vitest';
import { openState, KeyValue, type Db } from '../../agent/state/db.js';
import { Outbox } from '../../agent/outbox.js';
import { Ledger } from '../../agent/ledger.js';
import { EventPublisher } from '../../agent/events.js';
import { TimetableStore } from '../../agent/timetable/store.js';
import { LessonLoop, type LessonLoopDeps } from '../../agent/lessons/loop.js';
import { CommandError } from '../../agent/commands.js';
import { silentLogger } from '../../agent/log.js';
import { isoInZone } from '../../agent/contract/time.js';
import type { EventMessage, LessonRecord, Timetable } from '../../agent/contract/types.js';
import { contractProblems } from '../support/contract.js';
import { ViscaSimulator } from '../../drivers/visca/simulator.js';
import { createCameras } from '../../drivers/visca/config.js';
import type { Camera } from '../../drivers/visca/camera.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { SrtReceiver, freeUdpPort, haveGst } from '../support/media.js';
import { DisplayLessonHooks } from '../../drivers/display/hooks.js';
import { DisplaySimulator } from '../../drivers/display/simulator.js';
import { nextLessonAfter } from '../../agent/timetable/resolve.js';
import { ptyRig } from '../drivers/display/helpers.js';
import { deviceCheck, encoderCheck, standardReadinessChecks, type CheckOutcome, type ReadinessCheck } from '../../agent/lessons/readiness.js';
import { resolveMediaConfig, type H264EncoderName, type MediaConfig } from '../../pipelines/config.js';
import dgram from 'node:dgram';
import { join } from 'node:path';

// The lesson lifecycle with an injected clock: real SQLite, ledger, outbox and events; the clock
// is stepped by hand. No cameras or pipelines here (their parts have their own suites).
const DEVICE = 'QZ-LES-0001-R201';
const ZONE = 'Asia/Shanghai';
const TIMETABLE: Timetable = {
  version: 'test-1',
  timezone: ZONE,
  term: { start: '2026-09-01', end: '2026-12-31' },
  bells: [
    { period: 1, start: '08:00', end: '08:40' },
    { period: 2, start: '08:50', end: '09:30' },
    { period: 3, start: '09:30', end: '10:10' },
  ],
  entries: [
    { id: 'mon-1-math', weekday: 1, period: 1, subject: '数学', role: 'lecture', preset: 1, peerRoomIds: ['QZ-AX-0312-R101'] },
    { id: 'mon-2-chinese', weekday: 1, period: 2, subject: '语文', role: 'lecture' },
    { id: 'mon-3-english', weekday: 1, period: 3, subject: '英语', role: 'listen' },
  ],
};
const at = (hhmmss: string): number => Date.parse(`2026-09-07T${hhmmss}+08:00`); // a Monday

interface Rig {
  db: Db;
  loop: LessonLoop;
  clock: { t: number; now: () => Date };
  dataDir: string;
}

const dirs: { cleanup: () => void }[] = [];
const open: Db[] = [];
const loops: LessonLoop[] = [];
afterEach(async () => {
  // Readiness checks run beside the loop; let them finish before their database closes.
  await Promise.all(loops.splice(0).map((l) => l.readinessSettled()));
  open.splice(0).forEach((db) => db.close());
  dirs.splice(0).forEach((d) => d.cleanup());
});

function rig(start: number, dataDir?: string, cameras: ReadonlyMap<string, Camera> = new Map(), extra: Partial<LessonLoopDeps> = {}): Rig {
  let dir = dataDir;
  if (!dir) {
    const d = tempDir();
    dirs.push(d);
    dir = d.path;
  }
  const db = openState({ dataDir: dir });
  open.push(db);
  const clock = { t: start, now: () => new Date(clock.t) };
  const outbox = new Outbox(db, silentLogger(), { window: 10, maxPendingEvents: 10_000 });
  const events = new EventPublisher({ bootId: `boot${Math.random().toString(16).slice(2, 10)}`, topic: `classroom/v1/${DEVICE}/events`, outbox, clock, timeZone: () => ZONE });
  const timetables = new TimetableStore(db);
  if (!timetables.current()) db.transaction(() => timetables.replace(TIMETABLE, JSON.stringify(TIMETABLE), isoInZone(new Date(start), ZONE)))();
  const loop = new LessonLoop({
    db,
    ledger: new Ledger(db, outbox, `classroom/v1/${DEVICE}/lessons`),
    events,
    timetables,
    clock,
    log: silentLogger(),
    cameras,
    linkConnected: () => true,
    clockSynced: async () => 'no',
    formatTs: (d) => isoInZone(d, ZONE),
    timeZone: () => ZONE,
    settings: { deviceId: DEVICE, role: 'both', effectiveThresholdPct: 80, preRollSec: 120, readinessLeadSec: 600, dataDir: dir, lessonBitrateKbps: 1 },
    ...extra,
  });
  loops.push(loop);
  return { db, loop, clock, dataDir: dir };
}

/**
 * Steps the clock to `until` in 5 s ticks (the agent ticks every second; 5 s is still lesson
 * time), then waits for the readiness checks started meanwhile to publish their results.
 */
async function run(r: Rig, until: number): Promise<void> {
  while (r.clock.t < until) {
    r.clock.t = Math.min(until, r.clock.t + 5000);
    await r.loop.tick();
    if (r.clock.t % 60_000 === 0) new KeyValue(r.db).set('lastAlive', new Date(r.clock.t).toISOString());
  }
  await r.loop.readinessSettled();
}

function outboxOf<T>(db: Db, kind: 'lesson' | 'event'): T[] {
  return (db.prepare('SELECT payload FROM outbox WHERE kind = ? ORDER BY id').pluck().all(kind) as string[]).map((p) => JSON.parse(p) as T);
}
const records = (db: Db): LessonRecord[] => outboxOf<LessonRecord>(db, 'lesson');
const events = (db: Db): EventMessage[] => outboxOf<EventMessage>(db, 'event');

function expectValid(recs: LessonRecord[]): void {
  for (const r of recs) expect(contractProblems('lesson-record', r), r.lessonId).toEqual([]);
}

describe('lesson lifecycle', () => {
  it('readiness check, pre-roll, live at the bell, one completed record at the end bell', async () => {
    const r = rig(at('07:45:00'));
    await run(r, at('07:50:05'));
    const readiness = events(r.db).filter((e) => e.type === 'lesson.readiness');
    expect(readiness).toHaveLength(1);
    expect(readiness[0]).toMatchObject({ lessonId: `${DEVICE}:mon-1-math:2026-09-07`, severity: 'warning' });
    const failures = (readiness[0]!.details as { failures: string[] }).failures.join('\n');
    expect(failures).toMatch(/media: no media settings/);
    expect(failures).toMatch(/clock: not synchronised/);
    expect(r.loop.readiness()).toMatchObject({ ready: false, lessonId: `${DEVICE}:mon-1-math:2026-09-07` });
    await run(r, at('07:58:30'));
    expect(r.loop.lessonNow()).toMatchObject({ state: 'preparing', subject: '数学', startedAt: '2026-09-07T08:00:00+08:00' });
    await run(r, at('08:00:00'));
    expect(r.loop.lessonNow()).toMatchObject({ state: 'live', lessonId: `${DEVICE}:mon-1-math:2026-09-07` });
    expect(events(r.db).filter((e) => e.type === 'lesson.started')).toHaveLength(1);
    expect(r.loop.readiness()).toBeNull();
    await run(r, at('08:40:00'));
    const recs = records(r.db);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({
      lessonId: `${DEVICE}:mon-1-math:2026-09-07`,
      entryId: 'mon-1-math',
      timetableVersion: 'test-1',
      status: 'completed',
      trigger: 'timetable',
      role: 'lecture',
      date: '2026-09-07',
      scheduledStart: '2026-09-07T08:00:00+08:00',
      scheduledEnd: '2026-09-07T08:40:00+08:00',
      actualStart: '2026-09-07T08:00:00+08:00',
      actualEnd: '2026-09-07T08:40:00+08:00',
      durationSec: 2400,
      peerRoomIds: ['QZ-AX-0312-R101'],
      interruptions: [],
      // Nothing streamed (no pipelines in this suite): counted, but not effective.
      streamUptimePct: 0,
      effective: false,
    });
    expectValid(recs);
    expect(r.loop.lessonNow()).toBeNull();
  });

  it('back-to-back bells: one ends and the next begins on the same instant, two records', async () => {
    const r = rig(at('08:49:00'));
    await run(r, at('10:10:00'));
    const recs = records(r.db);
    expect(recs.map((x) => [x.entryId, x.status, x.actualStart, x.actualEnd])).toEqual([
      ['mon-2-chinese', 'completed', '2026-09-07T08:50:00+08:00', '2026-09-07T09:30:00+08:00'],
      ['mon-3-english', 'completed', '2026-09-07T09:30:00+08:00', '2026-09-07T10:10:00+08:00'],
    ]);
    expect(recs[1]!.role).toBe('listen');
    expectValid(recs);
  });

  it('a restart mid-lesson continues the same lesson and lists the gap', async () => {
    const a = rig(at('07:59:00'));
    await run(a, at('08:10:00'));
    new KeyValue(a.db).set('lastAlive', new Date(at('08:10:00')).toISOString());
    // Killed here: no shutdown, no record. Back five minutes later.
    const b = rig(at('08:15:00'), a.dataDir);
    await b.loop.recover();
    expect(b.loop.lessonNow()).toMatchObject({ lessonId: `${DEVICE}:mon-1-math:2026-09-07`, state: 'live', startedAt: '2026-09-07T08:00:00+08:00' });
    await run(b, at('08:40:00'));
    const recs = records(b.db);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.interruptions).toEqual([{ from: '2026-09-07T08:10:00+08:00', to: '2026-09-07T08:15:00+08:00', reason: 'agent-restart' }]);
    expect(recs[0]!.durationSec).toBe(2100);
    expect(recs[0]!.status).toBe('completed');
    expectValid(recs);
  });

  it('a device off for a whole slot records it missed, and joins the lesson in progress', async () => {
    const a = rig(at('07:30:00'));
    new KeyValue(a.db).set('lastAlive', new Date(at('07:30:00')).toISOString());
    const b = rig(at('09:00:00'), a.dataDir);
    await b.loop.recover();
    await b.loop.tick();
    let recs = records(b.db);
    expect(recs.map((x) => [x.entryId, x.status, x.actualStart, x.durationSec])).toEqual([['mon-1-math', 'missed', null, 0]]);
    expect(b.loop.lessonNow()).toMatchObject({ lessonId: `${DEVICE}:mon-2-chinese:2026-09-07`, startedAt: '2026-09-07T09:00:00+08:00' });
    await run(b, at('09:30:00'));
    recs = records(b.db);
    expect(recs[1]).toMatchObject({ entryId: 'mon-2-chinese', status: 'completed', durationSec: 1800 });
    expectValid(recs);
  });

  it('a lesson whose slot ended while the agent was down is recorded interrupted, not started late', async () => {
    const a = rig(at('07:59:00'));
    await run(a, at('08:20:00'));
    new KeyValue(a.db).set('lastAlive', new Date(at('08:20:00')).toISOString());
    const b = rig(at('08:45:00'), a.dataDir);
    await b.loop.recover();
    await b.loop.tick();
    const recs = records(b.db);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ entryId: 'mon-1-math', status: 'interrupted', actualEnd: '2026-09-07T08:20:00+08:00', durationSec: 1200 });
    expect(recs[0]!.interruptions).toEqual([{ from: '2026-09-07T08:20:00+08:00', to: null, reason: 'agent-restart' }]);
    expect(b.loop.lessonNow()).toBeNull();
    expectValid(recs);
  });

  it('the clock jumping an hour forward and back neither double-counts nor repeats a lesson', async () => {
    const r = rig(at('07:59:00'));
    await run(r, at('08:10:00'));
    r.clock.t = at('09:10:00'); // NTP steps the clock forward
    await r.loop.tick();
    expect(r.loop.lessonNow()).toMatchObject({ lessonId: `${DEVICE}:mon-2-chinese:2026-09-07` });
    r.clock.t = at('08:15:00'); // and back again
    await r.loop.tick();
    await run(r, at('09:30:00'));
    const recs = records(r.db);
    expect(recs.map((x) => x.entryId)).toEqual(['mon-1-math', 'mon-2-chinese']);
    // The jumps themselves are not lesson time.
    expect(recs[0]!.durationSec).toBe(600);
    expect(recs[1]!.durationSec).toBeLessThanOrEqual(75 * 60);
    expectValid(recs);
  });

  it('platform start: live at the next tick, conflict while live, stop ends it with one record', async () => {
    const r = rig(at('11:00:00'));
    await r.loop.tick();
    const { lessonId } = r.loop.startNow({ subject: '科学', durationMin: 30, peerRoomIds: ['QZ-AX-0312-R101'] }, 'platform');
    expect(lessonId).toMatch(new RegExp(`^${DEVICE}:platform-110000:2026-09-07$`));
    await r.loop.tick(); // the agent's next round, within a second
    await run(r, at('11:05:00'));
    expect(r.loop.lessonNow()).toMatchObject({ lessonId, state: 'live', subject: '科学' });
    expect(() => r.loop.startNow({ subject: '美术' }, 'platform')).toThrow(CommandError);
    try {
      r.loop.startNow({ subject: '美术' }, 'platform');
    } catch (e) {
      expect((e as CommandError).code).toBe('conflict');
      expect((e as Error).message).toContain(lessonId);
    }
    expect(await r.loop.stopLesson(undefined)).toEqual({ lessonId, status: 'completed' });
    await run(r, at('11:10:00'));
    const recs = records(r.db);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ lessonId, trigger: 'platform', entryId: null, durationSec: 300, status: 'completed', scheduledEnd: '2026-09-07T11:30:00+08:00' });
    await expect(r.loop.stopLesson(undefined)).rejects.toMatchObject({ code: 'conflict' });
    expectValid(recs);
  });

  it('stopping a lesson before its bell cancels it: recorded cancelled, never started', async () => {
    const r = rig(at('07:55:00'));
    await r.loop.tick();
    expect(await r.loop.stopLesson(`${DEVICE}:mon-1-math:2026-09-07`)).toEqual({ lessonId: `${DEVICE}:mon-1-math:2026-09-07`, status: 'cancelled' });
    await run(r, at('08:30:00'));
    expect(r.loop.lessonNow()).toBeNull();
    const recs = records(r.db);
    expect(recs.map((x) => [x.entryId, x.status])).toEqual([['mon-1-math', 'cancelled']]);
    expect(events(r.db).filter((e) => e.type === 'lesson.started')).toHaveLength(0);
    expectValid(recs);
  });

  it('recalls the timetable entry’s preset on the main camera at pre-roll', async () => {
    const sim = new ViscaSimulator({ cameras: 1, moveSpeed: 8, bootMs: 100 });
    const port = await sim.listenUdp(0, '127.0.0.1');
    const [camera] = createCameras([{ id: 'teacher', transport: { type: 'visca-ip', host: '127.0.0.1', port } }]);
    try {
      await camera!.start();
      // Preset 1 (the entry's) looks at the blackboard; then someone points the camera away.
      await camera!.moveTo(0x0400, 0x0100);
      await camera!.presetSave(1);
      await camera!.moveTo(-0x0800, -0x0200);
      const r = rig(at('07:57:00'), undefined, new Map([['teacher', camera!]]));
      await run(r, at('07:57:50'));
      expect(sim.camera(1).position().pan).toBe(-0x0800); // not yet: pre-roll is 120 s
      await run(r, at('07:58:05'));
      await new Promise((res) => setTimeout(res, 100));
      expect(sim.camera(1).position()).toMatchObject({ pan: 0x0400, tilt: 0x0100 });
    } finally {
      await camera!.stop();
      await sim.close();
    }
  });
});

/** Whether something has bound this UDP port on loopback (binding it ourselves fails then). */
async function udpPortBound(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(true));
    s.bind(port, '127.0.0.1', () => resolve(false));
  });
  await new Promise<void>((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
  return bound;
}

describe('readiness checks before the lesson (real GStreamer, a real SRT listener)', () => {
  const LESSON = `${DEVICE}:mon-1-math:2026-09-07`;
  const haveSrt = haveGst('srtsrc', 'x264enc');
  const mediaFor = (port: number, dataDir: string): MediaConfig =>
    resolveMediaConfig(
      {
        video: { type: 'test' },
        audio: { type: 'test' },
        encoder: { preference: ['x264enc'] },
        uplink: { protocol: 'srt', urlTemplate: `srt://127.0.0.1:${port}?streamid=#!::r=live/{deviceId},m=publish` },
        recording: { dir: join(dataDir, 'recordings') },
      },
      'test media',
      DEVICE,
    );
  /** The agent's standard checks on this rig: no cameras, platform up, clock synchronised. */
  const standard = (media: MediaConfig, dataDir: string): ReadinessCheck[] =>
    standardReadinessChecks({ cameras: new Map(), linkConnected: () => true, clockSynced: async () => 'yes', dataDir, lessonBitrateKbps: 1, media, deviceId: DEVICE });
  const readinessEvents = (r: Rig): EventMessage[] => events(r.db).filter((e) => e.type === 'lesson.readiness');
  const failuresOf = (e: EventMessage | undefined): string[] => (e?.details as { failures: string[] } | undefined)?.failures ?? [];

  it.skipIf(!haveSrt)('media server listening and the encoder working: ready, all checks passed', async () => {
    const d = tempDir();
    dirs.push(d);
    const port = await freeUdpPort();
    const server = new SrtReceiver(port, join(d.path, 'received.ts'));
    server.start();
    try {
      await waitUntil(() => udpPortBound(port), 'the SRT listener bound its port');
      const r = rig(at('07:49:55'), d.path, new Map(), { readinessChecks: standard(mediaFor(port, d.path), d.path) });
      await run(r, at('07:50:05'));
      const ev = readinessEvents(r);
      expect(failuresOf(ev[0])).toEqual([]);
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ lessonId: LESSON, severity: 'info', message: 'ready: all 6 checks passed' });
      expect(r.loop.readiness()).toMatchObject({ lessonId: LESSON, ready: true, failures: [] });
      expect(server.running).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it.skipIf(!haveSrt)('no SRT listener at the uplink address: one failure naming the server, the port and the setting', async () => {
    const d = tempDir();
    dirs.push(d);
    // A listener that has come and gone: the port is surely free now.
    const port = await freeUdpPort();
    const server = new SrtReceiver(port, join(d.path, 'received.ts'));
    server.start();
    await waitUntil(() => udpPortBound(port), 'the SRT listener bound its port');
    await server.stop();
    await waitUntil(async () => !(await udpPortBound(port)), 'the SRT listener gone');
    const r = rig(at('07:49:55'), d.path, new Map(), { readinessChecks: standard(mediaFor(port, d.path), d.path) });
    await run(r, at('07:50:05'));
    const ev = readinessEvents(r);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ lessonId: LESSON, severity: 'warning', message: 'not ready: 1 of 6 checks failed' });
    const failures = failuresOf(ev[0]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(
      new RegExp(
        `^media server 127\\.0\\.0\\.1:${port} \\(SRT\\): (nothing listens there|no SRT answer within [\\d.]+ s).*; check that the media server is up, that UDP port ${port} is open on the way, and media\\.uplink\\.urlTemplate$`,
      ),
    );
    expect(failures[0]!.length).toBeLessThanOrEqual(300);
    expect(r.loop.readiness()).toMatchObject({ ready: false, failures });
  });

  it('an encoder element that does not exist is named; the configured preference falls back to x264enc as the pipelines do', async () => {
    const r = rig(at('07:49:55'), undefined, new Map(), {
      readinessChecks: [
        encoderCheck({ preference: ['nosuchh264enc' as H264EncoderName], fallback: false }),
        // A hardware encoder first, as a kit's config lists it: here it is absent or works.
        encoderCheck({ preference: ['vaapih264enc'] }),
      ],
    });
    await run(r, at('07:50:05'));
    const ev = readinessEvents(r);
    expect(ev[0]).toMatchObject({ severity: 'warning', message: 'not ready: 1 of 2 checks failed' });
    expect(failuresOf(ev[0])).toEqual([
      'encoder: no H.264 encoder works, so the lesson can be neither streamed nor recorded (nosuchh264enc is not installed); check the GStreamer plugins and drivers (provisioning/bootstrap.sh) and media.encoder.preference',
    ]);
  });

  it('a slow check delays only its own result: the lesson starts on time; an overrun is reported and the check told to stop', async () => {
    let release!: (outcome: CheckOutcome) => void;
    let hungAborted = false;
    const slow: ReadinessCheck = { name: 'display', timeoutMs: 120_000, run: () => new Promise((resolve) => (release = resolve)) };
    const hung: ReadinessCheck = {
      name: 'microphone',
      timeoutMs: 1000,
      run: ({ signal }) =>
        new Promise(() => {
          signal.addEventListener('abort', () => (hungAborted = true));
        }),
    };
    const r = rig(at('07:49:55'), undefined, new Map(), { readinessChecks: [slow, hung] });
    // The work loop's rounds go on while the checks run (run() would wait for them: tick by hand).
    while (r.clock.t < at('08:00:05')) {
      r.clock.t += 5000;
      await r.loop.tick();
    }
    expect(r.loop.lessonNow()).toMatchObject({ lessonId: LESSON, state: 'live' });
    expect(readinessEvents(r)).toEqual([]);
    release(['display: no answer on its serial port; check the RS-232 cable']);
    await r.loop.readinessSettled();
    const ev = readinessEvents(r);
    expect(ev).toHaveLength(1);
    expect(failuresOf(ev[0])).toEqual(['display: no answer on its serial port; check the RS-232 cable', 'microphone: no result within 1 s; the check was abandoned']);
    expect(hungAborted).toBe(true);
    // Published, but the heartbeat no longer shows it: the lesson is live.
    expect(r.loop.readiness()).toBeNull();
  });
});

describe('the room display through the lesson loop (real driver, simulated panel on a pty)', () => {
  it('powers on and selects the lesson input at pre-roll; powers off after the last lesson of the day', async () => {
    const panel = await ptyRig({ profile: 'samsung-mdc', id: 1, power: 'off', input: 'dp' }, { lessonInput: 'hdmi1' });
    try {
      await panel.display.start();
      // Monday's timetable: periods 1-3 back to back; period 3 (09:30-10:10) is the day's last.
      const hooks = new DisplayLessonHooks({
        display: panel.display,
        lessonInput: 'hdmi1',
        powerOffAfterLastLesson: true,
        nextLessonStart: (after) => nextLessonAfter(TIMETABLE, after, DEVICE)?.start,
        timeZone: () => ZONE,
      });
      const r = rig(at('07:57:00'), undefined, new Map(), { roomHooks: hooks });
      const hdmi1 = new DisplaySimulator({ profile: 'samsung-mdc', input: 'hdmi1' }).inputCode;
      await run(r, at('07:58:05'));
      await waitUntil(() => panel.sim.power === 'on' && panel.sim.inputCode === hdmi1, 'the panel on, on the lesson input', 20_000);
      // After the first lesson another follows: the panel stays on.
      await run(r, at('08:41:00'));
      await new Promise((res) => setTimeout(res, 500));
      expect(panel.sim.power).toBe('on');
      await run(r, at('10:11:00'));
      await waitUntil(() => panel.sim.power === 'off', 'the panel off after the last lesson', 20_000);
      expect(records(r.db).map((x) => x.entryId)).toEqual(['mon-1-math', 'mon-2-chinese', 'mon-3-english']);
      hooks.close();
    } finally {
      await panel.close();
    }
  });

  it('the readiness check fails for a display that does not answer and for a silent microphone, naming the fix', async () => {
    const check = deviceCheck('display', { health: () => ({ kind: 'display', id: 'panel', status: 'fault', detail: 'no reply' }) }, 'check its power');
    expect(await check.run({ signal: new AbortController().signal, lesson: undefined as never })).toEqual(['display panel: fault (no reply); check its power']);
    const ok = deviceCheck('display', { health: () => ({ kind: 'display', id: 'panel', status: 'degraded' }) }, 'x');
    expect(await ok.run({ signal: new AbortController().signal, lesson: undefined as never })).toEqual([]);
    const mic = deviceCheck('microphone', { health: () => ({ kind: 'microphone', id: 'array', status: 'degraded', detail: 'silent during the lesson' }) }, 'check the mute switch');
    expect(await mic.run({ signal: new AbortController().signal, lesson: undefined as never })).toEqual(['microphone array: degraded (silent during the lesson); check the mute switch']);
  });
});
