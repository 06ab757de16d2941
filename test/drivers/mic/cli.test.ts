import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerMicCommands, type MicInfo, type MicListing } from '../../../drivers/mic/cli.js';
import { FakeUsbBus, FakeUsbDevice, FakeXmosArray, vendorOnlyConfiguration } from '../../../drivers/mic/fake-usb.js';
import type { UsbBus } from '../../../drivers/mic/usb.js';
import { tempDir } from '../../support/tmp.js';

// `lectern mic list|info`, in process, against a USB bus in the `usb` package's shape and a
// sysfs/procfs fixture tree for the ALSA cards.

const dir = tempDir('lectern-mic-cli-');
afterAll(() => dir.cleanup());
for (const [path, content] of Object.entries({
  'sys/bus/usb/devices/1-1.4/1-1.4:1.0/sound/card2/id': 'ArrayUAC10\n',
  'proc/asound/card2/id': 'ArrayUAC10\n',
  'proc/asound/card2/pcm0c/info': '',
})) {
  mkdirSync(dirname(join(dir.path, path)), { recursive: true });
  writeFileSync(join(dir.path, path), content);
}
const roots = { sys: join(dir.path, 'sys'), proc: join(dir.path, 'proc') };

async function run(args: string[], usb?: () => UsbBus): Promise<string> {
  let out = '';
  const program = new Command('lectern').exitOverride();
  registerMicCommands(program, { out: (t) => (out += t) }, { ...(usb && { usb }), roots });
  await program.parseAsync(['node', 'lectern', ...args]);
  return out;
}

function kit(): { bus: FakeUsbBus; array: FakeXmosArray } {
  const array = new FakeXmosArray({ bus: '001', ports: [1, 4], address: 9, serialNumber: 'A1' });
  const plain = new FakeUsbDevice({ vendorId: 0x0d8c, productId: 0x0014, bus: '001', ports: [1, 3], productName: 'USB Audio Device' });
  const serial = new FakeUsbDevice({ vendorId: 0x0403, productId: 0x6001, ports: [2], configuration: vendorOnlyConfiguration() });
  return { bus: new FakeUsbBus([plain, array, serial]), array };
}

describe('lectern mic', () => {
  it('list --json: known and unknown microphones, ALSA card, capabilities; other devices left out', async () => {
    const { bus } = kit();
    const out = JSON.parse(await run(['mic', 'list', '--json'], () => bus)) as { ok: boolean; microphones: MicListing[] };
    expect(out.ok).toBe(true);
    expect(out.microphones).toEqual([
      {
        vidPid: '0d8c:0014',
        name: 'USB Audio Device',
        model: null,
        known: false,
        usb: '1-1.3',
        serial: null,
        alsa: null,
        alsaCard: null,
        capabilities: [],
        selected: false,
      },
      {
        vidPid: '2886:0018',
        name: 'ReSpeaker Mic Array v2.0 (XMOS)',
        model: 'respeaker-v2',
        known: true,
        usb: '1-1.4',
        serial: 'A1',
        alsa: 'hw:CARD=ArrayUAC10,DEV=0',
        alsaCard: 2,
        capabilities: ['agc', 'noiseSuppression', 'echoSuppression', 'vad', 'doa'],
        selected: true,
      },
    ]);
  });

  it('list as text marks the one in use', async () => {
    const { bus } = kit();
    const text = await run(['mic', 'list'], () => bus);
    expect(text).toContain('* 2886:0018  ReSpeaker Mic Array v2.0 (XMOS)');
    expect(text).toContain('ALSA capture: hw:CARD=ArrayUAC10,DEV=0 (card 2)');
    expect(text).toContain('plain USB microphone (no vendor controls)');
    expect(await run(['mic', 'list'], () => new FakeUsbBus())).toContain('no USB microphones found');
  });

  it('info --json reads the vendor state', async () => {
    const { bus, array } = kit();
    array.speak(123);
    // A config whose settings differ from the device's: info reads, it does not apply them.
    const file = join(dir.path, 'config.json');
    writeFileSync(file, JSON.stringify({ deviceId: 'QZ-CLI-0001-R101', platform: { mqttUrl: 'mqtt://127.0.0.1:1883' }, microphone: { id: 'desk', controls: { agc: false } } }));
    const out = JSON.parse(await run(['mic', 'info', '--json', '-c', file], () => bus)) as { ok: boolean; microphone: MicInfo };
    expect(out.microphone).toMatchObject({
      id: 'desk',
      health: 'ok',
      device: { vidPid: '2886:0018', alsa: 'hw:CARD=ArrayUAC10,DEV=0' },
      state: { agc: true, echoSuppression: false, doaDeg: 123, voiceActivity: true },
    });
    // Reading only: nothing was written to the device.
    expect(array.transfers.filter((t) => t.bmRequestType === 0x40)).toEqual([]);
    expect(array.opened).toBe(false);
  });

  it('info without a microphone fails with what to do', async () => {
    await expect(run(['mic', 'info'], () => new FakeUsbBus())).rejects.toThrow(/no USB microphone connected \(looking for any USB microphone\); `lectern mic list` shows what is there/);
  });

  it('--simulate uses the simulated kit bus', async () => {
    const text = await run(['mic', 'info', '--simulate']);
    expect(text).toContain('2886:0018  ReSpeaker Mic Array v2.0 (XMOS) on USB 1-1.2');
    expect(text).toMatch(/direction of arrival: 75°, voice activity: yes/);
  });
});
