/**
 * A protocol-faithful interactive panel on a serial line: Samsung MDC, LG or BenQ, answering
 * power and input commands and queries as the reference describes, with its own power and
 * input state. Used in-process by tests and the agent's simulate mode, and by
 * `lectern sim display` on one end of a socat pty pair.
 *
 * It can misbehave on purpose: stop answering, answer with garbage, put noise before replies,
 * split replies across writes, delay them, or refuse (NAK / NG / `-`) every command.
 */
import { SimSerialPorts } from '../sim-serial.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { BENQ_INPUTS, BENQ_INPUT_GET, BENQ_INPUT_SET, BENQ_POWER_GET, BENQ_POWER_SET, BenqParser, benqFrame, decodeBenq } from './benq.js';
import { LG_INPUTS } from './lg.js';
import { MDC_ACK, MDC_INPUT, MDC_INPUTS, MDC_NAK, MDC_POWER, MDC_REPLY, MdcParser, decodeMdc, mdcFrame } from './samsung-mdc.js';
import { ascii, hex, latin1, printable, type PowerState, type ProfileName, type ReplyParser } from './protocol.js';

export type SimProfile = Exclude<ProfileName, 'custom'>;
export const SIM_PROFILES: readonly SimProfile[] = ['samsung-mdc', 'lg', 'benq'];

export interface SimDisplayFaults {
  /** Answer nothing at all (a panel switched off at the wall, or a broken cable). */
  silent?: boolean;
  /** Answer every command with bytes that are not a reply. */
  garbage?: boolean;
  /** Refuse every command (Samsung NAK, LG NG, BenQ `-`). */
  refuse?: boolean;
  /** Probability (0–1) of noise bytes before a reply. */
  noise?: number;
  /** Probability (0–1) that a reply is written in two pieces, a moment apart. */
  split?: number;
  /** Every reply waits this long. */
  delayMs?: number;
}

export interface DisplaySimulatorOptions {
  profile: SimProfile;
  /** The panel's ID (default 1). */
  id?: number;
  power?: PowerState;
  /** Initial input by name (default hdmi1). */
  input?: string;
  faults?: SimDisplayFaults;
  /** After power-on, input changes are refused for this long, as a booting panel does. */
  bootMs?: number;
  random?: () => number;
  log?: Logger;
}

export interface SimDisplayLink {
  receive(bytes: Uint8Array): void;
  close(): void;
}

/** Noise never contains a byte that ends or starts a frame, so the reply after it still parses. */
const NOISE_BYTES = Array.from('qwertyuiopQWERTYUIOP#$%&*', (c) => c.charCodeAt(0));

export class DisplaySimulator {
  readonly profile: SimProfile;
  readonly id: number;
  power: PowerState;
  /** The input as the profile codes it (Samsung number, LG hex text, BenQ three digits). */
  inputCode: string;
  /** Every command received, newest last (bounded): hex for Samsung, text for LG and BenQ. */
  readonly received: string[] = [];
  private faults: SimDisplayFaults;
  private readonly log: Logger;
  private readonly serial: SimSerialPorts;
  private readonly links = new Set<SimDisplayLink>();
  private chain: Promise<void> = Promise.resolve();
  private bootedAt = 0;

  constructor(private readonly options: DisplaySimulatorOptions) {
    this.profile = options.profile;
    this.id = options.id ?? 1;
    this.power = options.power ?? 'off';
    this.faults = { ...options.faults };
    this.log = (options.log ?? silentLogger()).child({ module: 'display-sim' });
    this.serial = new SimSerialPorts(this.log, 'display simulator');
    const name = options.input ?? 'hdmi1';
    const code = this.codeOf(name);
    if (code === undefined) throw new RangeError(`the ${this.profile} simulator has no input "${name}"`);
    this.inputCode = code;
  }

  /** Input names the simulated panel knows, with their codes. */
  get inputTable(): Record<string, string> {
    switch (this.profile) {
      case 'samsung-mdc':
        return Object.fromEntries(Object.entries(MDC_INPUTS).map(([k, v]) => [k, String(v)]));
      case 'lg':
        return { ...LG_INPUTS };
      case 'benq':
        return { ...BENQ_INPUTS };
    }
  }

  private codeOf(name: string): string | undefined {
    return this.inputTable[name];
  }

  /** The current input's name (or its code when it has no name). */
  get input(): string {
    return Object.entries(this.inputTable).find(([, c]) => c === this.inputCode)?.[0] ?? this.inputCode;
  }

  get currentFaults(): SimDisplayFaults {
    return { ...this.faults };
  }

