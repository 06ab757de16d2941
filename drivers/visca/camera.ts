/**
 * One named PTZ camera (for example `teacher`) at one address of a VISCA bus. Reports its
 * health to the agent and offers the operations a lesson needs.
 *
 * Health comes from what the bus sees: `absent` while the port is missing, `fault` when
 * messages get no reply after all tries (or the port cannot be opened), `degraded` when recent
 * replies needed retries or were slow, `ok` otherwise. A periodic power inquiry keeps this
 * current even when nobody moves the camera (and notices an unplugged adapter that serialport
 * itself would not report).
 */
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { clampDetail, type DeviceHealth, type HealthSource } from '../../agent/devices.js';
import * as codec from './codec.js';
import type { Direction, PowerState, VersionInfo, ViscaRequest } from './codec.js';
import type { BusState, SendOptions, SendResult, ViscaController } from './controller.js';
import { ViscaArgumentError, ViscaCameraError, ViscaError, ViscaTimeoutError } from './errors.js';

export interface CameraOptions {
  /** The name from config, e.g. `teacher`. */
  id: string;
  /** 1–7 on a serial chain or raw TCP; always 1 over VISCA over IP. */
  address: number;
  bus: ViscaController;
  log?: Logger;
  /** A configured model label, reported until the version inquiry answers. */
  model?: string;
  /** Liveness: a power inquiry this often. */
  pollIntervalMs?: number;
  /** A reply slower than this marks the camera degraded. */
  slowReplyMs?: number;
  /** Default pan and tilt speeds for move(). */
  panSpeed?: number;
  tiltSpeed?: number;
  /** Highest tilt speed the model accepts (0x17 on most, 0x14 on some). */
  tiltSpeedMax?: number;
  /** How long a preset recall may take to complete. */
  presetTimeoutMs?: number;
}

export interface CameraInfo {
  id: string;
  address: number;
  port: string;
  power: PowerState;
  /** `VISCA 0x0001/0x0519`. */
  model: string;
  vendor: number;
  modelCode: number;
  rom: number;
  maxSocket: number;
  pan: number;
  tilt: number;
  zoom: number;
  /** Absent when the model does not answer the last-preset inquiry. */
  lastPreset?: number;
}

export type ZoomAction = 'tele' | 'wide' | 'stop';
export type FocusMode = 'auto' | 'manual' | 'one-push';
export type HealthListener = (now: DeviceHealth, before: DeviceHealth) => void;

/** Exchanges remembered for `degraded`; one clean window brings the camera back to `ok`. */
const WINDOW = 8;

interface Outcome {
  tries: number;
  replyMs: number;
}

