import { uptime } from 'node:os';
import type { Db } from '../state/db.js';
import { KeyValue } from '../state/db.js';
import type { Ledger } from '../ledger.js';
import type { EventPublisher } from '../events.js';
import type { TimetableStore } from '../timetable/store.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Camera } from '../../drivers/visca/camera.js';
import type { Interruption, LessonNow, LessonRecord, LessonStatus, Readiness, StreamNow } from '../contract/types.js';
import { localDate } from '../contract/time.js';
import { CommandError } from '../commands.js';
import { errorMessage } from '../errors.js';
import { canStart, missedBetween, planRoom, type ManualStart, type ManualStop, type PlannedLesson, type RoomPlan } from '../timetable/plan.js';
import { NO_RECORDING, type LessonMedia, type MediaSession, type RecordingSummary } from './media.js';
import { runReadinessChecks, standardReadinessChecks, type ReadinessCheck } from './readiness.js';

export interface LessonLoopSettings {
  deviceId: string;
  /** The device's role; a manual lesson on a `both` device is a lecture. */
  role: 'lecture' | 'listen' | 'both';
  effectiveThresholdPct: number;
  preRollSec: number;
  readinessLeadSec: number;
  dataDir: string;
  /** Uplink bitrate assumed when checking that the disk holds a lesson. */
  lessonBitrateKbps: number;
}

export interface LessonLoopDeps {
  db: Db;
  ledger: Ledger;
  events: EventPublisher;
  timetables: TimetableStore;
  clock: Clock;
  log: Logger;
  cameras: ReadonlyMap<string, Camera>;
  /** The pipelines; absent until the media part is configured (lessons then run unrecorded). */
  media?: LessonMedia;
  /** The recording cache: told when a lesson's recording is final; checks the disk holds a lesson. */
  recordings?: LessonRecordings;
  linkConnected(): boolean;
  /** Whether the system clock is NTP-synchronised; 'unknown' where that cannot be told. */
  clockSynced(): Promise<'yes' | 'no' | 'unknown'>;
  formatTs(d: Date): string;
  timeZone(): string;
  settings: LessonLoopSettings;
  /**
   * The pre-lesson checks (see readiness.ts); by default the standard ones this loop's own
   * dependencies allow (no encoder or media server checks without the media settings).
   */
  readinessChecks?: readonly ReadinessCheck[];
  /** The room's other devices (the display): told at pre-roll and after each lesson. */
  roomHooks?: RoomHooks;
}

/**
 * What the loop tells the room's devices beyond cameras and media: the display powers on and
 * selects the lesson input at pre-roll, and powers off after the day's last lesson. Neither may
 * reject; both may take seconds (a panel booting), so the loop never waits for them.
 */
export interface RoomHooks {
  preRoll(lessonId: string): Promise<unknown>;
  lessonEnded(lessonId: string, end: Date): Promise<unknown>;
}

/** What the lesson loop tells the recording cache and uploader. */
export interface LessonRecordings {
  /**
   * The lesson has ended and its pipelines are stopped: its segments are final. Returns the
   * whole lesson's recording as cached (undefined when the lesson recorded nothing).
   */
  lessonEnded(lessonId: string): Promise<RecordingSummary | undefined>;
}

/** The lesson the room is live with, as kept in SQLite so that a restart continues it. */
interface Current {
  lesson: PlannedLesson;
  actualStart: Date;
  interruptions: Interruption[];
  /** Live time counted so far (restarts and outages of the agent excluded). */
  liveMs: number;
  /** Stream-up time of earlier sessions of this lesson (before a restart). */
  streamUpBaseMs: number;
  session?: MediaSession;
  lastTick: number;
}

/** A counted tick longer than this is a clock step or a stall, not lesson time. */
const MAX_TICK_MS = 5000;
/** How long after its end a slot the clock stepped over is recorded missed (see sweepSkipped). */
const SKIP_GRACE_MS = 2 * 3_600_000;
const SKIPPED_KEY = 'lessonsSkippedByClock';

