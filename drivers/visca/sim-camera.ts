/**
 * The state machine of one simulated VISCA camera: power, pan/tilt/zoom positions that change
 * over time, presets, two command sockets, and the replies a camera sends. It knows nothing of
 * ports: it gets a packet and a function to answer with (the simulator routes both).
 *
 * Motion is modelled per axis as a linear move from one position to another over a duration,
 * so positions are computed when asked, not ticked by a timer; only Completions need timers.
 */
import {
  PAN_MAX,
  PAN_MIN,
  PAN_SPEED_MAX,
  PRESET_MAX,
  TERMINATOR,
  TILT_MAX,
  TILT_MIN,
  TILT_SPEED_MAX,
  ZOOM_MAX,
  ZOOM_MIN,
  fromNibbles,
  toNibbles,
  toSigned16,
  type VersionInfo,
} from './codec.js';

export type Reply = (packet: Uint8Array) => void;

export interface SimQuirks {
  /** Commands that finish at once are answered with Completion only, no ACK. */
  completionWithoutAck?: boolean;
  /** Every ACK and Completion names socket 1, whichever socket really runs the command. */
  reuseSocket?: boolean;
}

export interface SimCameraOptions {
  /** Motion speed factor: 2 makes every move take half as long. */
  moveSpeed: number;
  /** Power-on time at speed factor 1. */
  bootMs: number;
  power: 'on' | 'standby';
  version: VersionInfo;
  quirks: () => SimQuirks;
  now: () => number;
  /** Power-up finished: the simulator sends `z0 38 FF` where a chain can hear it. */
  onPowerUp: (camera: SimCamera) => void;
}

/** Full pan travel (DE00–2200) in 2 s at the highest speed; tilt (FC00–1200) in 1.5 s. */
const PAN_UNITS_PER_MS = (PAN_MAX - PAN_MIN) / 2000;
const TILT_UNITS_PER_MS = (TILT_MAX - TILT_MIN) / 1500;
/** Full zoom travel in 2 s (direct, and tele/wide at the standard speed). */
const ZOOM_UNITS_PER_MS = (ZOOM_MAX - ZOOM_MIN) / 2000;
/** Even a move to where the camera already is takes a moment. */
const MIN_MOVE_MS = 300;
const RESET_MS = 3000;

class Axis {
  private from: number;
  private to: number;
  private t0 = 0;
  private duration = 0;
  /** Counts moves: a command finishes or freezes an axis only if no later move took it over. */
  generation = 0;

  constructor(
    position: number,
    private readonly min: number,
    private readonly max: number,
  ) {
    this.from = position;
    this.to = position;
  }

  at(now: number): number {
    if (this.duration <= 0) return this.to;
    const f = Math.min(1, Math.max(0, (now - this.t0) / this.duration));
    return Math.round(this.from + (this.to - this.from) * f);
  }

  moving(now: number): boolean {
    return this.duration > 0 && now < this.t0 + this.duration;
  }

  moveTo(now: number, target: number, durationMs: number): void {
    this.generation++;
    this.from = this.at(now);
    this.to = Math.min(this.max, Math.max(this.min, target));
    this.t0 = now;
    this.duration = Math.max(0, durationMs);
  }

  /** Move toward `target` at `unitsPerMs`; returns the time it takes. */
  driveTo(now: number, target: number, unitsPerMs: number): number {
    const from = this.at(now);
    const clamped = Math.min(this.max, Math.max(this.min, target));
    const ms = Math.abs(clamped - from) / unitsPerMs;
    this.moveTo(now, clamped, ms);
    return ms;
  }

  /** The move is over: be exactly at the target (a timer may fire a hair before its time). */
  finish(): void {
    this.from = this.to;
    this.duration = 0;
  }

  stop(now: number): void {
    this.generation++;
    const p = this.at(now);
    this.from = p;
    this.to = p;
    this.duration = 0;
  }

  set(position: number): void {
    this.generation++;
    this.from = this.to = Math.min(this.max, Math.max(this.min, position));
    this.duration = 0;
  }
}

type Group = 'pan-tilt' | 'zoom' | 'power' | 'other';

interface Execution {
  socket: number;
  group: Group;
  reply: Reply;
  timer: NodeJS.Timeout | undefined;
  /** The axes it moves: frozen where they are when it is cancelled. */
  axes: Axis[];
  /** Each axis's move generation when this command started it. */
  generations: number[];
}

