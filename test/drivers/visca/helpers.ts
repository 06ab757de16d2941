/** Shared fixtures for the VISCA tests. */
import { hex, isCommandHeader } from '../../../drivers/visca/codec.js';
import { ViscaController, type ControllerOptions } from '../../../drivers/visca/controller.js';
import { ViscaFramer } from '../../../drivers/visca/framing.js';
import { createMemoryLink, type MemoryPeer, type MemoryTransport } from '../../../drivers/visca/memory.js';
import { ViscaSimulator, type SimulatorOptions } from '../../../drivers/visca/simulator.js';

export function bytes(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/), (h) => parseInt(h, 16));
}

/** Generous for a loaded 2-core machine, still short enough for retries to be quick. */
export const ACK_MS = 400;

export interface MemoryRig {
  sim: ViscaSimulator;
  bus: ViscaController;
  transport: MemoryTransport;
  peer: MemoryPeer;
  close: () => Promise<void>;
}

/** A controller talking to an in-process simulator through an in-memory link. */
export async function memoryRig(sim: SimulatorOptions = {}, bus: Partial<ControllerOptions> = {}, start = true): Promise<MemoryRig> {
  const { transport, peer } = createMemoryLink('mem0');
  const simulator = new ViscaSimulator({ moveSpeed: 20, bootMs: 2000, ...sim });
  const detach = simulator.attachMemory(peer);
  const controller = new ViscaController({ ackTimeoutMs: ACK_MS, reconnectMinMs: 50, reconnectMaxMs: 200, ...bus, transport });
  if (start) await controller.start();
  return {
    sim: simulator,
    bus: controller,
    transport,
    peer,
    close: async () => {
      await controller.stop();
      detach();
      await simulator.close();
    },
  };
}

/**
 * A fake camera whose every reply the test writes by hand: for quirks and orders no
 * well-behaved simulator would produce.
 */
export class ScriptedPeer {
  readonly received: string[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  private readonly framer = new ViscaFramer({ isHeader: isCommandHeader });
  /** Called for every packet; return replies to send (hex strings), or nothing. */
  onPacket: (packet: string) => string[] | undefined = () => undefined;

  constructor(readonly peer: MemoryPeer) {
    peer.onData((chunk) => {
      for (const p of this.framer.packets(chunk)) {
        const text = hex(p);
        this.received.push(text);
        for (const r of this.onPacket(text) ?? []) this.send(r);
        this.waiters = this.waiters.filter((w) => {
          if (this.received.length < w.count) return true;
          w.resolve();
          return false;
        });
      }
    });
  }

  send(text: string): void {
    this.peer.write(bytes(text));
  }

  /** Resolves once `count` packets have arrived in total. */
  async waitFor(count: number, timeoutMs = 5000): Promise<void> {
    if (this.received.length >= count) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.received.length} of ${count} packets arrived: ${this.received.join(' | ')}`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** A controller with a scripted peer that answers Address Set and IF_Clear like one camera. */
export async function scriptedRig(bus: Partial<ControllerOptions> = {}): Promise<{ bus: ViscaController; script: ScriptedPeer; close: () => Promise<void> }> {
  const { transport, peer } = createMemoryLink('script0');
  const script = new ScriptedPeer(peer);
  script.onPacket = (p) => (p === '88 30 01 FF' ? ['88 30 02 FF'] : p === '88 01 00 01 FF' ? ['88 01 00 01 FF'] : undefined);
  const controller = new ViscaController({ ackTimeoutMs: ACK_MS, ...bus, transport });
  await controller.start();
  script.received.length = 0;
  return { bus: controller, script, close: () => controller.stop() };
}

/** Whether a promise settled (either way) within `ms`. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  const outcome = p.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  );
  const r = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return r;
}

/** Poll until `check` is true (for state reached through I/O), or fail with `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Checked and fine: `ok` without the "not checked yet" note of a camera not yet heard from. */
export function healthy(camera: { health(): { status: string; detail?: string } }): boolean {
  const h = camera.health();
  return h.status === 'ok' && h.detail === undefined;
}
