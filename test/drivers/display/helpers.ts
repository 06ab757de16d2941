/** Shared fixtures for the display tests: a simulated panel behind a real socat pty pair. */
import type { DisplayConfig } from '../../../drivers/display/config.js';
import { createDisplay } from '../../../drivers/display/config.js';
import type { Display, DisplayOptions } from '../../../drivers/display/controller.js';
import { DisplaySimulator, type DisplaySimulatorOptions } from '../../../drivers/display/simulator.js';
import { PtyPair } from '../../support/pty.js';

/** Generous for a loaded 2-core machine, still short enough for retries to be quick. */
export const TUNING: Omit<DisplayOptions, 'id' | 'channel' | 'model' | 'log'> = {
  timeoutMs: 600,
  tries: 2,
  retryMinMs: 20,
  retryMaxMs: 50,
  pollIntervalMs: 200,
  reconnectMinMs: 100,
  reconnectMaxMs: 400,
};

export interface PtyRig {
  pty: PtyPair;
  sim: DisplaySimulator;
  display: Display;
  close: () => Promise<void>;
}

/** A simulator on one end of a fresh pty pair and a display (not started) on the other. */
export async function ptyRig(
  sim: DisplaySimulatorOptions,
  config: Partial<DisplayConfig> = {},
  tuning: Partial<typeof TUNING> = {},
): Promise<PtyRig> {
  const pty = await PtyPair.create('lectern-display-');
  const simulator = new DisplaySimulator(sim);
  await simulator.attachSerial(pty.b);
  const display = createDisplay(
    { transport: 'serial', port: pty.a, profile: sim.profile, powerOffAfterLastLesson: false, ...(sim.id !== undefined ? { id: sim.id } : {}), ...config },
    { tuning: { ...TUNING, ...tuning } },
  );
  return {
    pty,
    sim: simulator,
    display,
    close: async () => {
      await display.stop();
      await simulator.close();
      await pty.dispose();
    },
  };
}

/** Poll until `check` is true (state reached through I/O), or fail with `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Checked and fine: `ok` without the "not checked yet" note. */
export function healthy(d: { health(): { status: string; detail?: string } }): boolean {
  const h = d.health();
  return h.status === 'ok' && h.detail === undefined;
}
