/**
 * BenQ interactive and commercial panels over RS-232: short ASCII frames
 *
 *   [length][ID][type][code][value]CR     length = bytes before CR, as one ASCII digit
 *
 * Types: `s` set, `g` get, `r` reply to a get, `+` accepted, `-` rejected. ID is two decimal
 * digits (`01`; `99` addresses every panel, which then does not reply). Power on, ID 1:
 * `801s!001\r` (38 30 31 73 21 30 30 31 0D), answered `401+\r`.
 *
 * Power is set with code `!` (value 001 on, 000 standby). The input (set code `"`) and the
 * get codes (power `l`, input `j`) and input values below follow BenQ's commercial-display
 * tables and differ between product lines: verify them against the panel's manual and
 * override the input values in config where they differ. Line: 9600 or 38400 baud 8N1.
 */
import { DisplayArgumentError } from './errors.js';
import { ascii, ByteBuffer, latin1, normaliseInput, type DisplayCodec, type DisplayOutcome, type DisplayRequest, type ParseEvent, type ReplyParser } from './protocol.js';

export const BENQ_POWER_SET = '!';
export const BENQ_INPUT_SET = '"';
export const BENQ_POWER_GET = 'l';
export const BENQ_INPUT_GET = 'j';

/** Default input values (three digits); override in config where the model differs. */
export const BENQ_INPUTS: Readonly<Record<string, string>> = { vga: '000', hdmi1: '001', hdmi2: '002', dvi: '006', dp: '007', media: '009' };

export interface BenqFrame {
  id: string;
  type: 's' | 'g' | 'r' | '+' | '-';
  code?: string;
  value?: string;
}

const FRAME = /^(\d)(\d{2})([sgr+-])(?:(.)(\d{3}))?$/;

/** Reads a frame (without its CR); undefined when it is not a well-formed BenQ frame. */
export function decodeBenq(text: string): BenqFrame | undefined {
  const m = FRAME.exec(text);
  if (!m || Number(m[1]) !== text.length) return undefined;
  const type = m[3] as BenqFrame['type'];
  const hasBody = m[4] !== undefined;
  // Set, get and reply carry a code and value; + and - carry nothing.
  if ((type === '+' || type === '-') === hasBody) return undefined;
  return { id: m[2] ?? '', type, ...(hasBody ? { code: m[4], value: m[5] } : {}) };
}

export function benqFrame(id: number, type: BenqFrame['type'], code?: string, value?: string): Uint8Array {
  const body = `${String(id).padStart(2, '0')}${type}${code ?? ''}${value ?? ''}`;
  return ascii(`${body.length + 1}${body}\r`);
}

/**
 * Cuts the stream at each CR; the longest tail that is a well-formed frame (its length digit
 * agreeing) is the frame, anything before it noise.
 */
export class BenqParser implements ReplyParser {
  private readonly buf = new ByteBuffer(64);

  push(chunk: Uint8Array): ParseEvent[] {
    const events: ParseEvent[] = [];
    for (const byte of chunk) {
      const dropped = this.buf.append(Uint8Array.of(byte));
      if (dropped.length) events.push({ type: 'discard', bytes: Uint8Array.from(dropped) });
      if (byte !== 0x0d) continue;
      const bytes = Uint8Array.from(this.buf.take(this.buf.length));
      const text = latin1(bytes.subarray(0, -1));
      let start = -1;
      for (let i = 0; i < text.length; i++) {
        if (decodeBenq(text.slice(i))) {
          start = i;
          break;
        }
      }
      if (start < 0) {
        events.push({ type: 'discard', bytes });
        continue;
      }
      if (start > 0) events.push({ type: 'discard', bytes: bytes.subarray(0, start) });
      events.push({ type: 'frame', bytes: bytes.subarray(start) });
    }
    return events;
  }

  reset(): void {
    this.buf.clear();
  }
}

export interface BenqOptions {
  /** Panel ID 1–98. */
  id: number;
  /** Input name → three-digit value. */
  inputs?: Readonly<Record<string, string>>;
}

export function benqCodec(options: BenqOptions): DisplayCodec {
  const id = options.id;
  const idText = String(id).padStart(2, '0');
  const inputs = options.inputs ?? BENQ_INPUTS;
  const byCode = new Map(Object.entries(inputs).map(([name, code]) => [code, name]));
  return {
    profile: 'benq',
    inputs: Object.keys(inputs),
    supports: (r) => r.op !== 'input' || inputs[normaliseInput(r.input)] !== undefined,
    expectsReply: () => true,
    encode(r: DisplayRequest) {
      switch (r.op) {
        case 'power':
          return benqFrame(id, 's', BENQ_POWER_SET, r.on ? '001' : '000');
        case 'power?':
          return benqFrame(id, 'g', BENQ_POWER_GET, '000');
        case 'input?':
          return benqFrame(id, 'g', BENQ_INPUT_GET, '000');
        case 'input': {
          const code = inputs[normaliseInput(r.input)];
          if (code === undefined) throw new DisplayArgumentError(`unknown input "${r.input}"; known: ${Object.keys(inputs).join(', ')}`, '');
          return benqFrame(id, 's', BENQ_INPUT_SET, code);
        }
      }
    },
    parser: () => new BenqParser(),
    interpret(r, frame): DisplayOutcome | undefined {
      const f = decodeBenq(latin1(frame.subarray(0, -1)));
      if (!f || f.id !== idText) return undefined;
      if (f.type === '-') return { kind: 'refused', reason: 'rejected (-)' };
      if (r.op === 'power' || r.op === 'input') {
        if (f.type !== '+') return undefined;
        return r.op === 'power' ? { kind: 'ok', power: r.on ? 'on' : 'off' } : { kind: 'ok', input: normaliseInput(r.input) };
      }
      if (f.type !== 'r') return undefined;
      if (r.op === 'power?') {
        if (f.code !== BENQ_POWER_GET) return undefined;
        if (f.value === '001') return { kind: 'ok', power: 'on' };
        if (f.value === '000') return { kind: 'ok', power: 'off' };
        return undefined;
      }
      if (f.code !== BENQ_INPUT_GET || f.value === undefined) return undefined;
      return { kind: 'ok', input: byCode.get(f.value) ?? f.value };
    },
  };
}
