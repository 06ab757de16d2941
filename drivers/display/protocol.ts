/**
 * What every display protocol (Samsung MDC, LG, BenQ, a user-defined command table) offers the
 * controller: encode a request into bytes, split the byte stream coming back into candidate
 * reply frames, and tell whether a frame answers a request. All of it is pure: the controller
 * and the serial channel hold the only state (the parser's buffer).
 */

export const PROFILES = ['samsung-mdc', 'lg', 'benq', 'custom'] as const;
export type ProfileName = (typeof PROFILES)[number];

export type PowerState = 'on' | 'off';

/** The four things the agent asks of a panel. */
export type DisplayRequest =
  | { op: 'power'; on: boolean }
  | { op: 'power?' }
  | { op: 'input'; input: string }
  | { op: 'input?' };

export type DisplayOutcome =
  /** Accepted; for queries, what the panel reported. `input` is a configured name, or the raw code. */
  | { kind: 'ok'; power?: PowerState; input?: string }
  /** Answered with a refusal; `reason` says what the panel said. */
  | { kind: 'refused'; reason: string };

/** A streaming splitter of the reply byte stream into candidate frames. */
export interface ReplyParser {
  /** Feed bytes as they arrive; returns complete frames (and notes on bytes thrown away). */
  push(chunk: Uint8Array): ParseEvent[];
  /** Forget buffered bytes (a new request, or a new connection). */
  reset(): void;
}

export type ParseEvent = { type: 'frame'; bytes: Uint8Array } | { type: 'discard'; bytes: Uint8Array };

export interface DisplayCodec {
  readonly profile: ProfileName;
  /** Named inputs this codec can select, in config order. */
  readonly inputs: readonly string[];
  /** Whether the request can be expressed (a command table may lack the input query). */
  supports(request: DisplayRequest): boolean;
  /** The bytes to send. Throws DisplayArgumentError for an input or request it cannot express. */
  encode(request: DisplayRequest): Uint8Array;
  /** Whether the panel answers this request at all (a command table entry may have no reply). */
  expectsReply(request: DisplayRequest): boolean;
  parser(): ReplyParser;
  /** The outcome when `frame` answers `request`; undefined when it is not an answer to it. */
  interpret(request: DisplayRequest, frame: Uint8Array): DisplayOutcome | undefined;
}

/** A short human name for a request, for messages: `power on`, `input hdmi1`, `power status`. */
export function describeRequest(r: DisplayRequest): string {
  switch (r.op) {
    case 'power':
      return r.on ? 'power on' : 'power off';
    case 'power?':
      return 'power status';
    case 'input':
      return `input ${r.input}`;
    case 'input?':
      return 'input status';
  }
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** Bytes shown for a human: printable ASCII as text, the rest as \xNN. */
export function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x0d) s += '\\r';
    else if (b === 0x0a) s += '\\n';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return s;
}

export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

/** A frame buffer bounded to `max` bytes: older bytes are dropped first (and reported). */
export class ByteBuffer {
  private bytes: number[] = [];

  constructor(private readonly max: number) {}

  /** Appends; returns the bytes pushed out at the front, if any. */
  append(chunk: Uint8Array): number[] {
    this.bytes.push(...chunk);
    const over = this.bytes.length - this.max;
    return over > 0 ? this.bytes.splice(0, over) : [];
  }

  get length(): number {
    return this.bytes.length;
  }

  at(i: number): number {
    return this.bytes[i] ?? 0;
  }

  /** Removes and returns the first n bytes. */
  take(n: number): number[] {
    return this.bytes.splice(0, n);
  }

  view(): readonly number[] {
    return this.bytes;
  }

  clear(): void {
    this.bytes = [];
  }
}

/**
 * Input names are what technicians type and configure: lower case letters, digits and dashes
 * (`hdmi1`, `dp`, `ops`). Matching is case-insensitive.
 */
export const INPUT_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,31}$';

export function normaliseInput(name: string): string {
  return name.trim().toLowerCase();
}
