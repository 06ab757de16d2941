import { MosquittoBroker } from '../../agent/broker.js';
import { tempDir } from './tmp.js';

/** A real Mosquitto on a free loopback port, for one suite. */
export async function startBroker(opts: { extraConfig?: string[] } = {}): Promise<MosquittoBroker & { cleanup: () => Promise<void> }> {
  const dir = tempDir('lectern-broker-');
  const broker = new MosquittoBroker({ dir: dir.path, extraConfig: opts.extraConfig });
  await broker.start();
  return Object.assign(broker, {
    cleanup: async () => {
      await broker.stop(true);
      dir.cleanup();
    },
  });
}
