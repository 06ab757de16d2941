/**
 * Unit tests of the pure parts: each profile's encoding (checked against the byte strings in
 * the hardware reference), its reply parser fed garbage, partial and split replies, and its
 * interpretation of replies; the command table compiler; CEC argv building and output parsing.
 */
import { describe, expect, it } from 'vitest';
import { BenqParser, benqCodec, decodeBenq } from '../../../drivers/display/benq.js';
import { cecArgv, cecConfigureArgv, parseCecOutput } from '../../../drivers/display/cec.js';
import { AccumulatingParser, compileCommandTable, compilePattern, parseHexBytes } from '../../../drivers/display/custom.js';
import { DisplayArgumentError } from '../../../drivers/display/errors.js';
import { LgParser, lgCodec } from '../../../drivers/display/lg.js';
import { ascii, hex, type DisplayCodec, type DisplayRequest, type ParseEvent } from '../../../drivers/display/protocol.js';
import { MdcParser, mdcChecksum, mdcFrame, samsungMdcCodec } from '../../../drivers/display/samsung-mdc.js';

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/), (h) => parseInt(h, 16));
}

function frames(events: ParseEvent[]): string[] {
  return events.filter((e) => e.type === 'frame').map((e) => hex(e.bytes));
}

function discarded(events: ParseEvent[]): number {
  return events.filter((e) => e.type === 'discard').reduce((n, e) => n + e.bytes.length, 0);
}

/** Feeds a reply through the codec's parser in the given chunks; the first outcome for `r`. */
function answer(codec: DisplayCodec, r: DisplayRequest, ...chunks: Uint8Array[]): ReturnType<DisplayCodec['interpret']> {
  const parser = codec.parser();
  for (const chunk of chunks) {
    for (const e of parser.push(chunk)) {
      if (e.type !== 'frame') continue;
      const o = codec.interpret(r, e.bytes);
      if (o) return o;
    }
  }
  return undefined;
}

