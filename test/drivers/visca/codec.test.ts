import { describe, expect, it } from 'vitest';
import * as c from '../../../drivers/visca/codec.js';

/** `81 01 04 00 02 FF` → bytes. */
function b(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/), (h) => parseInt(h, 16));
}

describe('VISCA encoders match the command table', () => {
  const cases: [string, c.ViscaRequest, string][] = [
    ['power on', c.powerOn(1), '81 01 04 00 02 FF'],
    ['power standby', c.powerStandby(1), '81 01 04 00 03 FF'],
    ['drive up', c.panTiltDrive(1, 'up', 0x10, 0x08), '81 01 06 01 10 08 03 01 FF'],
    ['drive down', c.panTiltDrive(1, 'down', 1, 1), '81 01 06 01 01 01 03 02 FF'],
    ['drive left', c.panTiltDrive(2, 'left', 0x18, 0x17), '82 01 06 01 18 17 01 03 FF'],
    ['drive right', c.panTiltDrive(1, 'right', 5, 5), '81 01 06 01 05 05 02 03 FF'],
    ['drive up-left', c.panTiltDrive(1, 'up-left', 5, 5), '81 01 06 01 05 05 01 01 FF'],
    ['drive up-right', c.panTiltDrive(1, 'up-right', 5, 5), '81 01 06 01 05 05 02 01 FF'],
    ['drive down-left', c.panTiltDrive(1, 'down-left', 5, 5), '81 01 06 01 05 05 01 02 FF'],
    ['drive down-right', c.panTiltDrive(1, 'down-right', 5, 5), '81 01 06 01 05 05 02 02 FF'],
    ['drive stop', c.panTiltStop(1, 3, 4), '81 01 06 01 03 04 03 03 FF'],
    ['absolute', c.absoluteMove(1, 0x2200, -0x0400, 0x18, 0x14), '81 01 06 02 18 14 02 02 00 00 0F 0C 00 00 FF'],
    ['absolute negative pan', c.absoluteMove(1, -0x2200, 0x1200, 1, 1), '81 01 06 02 01 01 0D 0E 00 00 01 02 00 00 FF'],
    ['relative', c.relativeMove(3, -1, 1, 2, 3), '83 01 06 03 02 03 0F 0F 0F 0F 00 00 00 01 FF'],
    ['home', c.home(1), '81 01 06 04 FF'],
    ['reset', c.panTiltReset(1), '81 01 06 05 FF'],
    ['zoom stop', c.zoomStop(1), '81 01 04 07 00 FF'],
    ['zoom tele', c.zoomTele(1), '81 01 04 07 02 FF'],
    ['zoom wide', c.zoomWide(1), '81 01 04 07 03 FF'],
    ['zoom tele variable', c.zoomTele(1, 5), '81 01 04 07 25 FF'],
    ['zoom wide variable', c.zoomWide(1, 0), '81 01 04 07 30 FF'],
    ['zoom direct', c.zoomDirect(1, 0x4000), '81 01 04 47 04 00 00 00 FF'],
    ['zoom direct 0x1a2b', c.zoomDirect(7, 0x1a2b), '87 01 04 47 01 0A 02 0B FF'],
    ['focus auto', c.focusAuto(1), '81 01 04 38 02 FF'],
    ['focus manual', c.focusManual(1), '81 01 04 38 03 FF'],
    ['focus one-push', c.focusOnePush(1), '81 01 04 18 01 FF'],
    ['preset reset', c.presetReset(1, 3), '81 01 04 3F 00 03 FF'],
    ['preset set', c.presetSet(1, 0x0f), '81 01 04 3F 01 0F FF'],
    ['preset recall', c.presetRecall(1, 0xfe), '81 01 04 3F 02 FE FF'],
    ['cancel socket 1', c.cancel(1, 1), '81 21 FF'],
    ['cancel socket 2', c.cancel(2, 2), '82 22 FF'],
    ['IF_Clear broadcast', c.ifClear(), '88 01 00 01 FF'],
    ['IF_Clear camera 2', c.ifClear(2), '82 01 00 01 FF'],
    ['Address Set', c.addressSet(), '88 30 01 FF'],
    ['inquiry power', c.inquirePower(1), '81 09 04 00 FF'],
    ['inquiry zoom', c.inquireZoom(1), '81 09 04 47 FF'],
    ['inquiry pan-tilt', c.inquirePanTilt(1), '81 09 06 12 FF'],
    ['inquiry version', c.inquireVersion(1), '81 09 00 02 FF'],
    ['inquiry last preset', c.inquireLastPreset(4), '84 09 04 3F FF'],
  ];
  it.each(cases)('%s', (_name, request, expected) => {
    expect(c.hex(request.bytes)).toBe(expected);
  });

  it('classifies requests for the powered-off rule and retries', () => {
    expect(c.powerOn(1).allowedInStandby).toBe(true);
    expect(c.inquireZoom(1).allowedInStandby).toBe(true);
    expect(c.presetRecall(1, 1).allowedInStandby).toBe(false);
    expect(c.panTiltDrive(1, 'up', 1, 1).allowedInStandby).toBe(false);
    expect(c.relativeMove(1, 1, 1, 1, 1).idempotent).toBe(false);
    expect(c.absoluteMove(1, 1, 1, 1, 1).idempotent).toBe(true);
    expect(c.inquirePanTilt(1).answerLength).toBe(8);
    expect(c.inquireVersion(1).type).toBe('inquiry');
  });

  it('rejects out-of-range arguments', () => {
    expect(() => c.powerOn(0)).toThrow(RangeError);
    expect(() => c.powerOn(8)).toThrow(/1–7/);
    expect(() => c.panTiltDrive(1, 'up', 0x19, 1)).toThrow(/pan speed/);
    expect(() => c.panTiltDrive(1, 'up', 1, 0x18)).toThrow(/tilt speed/);
    expect(() => c.presetRecall(1, 0xff)).toThrow(/preset/);
    expect(() => c.zoomTele(1, 8)).toThrow(/zoom speed/);
    expect(() => c.zoomDirect(1, -1)).toThrow(/zoom position/);
    expect(() => c.cancel(1, 0)).toThrow(/socket/);
  });
});

