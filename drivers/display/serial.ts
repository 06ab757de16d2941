/**
 * A display on RS-232 through serialport, speaking one profile's protocol.
 *
 * One exchange at a time (the controller queues): the parser is reset before each request, so
 * bytes left from an earlier, timed-out reply cannot answer a new one; frames that do not
 * answer the request are ignored and reported with the timeout if nothing better came.
 *
 * serialport notices an unplugged adapter only while a read is pending (it then closes with
 * `disconnected: true`); the controller's periodic status query covers the rest. Opening a
 * missing path fails with "No such file or directory", which becomes `absent`.
 */
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { Listeners } from '../visca/transport.js';
import type { ChannelClose, DisplayChannel } from './channel.js';
import { DisplayArgumentError, DisplayPortError, DisplayTimeoutError } from './errors.js';
import { describeRequest, hex, type DisplayCodec, type DisplayOutcome, type DisplayRequest, type ReplyParser } from './protocol.js';

export const BAUD_RATES = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] as const;
export type BaudRate = (typeof BAUD_RATES)[number];

export interface SerialSettings {
  baudRate: BaudRate;
  dataBits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

/** 8N1 at 9600 for every built-in profile (some BenQ panels are fixed at 38400: set baudRate). */
export const DEFAULT_SERIAL: Readonly<SerialSettings> = { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 };

export interface SerialChannelOptions {
  path: string;
  codec: DisplayCodec;
  settings?: Partial<SerialSettings>;
}

/** Longest stretch of unrecognised bytes kept for an error message. */
const GARBAGE_SHOWN = 32;

function isMissing(e: unknown, path: string): boolean {
  const err = e as { code?: unknown; message?: unknown } | undefined;
  if (err?.code === 'ENOENT') return true;
  if (typeof err?.message === 'string' && /no such file or directory/i.test(err.message)) return true;
  return !existsSync(path);
}

interface Waiting {
  request: DisplayRequest;
  resolve: (o: DisplayOutcome) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  garbage: number[];
  garbageCount: number;
}

export class SerialChannel implements DisplayChannel {
  readonly kind = 'serial';
  private port: SerialPort | undefined;
  private readonly parser: ReplyParser;
  private readonly events = new Listeners<{ close: ChannelClose }>();
  private waiting: Waiting | undefined;

  constructor(private readonly options: SerialChannelOptions) {
    this.parser = options.codec.parser();
  }

  get name(): string {
    return this.options.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  get inputs(): readonly string[] {
    return this.options.codec.inputs;
  }

  get settings(): SerialSettings {
    return { ...DEFAULT_SERIAL, ...this.options.settings };
  }

  supports(request: DisplayRequest): boolean {
    return this.options.codec.supports(request);
  }

  onClose(listener: (e: ChannelClose) => void): () => void {
    return this.events.on('close', listener);
  }

  async open(): Promise<void> {
    if (this.port) throw new DisplayPortError(`${this.name} is already open`, this.name, false);
    const s = this.settings;
    const port = new SerialPort({
      path: this.options.path,
      baudRate: s.baudRate,
      dataBits: s.dataBits,
      parity: s.parity,
      stopBits: s.stopBits,
      rtscts: false,
      autoOpen: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        port.open((err) => (err ? reject(err) : resolve()));
      });
    } catch (e) {
      const absent = isMissing(e, this.options.path);
      const why = e instanceof Error ? e.message : String(e);
      throw new DisplayPortError(absent ? `serial port ${this.name} is missing` : `cannot open serial port ${this.name}: ${why}`, this.name, absent, { cause: e });
    }
    this.port = port;
    this.parser.reset();
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    // Errors also arrive as a failed write or a close; nothing more to do with them here.
    port.on('error', () => undefined);
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.port !== port) return;
      this.port = undefined;
      this.failWaiting(new DisplayPortError(`serial port ${this.name} ${err?.disconnected ? 'disconnected' : 'closed'}`, this.name, false));
      this.events.emit('close', { disconnected: err?.disconnected === true, ...(err ? { error: err } : {}) });
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port) return;
    // Cleared first, so the close event is not reported as a disconnection.
    this.port = undefined;
    this.failWaiting(new DisplayPortError(`serial port ${this.name} closed`, this.name, false));
    if (!port.isOpen) return;
    await new Promise<void>((resolve) => {
      port.close(() => resolve());
    });
  }

  async exchange(request: DisplayRequest, timeoutMs: number): Promise<DisplayOutcome> {
    const port = this.port;
    if (!port?.isOpen) throw new DisplayPortError(`serial port ${this.name} is not open`, this.name, false);
    if (this.waiting) throw new DisplayPortError(`${this.name}: a request is already waiting for its reply`, this.name, false);
    let bytes: Uint8Array;
    try {
      bytes = this.options.codec.encode(request);
    } catch (e) {
      if (e instanceof DisplayArgumentError) throw new DisplayArgumentError(`display on ${this.name}: ${e.message}`, this.name);
      throw e;
    }
    this.parser.reset();
    const expects = this.options.codec.expectsReply(request);
    const answered = expects
      ? new Promise<DisplayOutcome>((resolve, reject) => {
          const timer = setTimeout(() => this.onTimeout(), timeoutMs);
          this.waiting = { request, resolve, reject, timer, garbage: [], garbageCount: 0 };
        })
      : undefined;
    // Settled by a close while the write is still pending: the caller sees it once returned.
    answered?.catch(() => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        port.write(Buffer.from(bytes), (err) => (err ? reject(err) : resolve()));
      });
      if (!expects) {
        await new Promise<void>((resolve, reject) => port.drain((err) => (err ? reject(err) : resolve())));
        return { kind: 'ok', ...(request.op === 'power' ? { power: request.on ? ('on' as const) : ('off' as const) } : {}) };
      }
    } catch (e) {
      const error = new DisplayPortError(`write to ${this.name} failed: ${e instanceof Error ? e.message : String(e)}`, this.name, false, { cause: e });
      this.failWaiting(error);
      throw error;
    }
    return answered as Promise<DisplayOutcome>;
  }

  private onData(chunk: Uint8Array): void {
    const w = this.waiting;
    const events = this.parser.push(chunk);
    if (!w) return;
    // Everything since the request counts; shown with the timeout when no answer was among it.
    w.garbageCount += chunk.length;
    for (const b of chunk) if (w.garbage.length < GARBAGE_SHOWN) w.garbage.push(b);
    for (const e of events) {
      if (e.type !== 'frame') continue;
      const outcome = this.options.codec.interpret(w.request, e.bytes);
      if (!outcome) continue;
      this.parser.reset();
      this.waiting = undefined;
      clearTimeout(w.timer);
      w.resolve(outcome);
      return;
    }
  }

  private onTimeout(): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    this.parser.reset();
    const what = describeRequest(w.request);
    const shown = hex(Uint8Array.from(w.garbage));
    const seen =
      w.garbageCount > 0
        ? `; received ${w.garbageCount} byte${w.garbageCount === 1 ? '' : 's'} that ${w.garbageCount === 1 ? 'is' : 'are'} not a reply (${shown}${w.garbageCount > w.garbage.length ? ' …' : ''})`
        : '';
    w.reject(new DisplayTimeoutError(`no reply to ${what} from the display on ${this.name}${seen}`, this.name, 1, w.garbageCount > 0 ? shown : undefined));
  }

  private failWaiting(error: Error): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.reject(error);
  }
}
