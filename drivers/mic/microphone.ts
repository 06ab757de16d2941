/**
 * The classroom's USB microphone: found among the USB devices (known array models first, any
 * USB Audio Class capture device otherwise), followed through unplug and replug, its vendor
 * controls applied at every lesson start and after every replug (the array forgets them when
 * it loses power), its ALSA capture device looked up for the pipeline, and its health reported
 * to the agent.
 *
 * Health:
 * - `absent`: no matching microphone on the bus (or no USB on this host);
 * - `degraded`: present but silent while a lesson is live (from the pipeline's level data), or
 *   its vendor controls cannot be used (opening keeps failing, a setting was refused): audio
 *   still works, the settings do not;
 * - `ok` otherwise. Presumed ok until the first scan, like the cameras, so a microphone missing
 *   at boot raises a fault and a working one raises nothing.
 *
 * Presence comes from a periodic scan of the bus plus its connect/disconnect events (either is
 * enough; events only make it prompt). Opening for vendor controls right after a plug can fail
 * until udev has set the node's permissions: it is retried with bounded backoff.
 */
import { Backoff, sleep } from '../../agent/backoff.js';
import { clampDetail, type DeviceHealth, type HealthSource } from '../../agent/devices.js';
import { DeviceError, errorMessage } from '../../agent/errors.js';
import { TypedEmitter } from '../../agent/bus.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { DEFAULT_ROOTS, findAlsaCapture, type AlsaCapture, type AlsaRoots } from './alsa.js';
import type { MicControlsConfig, MicrophoneConfig } from './config.js';
import { choose, classify, describeMatch, type MicCandidate } from './models.js';
import { sysfsName, vidPid, type UsbBus, type UsbConnectionListener, type UsbDeviceLike } from './usb.js';
import { VoiceTracker, VoiceTrackingRunner } from './voice-tracking.js';
import { XmosControl, type XmosParamName } from './xmos.js';

export type HealthListener = (now: DeviceHealth, before: DeviceHealth) => void;

export interface MicrophoneEvents {
  attached: { candidate: MicCandidate; alsa: AlsaCapture | undefined };
  detached: { candidate: MicCandidate };
  /** Vendor settings written to the device. */
  applied: { settings: Partial<Record<XmosParamName, number>> };
}

/** The lesson as the lesson loop reports it (`lessonNow()`), or null between lessons. */
export interface LessonView {
  lessonId: string;
  state: string;
}

export interface MicrophoneOptions {
  config: MicrophoneConfig;
  usb: UsbBus;
  log?: Logger;
  /** sysfs and procfs roots for the ALSA lookup. */
  roots?: AlsaRoots;
  /** How often the bus is scanned (events make it prompt where hot-plug works). */
  scanMs?: number;
  /** How often the lesson's state is looked at (settings, silence, voice tracking). */
  lessonCheckMs?: number;
  /** Opening for vendor controls: tries and backoff while udev sets permissions. */
  open?: { tries: number; minMs: number; maxMs: number };
  /** `reportLevel`: peaks below `thresholdDb` for `afterMs` while live count as silence. */
  silence?: { thresholdDb: number; afterMs: number };
  /** The lesson now; without it there is never a live lesson (no settings, no silence). */
  lesson?: () => LessonView | null;
  /** Write the configured settings whenever the array is (re)plugged (default true; `lectern mic info` only reads). */
  applyOnAttach?: boolean;
  /** Turns a camera to a preset, for voice tracking. */
  goPreset?: (cameraId: string, preset: number) => Promise<void>;
  now?: () => number;
}

export interface MicState {
  agc?: boolean;
  agcGain?: number;
  stationaryNoiseSuppression?: boolean;
  nonStationaryNoiseSuppression?: boolean;
  echoSuppression?: boolean;
  doaDeg?: number;
  voiceActivity?: boolean;
  speechDetected?: boolean;
}

/** Config control → vendor parameter. */
const CONTROL_PARAMS: Record<keyof MicControlsConfig, XmosParamName> = {
  agc: 'agc',
  agcGain: 'agcGain',
  stationaryNoiseSuppression: 'stationaryNoiseSuppression',
  nonStationaryNoiseSuppression: 'nonStationaryNoiseSuppression',
  echoSuppression: 'echoSuppression',
};