interface Preset {
  pan: number;
  tilt: number;
  zoom: number;
}

export class SimCamera {
  /** Changes with Address Set. */
  address: number;
  private powered: 'on' | 'standby';
  private booting = false;
  readonly pan: Axis = new Axis(0, PAN_MIN, PAN_MAX);
  readonly tilt: Axis = new Axis(0, TILT_MIN, TILT_MAX);
  readonly zoomAxis: Axis = new Axis(0, ZOOM_MIN, ZOOM_MAX);
  readonly presets = new Map<number, Preset>();
  lastPreset = 0;
  focus: 'auto' | 'manual' = 'auto';
  private readonly sockets = new Map<number, Execution>();
  /** Every packet this camera handled, newest last (bounded), for tests. */
  readonly handled: string[] = [];

  constructor(
    address: number,
    private readonly options: SimCameraOptions,
  ) {
    this.address = address;
    this.powered = options.power;
  }

  get power(): 'on' | 'standby' {
    return this.powered;
  }

  get isBooting(): boolean {
    return this.booting;
  }

  /** Sockets holding a command that has not completed. */
  get busySockets(): number[] {
    return [...this.sockets.keys()].sort();
  }

  position(): { pan: number; tilt: number; zoom: number } {
    const now = this.options.now();
    return { pan: this.pan.at(now), tilt: this.tilt.at(now), zoom: this.zoomAxis.at(now) };
  }

  /** For tests: put the camera in a state without going through commands. */
  setPower(state: 'on' | 'standby'): void {
    this.powered = state;
    this.booting = false;
  }

  setPosition(p: { pan?: number; tilt?: number; zoom?: number }): void {
    if (p.pan !== undefined) this.pan.set(p.pan);
    if (p.tilt !== undefined) this.tilt.set(p.tilt);
    if (p.zoom !== undefined) this.zoomAxis.set(p.zoom);
  }

  /** IF_Clear: forget every command in the sockets; none of them will complete. */
  clear(): void {
    for (const e of this.sockets.values()) {
      clearTimeout(e.timer);
      this.freeze(e);
    }
    this.sockets.clear();
  }

  close(): void {
    this.clear();
  }

  private get header(): number {
    return (this.address + 8) << 4;
  }

  private packet(...data: number[]): Uint8Array {
    return Uint8Array.from([this.header, ...data, TERMINATOR]);
  }

  private speed(): number {
    return this.options.moveSpeed > 0 ? this.options.moveSpeed : 1;
  }

  private reported(socket: number): number {
    return this.options.quirks().reuseSocket ? 1 : socket;
  }

  /** Handle one packet addressed to this camera (header and FF included). */
  handle(packet: Uint8Array, reply: Reply): void {
    if (this.handled.length >= 1000) this.handled.shift();
    this.handled.push(Array.from(packet, (b) => b.toString(16).padStart(2, '0')).join(' '));
    const body = Array.from(packet.subarray(1, -1));
    const b0 = body[0];
    if (b0 === undefined) {
      reply(this.packet(0x60, 0x01));
      return;
    }
    if ((b0 & 0xf0) === 0x20 && body.length === 1) return this.cancel(b0 & 0x0f, reply);
    if (b0 === 0x09) return this.inquiry(body, reply);
    if (b0 === 0x01) return this.command(body, reply);
    reply(this.packet(0x60, 0x02));
  }

  private cancel(socket: number, reply: Reply): void {
    const e = this.sockets.get(socket);
    if (!e) {
      reply(this.packet(0x60 | socket, 0x05));
      return;
    }
    clearTimeout(e.timer);
    this.freeze(e);
    this.sockets.delete(socket);
    reply(this.packet(0x60 | this.reported(socket), 0x04));
  }

