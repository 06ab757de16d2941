import { afterEach, describe, expect, it } from 'vitest';
import { FakeUsbBus, FakeXmosArray, type RecordedTransfer } from '../../../drivers/mic/fake-usb.js';
import { Microphone } from '../../../drivers/mic/microphone.js';
import type { MicrophoneConfig } from '../../../drivers/mic/config.js';
import { XmosControl, decodeRead, encodeWrite, XMOS_PARAMS } from '../../../drivers/mic/xmos.js';
import { waitUntil } from '../../support/tmp.js';

// Vendor control transfers of the XMOS array, byte for byte against the hardware reference:
// read = bmRequestType 0xC0, request 0, wValue 0x80|offset (+0x40 for an integer), wIndex id,
// 8 bytes back (int32 LE pair; float = first × 2^second); write = bmRequestType 0x40, request 0,
// wValue 0, wIndex id, 12 bytes: offset, value, type (1 int, 0 float), int32 LE each.

const le32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const f32 = (x: number): number[] => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...b];
};

const mics: Microphone[] = [];
afterEach(async () => {
  await Promise.all(mics.splice(0).map((m) => m.stop()));
});

async function started(config: Partial<MicrophoneConfig> = {}): Promise<{ mic: Microphone; dev: FakeXmosArray }> {
  const dev = new FakeXmosArray({ ports: [1, 4] });
  const mic = new Microphone({ config: { id: 'microphone', controls: {}, ...config }, usb: new FakeUsbBus([dev]), scanMs: 60_000, lessonCheckMs: 60_000 });
  mics.push(mic);
  await mic.start();
  await mic.settled();
  return { mic, dev };
}

