import { Command, CommanderError } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCameraCommands, registerSimCamera } from '../../../drivers/visca/cli.js';
import { ViscaSimulator } from '../../../drivers/visca/simulator.js';
import { PtyPair } from '../../support/pty.js';
import { until } from './helpers.js';

interface Captured {
  out: string;
  err: string;
}

function program(captured: Captured): Command {
  const p = new Command('lectern');
  // Inherited by the subcommands registered below: errors throw instead of exiting.
  p.exitOverride();
  p.configureOutput({ writeOut: (s) => (captured.out += s), writeErr: (s) => (captured.err += s) });
  registerCameraCommands(p, { out: (s) => (captured.out += s), err: (s) => (captured.err += s) });
  return p;
}

async function run(args: string[]): Promise<Captured & { error?: unknown }> {
  const captured: Captured = { out: '', err: '' };
  try {
    await program(captured).parseAsync(args, { from: 'user' });
    return captured;
  } catch (error) {
    return { ...captured, error };
  }
}

describe('lectern camera', () => {
  let pty: PtyPair;
  let sim: ViscaSimulator;
  let udpPort: number;
  let tcpPort: number;

  beforeAll(async () => {
    pty = await PtyPair.create();
    sim = new ViscaSimulator({ moveSpeed: 20, bootMs: 500, cameras: 3 });
    await sim.attachSerial(pty.b);
    udpPort = await sim.listenUdp(0);
    tcpPort = await sim.listenTcp(0);
  });

  afterAll(async () => {
    await sim?.close();
    await pty?.dispose();
  });

  it('info prints version, power and position', async () => {
    sim.camera(1).setPosition({ pan: -300, tilt: 200, zoom: 0x1234 });
    const r = await run(['camera', '--port', pty.a, 'info']);
    expect(r.error).toBeUndefined();
    expect(r.out).toContain(`camera 1 on ${pty.a}: VISCA 0x0001/0x0519 (ROM 0x0100, 2 sockets)`);
    expect(r.out).toContain('power: on');
    expect(r.out).toContain('pan: -300 (-0x012c)  tilt: 200 (0x00c8)  zoom: 4660 (0x1234)');
  });

  it('--json prints a machine-readable result', async () => {
    sim.camera(2).setPosition({ pan: 1000, tilt: -50, zoom: 7 });
    const r = await run(['camera', '--port', pty.a, '--address', '2', '--json', 'info']);
    expect(r.error).toBeUndefined();
    const json = JSON.parse(r.out) as { ok: boolean; address: number; result: { pan: number; tilt: number; zoom: number; power: string } };
    expect(json).toMatchObject({ ok: true, address: 2, result: { pan: 1000, tilt: -50, zoom: 7, power: 'on' } });
  });

  it('preset save and recall over VISCA over IP', async () => {
    sim.camera(1).setPosition({ pan: 0x0500, tilt: 0x0100, zoom: 0x0200 });
    expect((await run(['camera', '--udp', `127.0.0.1:${udpPort}`, 'preset', 'save', '7'])).out).toMatch(/preset 7 saved/);
    sim.camera(1).setPosition({ pan: 0, tilt: 0, zoom: 0 });
    const r = await run(['camera', '--udp', `127.0.0.1:${udpPort}`, 'preset', 'recall', '7']);
    expect(r.out).toBe(`camera 1 on 127.0.0.1:${udpPort}: preset 7 recalled\n`);
    expect(sim.camera(1).position()).toEqual({ pan: 0x0500, tilt: 0x0100, zoom: 0x0200 });
  });

  it('zoom to a position and home over raw TCP', async () => {
    expect((await run(['camera', '--tcp', `127.0.0.1:${tcpPort}`, 'zoom', '0x1000'])).error).toBeUndefined();
    expect(sim.camera(1).position().zoom).toBe(0x1000);
    sim.camera(1).setPosition({ pan: 100, tilt: 100 });
    expect((await run(['camera', '--tcp', `127.0.0.1:${tcpPort}`, 'home'])).out).toMatch(/at home/);
    expect(sim.camera(1).position()).toMatchObject({ pan: 0, tilt: 0 });
  });

  it('move and stop', async () => {
    sim.camera(3).setPosition({ pan: 0, tilt: 0 });
    const r = await run(['camera', '--port', pty.a, '--address', '3', 'move', 'up-right', '--speed', '5']);
    expect(r.out).toMatch(/moving up-right at speed 5/);
    await until(() => sim.camera(3).position().pan > 0, 'camera 3 moving');
    expect((await run(['camera', '--port', pty.a, '--address', '3', 'stop'])).out).toMatch(/stopped/);
    const { pan, tilt } = sim.camera(3).position();
    expect(pan).toBeGreaterThan(0);
    expect(tilt).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.camera(3).position()).toMatchObject({ pan, tilt });
  });

  it('power off, then a move fails naming the port and the camera error', async () => {
    expect((await run(['camera', '--port', pty.a, 'power', 'off'])).out).toMatch(/power standby/);
    expect(sim.camera(1).power).toBe('standby');
    const r = await run(['camera', '--port', pty.a, 'home']);
    expect((r.error as Error).message).toBe(`home on camera 1 (${pty.a}) failed: command not executable now (VISCA error 41)`);
    expect((await run(['camera', '--port', pty.a, 'power', 'on'])).error).toBeUndefined();
    expect(sim.camera(1).power).toBe('on');
  });

  it('address-set reports the chain', async () => {
    const r = await run(['camera', '--port', pty.a, 'address-set']);
    expect(r.out).toBe(`${pty.a}: 3 cameras on the chain (addresses 1–3)\n`);
  });

  it('a missing port is a clear error', async () => {
    const r = await run(['camera', '--port', join(pty.dir, 'nothing'), 'info']);
    expect((r.error as Error).message).toBe(`serial port ${join(pty.dir, 'nothing')} is missing`);
  });

  it('validates arguments with clear messages', async () => {
    const cases: [string[], RegExp][] = [
      [['camera', '--port', pty.a, 'preset', 'recall', '255'], /preset must be an integer 0–254/],
      [['camera', '--port', pty.a, 'preset', 'call', '1'], /value 'call' is invalid for argument 'action'. Allowed choices are recall, save, reset/],
      [['camera', '--port', pty.a, '--address', '8', 'info'], /address must be an integer 1–7/],
      [['camera', '--port', pty.a, 'move', 'up', '--speed', '25'], /speed must be an integer 1–24/],
      [['camera', '--port', pty.a, 'move', 'sideways'], /Allowed choices are up, down, left, right/],
      [['camera', '--port', pty.a, 'zoom', '20000'], /zoom position must be an integer 0–16384/],
      [['camera', '--port', pty.a, '--baud', '4800', 'info'], /baud rate must be one of 9600, 19200, 38400/],
      [['camera', 'info'], /give exactly one of --port PATH, --udp HOST\[:PORT\] or --tcp HOST\[:PORT\]/],
      [['camera', '--udp', '127.0.0.1', '--tcp', '127.0.0.1', 'info'], /give exactly one of/],
      [['camera', '--udp', '127.0.0.1:1', '--address', '2', 'info'], /always address 1/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect(r.error, args.join(' ')).toBeInstanceOf(CommanderError);
      expect((r.error as CommanderError).exitCode, args.join(' ')).not.toBe(0);
      expect(r.err, args.join(' ')).toMatch(message);
    }
  });
});

