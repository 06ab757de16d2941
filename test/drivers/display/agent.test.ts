/**
 * The agent with a display: its health is in the device list and a port that vanishes raises
 * a fault event; the simulated kit (`lectern agent --simulate`) brings a panel on a pty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedKit } from '../../../agent/sim-kit.js';
import { silentLogger } from '../../../agent/log.js';
import { createDisplay } from '../../../drivers/display/config.js';
import { DisplaySimulator } from '../../../drivers/display/simulator.js';
import { inProcessAgent, testConfig } from '../../support/agent.js';
import { PtyPair } from '../../support/pty.js';
import { tempDir } from '../../support/tmp.js';
import { healthy, until } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

describe('the agent watches the display', () => {
  it('lists it among its devices: ok, then absent when its port vanishes, ok again when it returns', async () => {
    const dir = tempDir('lectern-display-agent-');
    cleanups.push(dir.cleanup);
    const pty = await PtyPair.create();
    const sim = new DisplaySimulator({ profile: 'lg' });
    await sim.attachSerial(pty.b);
    cleanups.push(async () => {
      await sim.close();
      await pty.dispose();
    });
    // No broker: the agent keeps trying to connect in the background, which this test ignores.
    const { agent } = inProcessAgent(
      testConfig(dir.path, 'mqtt://127.0.0.1:1', { display: { transport: 'serial', port: pty.a, profile: 'lg', name: 'board', pollIntervalSec: 0.3, lessonInput: 'hdmi2' } }),
    );
    cleanups.push(() => agent.stop());
    await agent.start();
    const display = agent.running?.display;
    if (!display) throw new Error('the agent built no display');
    const device = (): unknown => agent.running?.watch.devices().find((d) => d.kind === 'display');
    await until(() => healthy(display), 'display ok');
    expect(device()).toEqual({ kind: 'display', id: 'board', model: 'LG display', status: 'ok' });

    await pty.kill();
    await until(() => display.health().status === 'absent', 'display absent', 20_000);
    expect(device()).toMatchObject({ status: 'absent', detail: `serial port ${pty.a} is missing` });
    await pty.start();
    await sim.attachSerial(pty.b);
    await until(() => healthy(display), 'display ok again', 30_000);
  });
});

describe('the simulated kit', () => {
  it('has a Samsung MDC panel on a pty that the display driver controls', async () => {
    const dir = tempDir('lectern-display-kit-');
    cleanups.push(dir.cleanup);
    const kit = new SimulatedKit(silentLogger());
    cleanups.push(() => kit.stop());
    await kit.start(dir.path);
    const config = kit.display;
    if (!config) throw new Error('the simulated kit has no display');
    expect(config).toMatchObject({ transport: 'serial', profile: 'samsung-mdc', lessonInput: 'hdmi1', powerOffAfterLastLesson: true });
    expect(kit.describe()).toContain(`display: lectern display --port ${config.port} --profile samsung-mdc power status`);
    const display = createDisplay(config, { tuning: { pollIntervalMs: 200 } });
    cleanups.push(() => display.stop());
    await display.start();
    await until(() => healthy(display), 'simulated display ok');
    expect(await display.status()).toEqual({ power: 'off', input: 'hdmi1' });
    await display.powerOn();
    expect((await display.status()).power).toBe('on');
  });
});
