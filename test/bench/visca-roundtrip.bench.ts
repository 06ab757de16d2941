/**
 * VISCA round trip: what the driver and the OS add on top of the wire.
 *
 * A pty does not pace bytes at 9600 baud, so a round trip through a socat pty pair measures
 * everything except the wire: serialport, the two pty hops through socat, the driver (framing,
 * matching, promise settling) and the simulator (in this process, synchronous, microseconds).
 * That measured time is reported as the overhead; the wire time at 9600 baud 8N1 (10 bits a
 * byte, request plus replies) is computed separately. To separate the driver from the OS, the
 * same round trip is also timed with bare serialport and a fixed echo (no driver, no
 * simulator); the difference is the driver's share. The same is done for VISCA over IP on
 * loopback UDP.
 *
 * Run: npx vitest run --config vitest.bench.config.ts test/bench/visca-roundtrip.bench.ts
 */
import { createSocket } from 'node:dgram';
import { SerialPort } from 'serialport';
import { afterAll, expect, it } from 'vitest';
import { IP_TYPE, encodeIp, inquirePower, zoomStop, type ViscaRequest } from '../../drivers/visca/codec.js';
import { ViscaController } from '../../drivers/visca/controller.js';
import { SerialTransport } from '../../drivers/visca/serial.js';
import { ViscaSimulator } from '../../drivers/visca/simulator.js';
import { ViscaIpTransport } from '../../drivers/visca/visca-ip.js';
import { PtyPair } from '../support/pty.js';

const N = 400;
const WARMUP = 40;

interface Stats {
  n: number;
  median: number;
  p95: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, median: at(0.5), p95: at(0.95) };
}

function fmt(label: string, st: Stats): string {
  return `${label.padEnd(58)} median ${st.median.toFixed(3)} ms   p95 ${st.p95.toFixed(3)} ms   n ${st.n}`;
}

/** Bytes × 10 bits (8N1) at 9600 baud. */
function wireMs(bytes: number, baud = 9600): number {
  return (bytes * 10 * 1000) / baud;
}

async function timeRequests(bus: ViscaController, request: ViscaRequest): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + N; i++) {
    const t0 = performance.now();
    await bus.send(1, request);
    if (i >= WARMUP) samples.push(performance.now() - t0);
  }
  return samples;
}

const lines: string[] = [];
afterAll(() => {
  console.log(['', 'VISCA round trip', ...lines, ''].join('\n'));
});

