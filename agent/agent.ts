import { randomBytes } from 'node:crypto';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import type { LogRing } from './logring.js';
import { systemClock, type Clock } from './clock.js';
import { Contract } from './contract/validate.js';
import { DEVICE_ID_PATTERN, type Capabilities, type StatusMessage } from './contract/types.js';
import { isoInZone } from './contract/time.js';
import { KeyValue, openStateOrSetAside, type Db } from './state/db.js';
import { Outbox } from './outbox.js';
import { EventPublisher } from './events.js';
import { Ledger } from './ledger.js';
import { TimetableStore } from './timetable/store.js';
import { TimetableReceiver } from './timetable/receiver.js';
import { CommandDispatcher } from './commands.js';
import { registerCommands } from './command-handlers.js';
import { HealthCollector } from './health.js';
import { HeartbeatService } from './heartbeat.js';
import { PlatformLink, deviceRoot } from './link.js';
import { DeviceWatch } from './device-watch.js';
import type { HealthSource } from './devices.js';
import { agentVersion } from './version.js';
import { createCameras, type CreateCamerasOptions } from '../drivers/visca/config.js';
import type { Camera } from '../drivers/visca/camera.js';
import { createDisplay } from '../drivers/display/config.js';
import type { Display } from '../drivers/display/controller.js';
import { DisplayLessonHooks } from '../drivers/display/hooks.js';
import { nextLessonAfter } from './timetable/resolve.js';
import { errorMessage } from './errors.js';
import { LessonLoop } from './lessons/loop.js';
import { ControlServer } from './control.js';
import { clockSynced } from './clock-sync.js';
import { CommandError } from './commands.js';
import type { LessonMedia } from './lessons/media.js';
import { GstLessonMedia } from './lessons/gst-media.js';
import { standardReadinessChecks } from './lessons/readiness.js';
import { resolveMediaConfig } from '../pipelines/config.js';
import { lessonMediaInput } from './config/load.js';
import { recordingFullVideoKbps } from '../pipelines/builder.js';
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { Microphone, NodeUsbBus, type MicrophoneOptions, type UsbBus } from '../drivers/mic/index.js';
import { localDate } from './contract/time.js';
import { RecordingCache } from './recordings/cache.js';
import { RecordingRateGovernor } from './recordings/disk-rate.js';
import { Uploader, listUploads, pendingUploads } from './recordings/uploader.js';
import { S3ObjectStore } from './recordings/store.js';

/** Uplink bitrate assumed when checking that the disk holds a lesson. */
const LESSON_BITRATE_KBPS = 4000;

export interface AgentOptions {
  config: Config;
  log: Logger;
  logRing?: LogRing;
  clock?: Clock;
  /** The kit's drivers, already built (real or simulated); the agent watches their health. */
  devices?: readonly HealthSource[];
  capabilities?: Capabilities;
  /** Called from the work loop each time it completes a round (systemd watchdog). */
  onAlive?: () => void;
  /** The lesson pipelines; by default built from the config's `media` settings, when it has them. */
  media?: LessonMedia;
  /** Camera bus and camera tuning (tests shorten timeouts). */
  cameraOptions?: Omit<CreateCamerasOptions, 'log'>;
  /** The USB bus the microphone is looked for on (default: the real one; simulated kits give a fake). */
  usb?: UsbBus;
  /** Microphone tuning (tests shorten scan intervals and retries). */
  microphoneOptions?: Partial<Pick<MicrophoneOptions, 'scanMs' | 'lessonCheckMs' | 'open' | 'silence' | 'roots'>>;
  /**
   * The program that runs each lesson's media worker (default: this Node with the built
   * worker). An agent run from the TypeScript sources (tests) names a TypeScript runner here.
   */
  mediaWorker?: { file: string; args: string[] };
}