describe('VISCA reply decoder', () => {
  it('decodes ACK and Completion with their socket and camera', () => {
    expect(c.decodeReply(b('90 41 FF'))).toEqual({ kind: 'ack', address: 1, socket: 1 });
    expect(c.decodeReply(b('A0 42 FF'))).toEqual({ kind: 'ack', address: 2, socket: 2 });
    expect(c.decodeReply(b('90 51 FF'))).toEqual({ kind: 'completion', address: 1, socket: 1 });
    expect(c.decodeReply(b('F0 52 FF'))).toEqual({ kind: 'completion', address: 7, socket: 2 });
  });

  it('decodes each error code', () => {
    expect(c.decodeReply(b('90 60 01 FF'))).toEqual({ kind: 'error', address: 1, socket: 0, code: 0x01 });
    expect(c.decodeReply(b('90 60 02 FF'))).toEqual({ kind: 'error', address: 1, socket: 0, code: 0x02 });
    expect(c.decodeReply(b('90 60 03 FF'))).toEqual({ kind: 'error', address: 1, socket: 0, code: 0x03 });
    expect(c.decodeReply(b('90 61 04 FF'))).toEqual({ kind: 'error', address: 1, socket: 1, code: 0x04 });
    expect(c.decodeReply(b('B0 62 05 FF'))).toEqual({ kind: 'error', address: 3, socket: 2, code: 0x05 });
    expect(c.decodeReply(b('90 61 41 FF'))).toEqual({ kind: 'error', address: 1, socket: 1, code: 0x41 });
    expect(c.decodeReply(b('90 61 42 FF')).kind).toBe('unknown');
    expect(c.errorText(0x41)).toMatch(/not executable.*41/);
  });

  it('decodes inquiry answers, Address Set, Network Change and IF_Clear', () => {
    const answer = c.decodeReply(b('90 50 02 FF'));
    expect(answer.kind).toBe('answer');
    if (answer.kind === 'answer') expect(Array.from(answer.data)).toEqual([0x02]);
    expect(c.decodeReply(b('88 30 03 FF'))).toEqual({ kind: 'address-set', next: 3 });
    expect(c.decodeReply(b('A0 38 FF'))).toEqual({ kind: 'network-change', address: 2 });
    expect(c.decodeReply(b('90 50 FF'))).toEqual({ kind: 'if-clear', address: 1 });
    expect(c.decodeReply(b('88 01 00 01 FF'))).toEqual({ kind: 'if-clear', address: 'broadcast' });
  });

  it('reports malformed and unknown packets instead of throwing', () => {
    expect(c.decodeReply(b('90 41'))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/too short/) as unknown });
    expect(c.decodeReply(b('90 41 41'))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/FF/) as unknown });
    expect(c.decodeReply(b('90 FF 41 FF'))).toMatchObject({ kind: 'malformed', reason: 'FF inside packet' });
    expect(c.decodeReply(b('10 41 FF'))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/header/) as unknown });
    expect(c.decodeReply(new Uint8Array(17).fill(0x01))).toMatchObject({ kind: 'malformed' });
    expect(c.decodeReply(b('88 30 00 FF')).kind).toBe('malformed');
    // A command coming back round the ring (sender 0) is not a reply.
    expect(c.decodeReply(b('81 01 04 00 02 FF')).kind).toBe('unknown');
    expect(c.decodeReply(b('90 40 FF')).kind).toBe('unknown');
    expect(c.decodeReply(b('91 41 FF')).kind).toBe('unknown');
  });
});

