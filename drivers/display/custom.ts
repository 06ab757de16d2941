/**
 * A user-defined command table, for panels whose vendor gives its RS-232 table only to
 * integrators (common among Chinese classroom panels). Each entry is what to send and what
 * reply to expect, written either as hex bytes or as ASCII text:
 *
 *   format "hex":   send "AA 11 01 01 01 14", expect "AA FF 01 03 41 11 ??" (?? matches any byte)
 *   format "ascii": send "ka 01 01\r",        expect "a 01 OK01x" (a regular expression)
 *
 * A reply's length and framing are unknown here, so the bytes received since the request are
 * searched as they accumulate: the first match of the `refused` pattern or the expected one
 * decides. An entry without `expect` is not answered by the panel: it counts as done once sent.
 */
import { DisplayArgumentError } from './errors.js';
import { ascii, ByteBuffer, latin1, normaliseInput, type DisplayCodec, type DisplayOutcome, type DisplayRequest, type ParseEvent, type ReplyParser } from './protocol.js';

export interface CustomCommand {
  send: string;
  /** The reply that means done; leave out for a command the panel does not answer. */
  expect?: string;
}

export interface CustomCommandTable {
  format: 'hex' | 'ascii';
  powerOn: CustomCommand;
  powerOff: CustomCommand;
  /** Reads the power state: the reply matching `on` or `off` tells which. */
  powerQuery?: { send: string; on: string; off: string };
  /** Input name → command selecting it. */
  inputs?: Record<string, CustomCommand>;
  /** Reads the input: the reply matching one of `replies` names it. */
  inputQuery?: { send: string; replies: Record<string, string> };
  /** A reply meaning the panel refused a command. */
  refused?: string;
}

/** A compiled reply pattern: finds itself in the received bytes. */
export interface ReplyPattern {
  readonly source: string;
  test(received: Uint8Array): boolean;
}

const HEX_TOKEN = /^(?:0x)?([0-9a-f]{2}|\?\?)$/i;

/** `AA 11 01` or `AA1101` or `0xAA 0x11`; throws RangeError with what is wrong. */
export function parseHexBytes(text: string): Uint8Array {
  const tokens = hexTokens(text);
  if (tokens.includes('??')) throw new RangeError('"??" is only allowed in expected replies');
  return Uint8Array.from(tokens, (t) => parseInt(t, 16));
}

function hexTokens(text: string): string[] {
  const parts = text.trim().split(/[\s,]+/).filter(Boolean);
  const tokens: string[] = [];
  for (const part of parts) {
    const bare = part.replace(/^0x/i, '');
    if (bare.length > 2 && /^[0-9a-f]+$/i.test(bare) && bare.length % 2 === 0) {
      for (let i = 0; i < bare.length; i += 2) tokens.push(bare.slice(i, i + 2));
      continue;
    }
    const m = HEX_TOKEN.exec(part);
    if (!m?.[1]) throw new RangeError(`"${part}" is not a hex byte (expected two hex digits like 0D, or ?? in a reply)`);
    tokens.push(m[1]);
  }
  if (tokens.length === 0) throw new RangeError('no bytes given');
  return tokens;
}

/** ASCII text as bytes (JSON escapes such as \r already applied); throws on characters above 0xFF. */
export function parseAsciiBytes(text: string): Uint8Array {
  if (text.length === 0) throw new RangeError('no text given');
  for (const c of text) {
    if (c.charCodeAt(0) > 0xff) throw new RangeError(`"${c}" is not a single-byte character`);
  }
  return ascii(text);
}