  private inquiry(body: number[], reply: Reply): void {
    const key = body.slice(0, 3).map((b) => b.toString(16).padStart(2, '0')).join('');
    const expectLength = (n: number): boolean => {
      if (body.length === n) return true;
      reply(this.packet(0x60, 0x01));
      return false;
    };
    const now = this.options.now();
    switch (key) {
      case '090400':
        if (expectLength(3)) reply(this.packet(0x50, this.powered === 'on' ? 0x02 : 0x03));
        return;
      case '090447':
        if (expectLength(3)) reply(this.packet(0x50, ...toNibbles(this.zoomAxis.at(now))));
        return;
      case '090612':
        if (expectLength(3)) reply(this.packet(0x50, ...toNibbles(this.pan.at(now)), ...toNibbles(this.tilt.at(now))));
        return;
      case '090002': {
        if (!expectLength(3)) return;
        const v = this.options.version;
        reply(this.packet(0x50, (v.vendor >> 8) & 0xff, v.vendor & 0xff, (v.model >> 8) & 0xff, v.model & 0xff, (v.rom >> 8) & 0xff, v.rom & 0xff, v.maxSocket));
        return;
      }
      case '09043f':
        if (expectLength(3)) reply(this.packet(0x50, this.lastPreset));
        return;
      default:
        reply(this.packet(0x60, 0x02));
    }
  }

  private command(body: number[], reply: Reply): void {
    const parsed = this.parse(body);
    if (parsed === 'length') return reply(this.packet(0x60, 0x01));
    if (parsed === 'syntax') return reply(this.packet(0x60, 0x02));
    if (parsed.kind === 'if-clear') {
      this.clear();
      reply(this.packet(0x50));
      return;
    }
    const free = [1, 2].find((s) => !this.sockets.has(s));
    const isPower = parsed.kind === 'power-on' || parsed.kind === 'power-standby';
    if (!isPower && (this.powered !== 'on' || this.booting)) {
      // Refused before it gets a socket: the socket named is one that was never ACKed.
      reply(this.packet(0x60 | this.reported(free ?? 1), 0x41));
      return;
    }
    // A new move of the same kind takes over from the one running: that one ends here.
    if (parsed.group === 'pan-tilt' || parsed.group === 'zoom') this.supersede(parsed.group);
    const socket = [1, 2].find((s) => !this.sockets.has(s));
    if (socket === undefined) {
      reply(this.packet(0x60, 0x03));
      return;
    }
    const now = this.options.now();
    const durationMs = parsed.run(now);
    if (durationMs === undefined) {
      // Done at once.
      if (!this.options.quirks().completionWithoutAck) reply(this.packet(0x40 | this.reported(socket)));
      reply(this.packet(0x50 | this.reported(socket)));
      return;
    }
    const e: Execution = {
      socket,
      group: parsed.group,
      reply,
      timer: undefined,
      axes: parsed.axes ?? [],
      generations: (parsed.axes ?? []).map((a) => a.generation),
    };
    this.sockets.set(socket, e);
    reply(this.packet(0x40 | this.reported(socket)));
    e.timer = setTimeout(() => {
      if (this.sockets.get(socket) !== e) return;
      this.sockets.delete(socket);
      e.axes.forEach((axis, i) => {
        if (axis.generation === e.generations[i]) axis.finish();
      });
      parsed.onDone?.();
      reply(this.packet(0x50 | this.reported(socket)));
      parsed.afterCompletion?.();
    }, durationMs);
  }

  private supersede(group: Group): void {
    for (const [socket, e] of this.sockets) {
      if (e.group !== group) continue;
      clearTimeout(e.timer);
      this.sockets.delete(socket);
      e.reply(this.packet(0x50 | this.reported(socket)));
    }
  }

  private stopAll(): void {
    const now = this.options.now();
    this.pan.stop(now);
    this.tilt.stop(now);
    this.zoomAxis.stop(now);
    for (const [socket, e] of this.sockets) {
      if (e.group === 'power') continue;
      clearTimeout(e.timer);
      this.sockets.delete(socket);
      e.reply(this.packet(0x50 | this.reported(socket)));
    }
  }

  /** A timed move of both pan and tilt to a target at the given speeds; returns its duration. */
  private panTiltTo(now: number, pan: number, tilt: number, vPan: number, vTilt: number): number {
    const s = this.speed();
    const p = Math.min(PAN_MAX, Math.max(PAN_MIN, pan));
    const t = Math.min(TILT_MAX, Math.max(TILT_MIN, tilt));
    const panMs = Math.abs(p - this.pan.at(now)) / ((PAN_UNITS_PER_MS * vPan) / PAN_SPEED_MAX);
    const tiltMs = Math.abs(t - this.tilt.at(now)) / ((TILT_UNITS_PER_MS * vTilt) / TILT_SPEED_MAX);
    const ms = Math.max(panMs, tiltMs, MIN_MOVE_MS) / s;
    this.pan.moveTo(now, p, ms);
    this.tilt.moveTo(now, t, ms);
    return ms;
  }