/**
 * The lesson loop: desired state from the planner (timetable, clock, manual and platform
 * overrides, finished lessons), applied one step at a time: readiness check before the bell,
 * camera preset at pre-roll, pipelines while live, and exactly one final class-hour record per
 * lesson, written with its outbox message in one transaction. The lesson in progress is kept in
 * SQLite: an agent restarted mid-lesson continues it under the same lessonId and lists the gap
 * in `interruptions`; slots the device was away for entirely are recorded `missed`.
 */
export class LessonLoop {
  private current: Current | undefined;
  private plan: RoomPlan = { kind: 'idle' };
  private readonly prepared = new Set<string>();
  private readonly checked = new Set<string>();
  private lastReadiness: Readiness | null = null;
  private readonly readinessChecks: readonly ReadinessCheck[];
  /** Readiness checks under way (they run beside the work loop, not in it). */
  private readonly readinessRuns = new Set<{ done: Promise<void>; abort: AbortController }>();
  private running = false;
  /** The lesson whose pipelines are being stopped and record written. */
  private stopping: PlannedLesson | undefined;
  private readonly kv: KeyValue;
  /** The clock at the last round (a step between rounds may skip whole slots). */
  private lastStepAt: Date | undefined;
  /** Lessons whose whole slot a clock step skipped, waiting for their grace to pass. */
  private skipped = new Map<string, PlannedLesson>();
  /** Set by shutdown(): what the stopping pipelines still report is no longer recorded. */
  private shuttingDown = false;

  constructor(private readonly deps: LessonLoopDeps) {
    this.kv = new KeyValue(deps.db);
    this.readinessChecks =
      deps.readinessChecks ??
      standardReadinessChecks({
        cameras: deps.cameras,
        linkConnected: () => deps.linkConnected(),
        clockSynced: () => deps.clockSynced(),
        dataDir: deps.settings.dataDir,
        lessonBitrateKbps: deps.settings.lessonBitrateKbps,
        mediaConfigured: deps.media !== undefined,
        deviceId: deps.settings.deviceId,
      });
  }

  // ---------------------------------------------------------------------------------------------
  // Start-up: continue what the last run left.

  /** Picks up the lesson a previous run left live, and records the slots missed meanwhile. */
  async recover(): Promise<void> {
    const now = this.deps.clock.now();
    const lastAliveText = this.kv.get('lastAlive');
    const lastAlive = lastAliveText ? new Date(lastAliveText) : undefined;
    // The machine booted after the agent was last alive: the power went (or it was rebooted).
    const reason: Interruption['reason'] =
      lastAlive && now.getTime() - uptime() * 1000 > lastAlive.getTime() ? 'power-loss' : 'agent-restart';
    const row = this.deps.db.prepare('SELECT lesson, actual_start, interruptions, live_ms, stream_up_ms, updated_at FROM lesson_state WHERE id = 1').get() as
      | { lesson: string; actual_start: string; interruptions: string; live_ms: number; stream_up_ms: number; updated_at: string }
      | undefined;
    if (row) {
      const lesson = reviveLesson(row.lesson);
      const current: Current = {
        lesson,
        actualStart: new Date(row.actual_start),
        interruptions: JSON.parse(row.interruptions) as Interruption[],
        liveMs: row.live_ms,
        streamUpBaseMs: row.stream_up_ms,
        lastTick: now.getTime(),
      };
      // The lesson's state is saved every round: its last save is when the lesson was last live.
      const saved = new Date(row.updated_at);
      const gapFrom = saved > current.actualStart ? saved : current.actualStart;
      // A stream outage open when the agent went away ended with its pipelines.
      this.closeUplinkOutage(current, gapFrom);
      if (now < lesson.end && !this.stoppedIds().has(lesson.lessonId)) {
        current.interruptions.push({ from: this.deps.formatTs(gapFrom), to: this.deps.formatTs(now), reason });
        this.current = current;
        this.persist();
        this.deps.log.warn({ lessonId: lesson.lessonId, reason, gapFrom }, 'continuing the lesson that was live before the restart');
        await this.startMedia(current);
      } else {
        // The slot ended while the agent was away: the lesson ended with it, interrupted.
        current.interruptions.push({ from: this.deps.formatTs(gapFrom), to: null, reason });
        this.current = current;
        await this.finish('interrupted', gapFrom);
      }
    }
    const timetable = this.deps.timetables.current()?.timetable ?? null;
    if (lastAlive && timetable) {
      for (const lesson of missedBetween(timetable, lastAlive, now, this.deps.settings.deviceId, this.finishedIds(now))) {
        this.deps.log.warn({ lessonId: lesson.lessonId }, 'lesson missed: the device was off for its whole slot');
        this.deps.ledger.record(this.record(lesson, 'missed', null, null, 0, 0, [], NO_RECORDING), this.deps.formatTs(now));
      }
    }
    // Slots a clock step skipped in the last run are still waited on (see sweepSkipped()).
    this.skipped = new Map(parseSkipped(this.kv.get(SKIPPED_KEY)).map((l) => [l.lessonId, l]));
  }

