import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { capturePcms, findAlsaCapture, parseCardId, parseUsbBus, parseUsbId, type AlsaRoots } from '../../../drivers/mic/alsa.js';
import { tempDir } from '../../support/tmp.js';

// USB microphone → ALSA capture device, from sysfs and procfs trees laid out as the kernel does
// (snd-usb-audio), built in a temp dir.

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function tree(files: Record<string, string>): AlsaRoots {
  const d = tempDir('lectern-alsa-');
  dirs.push(d);
  for (const [path, content] of Object.entries(files)) {
    const full = join(d.path, path);
    if (path.endsWith('/')) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  return { sys: join(d.path, 'sys'), proc: join(d.path, 'proc') };
}

const array = { bus: '001', ports: [1, 4], address: 9, vendorId: 0x2886, productId: 0x0018 };

describe('ALSA capture device of a USB microphone', () => {
  it('from sysfs: the card under one of the device interfaces, its id from procfs', () => {
    const roots = tree({
      'sys/bus/usb/devices/1-1.4/idVendor': '2886\n',
      'sys/bus/usb/devices/1-1.4/1-1.4:1.0/sound/card2/id': 'ArrayUAC10\n',
      'sys/bus/usb/devices/1-1.4/1-1.4:1.3/': '',
      // Another device on the same hub: its card must not be taken.
      'sys/bus/usb/devices/1-1.3/1-1.3:1.0/sound/card1/id': 'Device\n',
      'proc/asound/card2/id': 'ArrayUAC10\n',
      'proc/asound/card2/pcm0c/info': '',
      'proc/asound/card2/pcm0p/info': '',
      'proc/asound/card1/id': 'Device\n',
      'proc/asound/card1/pcm0c/info': '',
    });
    expect(findAlsaCapture(array, roots)).toEqual({ card: 2, id: 'ArrayUAC10', device: 0, pcm: 'hw:CARD=ArrayUAC10,DEV=0', via: 'sysfs' });
  });

  it('from procfs when sysfs has no link: usbbus BBB/DDD and usbid must both match', () => {
    const roots = tree({
      'proc/asound/card0/id': 'PCH\n',
      'proc/asound/card0/pcm0c/info': '',
      'proc/asound/card3/id': 'ArrayUAC10\n',
      'proc/asound/card3/usbbus': '001/009\n',
      'proc/asound/card3/usbid': '2886:0018\n',
      'proc/asound/card3/pcm1c/info': '',
      'proc/asound/card3/pcm2c/info': '',
      // Same bus/device numbers but another VID:PID (a stale entry): not it.
      'proc/asound/card4/id': 'Other\n',
      'proc/asound/card4/usbbus': '001/009\n',
      'proc/asound/card4/usbid': '0d8c:0014\n',
      'proc/asound/card4/pcm0c/info': '',
    });
    expect(findAlsaCapture(array, roots)).toEqual({ card: 3, id: 'ArrayUAC10', device: 1, pcm: 'hw:CARD=ArrayUAC10,DEV=1', via: 'procfs' });
  });

  it('capture PCM from sysfs class entries when procfs lists none', () => {
    const roots = tree({
      'sys/bus/usb/devices/1-1.4/1-1.4:1.0/sound/card5/': '',
      'sys/class/sound/card5/id': 'Mic\n',
      'sys/class/sound/pcmC5D0p/': '',
      'sys/class/sound/pcmC5D3c/': '',
    });
    expect(findAlsaCapture(array, roots)?.pcm).toBe('hw:CARD=Mic,DEV=3');
  });

  it('no card, a playback-only card, or an unusable id: none', () => {
    expect(findAlsaCapture(array, tree({ 'sys/bus/usb/devices/1-1.4/idVendor': '2886' }))).toBeUndefined();
    const playbackOnly = tree({
      'sys/bus/usb/devices/1-1.4/1-1.4:1.0/sound/card2/': '',
      'proc/asound/card2/id': 'Speaker\n',
      'proc/asound/card2/pcm0p/info': '',
    });
    expect(findAlsaCapture(array, playbackOnly)).toBeUndefined();
    const badId = tree({
      'sys/bus/usb/devices/1-1.4/1-1.4:1.0/sound/card2/': '',
      'proc/asound/card2/id': 'a b;rm\n',
      'proc/asound/card2/pcm0c/info': '',
    });
    expect(findAlsaCapture(array, badId)).toBeUndefined();
    expect(findAlsaCapture(array, { sys: '/nonexistent-sys', proc: '/nonexistent-proc' })).toBeUndefined();
  });

  it('parsers refuse what is not theirs', () => {
    expect(parseUsbBus('001/009')).toEqual({ bus: 1, device: 9 });
    expect(parseUsbBus('1-1.4')).toBeUndefined();
    expect(parseUsbId('2886:0018\n')).toEqual({ vendorId: 0x2886, productId: 0x0018 });
    expect(parseUsbId('2886')).toBeUndefined();
    expect(capturePcms(['pcm0p', 'pcm2c', 'pcm0c', 'id', 'pcmXc'])).toEqual([0, 2]);
    expect(parseCardId(' ArrayUAC10 \n')).toBe('ArrayUAC10');
    expect(parseCardId('')).toBeUndefined();
  });
});
