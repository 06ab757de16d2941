import { ViscaSimulator } from '../drivers/visca/simulator.js';
import type { CameraConfig } from '../drivers/visca/config.js';
import type { Logger } from './log.js';

/**
 * The hardware of a simulated classroom kit, for `lectern agent --simulate`: what a technician
 * would find in a real room, on loopback. Two PTZ cameras (teacher, students) speaking VISCA
 * over IP, each a protocol-faithful simulator that `lectern camera --udp` can drive too.
 * Later parts add the simulated microphone and display here.
 */
export class SimulatedKit {
  private readonly simulators: ViscaSimulator[] = [];
  cameras: CameraConfig[] = [];

  constructor(private readonly log: Logger) {}

  async start(): Promise<void> {
    for (const id of ['teacher', 'students']) {
      // Moves at twice a real camera's speed: a preset recall takes about a second.
      const sim = new ViscaSimulator({ cameras: 1, moveSpeed: 2, bootMs: 500, log: this.log });
      const port = await sim.listenUdp(0, '127.0.0.1');
      this.simulators.push(sim);
      this.cameras.push({ id, model: 'simulated VISCA camera', transport: { type: 'visca-ip', host: '127.0.0.1', port } });
    }
  }

  describe(): string[] {
    return this.cameras.map((c) =>
      c.transport.type === 'visca-ip' ? `camera ${c.id}: lectern camera --udp ${c.transport.host}:${c.transport.port} info` : `camera ${c.id}`,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.simulators.splice(0).map((s) => s.close()));
  }
}