export function compilePattern(format: 'hex' | 'ascii', source: string): ReplyPattern {
  if (format === 'ascii') {
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch (e) {
      throw new RangeError(`not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { source, test: (received) => re.test(latin1(received)) };
  }
  const tokens = hexTokens(source).map((t) => (t === '??' ? -1 : parseInt(t, 16)));
  return {
    source,
    test(received) {
      for (let start = 0; start + tokens.length <= received.length; start++) {
        if (tokens.every((t, i) => t < 0 || received[start + i] === t)) return true;
      }
      return false;
    },
  };
}

/** Keeps everything received since the last reset (bounded) and offers it whole on each push. */
export class AccumulatingParser implements ReplyParser {
  private readonly buf = new ByteBuffer(256);

  push(chunk: Uint8Array): ParseEvent[] {
    const events: ParseEvent[] = [];
    const dropped = this.buf.append(chunk);
    if (dropped.length) events.push({ type: 'discard', bytes: Uint8Array.from(dropped) });
    if (this.buf.length) events.push({ type: 'frame', bytes: Uint8Array.from(this.buf.view()) });
    return events;
  }

  reset(): void {
    this.buf.clear();
  }
}

interface Compiled {
  send: Uint8Array;
  expect?: ReplyPattern;
}

/**
 * Checks and compiles a command table. Problems are returned with the path of the entry
 * (relative to the table), so config validation can report them all at once.
 */
export function compileCommandTable(table: CustomCommandTable): { codec?: DisplayCodec; problems: string[] } {
  const problems: string[] = [];
  const format = table.format;
  const bytes = (path: string, text: string): Uint8Array => {
    try {
      return format === 'hex' ? parseHexBytes(text) : parseAsciiBytes(text);
    } catch (e) {
      problems.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      return new Uint8Array();
    }
  };
  const pattern = (path: string, text: string): ReplyPattern | undefined => {
    try {
      return compilePattern(format, text);
    } catch (e) {
      problems.push(`${path}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  const command = (path: string, c: CustomCommand): Compiled => {
    const expect = c.expect !== undefined ? pattern(`${path}/expect`, c.expect) : undefined;
    return { send: bytes(`${path}/send`, c.send), ...(expect ? { expect } : {}) };
  };
  const powerOn = command('powerOn', table.powerOn);
  const powerOff = command('powerOff', table.powerOff);
  const inputs = new Map<string, Compiled>();
  for (const [name, c] of Object.entries(table.inputs ?? {})) inputs.set(normaliseInput(name), command(`inputs/${name}`, c));
  const powerQuery = table.powerQuery
    ? { send: bytes('powerQuery/send', table.powerQuery.send), on: pattern('powerQuery/on', table.powerQuery.on), off: pattern('powerQuery/off', table.powerQuery.off) }
    : undefined;
  const inputQuery = table.inputQuery
    ? {
        send: bytes('inputQuery/send', table.inputQuery.send),
        replies: Object.entries(table.inputQuery.replies).map(([name, p]) => ({ name: normaliseInput(name), pattern: pattern(`inputQuery/replies/${name}`, p) })),
      }
    : undefined;
  const refused = table.refused !== undefined ? pattern('refused', table.refused) : undefined;
  if (problems.length) return { problems };

  const entry = (r: DisplayRequest): Compiled | undefined => {
    switch (r.op) {
      case 'power':
        return r.on ? powerOn : powerOff;
      case 'power?':
        return powerQuery ? { send: powerQuery.send } : undefined;
      case 'input':
        return inputs.get(normaliseInput(r.input));
      case 'input?':
        return inputQuery ? { send: inputQuery.send } : undefined;
    }
  };
  const codec: DisplayCodec = {
    profile: 'custom',
    inputs: [...inputs.keys()],
    supports: (r) => entry(r) !== undefined,
    expectsReply(r) {
      if (r.op === 'power?' || r.op === 'input?') return true;
      return entry(r)?.expect !== undefined;
    },
    encode(r) {
      const e = entry(r);
      if (!e) {
        const what =
          r.op === 'input' ? `input "${r.input}" (known: ${[...inputs.keys()].join(', ') || 'none'})` : r.op === 'power?' ? 'powerQuery' : 'inputQuery';
        throw new DisplayArgumentError(`the command table has no ${what}`, '');
      }
      return e.send;
    },
    parser: () => new AccumulatingParser(),
    interpret(r, received): DisplayOutcome | undefined {
      if (refused?.test(received)) return { kind: 'refused', reason: `reply matched "${refused.source}"` };
      switch (r.op) {
        case 'power':
          return powerOf(r.on).expect?.test(received) ? { kind: 'ok', power: r.on ? 'on' : 'off' } : undefined;
        case 'input':
          return inputs.get(normaliseInput(r.input))?.expect?.test(received) ? { kind: 'ok', input: normaliseInput(r.input) } : undefined;
        case 'power?':
          if (powerQuery?.on?.test(received)) return { kind: 'ok', power: 'on' };
          if (powerQuery?.off?.test(received)) return { kind: 'ok', power: 'off' };
          return undefined;
        case 'input?': {
          const hit = inputQuery?.replies.find((x) => x.pattern?.test(received));
          return hit ? { kind: 'ok', input: hit.name } : undefined;
        }
      }
    },
  };
  function powerOf(on: boolean): Compiled {
    return on ? powerOn : powerOff;
  }
  return { codec, problems };
}
