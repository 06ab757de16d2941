/**
 * LG commercial displays over RS-232: ASCII lines
 *
 *   command  `k a 01 01\r` without the first space: `ka 01 01\r` (command letters, set ID in hex, data in hex)
 *   reply    `a 01 OK01x`  (second command letter, set ID, OK or NG, data, `x`)
 *
 * Power is `ka` (00 off, 01 on, ff reads it). Input is `xb` on current models (older ones use
 * `kb`, and the codes vary by model): the defaults below are the common `xb` codes, and a
 * kit's config may replace them. Set ID 0 addresses every set on the line. Line: 9600 8N1.
 */
import { DisplayArgumentError } from './errors.js';
import { ascii, ByteBuffer, latin1, normaliseInput, type DisplayCodec, type DisplayOutcome, type DisplayRequest, type ParseEvent, type ReplyParser } from './protocol.js';

/** Default `xb` input codes (hex); verify against the panel's manual, override in config. */
export const LG_INPUTS: Readonly<Record<string, string>> = { hdmi1: '90', hdmi2: '91', hdmi3: '92', dp: 'c0', dvi: '70' };

const REPLY = /([a-z]) ([0-9a-f]{2}) (OK|NG)([0-9a-f]{2,8})x$/i;

export interface LgReply {
  /** The second letter of the command (`a` for `ka`). */
  command: string;
  id: number;
  ok: boolean;
  data: string;
}

export function decodeLgReply(frame: Uint8Array): LgReply | undefined {
  const m = REPLY.exec(latin1(frame));
  if (!m) return undefined;
  return { command: (m[1] ?? '').toLowerCase(), id: parseInt(m[2] ?? '0', 16), ok: (m[3] ?? '').toUpperCase() === 'OK', data: (m[4] ?? '').toLowerCase() };
}

export function lgCommand(command: string, id: number, data: string): Uint8Array {
  return ascii(`${command} ${id.toString(16).padStart(2, '0')} ${data}\r`);
}

/** Cuts the stream at each `x`; what ends a well-formed reply there is a frame, the rest noise. */
export class LgParser implements ReplyParser {
  private readonly buf = new ByteBuffer(64);

  push(chunk: Uint8Array): ParseEvent[] {
    const events: ParseEvent[] = [];
    for (const byte of chunk) {
      const dropped = this.buf.append(Uint8Array.of(byte));
      if (dropped.length) events.push({ type: 'discard', bytes: Uint8Array.from(dropped) });
      if (byte !== 0x78 && byte !== 0x58) continue;
      const bytes = Uint8Array.from(this.buf.take(this.buf.length));
      const m = REPLY.exec(latin1(bytes));
      if (!m) {
        events.push({ type: 'discard', bytes });
        continue;
      }
      const start = bytes.length - m[0].length;
      if (start > 0) events.push({ type: 'discard', bytes: bytes.subarray(0, start) });
      events.push({ type: 'frame', bytes: bytes.subarray(start) });
    }
    return events;
  }

  reset(): void {
    this.buf.clear();
  }
}

export interface LgOptions {
  /** Set ID 0–255 (0: every set on the line). */
  id: number;
  /** Input name → `xb` data code (two hex digits). */
  inputs?: Readonly<Record<string, string>>;
  /** The input command: `xb` (default) or `kb` on older models. */
  inputCommand?: 'xb' | 'kb';
}

export function lgCodec(options: LgOptions): DisplayCodec {
  const id = options.id;
  const inputs = Object.fromEntries(Object.entries(options.inputs ?? LG_INPUTS).map(([k, v]) => [k, v.toLowerCase()]));
  const byCode = new Map(Object.entries(inputs).map(([name, code]) => [code, name]));
  const inputCommand = options.inputCommand ?? 'xb';
  const letterOf = (r: DisplayRequest): string => (r.op === 'power' || r.op === 'power?' ? 'a' : inputCommand[1] ?? 'b');
  return {
    profile: 'lg',
    inputs: Object.keys(inputs),
    supports: (r) => r.op !== 'input' || inputs[normaliseInput(r.input)] !== undefined,
    expectsReply: () => true,
    encode(r) {
      switch (r.op) {
        case 'power':
          return lgCommand('ka', id, r.on ? '01' : '00');
        case 'power?':
          return lgCommand('ka', id, 'ff');
        case 'input?':
          return lgCommand(inputCommand, id, 'ff');
        case 'input': {
          const code = inputs[normaliseInput(r.input)];
          if (code === undefined) throw new DisplayArgumentError(`unknown input "${r.input}"; known: ${Object.keys(inputs).join(', ')}`, '');
          return lgCommand(inputCommand, id, code);
        }
      }
    },
    parser: () => new LgParser(),
    interpret(r, frame): DisplayOutcome | undefined {
      const reply = decodeLgReply(frame);
      if (!reply || reply.command !== letterOf(r)) return undefined;
      // Set ID 0 reaches every set; each answers with its own ID.
      if (id !== 0 && reply.id !== id) return undefined;
      if (!reply.ok) return { kind: 'refused', reason: `NG, error code ${reply.data}` };
      switch (r.op) {
        case 'power':
          return { kind: 'ok', power: r.on ? 'on' : 'off' };
        case 'power?':
          if (reply.data === '01') return { kind: 'ok', power: 'on' };
          if (reply.data === '00') return { kind: 'ok', power: 'off' };
          return undefined;
        case 'input':
          return { kind: 'ok', input: normaliseInput(r.input) };
        case 'input?':
          return { kind: 'ok', input: byCode.get(reply.data) ?? reply.data };
      }
    },
  };
}