/** Everything the running agent is made of; built in `start()`, the one composition root. */
interface Parts {
  db: Db;
  contract: Contract;
  outbox: Outbox;
  events: EventPublisher;
  ledger: Ledger;
  timetables: TimetableStore;
  receiver: TimetableReceiver;
  dispatcher: CommandDispatcher;
  health: HealthCollector;
  heartbeat: HeartbeatService;
  link: PlatformLink;
  watch: DeviceWatch;
  cameras: Map<string, Camera>;
  microphone: Microphone | undefined;
  /** The classroom display, when the config has one. */
  display: Display | undefined;
  displayHooks: DisplayLessonHooks | undefined;
  lessons: LessonLoop;
  control: ControlServer;
  cache: RecordingCache;
  /** Lowers the live lesson's recording bitrate when the disk cannot hold the rest of it. */
  recordingRate: RecordingRateGovernor;
  /** Absent when no object store is configured: recordings then stay in the cache. */
  uploader?: Uploader;
}

/**
 * The lectern daemon. `start()` opens the state, builds every service and connects to the
 * platform; a part that fails to start is logged and reported, the rest runs. `stop()` is
 * bounded: the clean-shutdown status is published, pending acknowledgements written, the
 * database closed.
 */
export class Agent {
  readonly bootId = randomBytes(6).toString('hex');
  readonly startedAt = new Date();
  private parts: Parts | undefined;
  private readonly clock: Clock;
  private loopTimer: NodeJS.Timeout | undefined;
  private lastAliveWrite = 0;
  private lastDiskCheck = 0;
  /** The live lesson at the last disk check: a lesson that goes live is checked at once. */
  private diskCheckedLesson: string | null = null;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  get config(): Config {
    return this.opts.config;
  }

  get running(): Parts | undefined {
    return this.parts;
  }

  /** Dates and timestamps use the applied timetable's zone, else the configured one. */
  timeZone(): string {
    return this.parts?.timetables.current()?.timetable.timezone ?? this.opts.config.timezone;
  }