export function settingsFor(controls: MicControlsConfig): Partial<Record<XmosParamName, number>> {
  const out: Partial<Record<XmosParamName, number>> = {};
  for (const [key, param] of Object.entries(CONTROL_PARAMS) as [keyof MicControlsConfig, XmosParamName][]) {
    const v = controls[key];
    if (v === undefined) continue;
    out[param] = typeof v === 'boolean' ? Number(v) : v;
  }
  return out;
}

/** A device's identity on the bus: a replug gets a new address, so it is a new device. */
function deviceKey(d: UsbDeviceLike): string {
  return `${d.bus}-${d.ports.join('.')}@${d.address}:${vidPid(d)}`;
}

export function describeDevice(c: MicCandidate): string {
  const where = sysfsName(c.device);
  return `microphone ${c.vidPid}${where ? ` on ${where}` : ''}`;
}

export class Microphone implements HealthSource {
  readonly events: TypedEmitter<MicrophoneEvents>;
  private readonly log: Logger;
  private readonly listeners = new Set<HealthListener>();
  private current: DeviceHealth;
  private candidate: MicCandidate | undefined;
  private alsa: AlsaCapture | undefined;
  private control: XmosControl | undefined;
  /** Why vendor controls cannot be used now (open failed, a write refused). */
  private controlProblem: string | undefined;
  private unavailable: string | undefined;
  private scanned = false;
  private running = false;
  private scanTimer: NodeJS.Timeout | undefined;
  private lessonTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private scanAgain = false;
  private openAbort: AbortController | undefined;
  private opening: Promise<void> | undefined;
  private readonly onConnect: UsbConnectionListener;
  private readonly onDisconnect: UsbConnectionListener;
  // Lesson and silence.
  private appliedFor: string | undefined;
  private live = false;
  private quietSince: number | undefined;
  private silentDetail: string | undefined;
  private readonly tracking: VoiceTrackingRunner | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: MicrophoneOptions) {
    this.log = (opts.log ?? silentLogger()).child({ module: 'microphone', microphone: opts.config.id });
    this.now = opts.now ?? (() => Date.now());
    this.events = new TypedEmitter<MicrophoneEvents>((err, event) => this.log.error({ err, event }, 'microphone listener failed'));
    this.current = { kind: 'microphone', id: opts.config.id, status: 'ok', detail: 'not checked yet' };
    this.onConnect = () => this.rescan();
    this.onDisconnect = (ev) => {
      if (this.candidate && (ev.device === this.candidate.device || deviceKey(ev.device) === deviceKey(this.candidate.device))) this.detach('unplugged');
      this.rescan();
    };
    const vt = opts.config.voiceTracking;
    if (vt && opts.goPreset) {
      this.tracking = new VoiceTrackingRunner({
        tracker: new VoiceTracker({
          zones: vt.zones,
          hysteresisDeg: vt.hysteresisDeg,
          settleMs: vt.settleSec * 1000,
          holdMs: vt.holdSec * 1000,
          idleMs: vt.idleSec * 1000,
          ...(vt.idlePreset !== undefined && { idlePreset: vt.idlePreset }),
        }),
        cameraId: vt.camera,
        read: () => this.readVoice(),
        goPreset: opts.goPreset,
        pollMs: vt.pollMs,
        now: this.now,
        log: this.log,
      });
    }
  }

  get id(): string {
    return this.opts.config.id;
  }

  /** The microphone in use, if any. */
  get device(): MicCandidate | undefined {
    return this.candidate;
  }

  /** Its ALSA capture device (`hw:CARD=…,DEV=…`), when the kernel made one. */
  get capture(): AlsaCapture | undefined {
    return this.alsa;
  }

  get voiceTrackingActive(): boolean {
    return this.tracking?.active ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // HealthSource

  health(): DeviceHealth {
    return { ...this.current };
  }

  onHealthChange(listener: HealthListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private refreshHealth(): void {
    if (!this.scanned) return;
    const c = this.candidate;
    if (!c) {
      return this.setHealth('absent', this.unavailable ?? `no USB microphone connected (looking for ${describeMatch(this.opts.config.match)})`);
    }
    const problems: string[] = [];
    if (this.silentDetail) problems.push(this.silentDetail);
    if (this.controlProblem) problems.push(this.controlProblem);
    if (problems.length) return this.setHealth('degraded', `${describeDevice(c)}: ${problems.join('; ')}`);
    this.setHealth('ok');
  }

  private setHealth(status: DeviceHealth['status'], detail?: string): void {
    const model = this.candidate?.label;
    const next: DeviceHealth = {
      kind: 'microphone',
      id: this.opts.config.id,
      status,
      ...(model ? { model } : {}),
      ...(detail ? { detail: clampDetail(detail) } : {}),
    };
    const before = this.current;
    this.current = next;
    if (before.status === next.status) return;
    this.log.info({ from: before.status, to: next.status, detail: next.detail }, 'microphone health changed');
    for (const l of [...this.listeners]) {
      try {
        l({ ...next }, { ...before });
      } catch (e) {
        this.log.error({ err: e }, 'microphone health listener failed');
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.opts.usb.addEventListener('connect', this.onConnect);
    this.opts.usb.addEventListener('disconnect', this.onDisconnect);
    this.rescan();
    await this.scanning;
    this.scheduleScan();
    this.scheduleLessonCheck();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.scanTimer);
    clearTimeout(this.lessonTimer);
    this.opts.usb.removeEventListener('connect', this.onConnect);
    this.opts.usb.removeEventListener('disconnect', this.onDisconnect);
    this.openAbort?.abort();
    await this.tracking?.stop();
    await this.scanning;
    await this.opening;
    const device = this.candidate?.device;
    if (device?.opened) await device.close().catch(() => undefined);
  }

  private scheduleScan(): void {
    if (!this.running) return;
    this.scanTimer = setTimeout(() => {
      this.rescan();
      this.scheduleScan();
    }, this.opts.scanMs ?? 2000);
  }

  private scheduleLessonCheck(): void {
    if (!this.running) return;
    this.lessonTimer = setTimeout(() => {
      this.checkLesson();
      this.scheduleLessonCheck();
    }, this.opts.lessonCheckMs ?? 1000);
  }

  /** Scans the bus now (one scan at a time; a request during a scan runs one more after it). */
  rescan(): void {
    if (this.scanning) {
      this.scanAgain = true;
      return;
    }
    this.scanning = (async () => {
      do {
        this.scanAgain = false;
        await this.scanOnce().catch((e: unknown) => this.log.error({ err: e }, 'microphone scan failed'));
      } while (this.scanAgain && this.running);
    })().finally(() => {
      this.scanning = undefined;
    });
  }

  /** Resolves once the scans requested so far have run (tests, the CLI). */
  async settled(): Promise<void> {
    while (this.scanning || this.opening) {
      await this.scanning;
      await this.opening;
    }
  }

  private async scanOnce(): Promise<void> {
    let devices: UsbDeviceLike[];
    try {
      devices = await this.opts.usb.getDevices();
      if (this.unavailable) this.log.info('USB devices can be listed again');
      this.unavailable = undefined;
    } catch (e) {
      const msg = `USB devices cannot be listed: ${errorMessage(e)}`;
      if (msg !== this.unavailable) this.log.warn({ err: e }, 'USB devices cannot be listed');
      this.unavailable = msg;
      devices = [];
    }
    const candidates = devices.map((d) => classify(d)).filter((c): c is MicCandidate => c !== undefined);
    const chosen = choose(candidates, this.opts.config.match);
    const had = this.candidate;
    if (had && (!chosen || deviceKey(chosen.device) !== deviceKey(had.device))) this.detach('gone');
    if (chosen && !this.candidate) this.attach(chosen);
    else if (this.candidate && !this.alsa) {
      // The kernel's audio driver may make the card a moment after the device appears.
      this.alsa = findAlsaCapture(this.candidate.device, this.opts.roots ?? DEFAULT_ROOTS);
      if (this.alsa) this.log.info({ alsa: this.alsa.pcm }, `ALSA capture device found: ${this.alsa.pcm}`);
    }
    this.scanned = true;
    this.refreshHealth();
  }

  private attach(c: MicCandidate): void {
    this.candidate = c;
    this.controlProblem = undefined;
    this.alsa = findAlsaCapture(c.device, this.opts.roots ?? DEFAULT_ROOTS);
    this.log.info(
      { vidPid: c.vidPid, model: c.label, at: sysfsName(c.device), alsa: this.alsa?.pcm, capabilities: c.capabilities },
      `${describeDevice(c)} attached (${c.label})${this.alsa ? `, ALSA ${this.alsa.pcm}` : ''}`,
    );
    this.events.emit('attached', { candidate: c, alsa: this.alsa });
    if (c.model?.protocol === 'xmos') {
      const abort = new AbortController();
      this.openAbort = abort;
      this.opening = this.openForControls(c, abort.signal).finally(() => {
        this.opening = undefined;
      });
    }
  }

  private detach(why: 'gone' | 'unplugged'): void {
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    this.control = undefined;
    this.controlProblem = undefined;
    this.alsa = undefined;
    this.openAbort?.abort();
    this.openAbort = undefined;
    if (c.device.opened) c.device.close().catch(() => undefined);
    this.log.warn({ vidPid: c.vidPid, why }, `${describeDevice(c)} detached`);
    this.events.emit('detached', { candidate: c });
    this.refreshHealth();
  }

  /** Opens the device for vendor controls, retrying while udev sets permissions; then applies the settings. */
  private async openForControls(c: MicCandidate, signal: AbortSignal): Promise<void> {
    const o = this.opts.open ?? { tries: 8, minMs: 250, maxMs: 4000 };
    const backoff = new Backoff({ minMs: o.minMs, maxMs: o.maxMs });
    let lastError: unknown;
    for (let attempt = 1; attempt <= o.tries && !signal.aborted; attempt++) {
      try {
        if (!c.device.opened) await c.device.open();
        if (signal.aborted || this.candidate !== c) {
          await c.device.close().catch(() => undefined);
          return;
        }
        this.control = new XmosControl(c.device, describeDevice(c));
        this.controlProblem = undefined;
        this.log.debug({ attempt }, 'opened for vendor controls');
        // The array forgets its settings without power: a replugged one gets them again.
        if (this.opts.applyOnAttach !== false) await this.applySettings().catch((e: unknown) => this.log.warn({ err: e }, 'microphone settings not applied after plug-in'));
        this.refreshHealth();
        return;
      } catch (e) {
        lastError = e;
        const wait = backoff.next();
        this.log.debug({ err: e, attempt, retryInMs: wait }, 'microphone not opened yet');
        if (attempt < o.tries) await sleep(wait, signal);
      }
    }
    if (signal.aborted || this.candidate !== c) return;
    this.controlProblem = `vendor controls unavailable: could not open the device (${errorMessage(lastError)}); check the udev rule giving lectern access to ${c.vidPid}`;
    this.log.error({ err: lastError, vidPid: c.vidPid }, this.controlProblem);
    this.refreshHealth();
  }

  // -------------------------------------------------------------------------------------------
  // Vendor controls

  private requireControl(): XmosControl {
    const c = this.candidate;
    if (!c) throw new DeviceError(`no USB microphone connected (looking for ${describeMatch(this.opts.config.match)})`);
    if (c.model?.protocol !== 'xmos') throw new DeviceError(`${describeDevice(c)} (${c.label}) has no vendor controls`);
    if (!this.control) throw new DeviceError(`${describeDevice(c)}: ${this.controlProblem ?? 'not opened yet for vendor controls'}`);
    return this.control;
  }

  /** Whether the microphone in use has vendor controls (a known array model). */
  hasControls(): boolean {
    return this.candidate?.model?.protocol === 'xmos';
  }

  /**
   * Writes the configured controls (AGC, noise and echo suppression) to the microphone. A plain
   * microphone, or a config without controls, has nothing to write: resolves with `{}`.
   */
  async applySettings(): Promise<Partial<Record<XmosParamName, number>>> {
    const settings = settingsFor(this.opts.config.controls);
    if (Object.keys(settings).length === 0) return {};
    if (!this.hasControls()) {
      if (this.candidate) this.log.warn({ model: this.candidate.label }, 'microphone controls are configured but this microphone has none; ignored');
      else throw new DeviceError(`no USB microphone connected (looking for ${describeMatch(this.opts.config.match)}); settings not applied`);
      return {};
    }
    const control = this.requireControl();
    const failed: string[] = [];
    for (const [param, value] of Object.entries(settings) as [XmosParamName, number][]) {
      try {
        await control.write(param, value);
      } catch (e) {
        failed.push(errorMessage(e));
      }
    }
    if (failed.length) {
      this.controlProblem = `settings not applied: ${failed.join('; ')}`;
      this.refreshHealth();
      throw new DeviceError(this.controlProblem);
    }
    this.controlProblem = undefined;
    this.refreshHealth();
    this.log.info({ settings }, 'microphone settings applied');
    this.events.emit('applied', { settings });
    return settings;
  }

  /** Reads the vendor state: controls, direction of arrival, voice activity. */
  async readState(): Promise<MicState> {
    const control = this.requireControl();
    return {
      agc: (await control.read('agc')) !== 0,
      agcGain: await control.read('agcGain'),
      stationaryNoiseSuppression: (await control.read('stationaryNoiseSuppression')) !== 0,
      nonStationaryNoiseSuppression: (await control.read('nonStationaryNoiseSuppression')) !== 0,
      echoSuppression: (await control.read('echoSuppression')) !== 0,
      doaDeg: await control.read('doaAngle'),
      voiceActivity: (await control.read('voiceActivity')) !== 0,
      speechDetected: (await control.read('speechDetected')) !== 0,
    };
  }

  /** Direction of arrival and voice activity, for voice tracking. */
  async readVoice(): Promise<{ angle: number; voice: boolean }> {
    const control = this.requireControl();
    const voice = (await control.read('voiceActivity')) !== 0;
    const angle = await control.read('doaAngle');
    return { angle, voice };
  }

  // -------------------------------------------------------------------------------------------
  // Lesson: settings at start, silence, voice tracking

  /** Looks at the lesson now; called on a timer, and by tests. */
  checkLesson(): void {
    const lesson = this.opts.lesson?.() ?? null;
    if (lesson && (lesson.state === 'preparing' || lesson.state === 'live') && this.appliedFor !== lesson.lessonId && this.candidate) {
      this.appliedFor = lesson.lessonId;
      this.applySettings().catch((e: unknown) => this.log.warn({ err: e, lessonId: lesson.lessonId }, `microphone settings not applied at lesson start: ${errorMessage(e)}`));
    }
    const live = lesson?.state === 'live';
    if (live === this.live) return;
    this.live = live;
    if (live) {
      this.tracking?.start();
    } else {
      this.tracking?.stop().catch((e: unknown) => this.log.warn({ err: e }, 'voice tracking did not stop cleanly'));
      this.quietSince = undefined;
      if (this.silentDetail) {
        this.silentDetail = undefined;
        this.refreshHealth();
      }
    }
  }

  /**
   * The pipeline's audio level (loudest channel, dB). While a lesson is live, a level below the
   * threshold for the configured time makes the microphone `degraded`; the first louder reading
   * clears it. Readings between lessons are ignored.
   */
  reportLevel(levelDb: number, at: number = this.now()): void {
    const s = this.opts.silence ?? { thresholdDb: -60, afterMs: 30_000 };
    if (!this.live) {
      this.quietSince = undefined;
      return;
    }
    if (levelDb < s.thresholdDb) {
      this.quietSince ??= at;
      if (at - this.quietSince >= s.afterMs) this.setSilent(true, levelDb, at - this.quietSince);
    } else {
      this.quietSince = undefined;
      this.setSilent(false, levelDb, 0);
    }
  }

  /** The pipeline's own silence verdict (its `silence` event), when it judges silence itself. */
  reportSilence(silent: boolean, levelDb: number, forMs = 0): void {
    if (!this.live && silent) return;
    this.setSilent(silent, levelDb, forMs);
  }

  private setSilent(silent: boolean, levelDb: number, forMs: number): void {
    const level = Number.isFinite(levelDb) ? `${levelDb.toFixed(1)} dB` : 'no signal';
    const detail = silent ? `silent during the lesson for ${Math.round(forMs / 1000)} s or more (level ${level}); check the cable, mute switch and ALSA mixer` : undefined;
    if ((detail === undefined) === (this.silentDetail === undefined)) return;
    this.silentDetail = detail;
    if (silent) this.log.warn({ levelDb }, 'microphone silent during the lesson');
    else this.log.info({ levelDb }, 'microphone hears sound again');
    this.refreshHealth();
  }
}