export class Camera implements HealthSource {
  private readonly log: Logger;
  private readonly listeners = new Set<HealthListener>();
  private current: DeviceHealth;
  private recent: Outcome[] = [];
  private lastFailure: string | undefined;
  private answered = false;
  private version: VersionInfo | undefined;
  /** Asked once per connection: the camera on the other end may have been swapped. */
  private versionKnown = false;
  private running = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly options: CameraOptions) {
    this.log = (options.log ?? silentLogger()).child({ module: 'camera', camera: options.id });
    // Presumed working until the first check says otherwise: a camera broken at boot then
    // raises a fault event, and one that works raises none (an initial `absent` would do the
    // opposite: a "recovered" for every working camera on every start, no fault for a broken one).
    this.current = { kind: 'camera', id: options.id, status: 'ok', detail: 'not checked yet', ...(options.model ? { model: options.model } : {}) };
  }

  get id(): string {
    return this.options.id;
  }

  get address(): number {
    return this.options.address;
  }

  /** The serial path or host:port. */
  get port(): string {
    return this.options.bus.name;
  }

  get bus(): ViscaController {
    return this.options.bus;
  }

  // -------------------------------------------------------------------------------------------
  // HealthSource
  // -------------------------------------------------------------------------------------------

  health(): DeviceHealth {
    return { ...this.current };
  }

  onHealthChange(listener: HealthListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private setHealth(status: DeviceHealth['status'], detail?: string): void {
    const model = this.version ? codec.modelString(this.version) : this.options.model;
    const next: DeviceHealth = {
      kind: 'camera',
      id: this.options.id,
      status,
      ...(model ? { model } : {}),
      ...(detail ? { detail: clampDetail(detail) } : {}),
    };
    const before = this.current;
    this.current = next;
    if (before.detail !== next.detail && next.detail) this.log.debug({ status: next.status, detail: next.detail }, 'camera health detail');
    // Listeners hear about status changes; a new wording of the same state is not an event.
    if (before.status === next.status) return;
    this.log.info({ from: before.status, to: next.status, detail: next.detail }, 'camera health changed');
    for (const l of [...this.listeners]) {
      try {
        l({ ...next }, { ...before });
      } catch (e) {
        this.log.error({ err: e }, 'camera health listener failed');
      }
    }
  }

  private refreshHealth(): void {
    if (!this.running) return;
    const bus = this.options.bus;
    const state: BusState = bus.state;
    if (state === 'absent') return this.setHealth('absent', bus.stateDetail ?? `port ${this.port} is missing`);
    if (state === 'failed') return this.setHealth('fault', bus.stateDetail ?? `VISCA bus ${this.port} failed`);
    if (this.lastFailure) return this.setHealth('fault', this.lastFailure);
    // Opening or reopening: nothing new is known yet.
    if (state !== 'open') return;
    if (!this.answered) return;
    const slowMs = this.options.slowReplyMs ?? 300;
    const retried = this.recent.filter((o) => o.tries > 1).length;
    const slow = this.recent.filter((o) => o.replyMs > slowMs);
    if (retried > 0 || slow.length > 0) {
      const parts: string[] = [];
      if (retried > 0) parts.push(`${retried} of the last ${this.recent.length} VISCA exchanges needed retries`);
      if (slow.length > 0) parts.push(`${slow.length} replies slower than ${slowMs} ms (slowest ${Math.round(Math.max(...slow.map((o) => o.replyMs)))} ms)`);
      return this.setHealth('degraded', `camera ${this.address} on ${this.port}: ${parts.join('; ')}`);
    }
    this.setHealth('ok');
  }

  private record(outcome: Outcome): void {
    this.answered = true;
    this.lastFailure = undefined;
    this.recent.push(outcome);
    if (this.recent.length > WINDOW) this.recent.shift();
    this.refreshHealth();
  }

  /** Every exchange passes here, so commands count for health as much as the liveness poll. */
  private async exec(request: ViscaRequest, options: SendOptions = {}, learn?: (r: SendResult) => void): Promise<SendResult> {
    try {
      const r = await this.options.bus.send(this.address, request, options);
      // Learned before health is updated, so a change event already carries it (the model).
      learn?.(r);
      this.record({ tries: r.tries, replyMs: r.replyMs });
      return r;
    } catch (e) {
      if (e instanceof ViscaTimeoutError && e.phase === 'reply') {
        this.lastFailure = e.message;
        this.refreshHealth();
      } else if (e instanceof ViscaCameraError) {
        // It answered, if only to refuse: the camera is there.
        this.record({ tries: 1, replyMs: 0 });
      }
      throw e;
    }
  }

  private async inquire(request: ViscaRequest): Promise<Uint8Array> {
    const r = await this.exec(request);
    return r.data ?? new Uint8Array();
  }

  private decoded<T>(request: ViscaRequest, d: codec.Decoded<T>): T {
    if (d.ok) return d.value;
    throw new ViscaError(`camera ${this.address} on ${this.port}: bad answer to ${request.name}: ${d.reason}`, this.port, this.address);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  /** Attach to the bus (opening it if this is its first camera) and start the liveness poll. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unsubscribe.push(
      this.options.bus.onState((state) => {
        if (state !== 'open') {
          // What was learned belongs to the old connection; the first probe after reopening
          // decides (so an unplug and replug reports absent, then ok, with nothing between).
          this.answered = false;
          this.recent = [];
          this.versionKnown = false;
        }
        // A fault survives a mere reopen (the bus reopens after many unanswered messages; a
        // silent camera must stay a fault through that), but not a missing or failed port.
        if (state === 'absent' || state === 'failed' || state === 'stopped') this.lastFailure = undefined;
        this.refreshHealth();
        if (state === 'open') this.probeSoon(0);
      }),
      this.options.bus.onNetworkChange((address) => {
        // Powered up (or claims so): check on it now rather than at the next poll.
        if (address === this.address) this.probeSoon(0);
      }),
    );
    try {
      await this.options.bus.attach(this);
    } catch (e) {
      // Only a bus without reconnect fails here; leave nothing running behind.
      this.running = false;
      for (const u of this.unsubscribe) u();
      this.unsubscribe = [];
      await this.options.bus.detach(this);
      throw e;
    }
    this.refreshHealth();
    if (this.options.bus.state === 'open') this.probeSoon(0);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.options.bus.detach(this);
    await this.probing?.catch(() => undefined);
  }

  private probeSoon(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.probing) return;
      this.probing = this.probe().finally(() => {
        this.probing = undefined;
        this.probeSoon(this.options.pollIntervalMs ?? 5000);
      });
    }, delayMs);
  }

  /** One liveness check: power inquiry, and the version once per connection. */
  private async probe(): Promise<void> {
    if (this.options.bus.state !== 'open') return;
    try {
      if (!this.versionKnown) {
        // First, so that the health event on (re)connection names the model.
        await this.exec(codec.inquireVersion(this.address), {}, (r) => {
          const v = codec.decodeVersionAnswer(r.data ?? new Uint8Array());
          if (!v.ok) return;
          this.version = v.value;
          this.versionKnown = true;
          this.refreshHealthModel();
        });
      }
      await this.exec(codec.inquirePower(this.address));
    } catch (e) {
      this.log.debug({ err: e }, 'camera liveness inquiry failed');
    }
  }

  private refreshHealthModel(): void {
    const model = this.version ? codec.modelString(this.version) : this.options.model;
    if (model) this.current = { ...this.current, model };
  }

  // -------------------------------------------------------------------------------------------
  // Operations
  // -------------------------------------------------------------------------------------------

  private checkRange(what: string, value: number, min: number, max: number): void {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ViscaArgumentError(`camera ${this.options.id} (${this.port}): ${what} must be ${min}–${max}, got ${value}`, this.port, this.address);
    }
  }

  private speeds(speed?: number | { pan: number; tilt: number }): { pan: number; tilt: number } {
    const tiltMax = this.options.tiltSpeedMax ?? codec.TILT_SPEED_MAX;
    if (speed === undefined) {
      return { pan: this.options.panSpeed ?? 0x0c, tilt: Math.min(this.options.tiltSpeed ?? 0x0c, tiltMax) };
    }
    if (typeof speed === 'number') {
      this.checkRange('speed', speed, 1, codec.PAN_SPEED_MAX);
      return { pan: speed, tilt: Math.min(speed, tiltMax) };
    }
    this.checkRange('pan speed', speed.pan, 1, codec.PAN_SPEED_MAX);
    this.checkRange('tilt speed', speed.tilt, 1, tiltMax);
    return speed;
  }

  /** Vendor, model, ROM, power and position. */
  async info(): Promise<CameraInfo> {
    const a = this.address;
    const powerReq = codec.inquirePower(a);
    const power = this.decoded(powerReq, codec.decodePowerAnswer(await this.inquire(powerReq)));
    const versionReq = codec.inquireVersion(a);
    const version = this.decoded(versionReq, codec.decodeVersionAnswer(await this.inquire(versionReq)));
    this.version = version;
    this.versionKnown = true;
    this.refreshHealthModel();
    const ptReq = codec.inquirePanTilt(a);
    const pt = this.decoded(ptReq, codec.decodePanTiltAnswer(await this.inquire(ptReq)));
    const zoomReq = codec.inquireZoom(a);
    const zoom = this.decoded(zoomReq, codec.decodeZoomAnswer(await this.inquire(zoomReq)));
    let lastPreset: number | undefined;
    try {
      const d = codec.decodeLastPresetAnswer(await this.inquire(codec.inquireLastPreset(a)));
      if (d.ok) lastPreset = d.value;
    } catch (e) {
      // Many models do not know this inquiry; the rest of the answer still stands.
      if (!(e instanceof ViscaCameraError)) throw e;
    }
    return {
      id: this.options.id,
      address: a,
      port: this.port,
      power,
      model: codec.modelString(version),
      vendor: version.vendor,
      modelCode: version.model,
      rom: version.rom,
      maxSocket: version.maxSocket,
      pan: pt.pan,
      tilt: pt.tilt,
      zoom,
      ...(lastPreset !== undefined ? { lastPreset } : {}),
    };
  }

  async powerState(): Promise<PowerState> {
    const req = codec.inquirePower(this.address);
    return this.decoded(req, codec.decodePowerAnswer(await this.inquire(req)));
  }

  async position(): Promise<{ pan: number; tilt: number; zoom: number }> {
    const ptReq = codec.inquirePanTilt(this.address);
    const pt = this.decoded(ptReq, codec.decodePanTiltAnswer(await this.inquire(ptReq)));
    const zoomReq = codec.inquireZoom(this.address);
    const zoom = this.decoded(zoomReq, codec.decodeZoomAnswer(await this.inquire(zoomReq)));
    return { ...pt, zoom };
  }

  /** Power on (resolves when the camera finished booting) or standby. */
  async power(on: boolean): Promise<void> {
    await this.exec(on ? codec.powerOn(this.address) : codec.powerStandby(this.address));
  }

  /** Start moving (until stopMotion() or the end of travel); `stop` stops. */
  async move(direction: Direction | 'stop', speed?: number | { pan: number; tilt: number }): Promise<void> {
    if (direction !== 'stop' && !codec.DIRECTIONS.includes(direction)) {
      throw new ViscaArgumentError(`camera ${this.options.id} (${this.port}): unknown direction "${String(direction)}"`, this.port, this.address);
    }
    const s = this.speeds(speed);
    await this.exec(codec.panTiltDrive(this.address, direction, s.pan, s.tilt));
  }

  /** Stop pan and tilt motion. (`stop()` is the lifecycle method.) */
  async stopMotion(): Promise<void> {
    await this.move('stop');
  }

  /** Zoom in, out or stop, at the standard speed or at variable speed 0–7. */
  async zoom(action: ZoomAction, speed?: number): Promise<void> {
    if (speed !== undefined) this.checkRange('zoom speed', speed, 0, codec.ZOOM_SPEED_MAX);
    const a = this.address;
    const req = action === 'stop' ? codec.zoomStop(a) : action === 'tele' ? codec.zoomTele(a, speed) : action === 'wide' ? codec.zoomWide(a, speed) : undefined;
    if (!req) throw new ViscaArgumentError(`camera ${this.options.id} (${this.port}): unknown zoom action "${String(action)}"`, this.port, this.address);
    await this.exec(req);
  }

  /** Zoom to a position (0 wide … 0x4000 tele on most models); resolves when it is there. */
  async zoomTo(position: number): Promise<void> {
    this.checkRange('zoom position', position, codec.ZOOM_MIN, codec.ZOOM_MAX);
    await this.exec(codec.zoomDirect(this.address, position));
  }

  /** Move to an absolute pan/tilt position; resolves when the move ends. */
  async moveTo(pan: number, tilt: number, speed?: number | { pan: number; tilt: number }): Promise<void> {
    this.checkRange('pan position', pan, codec.PAN_MIN, codec.PAN_MAX);
    this.checkRange('tilt position', tilt, codec.TILT_MIN, codec.TILT_MAX);
    const s = this.speeds(speed ?? { pan: codec.PAN_SPEED_MAX, tilt: Math.min(codec.TILT_SPEED_MAX, this.options.tiltSpeedMax ?? codec.TILT_SPEED_MAX) });
    await this.exec(codec.absoluteMove(this.address, pan, tilt, s.pan, s.tilt));
  }

  /** Move by an offset; never resent after a lost reply (it would move twice). */
  async moveBy(pan: number, tilt: number, speed?: number | { pan: number; tilt: number }): Promise<void> {
    this.checkRange('pan offset', pan, -0x8000, 0x7fff);
    this.checkRange('tilt offset', tilt, -0x8000, 0x7fff);
    const s = this.speeds(speed);
    await this.exec(codec.relativeMove(this.address, pan, tilt, s.pan, s.tilt));
  }

  async home(): Promise<void> {
    await this.exec(codec.home(this.address));
  }

  /** Pan-tilt reset: the camera re-learns its end stops (takes several seconds). */
  async resetPanTilt(): Promise<void> {
    await this.exec(codec.panTiltReset(this.address));
  }

  async focus(mode: FocusMode): Promise<void> {
    const a = this.address;
    const req = mode === 'auto' ? codec.focusAuto(a) : mode === 'manual' ? codec.focusManual(a) : mode === 'one-push' ? codec.focusOnePush(a) : undefined;
    if (!req) throw new ViscaArgumentError(`camera ${this.options.id} (${this.port}): unknown focus mode "${String(mode)}"`, this.port, this.address);
    await this.exec(req);
  }

  /** Recall a preset; resolves when the camera has arrived. Abort the signal to cancel the move. */
  async presetRecall(n: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkRange('preset', n, 0, codec.PRESET_MAX);
    await this.exec(codec.presetRecall(this.address, n), {
      completionTimeoutMs: this.options.presetTimeoutMs ?? 15_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Store the current position as preset n. */
  async presetSave(n: number): Promise<void> {
    this.checkRange('preset', n, 0, codec.PRESET_MAX);
    await this.exec(codec.presetSet(this.address, n));
  }

  async presetReset(n: number): Promise<void> {
    this.checkRange('preset', n, 0, codec.PRESET_MAX);
    await this.exec(codec.presetReset(this.address, n));
  }
}