describe('Samsung MDC', () => {
  const codec = samsungMdcCodec({ id: 1 });

  it('encodes the reference frames, checksum = sum after AA mod 256', () => {
    expect(hex(codec.encode({ op: 'power', on: true }))).toBe('AA 11 01 01 01 14');
    expect(hex(codec.encode({ op: 'power', on: false }))).toBe('AA 11 01 01 00 13');
    expect(hex(codec.encode({ op: 'power?' }))).toBe('AA 11 01 00 12');
    expect(hex(codec.encode({ op: 'input', input: 'HDMI1' }))).toBe('AA 14 01 01 21 37');
    expect(hex(codec.encode({ op: 'input', input: 'hdmi2' }))).toBe('AA 14 01 01 23 39');
    expect(hex(codec.encode({ op: 'input', input: 'dp' }))).toBe('AA 14 01 01 25 3B');
    expect(hex(samsungMdcCodec({ id: 0xfe }).encode({ op: 'input?' }))).toBe('AA 14 FE 00 12');
    expect(mdcChecksum([0xaa, 0xff, 0x01, 0x03, 0x41, 0x11, 0x01])).toBe(0x56);
    expect(() => codec.encode({ op: 'input', input: 'vga' })).toThrow(DisplayArgumentError);
  });

  it('reads ACK and NAK replies', () => {
    const ackOn = mdcFrame(0xff, 1, [0x41, 0x11, 0x01]);
    expect(hex(ackOn)).toBe('AA FF 01 03 41 11 01 56');
    expect(answer(codec, { op: 'power?' }, ackOn)).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'power?' }, mdcFrame(0xff, 1, [0x41, 0x11, 0x00]))).toEqual({ kind: 'ok', power: 'off' });
    expect(answer(codec, { op: 'power', on: true }, ackOn)).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'input?' }, mdcFrame(0xff, 1, [0x41, 0x14, 0x23]))).toEqual({ kind: 'ok', input: 'hdmi2' });
    // A source code without a configured name is reported raw.
    expect(answer(codec, { op: 'input?' }, mdcFrame(0xff, 1, [0x41, 0x14, 0x60]))).toEqual({ kind: 'ok', input: '0x60' });
    expect(answer(codec, { op: 'input', input: 'hdmi1' }, mdcFrame(0xff, 1, [0x4e, 0x14, 0x02]))).toEqual({ kind: 'refused', reason: 'NAK, error code 0x02' });
  });

  it('ignores replies from another ID or for another command', () => {
    expect(answer(codec, { op: 'power?' }, mdcFrame(0xff, 2, [0x41, 0x11, 0x01]))).toBeUndefined();
    expect(answer(codec, { op: 'power?' }, mdcFrame(0xff, 1, [0x41, 0x14, 0x21]))).toBeUndefined();
    // Its own command echoed back is not a reply.
    expect(answer(codec, { op: 'power?' }, mdcFrame(0x11, 1))).toBeUndefined();
  });

  it('parser: noise before, replies split byte by byte, glued together', () => {
    const p = new MdcParser();
    const a = mdcFrame(0xff, 1, [0x41, 0x11, 0x01]);
    const b = mdcFrame(0xff, 1, [0x41, 0x14, 0x21]);
    const all: ParseEvent[] = [];
    for (const byte of [0x00, 0x13, 0x55, ...a, ...b]) all.push(...p.push(Uint8Array.of(byte)));
    expect(frames(all)).toEqual([hex(a), hex(b)]);
    expect(discarded(all)).toBe(3);
  });

  it('parser: a reply cut short, then a whole one; a bad checksum; an implausible length', () => {
    const p = new MdcParser();
    const good = mdcFrame(0xff, 1, [0x41, 0x11, 0x00]);
    const events = p.push(Uint8Array.from([0xaa, 0xff, 0x01, 0x03, 0x41, ...good]));
    expect(frames(events)).toEqual([hex(good)]);
    const bad = Uint8Array.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    expect(frames(p.push(bad))).toEqual([]);
    expect(frames(p.push(Uint8Array.from([0xaa, 0xff, 0x01, 0xc8, ...good])))).toEqual([hex(good)]);
  });

  it('parser: garbage alone gives no frame and does not grow without bound', () => {
    const p = new MdcParser();
    const noise = Uint8Array.from({ length: 5000 }, (_, i) => (i * 37) & 0x7f);
    const events = p.push(noise);
    expect(frames(events)).toEqual([]);
    expect(discarded(events)).toBe(5000);
  });
});

describe('LG', () => {
  const codec = lgCodec({ id: 1 });

  it('encodes ka/xb commands with the set ID in hex', () => {
    const text = (r: DisplayRequest): string => Buffer.from(codec.encode(r)).toString('latin1');
    expect(text({ op: 'power', on: true })).toBe('ka 01 01\r');
    expect(text({ op: 'power', on: false })).toBe('ka 01 00\r');
    expect(text({ op: 'power?' })).toBe('ka 01 ff\r');
    expect(text({ op: 'input', input: 'hdmi1' })).toBe('xb 01 90\r');
    expect(text({ op: 'input?' })).toBe('xb 01 ff\r');
    expect(Buffer.from(lgCodec({ id: 26, inputCommand: 'kb', inputs: { pc: '60' } }).encode({ op: 'input', input: 'pc' })).toString()).toBe('kb 1a 60\r');
  });

  it('reads OK and NG replies, noise and splits included', () => {
    expect(answer(codec, { op: 'power', on: true }, ascii('a 01 OK01x'))).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'power?' }, ascii('#%a 0'), ascii('1 OK00x'))).toEqual({ kind: 'ok', power: 'off' });
    expect(answer(codec, { op: 'input?' }, ascii('b 01 OK91x'))).toEqual({ kind: 'ok', input: 'hdmi2' });
    expect(answer(codec, { op: 'input', input: 'dp' }, ascii('b 01 NG02x'))).toEqual({ kind: 'refused', reason: 'NG, error code 02' });
    // Another set, another command, or a malformed line is not the answer.
    expect(answer(codec, { op: 'power?' }, ascii('a 02 OK01x'))).toBeUndefined();
    expect(answer(codec, { op: 'power?' }, ascii('b 01 OK90x'))).toBeUndefined();
    expect(answer(codec, { op: 'power?' }, ascii('a 01 OKx'))).toBeUndefined();
    // Set ID 0 reaches every set; any set's answer counts.
    expect(answer(lgCodec({ id: 0 }), { op: 'power?' }, ascii('a 07 OK01x'))).toEqual({ kind: 'ok', power: 'on' });
  });

  it('parser: garbage with x in it is discarded; the reply after it parses', () => {
    const p = new LgParser();
    const events = p.push(ascii('zzxqq x a 01 OK01x'));
    expect(frames(events).map((h) => Buffer.from(bytes(h)).toString())).toEqual(['a 01 OK01x']);
    expect(discarded(events)).toBe('zzxqq x '.length);
  });
});

