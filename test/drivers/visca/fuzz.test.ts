import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as c from '../../../drivers/visca/codec.js';
import { ViscaController } from '../../../drivers/visca/controller.js';
import { ViscaFramer, frame, INITIAL_FRAMER_STATE, type FrameEvent } from '../../../drivers/visca/framing.js';
import { createMemoryLink } from '../../../drivers/visca/memory.js';
import { settlesWithin, until } from './helpers.js';

const anyBytes = fc.uint8Array({ maxLength: 200 });

/** A well-formed reply packet: header from a camera, 1–14 data bytes without FF. */
const replyPacket = fc
  .tuple(fc.integer({ min: 1, max: 7 }), fc.uint8Array({ minLength: 1, maxLength: 14, max: 0x7f }))
  .map(([address, data]) => Uint8Array.from([(address + 8) << 4, ...data, 0xff]));

/** Noise that cannot start or end a packet: no FF, no reply header. */
const quietNoise = fc.uint8Array({ maxLength: 6, max: 0x7f });

function packetsOf(events: FrameEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'packet' ? [c.hex(e.bytes)] : []));
}

/** Split `bytes` at the given cut points. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('fuzz: framer and decoders', () => {
  it('never throws; every packet is 3–16 bytes ending in its only FF; every byte is accounted for', () => {
    fc.assert(
      fc.property(anyBytes, (input) => {
        const f = new ViscaFramer({ isHeader: c.isReplyHeader, accept: c.isPlausibleReply });
        const events = f.push(input);
        let accounted = f.pendingBytes;
        for (const e of events) {
          if (e.type === 'discard') {
            accounted += e.count;
            continue;
          }
          accounted += e.bytes.length;
          expect(e.bytes.length).toBeGreaterThanOrEqual(3);
          expect(e.bytes.length).toBeLessThanOrEqual(16);
          expect(e.bytes.indexOf(0xff)).toBe(e.bytes.length - 1);
          expect(c.isReplyHeader(e.bytes[0] ?? 0)).toBe(true);
        }
        expect(accounted).toBe(input.length);
        expect(f.pendingBytes).toBeLessThanOrEqual(15);
      }),
      { numRuns: 500 },
    );
  });

  it('chunking does not change what is found', () => {
    fc.assert(
      fc.property(anyBytes, fc.array(fc.nat(), { maxLength: 10 }), (input, cuts) => {
        const whole = frame(INITIAL_FRAMER_STATE, input).events;
        let state = INITIAL_FRAMER_STATE;
        const pieces: FrameEvent[] = [];
        for (const chunk of chunked(input, cuts)) {
          const r = frame(state, chunk);
          state = r.state;
          pieces.push(...r.events);
        }
        expect(packetsOf(pieces)).toEqual(packetsOf(whole));
      }),
      { numRuns: 300 },
    );
  });

  it('recovers every packet from a stream of packets, quiet noise and arbitrary splits', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(quietNoise, replyPacket), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 15 }), (items, cuts) => {
        const stream = Uint8Array.from(items.flatMap(([noise, p]) => [...noise, ...p]));
        const f = new ViscaFramer({ isHeader: c.isReplyHeader, accept: c.isPlausibleReply });
        const found = chunked(stream, cuts).flatMap((chunk) => f.packets(chunk).map(c.hex));
        expect(found).toEqual(items.map(([, p]) => c.hex(p)));
      }),
      { numRuns: 300 },
    );
  });

  it('decoders never throw and classify within the union', () => {
    const kinds = new Set(['ack', 'completion', 'error', 'answer', 'address-set', 'network-change', 'if-clear', 'unknown', 'malformed']);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const r = c.decodeReply(bytes);
        expect(kinds.has(r.kind)).toBe(true);
        if (r.kind === 'ack' || r.kind === 'completion') expect(r.socket).toBeGreaterThan(0);
        if (r.kind === 'error') expect(c.ERROR_CODES).toContain(r.code);
        for (const d of [c.decodePowerAnswer, c.decodeZoomAnswer, c.decodePanTiltAnswer, c.decodeVersionAnswer, c.decodeLastPresetAnswer]) {
          expect(typeof d(bytes).ok).toBe('boolean');
        }
        expect(typeof c.decodeIp(bytes).ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });
});

describe('fuzz: controller fed arbitrary bytes by its peer', () => {
  const ACK_MS = 25;
  const COMPLETION_MS = 150;
  const TRIES = 2;

  const requests = [
    c.inquirePower(1),
    c.inquireZoom(1),
    c.inquirePanTilt(2),
    c.inquireVersion(1),
    c.home(1),
    c.zoomStop(2),
    c.presetRecall(1, 3),
    c.focusOnePush(1),
    c.relativeMove(1, 5, 5, 1, 1),
    c.powerStandby(1),
    c.powerOn(1),
  ];

  /** Byte soup biased toward things that look like replies, so the state machine is exercised. */
  const replyish = fc.oneof(
    fc.uint8Array({ maxLength: 20 }),
    fc.constantFrom('90 41 FF', '90 42 FF', '90 51 FF', '90 52 FF', 'A0 41 FF', 'A0 51 FF', '90 60 03 FF', '90 61 41 FF', '90 61 04 FF', '90 62 05 FF', '90 60 02 FF', '90 38 FF', '88 30 02 FF', '88 01 00 01 FF', '90 50 02 FF', '90 50 03 FF', '90 50 00 00 00 00 FF', '90 50 FF').map((h) => Uint8Array.from(h.split(' '), (x) => parseInt(x, 16))),
  );

  it('every request settles within its bound and nothing stays pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(replyish, { maxLength: 4 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: requests.length - 1 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (script, picks, abortOne) => {
          const { transport, peer } = createMemoryLink('fuzz0');
          let i = 0;
          // Each packet the controller writes is answered with the next scripted bytes.
          peer.onData(() => {
            for (const chunk of script[i++ % script.length] ?? []) peer.write(chunk);
          });
          const bus = new ViscaController({ transport, ackTimeoutMs: ACK_MS, tries: TRIES, completionTimeoutMs: COMPLETION_MS, bufferFullDelayMs: 10, reconnectMinMs: 10, reconnectMaxMs: 20 });
          await bus.start();
          const abort = new AbortController();
          const sent = picks.map((k, n) =>
            bus.send(requests[k]?.bytes[0] === 0x82 ? 2 : 1, requests[k] ?? c.inquirePower(1), {
              completionTimeoutMs: COMPLETION_MS,
              ...(abortOne && n === 0 ? { signal: abort.signal } : {}),
            }),
          );
          if (abortOne) setTimeout(() => abort.abort(), 5);
          // Each message: its tries, buffer-full resends bounded by its completion timeout,
          // then Completion; one at a time on the wire.
          const bound = picks.length * (ACK_MS * TRIES + 2 * COMPLETION_MS) + 1000;
          const outcomes = await Promise.all(sent.map((p) => settlesWithin(p, bound)));
          expect(outcomes.filter((o) => o === 'pending')).toEqual([]);
          // Internal messages (Address Set after a Network Change) end too, within their tries.
          await until(() => bus.pending === 0, 'no message pending', ACK_MS * TRIES * 4 + 1000);
          await bus.stop();
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('stop settles everything at once, whatever the peer did', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(replyish, { maxLength: 10 }), async (noise) => {
        const { transport, peer } = createMemoryLink('fuzz1');
        peer.onData(() => {
          for (const chunk of noise) peer.write(chunk);
        });
        const bus = new ViscaController({ transport, ackTimeoutMs: 5000, completionTimeoutMs: 60_000 });
        // Not awaited: with no sensible replies, opening (Address Set, IF_Clear) waits long.
        const started = bus.start();
        const sent = [bus.send(1, c.presetRecall(1, 1)), bus.send(1, c.inquirePower(1)), bus.send(1, c.home(1))];
        const outcomes = sent.map((p) => settlesWithin(p, 500));
        await new Promise((r) => setTimeout(r, 5));
        const stopAt = performance.now();
        await bus.stop();
        expect((await Promise.all(outcomes)).filter((o) => o === 'pending')).toEqual([]);
        expect(performance.now() - stopAt).toBeLessThan(1000);
        await started;
        expect(bus.pending).toBe(0);
      }),
      { numRuns: 20 },
    );
  }, 60_000);
});