  /** Replace the fault settings (an empty object: behave). */
  setFaults(faults: SimDisplayFaults): void {
    this.faults = { ...faults };
  }

  private record(text: string): void {
    if (this.received.length >= 1000) this.received.shift();
    this.received.push(text);
  }

  private rand(): number {
    return (this.options.random ?? Math.random)();
  }

  private chance(p: number | undefined): boolean {
    return p !== undefined && p > 0 && this.rand() < p;
  }

  private noise(): number[] {
    const n = 1 + Math.floor(this.rand() * 4);
    return Array.from({ length: n }, () => NOISE_BYTES[Math.floor(this.rand() * NOISE_BYTES.length)] ?? 0x71);
  }

  // -------------------------------------------------------------------------------------------
  // Byte streams
  // -------------------------------------------------------------------------------------------

  /** Connect a byte stream: `write` gets the panel's replies; feed it what the controller sent. */
  connect(write: (bytes: Uint8Array) => void): SimDisplayLink {
    const parser: ReplyParser = this.profile === 'samsung-mdc' ? new MdcParser() : this.profile === 'benq' ? new BenqParser() : new LineParser();
    const reply = (bytes: Uint8Array): void => this.send(write, bytes);
    const link: SimDisplayLink = {
      receive: (bytes) => {
        for (const e of parser.push(bytes)) {
          if (e.type === 'frame') this.handle(e.bytes, reply);
        }
      },
      close: () => {
        this.links.delete(link);
      },
    };
    this.links.add(link);
    return link;
  }

  private send(write: (bytes: Uint8Array) => void, packet: Uint8Array): void {
    const f = this.faults;
    if (f.silent) return;
    const bytes = f.garbage ? Uint8Array.from([...this.noise(), ...this.noise()]) : this.chance(f.noise) ? Uint8Array.from([...this.noise(), ...packet]) : packet;
    const split = this.chance(f.split) && bytes.length > 1;
    const delay = f.delayMs ?? 0;
    const safeWrite = (b: Uint8Array): void => {
      try {
        write(b);
      } catch {
        // The far end went away; the reply is lost, as on a real line.
      }
    };
    // Kept in order even when some replies are delayed or split.
    this.chain = this.chain
      .then(async () => {
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (!split) return safeWrite(bytes);
        const cut = 1 + Math.floor(this.rand() * (bytes.length - 1));
        safeWrite(bytes.subarray(0, cut));
        await new Promise((r) => setTimeout(r, 5));
        safeWrite(bytes.subarray(cut));
      })
      .catch(() => undefined);
  }

  /** Open a serial port (one end of a socat pty pair) and serve the panel on it. */
  async attachSerial(path: string, options: { baudRate?: number } = {}): Promise<void> {
    await this.serial.attach(path, options.baudRate ?? 9600, (send) => this.connect(send));
  }

  /** Close the serial ports. */
  async detachSerial(): Promise<void> {
    await this.serial.detach();
  }

  async close(): Promise<void> {
    await this.detachSerial();
    for (const l of [...this.links]) l.close();
    await this.chain;
  }

  // -------------------------------------------------------------------------------------------
  // The panel
  // -------------------------------------------------------------------------------------------

  private setPower(power: PowerState): void {
    if (power === 'on' && this.power !== 'on') this.bootedAt = performance.now() + (this.options.bootMs ?? 0);
    this.power = power;
  }

  /** On and finished booting: takes input changes. */
  get ready(): boolean {
    return this.power === 'on' && performance.now() >= this.bootedAt;
  }

  private handle(frame: Uint8Array, reply: (bytes: Uint8Array) => void): void {
    switch (this.profile) {
      case 'samsung-mdc':
        this.record(hex(frame));
        return this.handleMdc(frame, reply);
      case 'lg':
        this.record(printable(frame));
        return this.handleLg(latin1(frame).replace(/\r$/, ''), reply);
      case 'benq':
        this.record(printable(frame));
        return this.handleBenq(latin1(frame).replace(/\r$/, ''), reply);
    }
  }