describe('BenQ', () => {
  const codec = benqCodec({ id: 1 });

  it('encodes the reference power-on frame', () => {
    expect(hex(codec.encode({ op: 'power', on: true }))).toBe('38 30 31 73 21 30 30 31 0D');
    expect(Buffer.from(codec.encode({ op: 'power?' })).toString()).toBe('801gl000\r');
    expect(Buffer.from(codec.encode({ op: 'input', input: 'hdmi2' })).toString()).toBe('801s"002\r');
    expect(Buffer.from(benqCodec({ id: 12 }).encode({ op: 'power', on: false })).toString()).toBe('812s!000\r');
  });

  it('reads + and - and get replies; the length digit must agree', () => {
    expect(answer(codec, { op: 'power', on: true }, ascii('401+\r'))).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'input', input: 'hdmi1' }, ascii('401-\r'))).toEqual({ kind: 'refused', reason: 'rejected (-)' });
    expect(answer(codec, { op: 'power?' }, ascii('801rl001\r'))).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'input?' }, ascii('801rj'), ascii('007\r'))).toEqual({ kind: 'ok', input: 'dp' });
    expect(answer(codec, { op: 'power?' }, ascii('qq#801rl000\r'))).toEqual({ kind: 'ok', power: 'off' });
    expect(answer(codec, { op: 'power?' }, ascii('402+\r'))).toBeUndefined();
    expect(decodeBenq('501+')).toBeUndefined();
    expect(decodeBenq('801+')).toBeUndefined();
    expect(decodeBenq('401r')).toBeUndefined();
  });

  it('parser: CR-terminated garbage is discarded whole', () => {
    const p = new BenqParser();
    const events = p.push(ascii('hello\r\r401+\r'));
    expect(frames(events).map((h) => Buffer.from(bytes(h)).toString())).toEqual(['401+\r']);
    expect(discarded(events)).toBe(7);
  });
});

