import { describe, expect, it } from 'vitest';
import { hex, isPlausibleReply, isReplyHeader } from '../../../drivers/visca/codec.js';
import { ViscaFramer, frame, INITIAL_FRAMER_STATE } from '../../../drivers/visca/framing.js';

function b(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/), (h) => parseInt(h, 16));
}

function replyFramer(): ViscaFramer {
  return new ViscaFramer({ isHeader: isReplyHeader, accept: isPlausibleReply });
}

describe('VISCA framer', () => {
  it('splits glued packets on FF', () => {
    const f = replyFramer();
    expect(f.packets(b('90 41 FF 90 51 FF 90 50 02 FF')).map(hex)).toEqual(['90 41 FF', '90 51 FF', '90 50 02 FF']);
  });

  it('joins packets split across reads, byte by byte', () => {
    const f = replyFramer();
    const out: string[] = [];
    for (const byte of b('90 50 00 01 05 19 01 00 02 FF 90 41 FF')) out.push(...f.packets(Uint8Array.of(byte)).map(hex));
    expect(out).toEqual(['90 50 00 01 05 19 01 00 02 FF', '90 41 FF']);
  });

  it('drops noise bytes before a packet and reports them', () => {
    const f = replyFramer();
    const events = f.push(b('00 13 7E 90 41 FF'));
    expect(events).toEqual([
      { type: 'discard', reason: 'noise', count: 3 },
      { type: 'packet', bytes: b('90 41 FF') },
    ]);
    expect(f.discardedBytes).toBe(3);
  });

  it('prefers the packet that decodes when noise contains a header-like byte', () => {
    const f = replyFramer();
    // A0 looks like camera 2's header, but "A0 05 90 51" is not a reply; "90 51" is.
    expect(f.packets(b('A0 05 90 51 FF')).map(hex)).toEqual(['90 51 FF']);
  });

  it('recovers from a packet whose start was lost', () => {
    const f = replyFramer();
    // "50 02 FF" is the tail of an answer whose header was lost: no header, dropped.
    expect(f.packets(b('50 02 FF 90 41 FF')).map(hex)).toEqual(['90 41 FF']);
  });

  it('recovers from a packet whose end was lost', () => {
    const f = replyFramer();
    // "90 50 00" lost its FF; the next packet follows directly.
    expect(f.packets(b('90 50 00 90 51 FF')).map(hex)).toEqual(['90 51 FF']);
  });

  it('still delivers a version answer holding a header-like byte', () => {
    const f = replyFramer();
    expect(f.packets(b('90 50 00 01 05 19 A0 00 02 FF')).map(hex)).toEqual(['90 50 00 01 05 19 A0 00 02 FF']);
  });

  it('bounds its buffer on long garbage without FF and resyncs after it', () => {
    const f = replyFramer();
    const garbage = new Uint8Array(10_000).map((_, i) => i % 0x7f);
    expect(f.packets(garbage)).toEqual([]);
    expect(f.pendingBytes).toBeLessThanOrEqual(15);
    const events = f.push(b('90 42 FF'));
    expect(events[0]).toMatchObject({ type: 'discard', reason: 'oversize' });
    expect(events.filter((e) => e.type === 'packet').map((e) => (e.type === 'packet' ? hex(e.bytes) : ''))).toEqual(['90 42 FF']);
  });

  it('discards lone terminators and too-short packets', () => {
    const f = replyFramer();
    expect(f.push(b('FF FF 90 FF'))).toEqual([
      { type: 'discard', reason: 'noise', count: 1 },
      { type: 'discard', reason: 'noise', count: 1 },
      { type: 'discard', reason: 'short', count: 2 },
    ]);
  });

  it('is a pure function of state and chunk', () => {
    const one = frame(INITIAL_FRAMER_STATE, b('90 41'));
    expect(one.events).toEqual([]);
    expect(one.state.pending).toEqual([0x90, 0x41]);
    const again = frame(one.state, b('FF'));
    expect(again.events).toEqual([{ type: 'packet', bytes: b('90 41 FF') }]);
    // The old state is untouched.
    expect(one.state.pending).toEqual([0x90, 0x41]);
  });

  it('reset forgets a partial packet', () => {
    const f = replyFramer();
    f.packets(b('90 50'));
    f.reset();
    expect(f.packets(b('02 FF 90 41 FF')).map(hex)).toEqual(['90 41 FF']);
  });
});