  private handleMdc(frame: Uint8Array, reply: (bytes: Uint8Array) => void): void {
    const f = decodeMdc(frame);
    // Not for this panel (0xFE reaches all of them), or a reply from another panel on the line.
    if (f.cmd === MDC_REPLY || (f.id !== this.id && f.id !== 0xfe)) return;
    const ack = (value: number): void => reply(mdcFrame(MDC_REPLY, this.id, [MDC_ACK, f.cmd, value]));
    const nak = (code: number): void => reply(mdcFrame(MDC_REPLY, this.id, [MDC_NAK, f.cmd, code]));
    if (this.faults.refuse) return nak(0x00);
    if (f.cmd === MDC_POWER) {
      if (f.data.length === 0) return ack(this.power === 'on' ? 1 : 0);
      const v = f.data[0];
      if (f.data.length !== 1 || (v !== 0 && v !== 1)) return nak(0x01);
      this.setPower(v === 1 ? 'on' : 'off');
      return ack(v);
    }
    if (f.cmd === MDC_INPUT) {
      if (f.data.length === 0) return ack(Number(this.inputCode));
      const code = String(f.data[0]);
      if (f.data.length !== 1 || !Object.values(this.inputTable).includes(code)) return nak(0x01);
      // In standby (or while booting) the panel takes power commands only.
      if (!this.ready) return nak(0x02);
      this.inputCode = code;
      return ack(Number(code));
    }
    nak(0x00);
  }

  private handleLg(line: string, reply: (bytes: Uint8Array) => void): void {
    const m = /^([a-z])([a-z]) ([0-9a-f]{2}) ([0-9a-f]{2})$/i.exec(line);
    if (!m) return;
    const [c1, c2, idText, dataRaw] = [m[1]?.toLowerCase(), m[2]?.toLowerCase() ?? '', m[3] ?? '', (m[4] ?? '').toLowerCase()];
    const id = parseInt(idText, 16);
    if (id !== 0 && id !== this.id) return;
    const own = this.id.toString(16).padStart(2, '0');
    const ok = (data: string): void => reply(ascii(`${c2} ${own} OK${data}x`));
    const ng = (code: string): void => reply(ascii(`${c2} ${own} NG${code}x`));
    if (this.faults.refuse) return ng('01');
    const command = `${c1}${c2}`;
    if (command === 'ka') {
      if (dataRaw === 'ff') return ok(this.power === 'on' ? '01' : '00');
      if (dataRaw !== '00' && dataRaw !== '01') return ng('01');
      this.setPower(dataRaw === '01' ? 'on' : 'off');
      return ok(dataRaw);
    }
    if (command === 'xb') {
      if (dataRaw === 'ff') return ok(this.inputCode);
      if (!Object.values(this.inputTable).includes(dataRaw)) return ng('01');
      if (!this.ready) return ng('02');
      this.inputCode = dataRaw;
      return ok(dataRaw);
    }
    ng('01');
  }

  private handleBenq(text: string, reply: (bytes: Uint8Array) => void): void {
    const f = decodeBenq(text);
    if (!f || (f.type !== 's' && f.type !== 'g')) return;
    // 99 reaches every panel, which then does not reply.
    if (f.id === '99') {
      if (!this.faults.refuse) this.applyBenq(f.code, f.value);
      return;
    }
    if (Number(f.id) !== this.id) return;
    const plus = (): void => reply(benqFrame(this.id, '+'));
    const minus = (): void => reply(benqFrame(this.id, '-'));
    if (this.faults.refuse) return minus();
    if (f.type === 'g') {
      if (f.code === BENQ_POWER_GET) return reply(benqFrame(this.id, 'r', BENQ_POWER_GET, this.power === 'on' ? '001' : '000'));
      if (f.code === BENQ_INPUT_GET) return reply(benqFrame(this.id, 'r', BENQ_INPUT_GET, this.inputCode));
      return minus();
    }
    if (f.code === BENQ_INPUT_SET && !this.ready) return minus();
    return this.applyBenq(f.code, f.value) ? plus() : minus();
  }

  private applyBenq(code: string | undefined, value: string | undefined): boolean {
    if (code === BENQ_POWER_SET && (value === '000' || value === '001')) {
      this.setPower(value === '001' ? 'on' : 'off');
      return true;
    }
    if (code === BENQ_INPUT_SET && value !== undefined && Object.values(this.inputTable).includes(value)) {
      if (!this.ready) return false;
      this.inputCode = value;
      return true;
    }
    return false;
  }
}

/** Commands to an LG panel: text lines ending in CR. */
class LineParser implements ReplyParser {
  private buf: number[] = [];

  push(chunk: Uint8Array): ReturnType<ReplyParser['push']> {
    const out: ReturnType<ReplyParser['push']> = [];
    for (const b of chunk) {
      if (b !== 0x0d) {
        this.buf.push(b);
        if (this.buf.length > 64) this.buf.shift();
        continue;
      }
      out.push({ type: 'frame', bytes: Uint8Array.from([...this.buf, b]) });
      this.buf = [];
    }
    return out;
  }

  reset(): void {
    this.buf = [];
  }
}