  formatTs(date: Date): string {
    return isoInZone(date, this.timeZone());
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    const root = deviceRoot(config.deviceId);
    const opened = openStateOrSetAside({ dataDir: config.dataDir });
    const db = opened.db;
    const contract = new Contract();
    const outbox = new Outbox(db, log.child({ module: 'outbox' }), config.outbox);
    const events = new EventPublisher({ bootId: this.bootId, topic: `${root}events`, outbox, clock: this.clock, timeZone: () => this.timeZone() });
    const ledger = new Ledger(db, outbox, `${root}lessons`);
    const timetables = new TimetableStore(db);
    const recordingsDir = config.media?.recording?.dir ?? join(config.dataDir, 'recordings');
    const liveLessonId = (): string | null => {
      const now = lessons.lessonNow();
      return now && now.state !== 'preparing' ? now.lessonId : null;
    };
    const cache = new RecordingCache({
      db,
      root: recordingsDir,
      deviceId: config.deviceId,
      prefix: config.uploads.prefix,
      log: log.child({ module: 'recordings' }),
      events,
      clock: this.clock,
      settings: config.cache,
      today: () => localDate(this.clock.now(), this.timeZone()),
      liveLessonId,
    });
    const u = config.uploads;
    const uploader =
      u.endpoint && u.bucket
        ? new Uploader({
            db,
            cache,
            store: () =>
              new S3ObjectStore({
                endpoint: u.endpoint!,
                region: u.region,
                bucket: u.bucket!,
                accessKeyId: u.accessKeyId,
                secretAccessKey: u.secretAccessKey,
                forcePathStyle: u.forcePathStyle,
                requestTimeoutSec: u.requestTimeoutSec,
              }),
            events,
            log: log.child({ module: 'uploads' }),
            clock: this.clock,
            settings: u,
            live: () => lessons.lessonNow()?.state === 'live',
          })
        : undefined;
    const cameraList = createCameras(config.cameras, { ...this.opts.cameraOptions, log: log.child({ module: 'camera' }) });
    const cameras = new Map(cameraList.map((c) => [c.id, c]));
    const display = config.display ? createDisplay(config.display, { log: log.child({ module: 'display' }) }) : undefined;
    const displayHooks =
      display && config.display
        ? new DisplayLessonHooks({
            display,
            lessonInput: config.display.lessonInput,
            powerOffAfterLastLesson: config.display.powerOffAfterLastLesson,
            nextLessonStart: (after) => {
              const t = timetables.current()?.timetable;
              return t ? nextLessonAfter(t, after, config.deviceId)?.start : undefined;
            },
            timeZone: () => this.timeZone(),
            log,
          })
        : undefined;
    const microphone = config.microphone
      ? new Microphone({
          ...this.opts.microphoneOptions,
          config: config.microphone,
          usb: this.opts.usb ?? new NodeUsbBus(),
          log,
          lesson: () => lessons.lessonNow(),
          goPreset: async (cameraId, preset) => {
            const camera = cameras.get(cameraId);
            if (!camera) throw new Error(`no camera "${cameraId}"`);
            await camera.presetRecall(preset);
          },
        })
      : undefined;
    const mediaConfig = config.media
      ? resolveMediaConfig(lessonMediaInput(config.media, config.dataDir), 'media settings', config.deviceId)
      : undefined;
    const media =
      this.opts.media ??
      (mediaConfig
        ? new GstLessonMedia({
            config: mediaConfig,
            deviceId: config.deviceId,
            log: log.child({ module: 'media' }),
            events,
            runDir: join(config.dataDir, 'run'),
            ...(this.opts.mediaWorker && { workerCommand: this.opts.mediaWorker }),
            onSilence: (e) => microphone?.reportSilence(e.silent, e.levelDb, e.silent ? e.sinceMs : 0),
            audioDevice: () => microphone?.capture?.pcm,
            onSegmentClosed: (lessonId, location, durationNs) => {
              cache
                .segmentClosed(lessonId, location, durationNs)
                .then(() => uploader?.wake())
                .catch((e: unknown) => log.error({ err: e, lessonId, location }, 'the recording cache could not take a segment in'));
            },
          })
        : undefined);
    const lessons: LessonLoop = new LessonLoop({
      db,
      ledger,
      events,
      timetables,
      clock: this.clock,
      log: log.child({ module: 'lessons' }),
      cameras,
      media,
      roomHooks: displayHooks,
      readinessChecks: standardReadinessChecks({
        cameras,
        linkConnected: () => link.connected,
        clockSynced,
        dataDir: config.dataDir,
        lessonBitrateKbps: LESSON_BITRATE_KBPS,
        media: mediaConfig,
        mediaConfigured: media !== undefined,
        deviceId: config.deviceId,
        microphone,
        display,
        cacheProblem: (needed) => cache.problemFor(needed),
      }),
      recordings: {
        lessonEnded: async (lessonId) => {
          await cache.lessonEnded(lessonId);
          uploader?.lessonEnded();
          await cache.checkDisk();
          return cache.summary(lessonId);
        },
      },
      linkConnected: () => link.connected,
      clockSynced,
      formatTs: (d) => this.formatTs(d),
      timeZone: () => this.timeZone(),
      settings: {
        deviceId: config.deviceId,
        role: config.role,
        effectiveThresholdPct: config.lessons.effectiveThresholdPct,
        preRollSec: config.lessons.preRollSec,
        readinessLeadSec: config.lessons.readinessLeadSec,
        dataDir: config.dataDir,
        lessonBitrateKbps: LESSON_BITRATE_KBPS,
      },
    });
    const recordingRate = new RecordingRateGovernor({
      headroom: () => cache.headroom(),
      live: () => lessons.liveRecording(),
      rates:
        mediaConfig?.recording.enabled
          ? { fullVideoKbps: recordingFullVideoKbps(mediaConfig), audioKbps: mediaConfig.audioEncoder.bitrateKbps, floorKbps: mediaConfig.uplink.bitrate.floorKbps }
          : undefined,
      clock: this.clock,
      log: log.child({ module: 'recordings' }),
      events,
      episode: { open: () => cache.openDiskLowEpisode(), hold: (active) => cache.holdDiskLowEpisode(active) },
    });
    const control = new ControlServer(
      config.dataDir,
      {
        status: async () => ({
          deviceId: config.deviceId,
          version: agentVersion(),
          link: { ...link.state(), broker: config.platform.mqttUrl },
          ...(await health.measure()),
        }),
        lessonStart: async (body) => {
          if (typeof body.subject !== 'string' || !body.subject || body.subject.length > 64) {
            throw new CommandError('bad-request', 'subject: a lesson needs a subject of 1 to 64 characters');
          }
          const duration = body.durationMin;
          if (duration !== undefined && (!Number.isInteger(duration) || Number(duration) < 1 || Number(duration) > 240)) {
            throw new CommandError('bad-request', 'durationMin: must be a whole number of minutes from 1 to 240');
          }
          const peers = body.peerRoomIds === undefined ? undefined : Array.isArray(body.peerRoomIds) ? body.peerRoomIds.map(String) : ['(not a list)'];
          const badPeer = peers?.find((p) => !DEVICE_ID_PATTERN.test(p));
          if (badPeer !== undefined) throw new CommandError('bad-request', `peerRoomIds: "${badPeer}" is not a device id`);
          return {
            ...lessons.startNow(
              {
                subject: body.subject,
                durationMin: duration as number | undefined,
                peerRoomIds: peers,
                preset: typeof body.preset === 'number' ? body.preset : undefined,
              },
              'manual',
            ),
          };
        },
        lessonStop: async (body) => ({ ...(await lessons.stopLesson(typeof body.lessonId === 'string' ? body.lessonId : undefined)) }),
        // `lectern timetable apply`: the same receiver as the platform's retained timetable.
        timetableApply: async (payload) => ({ ...receiver.receive(payload) }),
        logs: async (lines) => ({ lines: this.opts.logRing?.tail(lines) ?? [] }),
        uploads: async () => ({ ...(uploader ? uploader.list() : listUploads(db, 'disabled')) }),
        uploadsRetry: async () => {
          if (!uploader) throw new CommandError('device-error', 'no object store is configured (uploads.endpoint and uploads.bucket); recordings stay in the cache');
          return uploader.retryNow();
        },
      },
      log.child({ module: 'control' }),
    );
    const watch = new DeviceWatch({
      sources: [...cameraList, ...(microphone ? [microphone] : []), ...(display ? [display] : []), ...(this.opts.devices ?? [])],
      events,
      log: log.child({ module: 'devices' }),
      lessonId: () => lessons.lessonNow()?.lessonId ?? null,
      debounceMs: config.deviceHealth.debounceSec * 1000,
    });
    const health = new HealthCollector({
      bootId: this.bootId,
      startedAt: this.startedAt,
      dataDir: config.dataDir,
      clock: this.clock,
      timeZone: () => this.timeZone(),
      devices: () => watch.devices(),
      outbox: () => outbox.stats(),
      timetableVersion: () => timetables.current()?.version ?? null,
      lesson: () => lessons.lessonNow(),
      stream: () => lessons.streamNow(),
      readiness: () => lessons.readiness(),
      uploads: () => (uploader ? uploader.pending() : pendingUploads(db)),
    });
    const link: PlatformLink = new PlatformLink({
      deviceId: config.deviceId,
      platform: config.platform,
      log: log.child({ module: 'link' }),
      birth: () => this.birth(),
      death: (reason) => ({ online: false, ts: this.formatTs(this.clock.now()), deviceId: config.deviceId, bootId: this.bootId, reason }),
      handlers: {
        onConnect: (publisher) => {
          outbox.connected(publisher);
          heartbeat.connected();
        },
        onDisconnect: () => {
          outbox.disconnected();
          heartbeat.disconnected();
        },
        onMessage: (msg) => {
          if (msg.subtopic === 'timetable') {
            receiver.handle(msg.payload);
          } else if (msg.subtopic.startsWith('cmd/')) {
            dispatcher
              .handle({ name: msg.subtopic.slice(4), payload: msg.payload, responseTopic: msg.responseTopic, correlationData: msg.correlationData })
              .catch((e: unknown) => log.error({ err: e, topic: msg.subtopic }, 'command handling failed'));
          }
        },
      },
    });
    const heartbeat = new HeartbeatService({
      intervalMs: config.platform.heartbeatIntervalSec * 1000,
      health,
      publish: (payload) => link.publishNow('heartbeat', payload, 0),
      connected: () => link.connected,
      log: log.child({ module: 'heartbeat' }),
    });
    const receiver = new TimetableReceiver({
      db,
      store: timetables,
      contract,
      events,
      clock: this.clock,
      log: log.child({ module: 'timetable' }),
      formatTs: (d) => this.formatTs(d),
      deviceId: config.deviceId,
      onApplied: () => void link.republishBirth().catch((e: unknown) => log.warn({ err: e }, 'could not republish status')),
    });
    const dispatcher = new CommandDispatcher({
      db,
      outbox,
      contract,
      events,
      clock: this.clock,
      log: log.child({ module: 'commands' }),
      replyTopic: `${root}reply`,
      formatTs: (d) => this.formatTs(d),
      mqtt5: config.platform.protocolVersion === 5,
    });
    this.parts = { db, contract, outbox, events, ledger, timetables, receiver, dispatcher, health, heartbeat, link, watch, cameras, microphone, display, displayHooks, lessons, control, cache, recordingRate, uploader };
    registerCommands(dispatcher, {
      health,
      cameras,
      lessons,
      ledger,
      timetables,
      logRing: this.opts.logRing,
      uploads: uploader,
      timeZone: () => this.timeZone(),
      formatTs: (d) => this.formatTs(d),
    });
    dispatcher.prune();

    if (opened.setAside) {
      log.error({ keptAt: opened.setAside, reason: opened.reason }, 'state database was unusable: kept it aside and started a new one');
      events.emit({
        type: 'device.fault',
        severity: 'error',
        device: { kind: 'storage', id: 'state', status: 'degraded', detail: `state database was corrupt; kept at ${opened.setAside}`.slice(0, 500) },
        message: `state database was unusable and was replaced by a new one; the old file is kept at ${opened.setAside}`,
      });
    }
    watch.start();
    // A camera that cannot start is reported through its health, never fatal to the daemon.
    await Promise.all(
      cameraList.map((c) => c.start().catch((e: unknown) => log.error({ err: e, camera: c.id }, `camera ${c.id} did not start: ${errorMessage(e)}`))),
    );
    await microphone?.start().catch((e: unknown) => log.error({ err: e }, `microphone did not start: ${errorMessage(e)}`));
    // Likewise the display: a missing or silent one shows as absent or fault, and is retried.
    await display?.start().catch((e: unknown) => log.error({ err: e }, `display did not start: ${errorMessage(e)}`));
    // Sockets a killed media process left behind; the lesson's media starts afresh.
    rmSync(join(config.dataDir, 'run'), { recursive: true, force: true });
    mkdirSync(join(config.dataDir, 'run'), { recursive: true, mode: 0o700 });
    // The recording cache from its files, before any pipeline writes new ones: segments the
    // last run did not register, damaged files and manifests.
    const leftLive = db.prepare("SELECT json_extract(lesson, '$.lessonId') FROM lesson_state WHERE id = 1").pluck().get() as string | undefined;
    await cache.recover(leftLive ?? null).catch((e: unknown) => log.error({ err: e }, 'could not check the recording cache'));
    // The lesson left live by the last run, and the slots missed meanwhile, before anything new.
    await lessons.recover().catch((e: unknown) => log.error({ err: e }, 'could not recover the lesson state'));
    await control.start().catch((e: unknown) => log.error({ err: e }, 'local control socket not available (lectern lesson/status will not reach this agent)'));
    link.start();
    uploader?.start();
    this.scheduleTick(0);
    log.info(
      { deviceId: config.deviceId, bootId: this.bootId, dataDir: config.dataDir, broker: config.platform.mqttUrl, version: agentVersion() },
      'agent started',
    );
  }