  /**
   * A lesson whose whole slot the wall clock stepped over while the agent was running (an NTP
   * step forward, or the machine frozen) never became live. It is noted at the step and
   * recorded `missed` once its end is SKIP_GRACE_MS in the past; until then a clock that steps
   * back again (a wrong step corrected) runs it in its slot as usual, and it is dropped from the
   * list once it has a record. The list is kept in the state, so a restart does not lose it.
   */
  private sweepSkipped(now: Date, previous: Date | undefined): void {
    let changed = false;
    if (previous && now.getTime() - previous.getTime() > MAX_TICK_MS) {
      const timetable = this.deps.timetables.current()?.timetable ?? null;
      for (const lesson of missedBetween(timetable, previous, now, this.deps.settings.deviceId, this.finishedIds(now))) {
        if (this.skipped.has(lesson.lessonId)) continue;
        this.deps.log.warn({ lessonId: lesson.lessonId, from: previous, to: now }, 'the clock stepped over a lesson\'s whole slot');
        this.skipped.set(lesson.lessonId, lesson);
        changed = true;
      }
    }
    if (this.skipped.size) {
      const finished = this.finishedIds(now);
      const stopped = this.stoppedIds();
      for (const lesson of [...this.skipped.values()]) {
        if (finished.has(lesson.lessonId) || stopped.has(lesson.lessonId) || this.current?.lesson.lessonId === lesson.lessonId) {
          this.skipped.delete(lesson.lessonId);
          changed = true;
        } else if (now.getTime() - lesson.end.getTime() >= SKIP_GRACE_MS) {
          this.deps.log.warn({ lessonId: lesson.lessonId }, 'lesson missed: the clock stepped over its whole slot');
          this.deps.ledger.record(this.record(lesson, 'missed', null, null, 0, 0, [], NO_RECORDING), this.deps.formatTs(now));
          this.skipped.delete(lesson.lessonId);
          changed = true;
        }
      }
    }
    if (changed) this.kv.set(SKIPPED_KEY, JSON.stringify([...this.skipped.values()]));
  }

