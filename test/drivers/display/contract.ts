/**
 * The display driver's contract: what any panel reached through any profile must do through
 * the Display API. Run against each profile's simulator on a real pty always, and against a
 * real panel when one is connected. Only the public API is used, so the same assertions hold
 * for both.
 *
 * On a real panel this switches it on, between two inputs, and off again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceHealth } from '../../../agent/devices.js';
import type { Display } from '../../../drivers/display/controller.js';
import { DisplayArgumentError, DisplayRefusedError } from '../../../drivers/display/errors.js';
import { until } from './helpers.js';

export interface ContractTarget {
  display: Display;
  /** Two inputs the panel has, to switch between. */
  inputs: [string, string];
  close(): Promise<void>;
}

/** A panel may refuse an input change while it boots after power-on: ask again for a while. */
async function selectEventually(display: Display, input: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await display.selectInput(input);
      return;
    } catch (e) {
      if (!(e instanceof DisplayRefusedError) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export function displayContract(name: string, makeTarget: () => Promise<ContractTarget>, skipReason?: string): void {
  if (skipReason) console.log(`skipping display contract "${name}": ${skipReason}`);
  describe.skipIf(skipReason !== undefined)(`display contract: ${name}`, () => {
    let target: ContractTarget;
    let display: Display;
    const changes: [DeviceHealth, DeviceHealth][] = [];

    beforeAll(async () => {
      target = await makeTarget();
      display = target.display;
      display.onHealthChange((now, before) => changes.push([now, before]));
      await display.start();
    });

    afterAll(async () => {
      await display?.stop();
      await target?.close();
    });

    it('becomes healthy once it has answered a status query', async () => {
      await until(() => display.health().detail === undefined, 'the first status query answered');
      expect(display.health()).toMatchObject({ kind: 'display', id: display.id, status: 'ok' });
      expect(display.health().model).toBeTruthy();
      expect(changes.filter(([now]) => now.status === 'fault' || now.status === 'absent')).toEqual([]);
    });

    it('powers on, and the status says so', async () => {
      await display.powerOn();
      expect((await display.status()).power).toBe('on');
    });

    it('selects inputs, and the status names them', async () => {
      const [a, b] = target.inputs;
      await selectEventually(display, a);
      expect((await display.status()).input).toBe(a);
      await selectEventually(display, b.toUpperCase());
      expect((await display.status()).input).toBe(b);
      expect(display.lastKnown).toEqual({ power: 'on', input: b });
    });

    it('refuses an input it does not know without sending anything', async () => {
      await expect(display.selectInput('no-such-input')).rejects.toBeInstanceOf(DisplayArgumentError);
      await expect(display.selectInput('no-such-input')).rejects.toThrow(`display ${display.id} on ${display.port}: unknown input "no-such-input"; known: `);
    });

    it('powers off, and the status says so', async () => {
      await display.powerOff();
      expect((await display.status()).power).toBe('off');
      // Off is a state, not a fault: the panel still answers.
      expect(display.health().status).toBe('ok');
    });
  });
}