  async stop(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    this.parts = undefined;
    clearTimeout(this.loopTimer);
    parts.watch.stop();
    parts.heartbeat.stop();
    await parts.control.stop();
    await parts.uploader?.stop();
    await parts.lessons.shutdown();
    await parts.link.stop();
    await Promise.all([...parts.cameras.values()].map((c) => c.stop().catch(() => undefined)));
    await parts.microphone?.stop().catch(() => undefined);
    parts.displayHooks?.close();
    await parts.display?.stop().catch(() => undefined);
    parts.outbox.stop();
    parts.db.close();
    this.opts.log.info('agent stopped');
  }

  /**
   * The work loop: one round a second, each awaited before the next is scheduled. A round that
   * completes tells the supervisor the daemon is alive (systemd's watchdog); a round that hangs
   * or fails does not, so a stuck daemon is restarted rather than left running blind.
   */
  private scheduleTick(delayMs: number): void {
    this.loopTimer = setTimeout(() => {
      this.tick().then(
        () => {
          this.opts.onAlive?.();
          if (this.parts) this.scheduleTick(1000);
        },
        (e: unknown) => {
          this.opts.log.error({ err: e }, 'work loop round failed');
          if (this.parts) this.scheduleTick(1000);
        },
      );
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    const now = this.clock.now();
    // When the device was last running: after a power cut, the lesson loop tells from it which
    // lessons were missed or interrupted.
    if (now.getTime() - this.lastAliveWrite >= 10_000 || now.getTime() < this.lastAliveWrite) {
      new KeyValue(parts.db).set('lastAlive', now.toISOString());
      this.lastAliveWrite = now.getTime();
    }
    await parts.lessons.tick();
    // Eviction, the disk.low check and the recording's bitrate under disk pressure: twice a minute
    // is plenty for a disk filling at a few Mbit/s; a lesson that has just gone live is checked
    // at once, so that a short disk lowers its bitrate from the start.
    const liveLesson = parts.lessons.liveRecording()?.lessonId ?? null;
    if (now.getTime() - this.lastDiskCheck >= 30_000 || now.getTime() < this.lastDiskCheck || liveLesson !== this.diskCheckedLesson) {
      this.lastDiskCheck = now.getTime();
      this.diskCheckedLesson = liveLesson;
      await parts.cache.checkDisk().catch((e: unknown) => this.opts.log.error({ err: e }, 'recording cache check failed'));
      await parts.recordingRate.check().catch((e: unknown) => this.opts.log.error({ err: e }, 'recording bitrate check failed'));
    }
  }

  private birth(): StatusMessage {
    const c = this.opts.config;
    const status: StatusMessage = {
      online: true,
      ts: this.formatTs(this.clock.now()),
      deviceId: c.deviceId,
      bootId: this.bootId,
      agentVersion: agentVersion(),
      role: c.role,
      timetableVersion: this.parts?.timetables.current()?.version ?? null,
      capabilities: { ...this.opts.capabilities, cameras: c.cameras.map((cam) => cam.id) },
    };
    if (c.school) status.school = c.school;
    if (c.room) status.room = c.room;
    return status;
  }
}
