import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { IP_TYPE, decodeIp, encodeIp, hex } from '../../../drivers/visca/codec.js';
import { ViscaSimulator, type SimulatorOptions } from '../../../drivers/visca/simulator.js';
import { bytes, until } from './helpers.js';

const sims: ViscaSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.close();
});

/** A simulator on a raw byte link; `out` collects everything it writes, one entry per write. */
function raw(options: SimulatorOptions = {}): { sim: ViscaSimulator; out: string[]; send: (text: string) => void } {
  const sim = new ViscaSimulator({ moveSpeed: 20, bootMs: 1000, ...options });
  sims.push(sim);
  const out: string[] = [];
  const link = sim.connect((b) => out.push(hex(b)));
  return { sim, out, send: (text) => link.receive(bytes(text)) };
}

describe('simulated chain on a byte stream', () => {
  it('Address Set numbers the chain and returns the next address', () => {
    const { sim, out, send } = raw({ cameras: 3 });
    send('88 30 01 FF');
    expect(out).toEqual(['88 30 04 FF']);
    expect(sim.cameras.map((c) => c.address)).toEqual([1, 2, 3]);
    send('88 30 05 FF');
    expect(out[1]).toBe('88 30 08 FF');
    expect(sim.cameras.map((c) => c.address)).toEqual([5, 6, 7]);
  });

  it('IF_Clear: broadcast comes back unchanged, to one camera answers z0 50 FF', () => {
    const { out, send } = raw({ cameras: 2 });
    send('88 01 00 01 FF');
    send('82 01 00 01 FF');
    expect(out).toEqual(['88 01 00 01 FF', 'A0 50 FF']);
  });

  it('answers inquiries from its state', () => {
    const { sim, out, send } = raw();
    sim.camera(1).setPosition({ pan: -0x2200, tilt: 0x1200, zoom: 0x4000 });
    sim.camera(1).lastPreset = 9;
    send('81 09 04 00 FF 81 09 06 12 FF 81 09 04 47 FF 81 09 00 02 FF 81 09 04 3F FF');
    expect(out).toEqual(['90 50 02 FF', '90 50 0D 0E 00 00 01 02 00 00 FF', '90 50 04 00 00 00 FF', '90 50 00 01 05 19 01 00 02 FF', '90 50 09 FF']);
  });

  it('reports syntax, length, oversize and not-executable errors', () => {
    const { sim, out, send } = raw();
    send('81 01 7E 7E FF'); // unknown command
    send('81 01 04 00 02 00 FF'); // power on with a byte too many
    send('81 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 FF'); // longer than 16
    send('81 09 04 00 00 FF'); // inquiry with a byte too many
    sim.camera(1).setPower('standby');
    send('81 01 06 04 FF'); // home while in standby
    expect(out).toEqual(['90 60 02 FF', '90 60 01 FF', '90 60 01 FF', '90 60 01 FF', '90 61 41 FF']);
  });

  it('a command to an address nobody has comes back round the ring', () => {
    const { out, send } = raw({ cameras: 2 });
    send('85 09 04 00 FF');
    expect(out).toEqual(['85 09 04 00 FF']);
  });

  it('two sockets, buffer full, cancel and no-socket', async () => {
    const { sim, out, send } = raw({ moveSpeed: 1 });
    sim.camera(1).presets.set(1, { pan: 0x2000, tilt: 0, zoom: 0 });
    send('81 01 04 3F 02 01 FF'); // recall: socket 1
    send('81 01 04 47 04 00 00 00 FF'); // zoom direct: socket 2
    send('81 01 04 38 02 FF'); // focus: no socket left
    expect(out).toEqual(['90 41 FF', '90 42 FF', '90 60 03 FF']);
    expect(sim.camera(1).busySockets).toEqual([1, 2]);
    send('81 22 FF');
    send('81 22 FF');
    expect(out.slice(3)).toEqual(['90 62 04 FF', '90 62 05 FF']);
    const zoom = sim.camera(1).position().zoom;
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.camera(1).position().zoom).toBe(zoom);
    // The recall still completes on its own, when the move ends.
    await until(() => out.includes('90 51 FF'), 'recall completion');
    expect(sim.camera(1).position().pan).toBe(0x2000);
  });

  it('moves take time in proportion to distance and speed', async () => {
    const { sim, out, send } = raw({ moveSpeed: 1 });
    const start = performance.now();
    send('81 01 06 02 18 17 02 02 00 00 00 00 00 00 FF'); // absolute to pan 0x2200 at full speed
    expect(out).toEqual(['90 41 FF']);
    const midway = sim.camera(1).position().pan;
    expect(midway).toBeLessThan(0x2200);
    await until(() => out.length === 2, 'completion');
    const took = performance.now() - start;
    expect(out[1]).toBe('90 51 FF');
    // 0x2200 units at the highest speed: about a second at speed factor 1.
    expect(took).toBeGreaterThan(700);
    expect(sim.camera(1).position().pan).toBe(0x2200);
  });

  it('powers up: ACK, Completion when booted, then Network Change', async () => {
    const { sim, out, send } = raw({ power: 'standby', bootMs: 2000, moveSpeed: 20 });
    send('81 01 04 00 02 FF');
    expect(out).toEqual(['90 41 FF']);
    expect(sim.camera(1).isBooting).toBe(true);
    send('81 09 04 00 FF');
    expect(out[1]).toBe('90 50 03 FF');
    await until(() => out.length === 4, 'boot');
    expect(out.slice(2)).toEqual(['90 51 FF', '90 38 FF']);
    expect(sim.camera(1).power).toBe('on');
  });

  it('quirks: Completion without ACK, and one socket for everything', () => {
    const a = raw({ quirks: { completionWithoutAck: true } });
    a.send('81 01 04 38 02 FF');
    expect(a.out).toEqual(['90 51 FF']);
    const b = raw({ quirks: { reuseSocket: true }, moveSpeed: 0.5 });
    b.sim.camera(1).presets.set(1, { pan: 0x1000, tilt: 0, zoom: 0 });
    b.send('81 01 04 3F 02 01 FF');
    b.send('81 01 04 38 02 FF');
    expect(b.out).toEqual(['90 41 FF', '90 41 FF', '90 51 FF']);
    expect(b.sim.camera(1).busySockets).toEqual([1]);
  });

  it('faults: dropped, split and noisy replies; stray Network Change; unplug', async () => {
    const { sim, out, send } = raw({ faults: { drop: 1 } });
    send('81 09 04 00 FF');
    expect(out).toEqual([]);
    sim.setFaults({ split: 1 });
    send('81 09 04 00 FF');
    await until(() => out.length === 2, 'two pieces');
    expect(out.join(' ')).toBe('90 50 02 FF');
    out.length = 0;
    sim.setFaults({ noise: 1 });
    send('81 09 04 00 FF');
    expect(out).toHaveLength(1);
    expect(out[0]?.endsWith('90 50 02 FF')).toBe(true);
    expect(out[0]?.length).toBeGreaterThan('90 50 02 FF'.length);
    out.length = 0;
    sim.setFaults({});
    sim.dropNext(1);
    send('81 09 04 00 FF 81 09 04 00 FF');
    expect(out).toEqual(['90 50 02 FF']);
    sim.networkChange(1);
    expect(out[1]).toBe('90 38 FF');
    sim.unplug();
    send('81 09 04 00 FF');
    expect(out).toHaveLength(2);
    sim.replug();
    expect(out[2]).toBe('90 38 FF');
  });
});

