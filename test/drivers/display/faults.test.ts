/**
 * Integration tests on real ptys: a panel that stops answering, answers garbage or refuses;
 * the port vanishing and returning; requests queued one at a time; a user-defined command
 * table driving simulated panels; HDMI-CEC where no CEC device exists.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../agent/devices.js';
import { CecChannel } from '../../../drivers/display/cec.js';
import { createDisplay } from '../../../drivers/display/config.js';
import { Display } from '../../../drivers/display/controller.js';
import { DisplayPortError, DisplayRefusedError, DisplayTimeoutError } from '../../../drivers/display/errors.js';
import { healthy, ptyRig, TUNING, until, type PtyRig } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function rig(...args: Parameters<typeof ptyRig>): Promise<PtyRig> {
  const r = await ptyRig(...args);
  cleanups.push(r.close);
  return r;
}

function transitions(display: Display): string[] {
  const out: string[] = [];
  display.onHealthChange((now: DeviceHealth, before: DeviceHealth) => out.push(`${before.status}→${now.status}`));
  return out;
}

describe('a panel that misbehaves', () => {
  it('stops answering → fault naming the port and tries; answers again → ok', async () => {
    const { sim, display, pty } = await rig({ profile: 'samsung-mdc' });
    const seen = transitions(display);
    await display.start();
    await until(() => healthy(display), 'display ok');

    sim.setFaults({ silent: true });
    await until(() => display.health().status === 'fault', 'display fault');
    expect(display.health().detail).toBe(`no reply to power status from display panel on ${pty.a} after 2 tries`);
    await expect(display.powerOn()).rejects.toBeInstanceOf(DisplayTimeoutError);

    sim.setFaults({});
    await until(() => healthy(display), 'display ok again', 20_000);
    await display.powerOn();
    expect(sim.power).toBe('on');
    expect(seen).toEqual(['ok→fault', 'fault→ok']);
  });

  it('answers with garbage → the error says what arrived; the panel counts as not answering', async () => {
    const { sim, display, pty } = await rig({ profile: 'lg' }, {}, { pollIntervalMs: 0 });
    await display.start();
    sim.setFaults({ garbage: true });
    const err = await display.powerOn().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DisplayTimeoutError);
    expect((err as DisplayTimeoutError).message).toMatch(new RegExp(`^no reply to power on from display panel on ${pty.a} after 2 tries; it sent only bytes that are not a reply \\([0-9A-F ]+\\)$`));
    expect((err as DisplayTimeoutError).garbage).toMatch(/^[0-9A-F]{2}( [0-9A-F]{2})*$/);
    expect(display.health().status).toBe('fault');
    // The panel heard and acted; only its replies were garbled on the way back.
    expect(sim.power).toBe('on');
  });

  it('refuses (NAK / NG / -) → DisplayRefusedError, and the panel is still healthy', async () => {
    for (const profile of ['samsung-mdc', 'lg', 'benq'] as const) {
      const { sim, display } = await rig({ profile });
      await display.start();
      await until(() => healthy(display), `${profile} ok`);
      sim.setFaults({ refuse: true });
      await expect(display.powerOn()).rejects.toBeInstanceOf(DisplayRefusedError);
      await expect(display.powerOn()).rejects.toThrow(/^display panel on \S+ refused power on: (NAK, error code 0x00|NG, error code 01|rejected \(-\))$/);
      // Refusing is answering.
      expect(display.health().status).toBe('ok');
    }
  });

  it('refuses an input change in standby, accepts it once powered on', async () => {
    const { display } = await rig({ profile: 'benq', power: 'off' });
    await display.start();
    await expect(display.selectInput('hdmi2')).rejects.toThrow('refused input hdmi2: rejected (-)');
    await display.powerOn();
    await display.selectInput('hdmi2');
    expect(await display.status()).toEqual({ power: 'on', input: 'hdmi2' });
  });

  it('queues concurrent requests: one in flight at a time, in order, all answered', async () => {
    const { sim, display } = await rig({ profile: 'lg', faults: { delayMs: 30 } }, {}, { pollIntervalMs: 0, timeoutMs: 1000 });
    await display.start();
    const results = await Promise.all([display.powerOn(), display.selectInput('hdmi2'), display.status(), display.selectInput('dp'), display.status()]);
    expect(results[2]).toEqual({ power: 'on', input: 'hdmi2' });
    expect(results[4]).toEqual({ power: 'on', input: 'dp' });
    expect(sim.received).toEqual(['ka 01 01\\r', 'xb 01 91\\r', 'ka 01 ff\\r', 'xb 01 ff\\r', 'xb 01 c0\\r', 'ka 01 ff\\r', 'xb 01 ff\\r']);
  });
});

describe('the port vanishing and returning', () => {
  it('socat killed → absent (requests fail at once); restarted at the same path → ok', async () => {
    const { sim, display, pty } = await rig({ profile: 'benq' });
    const seen = transitions(display);
    await display.start();
    await until(() => healthy(display), 'display ok');

    await pty.kill();
    await until(() => display.health().status === 'absent', 'display absent');
    expect(display.health().detail).toBe(`serial port ${pty.a} is missing`);
    expect(display.state).toBe('absent');
    await expect(display.powerOn()).rejects.toThrow(`power on not sent to display panel on ${pty.a}: the port is absent: serial port ${pty.a} is missing`);
    await expect(display.powerOn()).rejects.toMatchObject({ absent: true });

    await pty.start();
    await sim.attachSerial(pty.b);
    await until(() => healthy(display), 'display ok after the port returned', 20_000);
    await display.powerOn();
    expect(sim.power).toBe('on');
    expect(seen).toEqual(['ok→absent', 'absent→ok']);
  });

  it('a display whose port is missing at start reports absent, then ok when it appears', async () => {
    const { sim, display, pty } = await rig({ profile: 'samsung-mdc' });
    await pty.kill();
    await display.start();
    expect(display.health()).toMatchObject({ status: 'absent', detail: `serial port ${pty.a} is missing` });
    await pty.start();
    await sim.attachSerial(pty.b);
    await until(() => healthy(display), 'display ok once the port exists', 20_000);
  });
});

describe('a user-defined command table', () => {
  it('hex table drives the Samsung simulator (with ?? wildcards and a refusal pattern)', async () => {
    const { sim, display } = await rig(
      { profile: 'samsung-mdc' },
      {
        profile: 'custom',
        commands: {
          format: 'hex',
          powerOn: { send: 'AA 11 01 01 01 14', expect: 'AA FF 01 03 41 11 01' },
          powerOff: { send: 'AA 11 01 01 00 13', expect: 'AA FF 01 03 41 11 00' },
          powerQuery: { send: 'AA 11 01 00 12', on: 'AA FF 01 03 41 11 01', off: 'AA FF 01 03 41 11 00' },
          inputs: { lesson: { send: 'AA 14 01 01 25 3B', expect: 'AA FF 01 03 41 14 ??' } },
          inputQuery: { send: 'AA 14 01 00 15', replies: { lesson: 'AA FF 01 03 41 14 25', hdmi: 'AA FF 01 03 41 14 21' } },
          refused: 'AA FF 01 03 4E',
        },
        lessonInput: 'lesson',
      },
    );
    await display.start();
    await until(() => healthy(display), 'display ok');
    expect(await display.status()).toEqual({ power: 'off', input: 'hdmi' });
    await expect(display.selectInput('lesson')).rejects.toThrow(/refused input lesson: reply matched "AA FF 01 03 4E"/);
    await display.powerOn();
    await display.selectInput('lesson');
    expect(await display.status()).toEqual({ power: 'on', input: 'lesson' });
    expect(sim.inputCode).toBe(String(0x25));
  });

  it('ASCII table drives the LG simulator; a command without `expect` is sent and not waited for', async () => {
    const { sim, display } = await rig(
      { profile: 'lg' },
      {
        profile: 'custom',
        commands: {
          format: 'ascii',
          powerOn: { send: 'ka 01 01\r', expect: 'a 01 OK01x' },
          powerOff: { send: 'ka 01 00\r' },
          powerQuery: { send: 'ka 01 ff\r', on: 'a 01 OK01x', off: 'a 01 OK00x' },
          refused: 'NG',
        },
      },
    );
    await display.start();
    await until(() => healthy(display), 'display ok');
    await display.powerOn();
    expect(sim.power).toBe('on');
    await display.powerOff();
    await until(() => sim.power === 'off', 'the panel off');
    // No input query in the table: the status says so rather than guessing.
    expect(await display.status()).toEqual({ power: 'off', input: null });
  });

  it('a table without a status query: healthy while the port is open, and says why', async () => {
    const { display } = await rig({ profile: 'lg' }, { profile: 'custom', commands: { format: 'ascii', powerOn: { send: 'ka 01 01\r' }, powerOff: { send: 'ka 01 00\r' } } });
    await display.start();
    expect(display.health()).toMatchObject({ status: 'ok', detail: 'no status query for this display: only its port is watched' });
    expect(await display.status()).toEqual({ power: 'unknown', input: null });
  });
});

describe('HDMI-CEC', () => {
  it('where no CEC device exists the display is absent, with a clear detail', async () => {
    const display = new Display({ id: 'panel', channel: new CecChannel({ device: '/dev/cec-lectern-test-none' }), ...TUNING });
    cleanups.push(() => display.stop());
    await display.start();
    expect(display.health()).toEqual({
      kind: 'display',
      id: 'panel',
      status: 'absent',
      detail: 'no CEC adapter: /dev/cec-lectern-test-none does not exist (HDMI-CEC needs a kernel CEC driver for the HDMI port, or a USB CEC adapter)',
    });
    await expect(display.powerOn()).rejects.toBeInstanceOf(DisplayPortError);
  });

  it('from config: transport cec without a device means /dev/cec0; one-shot use rejects at start', async () => {
    const display = createDisplay({ transport: 'cec', port: '/dev/cec-lectern-test-none', powerOffAfterLastLesson: false }, { tuning: { reconnect: false } });
    await expect(display.start()).rejects.toMatchObject({ absent: true, port: '/dev/cec-lectern-test-none' });
    expect(createDisplay({ transport: 'cec', powerOffAfterLastLesson: false }).port).toBe('/dev/cec0');
  });
});
