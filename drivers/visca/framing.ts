/**
 * Streaming VISCA framer: turns an arbitrary sequence of byte chunks (a serial line or a TCP
 * stream delivers packets split or glued together, with line noise in between) into packets.
 *
 * `FF` never occurs inside a packet, so the stream is cut at every `FF`. The bytes before an
 * `FF` may start with noise or with the tail of a packet whose start was lost; the framer then
 * looks for the earliest header byte from which the rest is a plausible packet. At most 15
 * bytes are kept between terminators (a packet is 3–16 bytes including `FF`), so garbage without
 * any `FF` cannot grow memory: older bytes are dropped and counted.
 *
 * `frame()` is a pure function of (state, chunk); `ViscaFramer` only holds the state.
 */
import { MAX_PACKET, MIN_PACKET, TERMINATOR } from './codec.js';

export interface FramerOptions {
  /** Which bytes may start a packet; default: any byte with the high bit set, except `FF`. */
  isHeader?: (byte: number) => boolean;
  /**
   * Preference when several header bytes could start the packet: the earliest one whose
   * packet is accepted wins; when none is, the earliest header wins anyway (the decoder then
   * reports it as unknown or malformed).
   */
  accept?: (packet: Uint8Array) => boolean;
}

export interface FramerState {
  /** Bytes since the last `FF`, at most MAX_PACKET - 1. */
  readonly pending: readonly number[];
  /** Bytes dropped from the front of `pending` because no `FF` came in time. */
  readonly overflow: number;
}

export type DiscardReason = 'noise' | 'oversize' | 'short';

export type FrameEvent = { type: 'packet'; bytes: Uint8Array } | { type: 'discard'; reason: DiscardReason; count: number };

export const INITIAL_FRAMER_STATE: FramerState = { pending: [], overflow: 0 };

const defaultIsHeader = (b: number): boolean => b >= 0x80 && b !== TERMINATOR;
const acceptAll = (): boolean => true;

/** Feed one chunk; returns the new state and what was found, in stream order. */
export function frame(state: FramerState, chunk: Uint8Array, options: FramerOptions = {}): { state: FramerState; events: FrameEvent[] } {
  const isHeader = options.isHeader ?? defaultIsHeader;
  const accept = options.accept ?? acceptAll;
  const events: FrameEvent[] = [];
  let pending = [...state.pending];
  let overflow = state.overflow;

  for (const byte of chunk) {
    if (byte !== TERMINATOR) {
      if (pending.length === MAX_PACKET - 1) {
        pending.shift();
        overflow++;
      }
      pending.push(byte);
      continue;
    }
    // A packet needs a header and at least one data byte before the FF.
    let start = -1;
    let fallback = -1;
    for (let i = 0; i + MIN_PACKET - 1 <= pending.length; i++) {
      if (!isHeader(pending[i] ?? 0)) continue;
      if (fallback < 0) fallback = i;
      if (accept(Uint8Array.from([...pending.slice(i), TERMINATOR]))) {
        start = i;
        break;
      }
    }
    if (start < 0) start = fallback;
    if (start >= 0) {
      const skipped = overflow + start;
      if (skipped > 0) events.push({ type: 'discard', reason: overflow > 0 ? 'oversize' : 'noise', count: skipped });
      events.push({ type: 'packet', bytes: Uint8Array.from([...pending.slice(start), TERMINATOR]) });
    } else {
      const short = overflow === 0 && pending.length > 0 && isHeader(pending[0] ?? 0);
      events.push({ type: 'discard', reason: overflow > 0 ? 'oversize' : short ? 'short' : 'noise', count: overflow + pending.length + 1 });
    }
    pending = [];
    overflow = 0;
  }
  return { state: { pending, overflow }, events };
}

/** Holds the framer state for one byte stream. */
export class ViscaFramer {
  private state: FramerState = INITIAL_FRAMER_STATE;
  private discarded = 0;

  constructor(private readonly options: FramerOptions = {}) {}

  /** Feed a chunk; returns every event (packets and discards). */
  push(chunk: Uint8Array): FrameEvent[] {
    const out = frame(this.state, chunk, this.options);
    this.state = out.state;
    for (const e of out.events) if (e.type === 'discard') this.discarded += e.count;
    return out.events;
  }

  /** Feed a chunk; returns only the packets. */
  packets(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.push(chunk)) if (e.type === 'packet') out.push(e.bytes);
    return out;
  }

  /** Forget a partial packet (after a reconnect the old bytes belong to nothing). */
  reset(): void {
    this.state = INITIAL_FRAMER_STATE;
  }

  /** Bytes thrown away so far as noise, oversize or short. */
  get discardedBytes(): number {
    return this.discarded;
  }

  /** Bytes waiting for their `FF`. */
  get pendingBytes(): number {
    return this.state.pending.length;
  }
}