describe('XMOS vendor controls', () => {
  it('applySettings writes each configured control with the reference bytes', async () => {
    const { mic, dev } = await started({
      controls: { agc: false, agcGain: 3.5, stationaryNoiseSuppression: true, nonStationaryNoiseSuppression: false, echoSuppression: true },
    });
    // Applied once on plug-in already; compare one explicit application.
    dev.transfers.length = 0;
    await mic.applySettings();
    const writes = dev.transfers.map((t: RecordedTransfer) => ({ ...t, data: [...(t.data ?? [])] }));
    expect(writes).toEqual([
      { bmRequestType: 0x40, bRequest: 0, wValue: 0, wIndex: 19, wLength: 12, data: [...le32(0), ...le32(0), ...le32(1)] },
      { bmRequestType: 0x40, bRequest: 0, wValue: 0, wIndex: 19, wLength: 12, data: [...le32(3), ...f32(3.5), ...le32(0)] },
      { bmRequestType: 0x40, bRequest: 0, wValue: 0, wIndex: 19, wLength: 12, data: [...le32(8), ...le32(1), ...le32(1)] },
      { bmRequestType: 0x40, bRequest: 0, wValue: 0, wIndex: 19, wLength: 12, data: [...le32(11), ...le32(0), ...le32(1)] },
      { bmRequestType: 0x40, bRequest: 0, wValue: 0, wIndex: 19, wLength: 12, data: [...le32(14), ...le32(1), ...le32(1)] },
    ]);
    // The device took them: its store holds the values.
    expect([dev.param(19, 0), dev.param(19, 3), dev.param(19, 8), dev.param(19, 11), dev.param(19, 14)]).toEqual([0, 3.5, 1, 0, 1]);
  });

  it('reads DOA, voice activity and the controls with the reference setup', async () => {
    const { mic, dev } = await started({ controls: { agcGain: 12.25 } });
    dev.speak(237);
    dev.transfers.length = 0;
    const state = await mic.readState();
    expect(state).toEqual({
      agc: true,
      agcGain: 12.25,
      stationaryNoiseSuppression: true,
      nonStationaryNoiseSuppression: true,
      echoSuppression: false,
      doaDeg: 237,
      voiceActivity: true,
      speechDetected: true,
    });
    const setups = dev.transfers.map((t) => [t.bmRequestType, t.bRequest, t.wValue, t.wIndex, t.wLength]);
    expect(setups).toEqual([
      [0xc0, 0, 0x80 | 0x40 | 0, 19, 8], // AGC on/off (int)
      [0xc0, 0, 0x80 | 3, 19, 8], // AGC gain (float: no 0x40)
      [0xc0, 0, 0x80 | 0x40 | 8, 19, 8],
      [0xc0, 0, 0x80 | 0x40 | 11, 19, 8],
      [0xc0, 0, 0x80 | 0x40 | 14, 19, 8],
      [0xc0, 0, 0x80 | 0x40 | 0, 21, 8], // DOA angle (21, 0)
      [0xc0, 0, 0x80 | 0x40 | 32, 19, 8], // voice activity (19, 32)
      [0xc0, 0, 0x80 | 0x40 | 22, 19, 8], // speech detected (19, 22)
    ]);
    dev.quiet();
    expect(await mic.readVoice()).toEqual({ angle: 237, voice: false });
  });

  it('decodes the 8-byte answers: integer first word, float first × 2^second', () => {
    const view = (bytes: number[]): DataView => new DataView(new Uint8Array(bytes).buffer);
    expect(decodeRead(XMOS_PARAMS.doaAngle, view([...le32(359), ...le32(0)]))).toBe(359);
    expect(decodeRead(XMOS_PARAMS.agcGain, view([...le32(3), ...le32(2)]))).toBe(12);
    expect(decodeRead(XMOS_PARAMS.agcGain, view([...le32(196608), ...le32(-16)]))).toBe(3);
    expect(() => decodeRead(XMOS_PARAMS.doaAngle, view([1, 2, 3]))).toThrow(/3 bytes, 8 expected/);
    expect([...encodeWrite(XMOS_PARAMS.echoSuppression, 1)]).toEqual([...le32(14), ...le32(1), ...le32(1)]);
  });

  it('refusals and bad values are errors naming the parameter and the device', async () => {
    const { dev } = await started();
    const control = new XmosControl(dev, 'microphone 2886:0018 on 1-1.4');
    const before = dev.transfers.length;
    await expect(control.write('doaAngle', 10)).rejects.toThrow(/DOAANGLE is read-only/);
    await expect(control.write('agc', 2)).rejects.toThrow(/AGCONOFF: 2 is outside 0–1/);
    await expect(control.write('agcGain', Number.NaN)).rejects.toThrow(/not a number/);
    // Refused before anything reached the device.
    expect(dev.transfers.length).toBe(before);
    dev.gone = true;
    await expect(control.read('doaAngle')).rejects.toThrow(/microphone 2886:0018 on 1-1\.4: reading DOAANGLE failed: transfer error: device disconnected/);
  });

  it('a setting the device refuses makes the microphone degraded with the reason', async () => {
    const { mic, dev } = await started();
    // The device stalls writes to a parameter it does not have; simulate one through a bad type.
    const control = new XmosControl(dev, 'mic');
    const orig = dev.controlTransferOut.bind(dev);
    dev.controlTransferOut = async (setup, data) => {
      const r = await orig(setup, data);
      return { ...r, status: 'stall' };
    };
    await expect(control.write('agc', 1)).rejects.toThrow(/AGCONOFF = 1 was refused \(stall\)/);
    const mic2 = new Microphone({ config: { id: 'microphone', controls: { agc: true } }, usb: new FakeUsbBus([dev]), scanMs: 60_000, lessonCheckMs: 60_000 });
    mics.push(mic2);
    await mic2.start();
    await waitUntil(() => mic2.health().status === 'degraded', 'degraded after a refused setting');
    expect(mic2.health().detail).toMatch(/settings not applied: .*AGCONOFF = 1 was refused/);
    expect(mic.health().status).toBe('ok');
  });
});
