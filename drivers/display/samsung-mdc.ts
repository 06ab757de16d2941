/**
 * Samsung MDC (Multiple Display Control) over RS-232: binary frames
 *
 *   AA cmd id len data… checksum      checksum = sum of the bytes after AA, mod 256
 *
 * Replies come back as `AA FF id len 'A' cmd value… cs` (ACK) or `AA FF id 03 'N' cmd err cs`
 * (NAK). Power is command 11 (01 on, 00 off; no data reads it), input source is command 14
 * (HDMI1 21, HDMI2 23, DisplayPort 25; no data reads it). Line: 9600 baud 8N1.
 */
import { DisplayArgumentError } from './errors.js';
import {
  ByteBuffer,
  normaliseInput,
  type DisplayCodec,
  type DisplayOutcome,
  type DisplayRequest,
  type ParseEvent,
  type ReplyParser,
} from './protocol.js';

export const MDC_HEADER = 0xaa;
export const MDC_REPLY = 0xff;
export const MDC_ACK = 0x41; // 'A'
export const MDC_NAK = 0x4e; // 'N'
export const MDC_POWER = 0x11;
export const MDC_INPUT = 0x14;
/** No MDC frame this driver sends or expects carries more data than this. */
export const MDC_MAX_DATA = 32;

/** Input source codes from the reference; a kit's config may add or replace names. */
export const MDC_INPUTS: Readonly<Record<string, number>> = { hdmi1: 0x21, hdmi2: 0x23, dp: 0x25 };

export function mdcChecksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  // Everything after the header.
  for (let i = 1; i < bytes.length; i++) sum += bytes[i] ?? 0;
  return sum & 0xff;
}

/** A complete frame: header, command, id, length, data, checksum. */
export function mdcFrame(cmd: number, id: number, data: readonly number[] = []): Uint8Array {
  const body = [MDC_HEADER, cmd & 0xff, id & 0xff, data.length, ...data.map((d) => d & 0xff)];
  return Uint8Array.from([...body, mdcChecksum(body)]);
}

export interface MdcFrame {
  cmd: number;
  id: number;
  data: number[];
}

/** Reads a frame the parser produced (header, length and checksum are already checked). */
export function decodeMdc(frame: Uint8Array): MdcFrame {
  return { cmd: frame[1] ?? 0, id: frame[2] ?? 0, data: Array.from(frame.subarray(4, frame.length - 1)) };
}

/**
 * Splits a byte stream into checksummed MDC frames. Bytes before a header are noise; a header
 * whose length is implausible or whose checksum fails is dropped and the search goes on from
 * the next byte, so a reply cut short by line noise costs only itself.
 */
export class MdcParser implements ReplyParser {
  private readonly buf = new ByteBuffer(2 * (MDC_MAX_DATA + 5));

  push(chunk: Uint8Array): ParseEvent[] {
    const events: ParseEvent[] = [];
    const dropped = this.buf.append(chunk);
    if (dropped.length) events.push({ type: 'discard', bytes: Uint8Array.from(dropped) });
    for (;;) {
      const view = this.buf.view();
      const start = view.indexOf(MDC_HEADER);
      if (start < 0) {
        if (view.length) events.push({ type: 'discard', bytes: Uint8Array.from(this.buf.take(view.length)) });
        break;
      }
      if (start > 0) events.push({ type: 'discard', bytes: Uint8Array.from(this.buf.take(start)) });
      if (this.buf.length < 4) break;
      const len = this.buf.at(3);
      if (len > MDC_MAX_DATA) {
        events.push({ type: 'discard', bytes: Uint8Array.from(this.buf.take(1)) });
        continue;
      }
      const total = 5 + len;
      if (this.buf.length < total) break;
      const candidate = this.buf.view().slice(0, total);
      if (mdcChecksum(candidate.slice(0, -1)) === candidate[total - 1]) {
        events.push({ type: 'frame', bytes: Uint8Array.from(this.buf.take(total)) });
      } else {
        events.push({ type: 'discard', bytes: Uint8Array.from(this.buf.take(1)) });
      }
    }
    return events;
  }

  reset(): void {
    this.buf.clear();
  }
}

export interface MdcOptions {
  /** Display ID 0–254 (set in the panel's menu). */
  id: number;
  /** Input name → source code; defaults to MDC_INPUTS. */
  inputs?: Readonly<Record<string, number>>;
}

export function samsungMdcCodec(options: MdcOptions): DisplayCodec {
  const id = options.id;
  const inputs = options.inputs ?? MDC_INPUTS;
  const byCode = new Map(Object.entries(inputs).map(([name, code]) => [code, name]));
  const cmdOf = (r: DisplayRequest): number => (r.op === 'power' || r.op === 'power?' ? MDC_POWER : MDC_INPUT);
  return {
    profile: 'samsung-mdc',
    inputs: Object.keys(inputs),
    supports: (r) => r.op !== 'input' || inputs[normaliseInput(r.input)] !== undefined,
    expectsReply: () => true,
    encode(r) {
      switch (r.op) {
        case 'power':
          return mdcFrame(MDC_POWER, id, [r.on ? 1 : 0]);
        case 'power?':
          return mdcFrame(MDC_POWER, id);
        case 'input?':
          return mdcFrame(MDC_INPUT, id);
        case 'input': {
          const code = inputs[normaliseInput(r.input)];
          if (code === undefined) throw new DisplayArgumentError(`unknown input "${r.input}"; known: ${Object.keys(inputs).join(', ')}`, '');
          return mdcFrame(MDC_INPUT, id, [code]);
        }
      }
    },
    parser: () => new MdcParser(),
    interpret(r, frame): DisplayOutcome | undefined {
      const f = decodeMdc(frame);
      if (f.cmd !== MDC_REPLY || f.id !== id || f.data.length < 2) return undefined;
      const [kind, cmd, ...values] = f.data;
      if (cmd !== cmdOf(r)) return undefined;
      if (kind === MDC_NAK) return { kind: 'refused', reason: `NAK, error code 0x${(values[0] ?? 0).toString(16).padStart(2, '0')}` };
      if (kind !== MDC_ACK) return undefined;
      const value = values[0];
      switch (r.op) {
        case 'power':
          return { kind: 'ok', power: r.on ? 'on' : 'off' };
        case 'power?':
          if (value === 1) return { kind: 'ok', power: 'on' };
          if (value === 0) return { kind: 'ok', power: 'off' };
          return undefined;
        case 'input':
          return { kind: 'ok', input: normaliseInput(r.input) };
        case 'input?':
          if (value === undefined) return undefined;
          return { kind: 'ok', input: byCode.get(value) ?? `0x${value.toString(16).padStart(2, '0')}` };
      }
    },
  };
}