describe('custom command table', () => {
  it('parses hex bytes in several spellings and refuses what is not hex', () => {
    expect(hex(parseHexBytes('AA 11 01 01 01 14'))).toBe('AA 11 01 01 01 14');
    expect(hex(parseHexBytes('aa1101 0x01,0x01 14'))).toBe('AA 11 01 01 01 14');
    expect(() => parseHexBytes('AA 1G')).toThrow(/"1G" is not a hex byte/);
    expect(() => parseHexBytes('AA ??')).toThrow(/only allowed in expected replies/);
  });

  it('hex patterns match anywhere, with ?? for any byte; ASCII patterns are regular expressions', () => {
    const p = compilePattern('hex', 'AA FF ?? 03 41 11');
    expect(p.test(bytes('00 AA FF 07 03 41 11 01 5C'))).toBe(true);
    expect(p.test(bytes('AA FF 07 03 4E 11'))).toBe(false);
    expect(compilePattern('ascii', 'a \\d{2} OK01x').test(ascii('noise a 01 OK01x'))).toBe(true);
    expect(() => compilePattern('ascii', 'a (b')).toThrow(/not a valid regular expression/);
  });

  it('reports every problem of a table with its path', () => {
    const r = compileCommandTable({
      format: 'hex',
      powerOn: { send: 'AA ZZ', expect: 'AA FF' },
      powerOff: { send: 'AA 11 01 01 00 13', expect: 'AA XX' },
      inputs: { hdmi1: { send: '' } },
      powerQuery: { send: 'AA 11 01 00 12', on: 'AA FF ?? 03 41 11 01', off: 'QQ' },
    });
    expect(r.codec).toBeUndefined();
    expect(r.problems).toEqual([
      'powerOn/send: "ZZ" is not a hex byte (expected two hex digits like 0D, or ?? in a reply)',
      'powerOff/expect: "XX" is not a hex byte (expected two hex digits like 0D, or ?? in a reply)',
      'inputs/hdmi1/send: no bytes given',
      'powerQuery/off: "QQ" is not a hex byte (expected two hex digits like 0D, or ?? in a reply)',
    ]);
  });

  it('an ASCII table: accumulates replies across reads, knows refusals and unanswered commands', () => {
    const { codec, problems } = compileCommandTable({
      format: 'ascii',
      powerOn: { send: 'PWR ON\r', expect: '^OK\\r' },
      powerOff: { send: 'PWR OFF\r' },
      powerQuery: { send: 'PWR?\r', on: 'PWR=1', off: 'PWR=0' },
      inputs: { hdmi1: { send: 'SRC HDMI1\r', expect: 'OK' } },
      inputQuery: { send: 'SRC?\r', replies: { hdmi1: 'SRC=HDMI1', ops: 'SRC=OPS' } },
      refused: 'ERR',
    });
    expect(problems).toEqual([]);
    if (!codec) throw new Error('no codec');
    expect(Buffer.from(codec.encode({ op: 'power', on: true })).toString()).toBe('PWR ON\r');
    expect(codec.expectsReply({ op: 'power', on: false })).toBe(false);
    expect(codec.expectsReply({ op: 'power', on: true })).toBe(true);
    expect(codec.supports({ op: 'input', input: 'dp' })).toBe(false);
    expect(() => codec.encode({ op: 'input', input: 'dp' })).toThrow(/no input "dp" \(known: hdmi1\)/);
    expect(answer(codec, { op: 'power?' }, ascii('PW'), ascii('R=1\r'))).toEqual({ kind: 'ok', power: 'on' });
    expect(answer(codec, { op: 'input?' }, ascii('SRC=OPS\r'))).toEqual({ kind: 'ok', input: 'ops' });
    expect(answer(codec, { op: 'input', input: 'hdmi1' }, ascii('ERR 3\r'))).toEqual({ kind: 'refused', reason: 'reply matched "ERR"' });
    expect(answer(codec, { op: 'power', on: true }, ascii('xOK\r'))).toBeUndefined();
    // Bounded: a flood of garbage keeps only the newest bytes.
    const p = new AccumulatingParser();
    const events = p.push(new Uint8Array(1000));
    expect(discarded(events)).toBe(744);
  });
});

