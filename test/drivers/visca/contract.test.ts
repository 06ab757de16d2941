import { Camera } from '../../../drivers/visca/camera.js';
import { ViscaController } from '../../../drivers/visca/controller.js';
import { BAUD_RATES, SerialTransport, type BaudRate } from '../../../drivers/visca/serial.js';
import { ViscaSimulator } from '../../../drivers/visca/simulator.js';
import { TcpTransport } from '../../../drivers/visca/tcp.js';
import { ViscaIpTransport } from '../../../drivers/visca/visca-ip.js';
import { PtyPair } from '../../support/pty.js';
import { viscaContract } from './contract.js';

/** Short moves; a short boot so the standby test is quick. */
const SIM = { moveSpeed: 10, bootMs: 1000 } as const;
const BUS = { ackTimeoutMs: 500, reconnect: false } as const;
const CAMERA = { pollIntervalMs: 1000, slowReplyMs: 1000 } as const;

viscaContract('simulator through a socat pty pair', async () => {
  const pty = await PtyPair.create();
  const sim = new ViscaSimulator(SIM);
  await sim.attachSerial(pty.b);
  const bus = new ViscaController({ ...BUS, transport: new SerialTransport({ path: pty.a }) });
  return {
    camera: new Camera({ ...CAMERA, id: 'teacher', address: 1, bus }),
    tolerance: 0,
    close: async () => {
      await sim.close();
      await pty.dispose();
    },
  };
});

viscaContract('simulator over VISCA over IP (UDP)', async () => {
  const sim = new ViscaSimulator(SIM);
  const port = await sim.listenUdp(0);
  const bus = new ViscaController({ ...BUS, transport: new ViscaIpTransport({ host: '127.0.0.1', port }) });
  return {
    camera: new Camera({ ...CAMERA, id: 'student', address: 1, bus }),
    tolerance: 0,
    close: () => sim.close(),
  };
});

viscaContract('simulator over raw VISCA on TCP', async () => {
  const sim = new ViscaSimulator(SIM);
  const port = await sim.listenTcp(0);
  const bus = new ViscaController({ ...BUS, transport: new TcpTransport({ host: '127.0.0.1', port }) });
  return {
    camera: new Camera({ ...CAMERA, id: 'board', address: 1, bus }),
    tolerance: 0,
    close: () => sim.close(),
  };
});

const realPort = process.env.LECTERN_TEST_VISCA_PORT;
const realBaud = Number(process.env.LECTERN_TEST_VISCA_BAUD ?? 9600);
const realAddress = Number(process.env.LECTERN_TEST_VISCA_ADDRESS ?? 1);

viscaContract(
  `real camera on ${realPort ?? '(none)'}`,
  async () => {
    if (!(BAUD_RATES as readonly number[]).includes(realBaud)) throw new Error(`LECTERN_TEST_VISCA_BAUD must be one of ${BAUD_RATES.join(', ')}`);
    const bus = new ViscaController({ ackTimeoutMs: 500, reconnect: false, transport: new SerialTransport({ path: realPort ?? '', baudRate: realBaud as BaudRate }) });
    return {
      camera: new Camera({ id: 'real', address: realAddress, bus, pollIntervalMs: 2000, presetTimeoutMs: 30_000 }),
      tolerance: 16,
      close: async () => undefined,
    };
  },
  realPort ? undefined : 'set LECTERN_TEST_VISCA_PORT=/dev/serial/by-id/... (and optionally LECTERN_TEST_VISCA_BAUD, LECTERN_TEST_VISCA_ADDRESS) to run it against a real camera',
);