describe('lectern sim camera', () => {
  it('serves TCP and a pty pair it creates until stopped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lectern-sim-cli-'));
    const link = join(dir, 'cam');
    const captured: Captured = { out: '', err: '' };
    const stop = new AbortController();
    const root = new Command('lectern');
    root.exitOverride();
    const sim = root.command('sim');
    registerSimCamera(sim, { out: (s) => (captured.out += s), err: (s) => (captured.err += s) }, stop.signal);
    const running = root.parseAsync(['sim', 'camera', '--create-pty', link, '--tcp', '127.0.0.1:0', '--cameras', '2', '--move-speed', '20'], { from: 'user' });
    try {
      await until(() => captured.out.includes('stop with Ctrl-C'), 'simulator started');
      expect(captured.out).toContain('VISCA simulator: 2 cameras, move speed ×20');
      expect(captured.out).toContain(`serial: open ${link} (the simulator holds ${link}.sim)`);
      const tcpPort = /tcp: 127\.0\.0\.1:(\d+)/.exec(captured.out)?.[1];
      expect(Number(tcpPort)).toBeGreaterThan(0);

      const r1 = await run(['camera', '--port', link, 'address-set']);
      expect(r1.out).toContain('2 cameras on the chain');
      const r2 = await run(['camera', '--tcp', `127.0.0.1:${tcpPort}`, '--address', '2', '--json', 'info']);
      expect(JSON.parse(r2.out)).toMatchObject({ ok: true, result: { model: 'VISCA 0x0001/0x0519', power: 'on' } });
    } finally {
      stop.abort();
      await running;
      await rm(dir, { recursive: true, force: true });
    }
    expect(captured.out).toContain('VISCA simulator stopped');
  });

  it('refuses a bad option value', async () => {
    const captured: Captured = { out: '', err: '' };
    const root = new Command('lectern');
    root.exitOverride();
    root.configureOutput({ writeOut: (s) => (captured.out += s), writeErr: (s) => (captured.err += s) });
    registerSimCamera(root.command('sim'));
    await expect(root.parseAsync(['sim', 'camera', '--tcp', '127.0.0.1:0', '--drop', '2'], { from: 'user' })).rejects.toBeInstanceOf(CommanderError);
    expect(captured.err).toMatch(/must be a probability 0–1/);
  });
});