it('serial through a socat pty pair at 9600 baud', async () => {
  // Two pairs: one for a bare serialport echo, one for the driver and the simulator. The three
  // round trips are taken in turn, so a busy machine slows all of them alike.
  const barePair = await PtyPair.create();
  const driverPair = await PtyPair.create();
  try {
    const a = new SerialPort({ path: barePair.a, baudRate: 9600, autoOpen: false });
    const b = new SerialPort({ path: barePair.b, baudRate: 9600, autoOpen: false });
    await new Promise<void>((res, rej) => a.open((e) => (e ? rej(e) : res())));
    await new Promise<void>((res, rej) => b.open((e) => (e ? rej(e) : res())));
    // The far end answers each 5-byte inquiry with a fixed 4-byte answer, as soon as its FF is in.
    const answer = Buffer.from([0x90, 0x50, 0x02, 0xff]);
    b.on('data', (chunk: Buffer) => {
      if (chunk.includes(0xff)) b.write(answer);
    });
    const bareRoundTrip = (): Promise<void> =>
      new Promise<void>((resolve) => {
        let got = 0;
        const onData = (chunk: Buffer): void => {
          got += chunk.length;
          if (got >= answer.length) {
            a.off('data', onData);
            resolve();
          }
        };
        a.on('data', onData);
        a.write(Buffer.from([0x81, 0x09, 0x04, 0x00, 0xff]));
      });

    const sim = new ViscaSimulator({ moveSpeed: 1000 });
    await sim.attachSerial(driverPair.b);
    const bus = new ViscaController({ transport: new SerialTransport({ path: driverPair.a, baudRate: 9600 }), reconnect: false });
    await bus.start();

    const raw: number[] = [];
    const inquiry: number[] = [];
    const command: number[] = [];
    const timed = async (samples: number[], keep: boolean, f: () => Promise<unknown>): Promise<void> => {
      const t0 = performance.now();
      await f();
      if (keep) samples.push(performance.now() - t0);
    };
    for (let i = 0; i < WARMUP + N; i++) {
      const keep = i >= WARMUP;
      await timed(raw, keep, bareRoundTrip);
      await timed(inquiry, keep, () => bus.send(1, inquirePower(1)));
      await timed(command, keep, () => bus.send(1, zoomStop(1)));
    }
    await bus.stop();
    await sim.close();
    await new Promise<void>((r) => a.close(() => r()));
    await new Promise<void>((r) => b.close(() => r()));

    // The simulator's own share: handling one inquiry in-process, synchronously.
    const probe = new ViscaSimulator();
    const link = probe.connect(() => undefined);
    const packet = inquirePower(1).bytes;
    const simSamples: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      link.receive(packet);
      simSamples.push(performance.now() - t0);
    }
    await probe.close();

    const rawSt = stats(raw);
    const inqSt = stats(inquiry);
    const cmdSt = stats(command);
    lines.push(
      `serial (pty pair; a pty does not pace at 9600 baud, so measured = overhead without wire time)`,
      fmt('  bare serialport echo, 5 B out / 4 B back (OS + serialport)', rawSt),
      fmt('  driver: power inquiry → answer (5 B / 4 B)', inqSt),
      fmt('  driver: zoom stop → ACK + Completion (6 B / 3 B + 3 B)', cmdSt),
      fmt('  simulator processing of one inquiry (in-process)', stats(simSamples)),
      `  driver's share over bare serialport (median): inquiry ${(inqSt.median - rawSt.median).toFixed(3)} ms, command ${(cmdSt.median - rawSt.median).toFixed(3)} ms`,
      `  wire time at 9600 baud 8N1: inquiry ${wireMs(9).toFixed(3)} ms (9 B), command ${wireMs(12).toFixed(3)} ms (12 B)`,
      `  target: overhead ≤ 2 ms median → inquiry ${inqSt.median <= 2 ? 'met' : 'NOT met'}, command ${cmdSt.median <= 2 ? 'met' : 'NOT met'}`,
    );
    expect(inqSt.n).toBe(N);
    expect(cmdSt.n).toBe(N);
  } finally {
    await barePair.dispose();
    await driverPair.dispose();
  }
});

it('VISCA over IP on loopback UDP', async () => {
  // Baseline: a bare UDP echo of one reply datagram per request.
  const echo = createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  const reply = encodeIp(IP_TYPE.reply, 0, Uint8Array.of(0x90, 0x50, 0x02, 0xff));
  echo.on('message', (_m, rinfo) => echo.send(reply, rinfo.port, rinfo.address));
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.connect(echo.address().port, '127.0.0.1', () => r()));
  const request = encodeIp(IP_TYPE.inquiry, 0, inquirePower(1).bytes);
  const raw: number[] = [];
  for (let i = 0; i < WARMUP + N; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      client.once('message', () => resolve());
      client.send(request);
    });
    if (i >= WARMUP) raw.push(performance.now() - t0);
  }
  await new Promise<void>((r) => client.close(() => r()));
  await new Promise<void>((r) => echo.close(() => r()));

  const sim = new ViscaSimulator({ moveSpeed: 1000 });
  const port = await sim.listenUdp(0);
  const bus = new ViscaController({ transport: new ViscaIpTransport({ host: '127.0.0.1', port }), reconnect: false });
  await bus.start();
  const inquiry = await timeRequests(bus, inquirePower(1));
  const command = await timeRequests(bus, zoomStop(1));
  await bus.stop();
  await sim.close();

  const rawSt = stats(raw);
  const inqSt = stats(inquiry);
  const cmdSt = stats(command);
  lines.push(
    'VISCA over IP (UDP loopback)',
    fmt('  bare UDP echo, one datagram each way', rawSt),
    fmt('  driver: power inquiry → answer', inqSt),
    fmt('  driver: zoom stop → ACK + Completion', cmdSt),
    `  driver's share over bare UDP (median): inquiry ${(inqSt.median - rawSt.median).toFixed(3)} ms, command ${(cmdSt.median - rawSt.median).toFixed(3)} ms`,
    `  target: overhead ≤ 2 ms median → inquiry ${inqSt.median <= 2 ? 'met' : 'NOT met'}, command ${cmdSt.median <= 2 ? 'met' : 'NOT met'}`,
  );
  expect(inqSt.n).toBe(N);
  expect(cmdSt.n).toBe(N);
});