describe('HDMI-CEC', () => {
  it('builds argv arrays, never a shell string', () => {
    expect(cecConfigureArgv('/dev/cec0')).toEqual(['-d', '/dev/cec0', '-s', '--playback', '-o', 'Lectern']);
    expect(cecArgv('/dev/cec0', { op: 'power', on: true })).toEqual(['-d', '/dev/cec0', '-s', '--to', '0', '--image-view-on']);
    expect(cecArgv('/dev/cec1', { op: 'power', on: false })).toEqual(['-d', '/dev/cec1', '-s', '--to', '0', '--standby']);
    expect(cecArgv('/dev/cec0', { op: 'power?' }, undefined, 2500)).toEqual(['-d', '/dev/cec0', '-s', '--to', '0', '--timeout', '2500', '--give-device-power-status']);
    expect(cecArgv('/dev/cec0', { op: 'input', input: 'HDMI2' })).toEqual(['-d', '/dev/cec0', '-s', '--to', '15', '--active-source', 'phys-addr=2.0.0.0']);
    // A name with shell metacharacters is only ever a lookup key.
    expect(() => cecArgv('/dev/cec0', { op: 'input', input: 'hdmi1; reboot' })).toThrow(/unknown input/);
    expect(() => cecArgv('/dev/cec0', { op: 'input', input: 'x' }, { x: '1.0.0.0 --standby' })).toThrow(/not a physical address/);
    expect(() => cecArgv('/dev/cec0', { op: 'input?' })).toThrow(/cannot read which input/);
  });

  const transmit = (body: string): string =>
    ['Transmit from Playback Device 1 to TV (4 to 0):', 'GIVE_DEVICE_POWER_STATUS (0x8f)', body].join('\n');

  it('parses power status replies, transitions as where they go', () => {
    const reply = (state: string): string =>
      transmit(`\tSequence: 5 Tx Timestamp: 101.2s Rx Timestamp: 101.3s\n\tReceived from TV (0): REPORT_POWER_STATUS (0x90):\n\t\tpwr-state: ${state}\n`);
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: reply('on (0x00)'), stderr: '' })).toEqual({ kind: 'ok', power: 'on' });
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: reply('standby (0x01)'), stderr: '' })).toEqual({ kind: 'ok', power: 'off' });
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: reply('to-on (0x02)'), stderr: '' })).toEqual({ kind: 'ok', power: 'on' });
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: reply('to-standby (0x03)'), stderr: '' })).toEqual({ kind: 'ok', power: 'off' });
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: transmit('\tSequence: 5 Tx Timestamp: 1.0s'), stderr: '' })).toEqual({ kind: 'no-answer', reason: 'no power status in the reply' });
  });

  it('parses failures: not acknowledged, reply timeout, feature abort, missing device, missing program', () => {
    const nack = parseCecOutput({ op: 'power', on: true }, { code: 0, stdout: transmit('\tTx, Not Acknowledged (4), Max Retries'), stderr: '' });
    expect(nack).toEqual({ kind: 'no-answer', reason: 'the display did not acknowledge power on (Not Acknowledged (4), Max Retries)' });
    expect(parseCecOutput({ op: 'power?' }, { code: 0, stdout: transmit('\tRx, Timeout'), stderr: '' }).kind).toBe('no-answer');
    const abort = parseCecOutput({ op: 'power?' }, { code: 0, stdout: transmit('\tReceived from TV (0): FEATURE_ABORT (0x00):\n\t\tabort-msg: 143 (0x8f)'), stderr: '' });
    expect(abort).toEqual({ kind: 'refused', reason: 'the display refused power status (Feature Abort)' });
    expect(parseCecOutput({ op: 'power?' }, { code: 1, stdout: '', stderr: 'Failed to open /dev/cec0: No such file or directory\n' })).toEqual({
      kind: 'absent',
      reason: 'CEC device /dev/cec0 does not exist',
    });
    expect(parseCecOutput({ op: 'power?' }, { code: 1, stdout: '', stderr: 'Failed to open /dev/cec0: Permission denied\n' })).toEqual({
      kind: 'failed',
      reason: 'cannot open CEC device /dev/cec0: Permission denied',
    });
    expect(parseCecOutput({ op: 'power?' }, { code: null, stdout: '', stderr: '', spawnError: 'ENOENT: spawn cec-ctl ENOENT' }).kind).toBe('failed');
    expect(parseCecOutput({ op: 'power', on: false }, { code: 0, stdout: 'Transmit from Playback Device 1 to TV (4 to 0):\nSTANDBY (0x36)\n', stderr: '' })).toEqual({ kind: 'ok', power: 'off' });
    expect(parseCecOutput({ op: 'power', on: false }, { code: 0, stdout: '', stderr: '', timedOut: true }).kind).toBe('no-answer');
  });
});