describe('simulated VISCA over IP', () => {
  async function udpClient(port: number): Promise<{ send: (type: number, seq: number, payload: string) => void; replies: { type: number; seq: number; payload: string }[]; close: () => void }> {
    const socket = createSocket('udp4');
    const replies: { type: number; seq: number; payload: string }[] = [];
    socket.on('message', (msg: Buffer) => {
      const m = decodeIp(msg);
      if (m.ok) replies.push({ type: m.type, seq: m.sequence, payload: hex(m.payload) });
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return {
      send: (type, seq, payload) => socket.send(encodeIp(type, seq, bytes(payload)), port, '127.0.0.1'),
      replies,
      close: () => socket.close(),
    };
  }

  it('RESET, sequence numbers, retransmission and message type errors', async () => {
    const sim = new ViscaSimulator({ moveSpeed: 20 });
    sims.push(sim);
    const port = await sim.listenUdp(0);
    const client = await udpClient(port);
    try {
      client.send(IP_TYPE.control, 77, '01');
      await until(() => client.replies.length === 1, 'reset reply');
      expect(client.replies[0]).toEqual({ type: IP_TYPE.controlReply, seq: 77, payload: '01' });

      client.send(IP_TYPE.inquiry, 0, '81 09 04 00 FF');
      await until(() => client.replies.length === 2, 'answer');
      expect(client.replies[1]).toEqual({ type: IP_TYPE.reply, seq: 0, payload: '90 50 02 FF' });

      // A relative move, then the same sequence number again: a retry, answered but not run twice.
      client.send(IP_TYPE.command, 1, '81 01 06 03 18 17 00 01 00 00 00 00 00 00 FF');
      await until(() => client.replies.length === 4, 'ack and completion');
      client.send(IP_TYPE.command, 1, '81 01 06 03 18 17 00 01 00 00 00 00 00 00 FF');
      await until(() => client.replies.length === 6, 'cached replies');
      expect(client.replies.slice(2).map((r) => `${r.seq} ${r.payload}`)).toEqual(['1 90 41 FF', '1 90 51 FF', '1 90 41 FF', '1 90 51 FF']);
      expect(sim.camera(1).position().pan).toBe(0x0100);

      client.send(IP_TYPE.command, 5, '81 01 04 00 02 FF');
      await until(() => client.replies.length === 7, 'sequence error');
      expect(client.replies[6]).toEqual({ type: IP_TYPE.controlReply, seq: 5, payload: '0F 01' });

      client.send(IP_TYPE.command, 2, '81 09 04 00 FF');
      await until(() => client.replies.length === 8, 'type error');
      expect(client.replies[7]).toEqual({ type: IP_TYPE.controlReply, seq: 2, payload: '0F 02' });
    } finally {
      client.close();
    }
  });
});
