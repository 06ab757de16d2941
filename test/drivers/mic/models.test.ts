import { describe, expect, it } from 'vitest';
import { FakeUsbDevice, FakeXmosArray, vendorOnlyConfiguration } from '../../../drivers/mic/fake-usb.js';
import { choose, classify, describeMatch, hasAudioCapture, type MicCandidate } from '../../../drivers/mic/models.js';
import { busNumber, sysfsName } from '../../../drivers/mic/usb.js';

// Which USB devices count as microphones, and which one the agent picks: pure functions of the
// descriptors the `usb` package gives (here from devices built in the package's shape).

const plainMic = (ports: number[], o: Partial<ConstructorParameters<typeof FakeUsbDevice>[0]> = {}): FakeUsbDevice =>
  new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, ports, productName: 'USB Audio Device', ...o });

function candidates(...devices: FakeUsbDevice[]): MicCandidate[] {
  return devices.map((d) => classify(d)).filter((c): c is MicCandidate => c !== undefined);
}

describe('classification', () => {
  it('knows the XMOS array by VID/PID, with its capabilities', () => {
    const c = classify(new FakeXmosArray({ ports: [1, 4] }))!;
    expect(c.vidPid).toBe('2886:0018');
    expect(c.model?.key).toBe('respeaker-v2');
    expect(c.capabilities).toEqual(['agc', 'noiseSuppression', 'echoSuppression', 'vad', 'doa']);
    expect(c.audioCapture).toBe(true);
  });

  it('an unknown device with an audio streaming interface and an IN endpoint is a plain microphone', () => {
    const c = classify(plainMic([2]))!;
    expect(c.model).toBeUndefined();
    expect(c.label).toBe('USB Audio Device');
    expect(c.capabilities).toEqual([]);
  });

  it('a device without an audio capture interface is not a microphone', () => {
    expect(classify(new FakeUsbDevice({ vendorId: 0x0403, productId: 0x6001, configuration: vendorOnlyConfiguration() }))).toBeUndefined();
    // A speaker: audio streaming, but only an OUT endpoint.
    const speaker = plainMic([3]);
    const alt = speaker.configuration.interfaces[1]!.alternates[1]!;
    alt.endpoints = [{ endpointNumber: 1, direction: 'out', type: 'isochronous', packetSize: 192 }];
    expect(hasAudioCapture(speaker)).toBe(false);
    expect(classify(speaker)).toBeUndefined();
  });

  it('sysfs names and bus numbers from the forms the package may give', () => {
    expect(sysfsName({ bus: '001', ports: [1, 4] })).toBe('1-1.4');
    expect(sysfsName({ bus: '3', ports: [2] })).toBe('3-2');
    expect(sysfsName({ bus: '2-1.4', ports: [1, 4] })).toBe('2-1.4');
    expect(sysfsName({ bus: '1', ports: [] })).toBeUndefined();
    expect(busNumber({ bus: 'x' })).toBeUndefined();
  });
});

describe('choosing the microphone', () => {
  const array = new FakeXmosArray({ ports: [1, 4], serialNumber: 'A1' });
  const plainA = plainMic([1, 2], { serialNumber: 'P1' });
  const plainB = plainMic([1, 3], { vendorId: 0x046d, productId: 0x0a44, serialNumber: 'P2' });

  it('without config: the array first, else the first by bus position', () => {
    expect(choose(candidates(plainA, array, plainB), undefined)?.device).toBe(array);
    expect(choose(candidates(plainB, plainA), undefined)?.device).toBe(plainA);
    expect(choose([], undefined)).toBeUndefined();
  });

  it('by VID/PID (hex, with or without 0x), model or serial', () => {
    const all = candidates(plainA, array, plainB);
    expect(choose(all, { vid: '046D', pid: '0x0a44' })?.device).toBe(plainB);
    expect(choose(all, { model: 'respeaker-v2' })?.device).toBe(array);
    expect(choose(all, { serial: 'P1' })?.device).toBe(plainA);
    expect(choose(all, { vid: '1234' })).toBeUndefined();
    expect(describeMatch({ vid: '0x2886', pid: '18' })).toBe('2886:0018');
  });
});
