import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { redactSecrets } from '../../provisioning/bundle.js';
import { detectAudioCapture, detectSerialPorts, parseAsoundCards, parseAsoundPcm } from '../../provisioning/detect.js';
import { parseLevels } from '../../provisioning/media.js';
import { classifyBrokerError } from '../../provisioning/platform.js';
import { formatChecklist, runSteps, fail, pass } from '../../provisioning/steps.js';
import { tempDir } from '../support/tmp.js';

// Unit tests of the pure parts: detection over a device tree laid out as the kernel lays it
// out, /proc/asound parsing, level parsing, error classes, redaction, the step runner.
const dir = tempDir('lectern-detect-');
afterAll(() => dir.cleanup());

describe('serial port detection', () => {
  it('lists each adapter once, by its /dev/serial/by-id name, with its USB identity from sysfs', () => {
    const dev = join(dir.path, 'dev');
    const sys = join(dir.path, 'sys');
    const usbDev = join(sys, 'devices/pci0000:00/usb1/1-2');
    mkdirSync(join(usbDev, '1-2:1.0/ttyUSB0'), { recursive: true });
    writeFileSync(join(usbDev, 'idVendor'), '0403\n');
    writeFileSync(join(usbDev, 'idProduct'), '6001\n');
    writeFileSync(join(usbDev, 'manufacturer'), 'FTDI\n');
    writeFileSync(join(usbDev, 'serial'), 'A10K1234\n');
    mkdirSync(join(sys, 'class/tty/ttyUSB0'), { recursive: true });
    symlinkSync(join(usbDev, '1-2:1.0/ttyUSB0'), join(sys, 'class/tty/ttyUSB0/device'));
    mkdirSync(join(dev, 'serial/by-id'), { recursive: true });
    mkdirSync(join(dev, 'lectern'));
    writeFileSync(join(dev, 'ttyUSB0'), '');
    writeFileSync(join(dev, 'ttyACM3'), '');
    symlinkSync('../../ttyUSB0', join(dev, 'serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0'));
    symlinkSync('../ttyUSB0', join(dev, 'lectern/camera-A10K1234-if00'));
    const ports = detectSerialPorts({ dev, sys, proc: join(dir.path, 'proc') });
    expect(ports).toEqual([
      {
        path: join(dev, 'serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0'),
        device: join(dev, 'ttyUSB0'),
        via: 'by-id',
        usb: { vendorId: '0403', productId: '6001', manufacturer: 'FTDI', serial: 'A10K1234' },
      },
      { path: join(dev, 'ttyACM3'), device: join(dev, 'ttyACM3'), via: 'kernel' },
    ]);
  });
});

describe('/proc/asound', () => {
  const cards = ' 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 32\n 2 [Array          ]: USB-Audio - USB Array Microphone\n                      Generic at usb-0000:00:14.0-2\n';
  const pcm = '00-00: ALC255 Analog : ALC255 Analog : playback 1 : capture 1\n00-03: HDMI 0 : HDMI 0 : playback 1\n02-00: USB Audio : USB Audio : capture 1\n';

  it('parses cards and pcm devices', () => {
    expect(parseAsoundCards(cards)).toEqual([
      { card: 0, id: 'PCH', driver: 'HDA-Intel', name: 'HDA Intel PCH' },
      { card: 2, id: 'Array', driver: 'USB-Audio', name: 'USB Array Microphone' },
    ]);
    expect(parseAsoundPcm(pcm).map((p) => [p.card, p.device, p.capture, p.playback])).toEqual([
      [0, 0, true, true],
      [0, 3, false, true],
      [2, 0, true, false],
    ]);
  });

  it('lists capture devices, USB first, by stable card id', () => {
    const proc = join(dir.path, 'proc2');
    mkdirSync(join(proc, 'asound'), { recursive: true });
    writeFileSync(join(proc, 'asound/cards'), cards);
    writeFileSync(join(proc, 'asound/pcm'), pcm);
    expect(detectAudioCapture({ dev: '/nonexistent', sys: '/nonexistent', proc }).map((a) => a.alsaDevice)).toEqual(['plughw:CARD=Array,DEV=0', 'plughw:CARD=PCH,DEV=0']);
  });
});

describe('small parsers', () => {
  it('reads levels from gst-launch -m output', () => {
    const text = 'Got message #1 from element "alevel" (element): level, rms=(GValueArray)< -20.5, -22.5 >, peak=(GValueArray)< -3.26, -4 >;\nGot message #2 ... rms=(GValueArray)< -30 >, peak=(GValueArray)< -10 >;';
    expect(parseLevels(text)).toEqual({ peakDb: -3.3, rmsDb: -24.3 });
    expect(parseLevels('nothing')).toEqual({});
  });

  it('classifies broker errors', () => {
    expect(classifyBrokerError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('broker-unreachable');
    expect(classifyBrokerError(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }))).toBe('broker-credentials-rejected');
    expect(classifyBrokerError(Object.assign(new Error('Connection refused: Bad User Name or Password'), { code: 134 }))).toBe('broker-credentials-rejected');
    expect(classifyBrokerError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe('broker-tls-failed');
  });

  it('redacts secrets at any depth and reports their values', () => {
    const found = new Set<string>();
    const out = redactSecrets({ platform: { password: 'pw-1234', username: 'u', keyFile: '/etc/k.pem' }, media: { uplink: { passphrase: 'srt-secret-9' } }, list: [{ token: 'tok-5678' }] }, found);
    expect(out).toEqual({ platform: { password: '[hidden]', username: 'u', keyFile: '/etc/k.pem' }, media: { uplink: { passphrase: '[hidden]' } }, list: [{ token: '[hidden]' }] });
    expect([...found].sort()).toEqual(['pw-1234', 'srt-secret-9', 'tok-5678']);
  });
});

describe('step runner', () => {
  it('runs every step, turns a thrown error into a failure, and prints the fix under each failure', async () => {
    const seen: string[] = [];
    const results = await runSteps(
      [
        { id: 'a', title: 'first', run: async () => pass('fine') },
        {
          id: 'b',
          title: 'second',
          run: async () => {
            throw new Error('boom');
          },
        },
        { id: 'c', title: 'third', run: async () => [fail('disk-full', '1 GB free', 'free space'), pass('other')] },
      ],
      {},
      (e) => e.result && seen.push(`${e.index}/${e.total} ${e.result.id}`),
    );
    expect(results.map((r) => [r.id, r.status, r.code])).toEqual([
      ['a', 'pass', undefined],
      ['b', 'fail', 'step-crashed'],
      ['c', 'fail', 'disk-full'],
      ['c', 'pass', undefined],
    ]);
    expect(seen).toEqual(['1/3 a', '2/3 b', '3/3 c', '3/3 c']);
    const text = formatChecklist(results);
    expect(text).toContain('[FAIL] third: 1 GB free\n       fix: free space');
    expect(text).toContain('the check itself failed: boom');
    expect(text.trim().endsWith('2 checks failed')).toBe(true);
  });
});