  /** Stop the axes a cancelled command was moving, unless a later move has taken them over. */
  private freeze(e: Execution): void {
    const now = this.options.now();
    e.axes.forEach((axis, i) => {
      if (axis.generation === e.generations[i]) axis.stop(now);
    });
  }

  private parse(body: number[]): ParsedCommand | 'length' | 'syntax' {
    const [, b1, b2, b3, b4, b5, b6] = body;
    const n = body.length;
    const len = (expected: number, make: () => ParsedCommand | 'syntax'): ParsedCommand | 'length' | 'syntax' => (n === expected ? make() : 'length');
    const s = this.speed();

    if (b1 === 0x00 && b2 === 0x01) return len(3, () => ({ kind: 'if-clear', group: 'other', run: () => undefined }));
    if (b1 === 0x04 && b2 === 0x00) {
      return len(4, () => {
        if (b3 === 0x02) {
          return {
            kind: 'power-on',
            group: 'power',
            run: () => {
              if (this.powered === 'on' && !this.booting) return undefined;
              this.booting = true;
              return this.options.bootMs / s;
            },
            onDone: () => {
              this.booting = false;
              this.powered = 'on';
            },
            afterCompletion: () => this.options.onPowerUp(this),
          };
        }
        if (b3 === 0x03) {
          return {
            kind: 'power-standby',
            group: 'power',
            run: () => {
              this.stopAll();
              this.booting = false;
              this.powered = 'standby';
              return undefined;
            },
          };
        }
        return 'syntax';
      });
    }
    if (b1 === 0x06 && b2 === 0x01) {
      return len(7, () => {
        const vPan = b3 ?? 0;
        const vTilt = b4 ?? 0;
        if (vPan < 1 || vPan > PAN_SPEED_MAX || vTilt < 1 || vTilt > TILT_SPEED_MAX) return 'syntax';
        const panDir = b5 === 0x01 ? -1 : b5 === 0x02 ? 1 : b5 === 0x03 ? 0 : undefined;
        const tiltDir = b6 === 0x01 ? 1 : b6 === 0x02 ? -1 : b6 === 0x03 ? 0 : undefined;
        if (panDir === undefined || tiltDir === undefined) return 'syntax';
        return {
          kind: 'drive',
          group: 'pan-tilt',
          run: (now) => {
            if (panDir === 0) this.pan.stop(now);
            else this.pan.driveTo(now, panDir < 0 ? PAN_MIN : PAN_MAX, ((PAN_UNITS_PER_MS * vPan) / PAN_SPEED_MAX) * s);
            if (tiltDir === 0) this.tilt.stop(now);
            else this.tilt.driveTo(now, tiltDir < 0 ? TILT_MIN : TILT_MAX, ((TILT_UNITS_PER_MS * vTilt) / TILT_SPEED_MAX) * s);
            return undefined;
          },
        };
      });
    }
    if (b1 === 0x06 && (b2 === 0x02 || b2 === 0x03)) {
      return len(13, () => {
        const vPan = b3 ?? 0;
        const vTilt = b4 ?? 0;
        const data = Uint8Array.from(body);
        const y = fromNibbles(data, 5);
        const z = fromNibbles(data, 9);
        if (vPan < 1 || vPan > PAN_SPEED_MAX || vTilt < 1 || vTilt > TILT_SPEED_MAX || y === undefined || z === undefined) return 'syntax';
        const relative = b2 === 0x03;
        return {
          kind: relative ? 'relative' : 'absolute',
          group: 'pan-tilt',
          run: (now) => {
            const pan = toSigned16(y) + (relative ? this.pan.at(now) : 0);
            const tilt = toSigned16(z) + (relative ? this.tilt.at(now) : 0);
            return this.panTiltTo(now, pan, tilt, vPan, vTilt);
          },
          axes: [this.pan, this.tilt],
        };
      });
    }
    if (b1 === 0x06 && b2 === 0x04) {
      return len(3, () => ({ kind: 'home', group: 'pan-tilt', run: (now) => this.panTiltTo(now, 0, 0, PAN_SPEED_MAX, TILT_SPEED_MAX), axes: [this.pan, this.tilt] }));
    }
    if (b1 === 0x06 && b2 === 0x05) {
      return len(3, () => ({
        kind: 'reset',
        group: 'pan-tilt',
        run: (now) => {
          const ms = RESET_MS / s;
          this.pan.moveTo(now, 0, ms);
          this.tilt.moveTo(now, 0, ms);
          return ms;
        },
        axes: [this.pan, this.tilt],
      }));
    }
    if (b1 === 0x04 && b2 === 0x07) {
      return len(4, () => {
        const p = b3 ?? 0;
        const rate = (variable: number): number => (ZOOM_UNITS_PER_MS * (variable + 1)) / 8;
        let target: number | undefined;
        let unitsPerMs = ZOOM_UNITS_PER_MS;
        if (p === 0x00) target = undefined;
        else if (p === 0x02) target = ZOOM_MAX;
        else if (p === 0x03) target = ZOOM_MIN;
        else if ((p & 0xf0) === 0x20 && (p & 0x0f) <= 7) {
          target = ZOOM_MAX;
          unitsPerMs = rate(p & 0x0f);
        } else if ((p & 0xf0) === 0x30 && (p & 0x0f) <= 7) {
          target = ZOOM_MIN;
          unitsPerMs = rate(p & 0x0f);
        } else return 'syntax';
        return {
          kind: 'zoom-drive',
          group: 'zoom',
          run: (now) => {
            if (target === undefined) this.zoomAxis.stop(now);
            else this.zoomAxis.driveTo(now, target, unitsPerMs * s);
            return undefined;
          },
        };
      });
    }
    if (b1 === 0x04 && b2 === 0x47) {
      return len(7, () => {
        const v = fromNibbles(Uint8Array.from(body), 3);
        if (v === undefined) return 'syntax';
        return {
          kind: 'zoom-direct',
          group: 'zoom',
          run: (now) => {
            const target = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, v));
            const ms = Math.max(Math.abs(target - this.zoomAxis.at(now)) / ZOOM_UNITS_PER_MS, MIN_MOVE_MS) / s;
            this.zoomAxis.moveTo(now, target, ms);
            return ms;
          },
          axes: [this.zoomAxis],
        };
      });
    }
    if (b1 === 0x04 && b2 === 0x38) {
      return len(4, () => {
        if (b3 !== 0x02 && b3 !== 0x03) return 'syntax';
        const mode = b3 === 0x02 ? 'auto' : 'manual';
        return {
          kind: 'focus',
          group: 'other',
          run: () => {
            this.focus = mode;
            return undefined;
          },
        };
      });
    }
    if (b1 === 0x04 && b2 === 0x18) {
      return len(4, () => (b3 === 0x01 ? { kind: 'focus', group: 'other', run: () => undefined } : 'syntax'));
    }
    if (b1 === 0x04 && b2 === 0x3f) {
      return len(5, () => {
        const op = b3;
        const number = b4 ?? 0;
        if ((op !== 0 && op !== 1 && op !== 2) || number > PRESET_MAX) return 'syntax';
        if (op === 0) {
          return {
            kind: 'preset-reset',
            group: 'other',
            run: () => {
              this.presets.delete(number);
              return undefined;
            },
          };
        }
        if (op === 1) {
          return {
            kind: 'preset-set',
            group: 'other',
            run: (now) => {
              this.presets.set(number, { pan: this.pan.at(now), tilt: this.tilt.at(now), zoom: this.zoomAxis.at(now) });
              this.lastPreset = number;
              return undefined;
            },
          };
        }
        return {
          kind: 'preset-recall',
          group: 'pan-tilt',
          run: (now) => {
            // An unset preset recalls the home position, as most cameras do.
            const p = this.presets.get(number) ?? { pan: 0, tilt: 0, zoom: 0 };
            this.lastPreset = number;
            const ms = this.panTiltTo(now, p.pan, p.tilt, PAN_SPEED_MAX, TILT_SPEED_MAX);
            this.zoomAxis.moveTo(now, p.zoom, ms);
            return ms;
          },
          axes: [this.pan, this.tilt, this.zoomAxis],
        };
      });
    }
    return 'syntax';
  }
}

interface ParsedCommand {
  kind: string;
  group: Group;
  /** Start it; returns how long until Completion, or undefined when it is done at once. */
  run: (now: number) => number | undefined;
  /** Timed moves: the axes that must be at their target on Completion. */
  axes?: Axis[];
  onDone?: () => void;
  afterCompletion?: () => void;
}