  // ---------------------------------------------------------------------------------------------
  // The reconciler, one step per tick.

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.step();
    } finally {
      this.running = false;
    }
  }

  private async step(): Promise<void> {
    const now = this.deps.clock.now();
    const previous = this.lastStepAt;
    this.lastStepAt = now;
    this.count(now);
    const plan = this.computePlan(now);
    this.plan = plan;
    const cur = this.current;
    if (plan.kind === 'live') {
      if (cur && cur.lesson.lessonId !== plan.lesson.lessonId) await this.finish(this.endStatus(cur), now);
      if (!this.current) await this.begin(plan.lesson, now);
      this.sweepSkipped(now, previous);
      return;
    }
    if (cur) await this.finish(this.endStatus(cur), now);
    this.sweepSkipped(now, previous);
    if (plan.kind === 'readiness-check' || plan.kind === 'preparing') this.check(plan.lesson);
    if (plan.kind === 'preparing') await this.prepare(plan.lesson);
  }

  private computePlan(now: Date): RoomPlan {
    const cur = this.current;
    return planRoom({
      now,
      timetable: this.deps.timetables.current()?.timetable ?? null,
      deviceId: this.deps.settings.deviceId,
      settings: { preRollSec: this.deps.settings.preRollSec, readinessLeadSec: this.deps.settings.readinessLeadSec },
      overrides: this.overrides(),
      finished: this.finishedIds(now),
      running: cur && cur.lesson.trigger === 'timetable' ? cur.lesson : null,
    });
  }

  /** Adds the time since the last tick to the live lesson (bounded: a clock step is not lesson time). */
  private count(now: Date): void {
    const cur = this.current;
    if (!cur) return;
    const delta = now.getTime() - cur.lastTick;
    cur.lastTick = now.getTime();
    if (delta > 0 && delta <= MAX_TICK_MS) cur.liveMs += delta;
    this.persist();
  }

  private async begin(lesson: PlannedLesson, now: Date): Promise<void> {
    const current: Current = { lesson, actualStart: now, interruptions: [], liveMs: 0, streamUpBaseMs: 0, lastTick: now.getTime() };
    this.current = current;
    this.persist();
    this.deps.log.info({ lessonId: lesson.lessonId, subject: lesson.subject, trigger: lesson.trigger }, 'lesson started');
    this.deps.events.emit({
      type: 'lesson.started',
      severity: 'info',
      lessonId: lesson.lessonId,
      message: `${lesson.subject} started (${lesson.trigger})`,
      details: { subject: lesson.subject, trigger: lesson.trigger, peerRoomIds: lesson.peerRoomIds },
    });
    this.lastReadiness = null;
    await this.prepare(lesson);
    await this.startMedia(current);
  }

  private async startMedia(current: Current): Promise<void> {
    if (!this.deps.media) return;
    try {
      const session = await this.deps.media.start({
        lessonId: current.lesson.lessonId,
        role: this.roleOf(current.lesson),
        peerRoomIds: current.lesson.peerRoomIds,
        onUplink: (change) => this.uplinkChanged(current, change),
      });
      if (this.current !== current || this.shuttingDown) {
        // The lesson ended (lesson.stop) or the agent began to stop while its pipelines were
        // starting: nothing owns them now, so they are stopped again at once.
        this.deps.log.warn({ lessonId: current.lesson.lessonId }, 'lesson ended while its pipelines were starting; stopping them');
        await session.stop().catch((e: unknown) => this.deps.log.warn({ err: errorMessage(e) }, 'pipelines did not stop cleanly'));
        return;
      }
      current.session = session;
    } catch (e) {
      // The lesson goes on (and is counted); the stream's absence shows in its uptime.
      this.deps.log.error({ err: e, lessonId: current.lesson.lessonId }, 'lesson pipelines did not start');
      current.interruptions.push({ from: this.deps.formatTs(this.deps.clock.now()), to: null, reason: 'encoder-fault' });
    }
  }

  /**
   * The stream to the media server went down or came back: an outage is listed in the record's
   * `interruptions` as `uplink-down` (the recording goes on; the outage also shows in
   * `streamUptimePct`). Kept in the lesson state at the next save, so a restart keeps it.
   */
  private uplinkChanged(current: Current, change: { up: boolean; at: Date }): void {
    if (this.current !== current || this.shuttingDown) return;
    const open = current.interruptions.find((i) => i.reason === 'uplink-down' && i.to === null);
    if (!change.up && !open) {
      current.interruptions.push({ from: this.deps.formatTs(change.at), to: null, reason: 'uplink-down' });
    } else if (change.up && open) {
      open.to = this.deps.formatTs(change.at);
    }
    this.persist();
  }

  /** An outage still open when the session ends (lesson end, agent gone) ends with it. */
  private closeUplinkOutage(current: Current, at: Date): void {
    for (const i of current.interruptions) {
      if (i.reason === 'uplink-down' && i.to === null) i.to = this.deps.formatTs(at);
    }
  }

  /** Recalls the lesson's camera preset once, before the bell (the first camera is the main one). */
  private async prepare(lesson: PlannedLesson): Promise<void> {
    if (this.prepared.has(lesson.lessonId)) return;
    this.prepared.add(lesson.lessonId);
    this.deps.roomHooks?.preRoll(lesson.lessonId).catch((e: unknown) => this.deps.log.warn({ err: e, lessonId: lesson.lessonId }, 'room pre-roll failed'));
    const camera = this.deps.cameras.values().next().value;
    if (lesson.preset === undefined || !camera) return;
    try {
      await camera.presetRecall(lesson.preset);
      this.deps.log.info({ lessonId: lesson.lessonId, camera: camera.id, preset: lesson.preset }, 'camera preset recalled');
    } catch (e) {
      this.deps.log.warn({ err: e, camera: camera.id, preset: lesson.preset }, 'camera preset not recalled');
    }
  }

  private endStatus(cur: Current): LessonStatus {
    // Ended by its bell or by a stop: it took place. Only the agent's own absence across the
    // end of the slot makes it `interrupted` (see recover()).
    return cur.liveMs > 0 || cur.session ? 'completed' : 'cancelled';
  }

  private async finish(status: LessonStatus, end: Date): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    this.stopping = cur.lesson;
    try {
      await this.writeFinal(cur, status, end);
    } finally {
      this.stopping = undefined;
    }
  }

  private async writeFinal(cur: Current, status: LessonStatus, end: Date): Promise<void> {
    let recording = NO_RECORDING;
    let streamUpMs = cur.streamUpBaseMs;
    if (cur.session) {
      streamUpMs += cur.session.streamUpMs();
      recording = await cur.session.stop().catch((e: unknown) => {
        this.deps.log.error({ err: e, lessonId: cur.lesson.lessonId }, 'lesson pipelines did not stop cleanly');
        return NO_RECORDING;
      });
    }
    this.closeUplinkOutage(cur, end);
    // The cache takes the lesson's folder in (every segment, from before a restart too) and
    // sums the whole recording up: the record counts all of it, not just this run's part.
    const cached = await this.deps.recordings?.lessonEnded(cur.lesson.lessonId).catch((e: unknown) => {
      this.deps.log.error({ err: e, lessonId: cur.lesson.lessonId }, 'the recording cache could not take the lesson in');
      return undefined;
    });
    if (cached && cached.segments >= recording.segments) recording = cached;
    const rec = this.record(cur.lesson, status, cur.actualStart, end, cur.liveMs, streamUpMs, cur.interruptions, recording);
    this.deps.db.transaction(() => {
      this.deps.ledger.record(rec, this.deps.formatTs(end));
      this.deps.db.prepare('DELETE FROM lesson_state WHERE id = 1').run();
      this.deps.db.prepare("DELETE FROM lesson_overrides WHERE lesson_id = ? AND kind = 'start'").run(cur.lesson.lessonId);
    })();
    this.deps.log.info({ lessonId: rec.lessonId, status, durationSec: rec.durationSec, effective: rec.effective }, 'lesson record written');
    this.deps.roomHooks?.lessonEnded(cur.lesson.lessonId, end).catch((e: unknown) => this.deps.log.warn({ err: e, lessonId: cur.lesson.lessonId }, 'room end-of-lesson step failed'));
  }

  private record(
    lesson: PlannedLesson,
    status: LessonStatus,
    actualStart: Date | null,
    actualEnd: Date | null,
    liveMs: number,
    streamUpMs: number,
    interruptions: Interruption[],
    recording: RecordingSummary,
  ): LessonRecord {
    const scheduledMs = Math.max(1, lesson.end.getTime() - lesson.start.getTime());
    const uptimePct = Math.round(Math.min(100, Math.max(0, (streamUpMs / scheduledMs) * 100)) * 10) / 10;
    const timetabled = lesson.trigger === 'timetable' ? (lesson) : undefined;
    const rec: LessonRecord = {
      lessonId: lesson.lessonId,
      deviceId: this.deps.settings.deviceId,
      entryId: timetabled?.entryId ?? null,
      timetableVersion: timetabled?.timetableVersion ?? this.deps.timetables.current()?.version ?? null,
      status,
      trigger: lesson.trigger,
      role: this.roleOf(lesson),
      subject: lesson.subject,
      date: timetabled?.date ?? localDate(lesson.start, this.deps.timeZone()),
      scheduledStart: this.deps.formatTs(lesson.start),
      scheduledEnd: this.deps.formatTs(lesson.end),
      actualStart: actualStart ? this.deps.formatTs(actualStart) : null,
      actualEnd: actualEnd ? this.deps.formatTs(actualEnd) : null,
      durationSec: Math.max(0, Math.round(liveMs / 1000)),
      effective: status === 'completed' && uptimePct >= this.deps.settings.effectiveThresholdPct,
      peerRoomIds: [...lesson.peerRoomIds],
      interruptions: interruptions.slice(0, 100),
      recording: { segments: recording.segments, bytes: recording.bytes, durationSec: recording.durationSec, ...(recording.sha256 && { sha256: recording.sha256 }) },
      streamUptimePct: uptimePct,
    };
    if (timetabled?.grade) rec.grade = timetabled.grade;
    if (timetabled?.className) rec.className = timetabled.className;
    if (timetabled?.teacher) rec.teacher = timetabled.teacher;
    return rec;
  }

  private roleOf(lesson: PlannedLesson): 'lecture' | 'listen' {
    if (lesson.trigger === 'timetable') return (lesson).role;
    return this.deps.settings.role === 'listen' ? 'listen' : 'lecture';
  }

  // ---------------------------------------------------------------------------------------------
  // Readiness check before the bell.

  /**
   * Starts the readiness check of the next lesson, once per lesson, and returns at once: the
   * checks (an encoder test, a media server handshake …) run beside the work loop, each bounded
   * by its own time limit, and the result is published when the last one has answered.
   */
  private check(lesson: PlannedLesson): void {
    if (this.checked.has(lesson.lessonId)) return;
    this.checked.add(lesson.lessonId);
    const abort = new AbortController();
    const info = { lessonId: lesson.lessonId, role: this.roleOf(lesson), start: lesson.start, end: lesson.end, peerRoomIds: lesson.peerRoomIds };
    const run = {
      abort,
      done: runReadinessChecks(this.readinessChecks, info, abort.signal)
        .then((report) => {
          const failures = report.failures.slice(0, 32);
          const readiness: Readiness = { lessonId: lesson.lessonId, ready: failures.length === 0, checkedAt: this.deps.formatTs(this.deps.clock.now()), failures };
          // A result that comes after the bell is still published, but the heartbeat shows it
          // only until the lesson starts.
          if (this.current?.lesson.lessonId !== lesson.lessonId) this.lastReadiness = readiness;
          this.deps.log.info({ lessonId: lesson.lessonId, results: report.results }, readiness.ready ? 'lesson ready' : 'lesson not ready');
          this.deps.events.emit({
            type: 'lesson.readiness',
            severity: readiness.ready ? 'info' : 'warning',
            lessonId: lesson.lessonId,
            message: readiness.ready
              ? `ready: all ${report.checks} checks passed`
              : `not ready: ${report.results.filter((r) => r.result === 'fail').length} of ${report.checks} checks failed`,
            details: { ready: readiness.ready, failures: readiness.failures },
          });
        })
        .catch((e: unknown) => this.deps.log.error({ err: e, lessonId: lesson.lessonId }, 'readiness check could not be completed'))
        .finally(() => this.readinessRuns.delete(run)),
    };
    this.readinessRuns.add(run);
  }

  /** Resolves when every readiness check started so far has published its result. */
  async readinessSettled(): Promise<void> {
    while (this.readinessRuns.size) await Promise.all([...this.readinessRuns].map((r) => r.done));
  }

  // ---------------------------------------------------------------------------------------------
  // Manual and platform control.

  /** `lesson.start`: a lesson now, unless one is live or about to start (`conflict`). */
  startNow(args: { subject: string; durationMin?: number; peerRoomIds?: string[]; preset?: number }, trigger: 'manual' | 'platform'): { lessonId: string } {
    const now = this.deps.clock.now();
    const allowed = canStart(this.computePlan(now));
    if (!allowed.ok) throw new CommandError('conflict', allowed.reason);
    const date = localDate(now, this.deps.timeZone());
    const stamp = this.deps.formatTs(now).slice(11, 19).replace(/:/g, '');
    const start: ManualStart = {
      lessonId: `${this.deps.settings.deviceId}:${trigger}-${stamp}:${date}`,
      subject: args.subject,
      startedAt: now,
      peerRoomIds: args.peerRoomIds ?? [],
      trigger,
      ...(args.durationMin !== undefined && { durationMin: args.durationMin }),
      ...(args.preset !== undefined && { preset: args.preset }),
    };
    this.deps.db
      .prepare("INSERT INTO lesson_overrides (lesson_id, kind, body, created_at) VALUES (?, 'start', ?, ?)")
      .run(start.lessonId, JSON.stringify(start), now.toISOString());
    return { lessonId: start.lessonId };
  }

  /** `lesson.stop`: ends the live lesson (or the one named); a lesson not yet begun is cancelled. */
  async stopLesson(lessonId: string | undefined): Promise<{ lessonId: string; status: LessonStatus }> {
    const now = this.deps.clock.now();
    const cur = this.current;
    const target = lessonId ?? cur?.lesson.lessonId ?? (this.plan.kind === 'preparing' ? this.plan.lesson.lessonId : undefined);
    if (!target) throw new CommandError('conflict', 'no lesson is live');
    if (this.finishedIds(now).has(target)) throw new CommandError('conflict', `lesson ${target} has already ended`);
    const stop: ManualStop = { lessonId: target, stoppedAt: now };
    this.deps.db
      .prepare("INSERT INTO lesson_overrides (lesson_id, kind, body, created_at) VALUES (?, 'stop', ?, ?) ON CONFLICT(lesson_id) DO UPDATE SET kind = 'stop', body = excluded.body")
      .run(target, JSON.stringify(stop), now.toISOString());
    if (cur && cur.lesson.lessonId === target) {
      this.count(now);
      await this.finish('completed', now);
      return { lessonId: target, status: 'completed' };
    }
    const upcoming = this.upcoming(target, now);
    if (!upcoming) throw new CommandError('bad-request', `/args/lessonId: no lesson ${target} is live or coming up on this device`);
    this.deps.ledger.record(this.record(upcoming, 'cancelled', null, null, 0, 0, [], NO_RECORDING), this.deps.formatTs(now));
    return { lessonId: target, status: 'cancelled' };
  }

  private upcoming(lessonId: string, now: Date): PlannedLesson | undefined {
    const timetable = this.deps.timetables.current()?.timetable ?? null;
    if (!timetable) return undefined;
    const plan = planRoom({ now, timetable, deviceId: this.deps.settings.deviceId, finished: this.finishedIds(now) });
    const candidates = [plan.kind === 'idle' ? plan.next : plan.kind === 'live' ? plan.next : plan.lesson];
    return candidates.find((l) => l?.lessonId === lessonId);
  }

  /** Ends the pipelines on shutdown without a final record: the next start continues the lesson. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const run of this.readinessRuns) run.abort.abort();
    await this.readinessSettled();
    const cur = this.current;
    if (!cur) return;
    const now = this.deps.clock.now();
    this.count(now);
    const session = cur.session;
    if (session) {
      cur.session = undefined;
      cur.streamUpBaseMs += session.streamUpMs();
      this.closeUplinkOutage(cur, now);
      this.persist();
      await session.stop().catch((e: unknown) => this.deps.log.warn({ err: errorMessage(e) }, 'pipelines did not stop cleanly'));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What the heartbeat shows.

  lessonNow(): LessonNow | null {
    const cur = this.current;
    if (cur) return { lessonId: cur.lesson.lessonId, state: 'live', subject: cur.lesson.subject, startedAt: this.deps.formatTs(cur.actualStart) };
    const s = this.stopping;
    if (s) return { lessonId: s.lessonId, state: 'stopping', subject: s.subject, startedAt: this.deps.formatTs(s.start) };
    if (this.plan.kind === 'preparing') {
      return { lessonId: this.plan.lesson.lessonId, state: 'preparing', subject: this.plan.lesson.subject, startedAt: this.plan.lesson.scheduledStart };
    }
    return null;
  }

  streamNow(): StreamNow | null {
    return this.current?.session?.stream() ?? null;
  }

  /** The live lesson's media session and planned end (the recording bitrate under disk pressure). */
  liveRecording(): { lessonId: string; end: Date; session: MediaSession } | null {
    const cur = this.current;
    return cur?.session ? { lessonId: cur.lesson.lessonId, end: cur.lesson.end, session: cur.session } : null;
  }

  readiness(): Readiness | null {
    return this.current ? null : this.lastReadiness;
  }

  // ---------------------------------------------------------------------------------------------
  // State in SQLite.

  private persist(): void {
    const cur = this.current;
    if (!cur) return;
    // The running session's uptime too: a power cut must not lose the stream time so far.
    const streamUp = cur.streamUpBaseMs + (cur.session?.streamUpMs() ?? 0);
    this.deps.db
      .prepare(
        `INSERT INTO lesson_state (id, lesson, actual_start, interruptions, live_ms, stream_up_ms, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET lesson = excluded.lesson, actual_start = excluded.actual_start, interruptions = excluded.interruptions,
           live_ms = excluded.live_ms, stream_up_ms = excluded.stream_up_ms, updated_at = excluded.updated_at`,
      )
      .run(
        JSON.stringify(cur.lesson),
        cur.actualStart.toISOString(),
        JSON.stringify(cur.interruptions),
        Math.round(cur.liveMs),
        Math.round(streamUp),
        new Date(cur.lastTick).toISOString(),
      );
  }

  private overrides(): (ManualStart | ManualStop)[] {
    const rows = this.deps.db.prepare('SELECT kind, body FROM lesson_overrides').all() as { kind: string; body: string }[];
    return rows.map((r) => {
      const o = JSON.parse(r.body) as Record<string, unknown>;
      if (r.kind === 'start') return { ...o, startedAt: new Date(String(o.startedAt)) } as ManualStart;
      return { ...o, stoppedAt: new Date(String(o.stoppedAt)) } as ManualStop;
    });
  }

  private stoppedIds(): Set<string> {
    return new Set(this.deps.db.prepare("SELECT lesson_id FROM lesson_overrides WHERE kind = 'stop'").pluck().all() as string[]);
  }

  /** Lessons with a final record around `now` (the planner never runs them again). */
  private finishedIds(now: Date): Set<string> {
    const day = localDate(now, this.deps.timeZone());
    const from = shiftDate(day, -2);
    const to = shiftDate(day, 2);
    return new Set(this.deps.db.prepare('SELECT lesson_id FROM lessons WHERE date BETWEEN ? AND ?').pluck().all(from, to) as string[]);
  }
}

function shiftDate(date: string, days: number): string {
  const t = Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** The skipped-slot list as kept in the state; an unreadable one is an empty list. */
function parseSkipped(text: string | undefined): PlannedLesson[] {
  if (!text) return [];
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? list.map((l) => reviveLesson(JSON.stringify(l))) : [];
  } catch {
    return [];
  }
}

/** A lesson as stored in lesson_state, with its instants turned back into Dates. */
function reviveLesson(text: string): PlannedLesson {
  const o = JSON.parse(text) as PlannedLesson & { start: string; end: string };
  return { ...o, start: new Date(o.start), end: new Date(o.end) };
}
