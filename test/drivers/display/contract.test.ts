import { createDisplay } from '../../../drivers/display/config.js';
import { PROFILES, type ProfileName } from '../../../drivers/display/protocol.js';
import { BAUD_RATES, type BaudRate } from '../../../drivers/display/serial.js';
import { SIM_PROFILES } from '../../../drivers/display/simulator.js';
import { displayContract } from './contract.js';
import { ptyRig, TUNING } from './helpers.js';

const INPUTS = { 'samsung-mdc': ['hdmi1', 'dp'], lg: ['hdmi2', 'hdmi1'], benq: ['hdmi1', 'dp'] } as const;

for (const profile of SIM_PROFILES) {
  displayContract(`${profile} simulator through a socat pty pair`, async () => {
    const rig = await ptyRig({ profile, id: profile === 'lg' ? 3 : 1, power: 'off' });
    const [a, b] = INPUTS[profile];
    return { display: rig.display, inputs: [a, b], close: rig.close };
  });
}

// Simulator with line trouble: noise before replies and replies split across reads.
displayContract('samsung-mdc simulator with noise and split replies', async () => {
  const rig = await ptyRig({ profile: 'samsung-mdc', faults: { noise: 0.5, split: 0.5 } });
  return { display: rig.display, inputs: ['hdmi2', 'hdmi1'], close: rig.close };
});

const realPort = process.env.LECTERN_TEST_DISPLAY_PORT;
const realProfile = process.env.LECTERN_TEST_DISPLAY_PROFILE ?? '';
const realBaud = Number(process.env.LECTERN_TEST_DISPLAY_BAUD ?? 9600);
const realId = Number(process.env.LECTERN_TEST_DISPLAY_ID ?? 1);
const realInputs = (process.env.LECTERN_TEST_DISPLAY_INPUTS ?? 'hdmi1,hdmi2').split(',');

displayContract(
  `real ${realProfile || 'panel'} on ${realPort ?? '(none)'}`,
  async () => {
    if (!(PROFILES as readonly string[]).includes(realProfile) || realProfile === 'custom') throw new Error('LECTERN_TEST_DISPLAY_PROFILE must be samsung-mdc, lg or benq');
    if (!(BAUD_RATES as readonly number[]).includes(realBaud)) throw new Error(`LECTERN_TEST_DISPLAY_BAUD must be one of ${BAUD_RATES.join(', ')}`);
    const [a, b] = realInputs;
    if (!a || !b) throw new Error('LECTERN_TEST_DISPLAY_INPUTS must name two inputs, e.g. hdmi1,hdmi2');
    const display = createDisplay(
      { transport: 'serial', port: realPort ?? '', profile: realProfile as ProfileName, id: realId, baudRate: realBaud as BaudRate, powerOffAfterLastLesson: false },
      { tuning: { ...TUNING, timeoutMs: 2000, tries: 3, pollIntervalMs: 5000, reconnect: false } },
    );
    return { display, inputs: [a, b], close: async () => undefined };
  },
  realPort && realProfile
    ? undefined
    : 'set LECTERN_TEST_DISPLAY_PORT=/dev/serial/by-id/... and LECTERN_TEST_DISPLAY_PROFILE=samsung-mdc|lg|benq (optionally LECTERN_TEST_DISPLAY_ID, _BAUD, _INPUTS=hdmi1,hdmi2) to run it against a real panel',
);