describe('inquiry answer decoders', () => {
  it('power', () => {
    expect(c.decodePowerAnswer(b('02'))).toEqual({ ok: true, value: 'on' });
    expect(c.decodePowerAnswer(b('03'))).toEqual({ ok: true, value: 'standby' });
    expect(c.decodePowerAnswer(b('05')).ok).toBe(false);
    expect(c.decodePowerAnswer(b('02 03')).ok).toBe(false);
  });

  it('zoom position from nibbles', () => {
    expect(c.decodeZoomAnswer(b('04 00 00 00'))).toEqual({ ok: true, value: 0x4000 });
    expect(c.decodeZoomAnswer(b('01 0A 02 0B'))).toEqual({ ok: true, value: 0x1a2b });
    expect(c.decodeZoomAnswer(b('10 00 00 00')).ok).toBe(false);
  });

  it('pan and tilt as signed 16-bit', () => {
    expect(c.decodePanTiltAnswer(b('0D 0E 00 00 0F 0C 00 00'))).toEqual({ ok: true, value: { pan: -0x2200, tilt: -0x0400 } });
    expect(c.decodePanTiltAnswer(b('02 02 00 00 01 02 00 00'))).toEqual({ ok: true, value: { pan: 0x2200, tilt: 0x1200 } });
    expect(c.decodePanTiltAnswer(b('0F 0F 0F 0F 00 00 00 00'))).toEqual({ ok: true, value: { pan: -1, tilt: 0 } });
    expect(c.decodePanTiltAnswer(b('0F 0F 0F')).ok).toBe(false);
  });

  it('version and model string', () => {
    const v = c.decodeVersionAnswer(b('00 01 05 19 01 23 02'));
    expect(v).toEqual({ ok: true, value: { vendor: 1, model: 0x0519, rom: 0x0123, maxSocket: 2 } });
    if (v.ok) expect(c.modelString(v.value)).toBe('VISCA 0x0001/0x0519');
    expect(c.decodeVersionAnswer(b('00 01')).ok).toBe(false);
  });

  it('last preset', () => {
    expect(c.decodeLastPresetAnswer(b('07'))).toEqual({ ok: true, value: 7 });
    expect(c.decodeLastPresetAnswer(b('07 01')).ok).toBe(false);
  });

  it('nibbles round-trip', () => {
    for (const v of [0, 1, 0x7fff, -1, -0x8000, 0x2200, -0x2200]) {
      const data = Uint8Array.from(c.toNibbles(v));
      expect(c.toSigned16(c.fromNibbles(data, 0) ?? NaN)).toBe(v);
    }
  });
});

describe('VISCA over IP header', () => {
  it('encodes payload type, length and sequence big-endian', () => {
    const d = c.encodeIp(c.IP_TYPE.command, 0x01020304, b('81 01 04 00 02 FF'));
    expect(c.hex(d)).toBe('01 00 00 06 01 02 03 04 81 01 04 00 02 FF');
    expect(c.hex(c.encodeIp(c.IP_TYPE.control, 0, c.IP_RESET))).toBe('02 00 00 01 00 00 00 00 01');
  });

  it('decodes and validates', () => {
    const m = c.decodeIp(b('01 11 00 03 FF FF FF FF 90 41 FF'));
    expect(m).toMatchObject({ ok: true, type: 0x0111, sequence: 0xffffffff });
    if (m.ok) expect(c.hex(m.payload)).toBe('90 41 FF');
    expect(c.decodeIp(b('01 11 00 04 00 00 00 01 90 41 FF')).ok).toBe(false);
    expect(c.decodeIp(b('01 11 00 00 00 00 00 01')).ok).toBe(false);
    expect(c.decodeIp(b('01 11 00 11 00 00 00 01 90')).ok).toBe(false);
  });
});
