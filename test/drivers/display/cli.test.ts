/** `lectern display …` and `lectern sim display …` against simulated panels on real ptys. */
import { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDisplayCommands, registerSimDisplay } from '../../../drivers/display/cli.js';
import { DisplaySimulator } from '../../../drivers/display/simulator.js';
import { PtyPair } from '../../support/pty.js';
import { tempDir } from '../../support/tmp.js';
import { until } from './helpers.js';

interface Captured {
  out: string;
  err: string;
}

async function run(args: string[]): Promise<Captured & { error?: unknown }> {
  const captured: Captured = { out: '', err: '' };
  const p = new Command('lectern');
  p.exitOverride();
  p.configureOutput({ writeOut: (s) => (captured.out += s), writeErr: (s) => (captured.err += s) });
  registerDisplayCommands(p, { out: (s) => (captured.out += s), err: (s) => (captured.err += s) });
  try {
    await p.parseAsync(args, { from: 'user' });
    return captured;
  } catch (error) {
    return { ...captured, error };
  }
}

describe('lectern display', () => {
  let pty: PtyPair;
  let sim: DisplaySimulator;
  const dir = tempDir('lectern-display-cli-');

  beforeAll(async () => {
    pty = await PtyPair.create();
    sim = new DisplaySimulator({ profile: 'samsung-mdc', id: 3, power: 'off' });
    await sim.attachSerial(pty.b);
  });

  afterAll(async () => {
    await sim?.close();
    await pty?.dispose();
    dir.cleanup();
  });

  it('power on, input, status', async () => {
    const base = ['display', '--port', pty.a, '--profile', 'samsung-mdc', '--id', '3'];
    expect((await run([...base, 'power', 'on'])).out).toBe(`display on ${pty.a}: power on\n`);
    expect(sim.power).toBe('on');
    expect((await run([...base, 'input', 'DP'])).out).toBe(`display on ${pty.a}: input dp\n`);
    expect((await run([...base, 'power', 'status'])).out).toBe(`display on ${pty.a}: power on, input dp\n`);
    const json = await run([...base, '--json', 'power', 'status']);
    expect(JSON.parse(json.out)).toEqual({ ok: true, port: pty.a, transport: 'serial', profile: 'samsung-mdc', result: { power: 'on', input: 'dp' } });
  });

  it('a panel that does not answer: a clear message with what to check', async () => {
    const r = await run(['display', '--port', pty.a, '--profile', 'samsung-mdc', '--id', '4', '--timeout', '200', '--tries', '2', 'power', 'status']);
    expect((r.error as Error).message).toContain(`no reply to power status from display panel on ${pty.a} after 2 tries\ncheck:\n`);
    expect((r.error as Error).message).toContain('the panel\'s ID (--id; set in its menu)');
    const json = await run(['display', '--port', pty.a, '--profile', 'lg', '--timeout', '200', '--tries', '1', '--json', 'power', 'on']);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, error: `no reply to power on from display panel on ${pty.a} after 1 try` });
  });

  it('takes the display from --config; flags override it', async () => {
    const file = `${dir.path}/config.json`;
    writeFileSync(
      file,
      JSON.stringify({ deviceId: 'QZ-TEST-0001-R201', platform: { mqttUrl: 'mqtt://127.0.0.1:1883' }, display: { transport: 'serial', port: '/dev/missing', profile: 'samsung-mdc', id: 3, inputs: { board: '25' }, powerOffAfterLastLesson: true } }),
    );
    const r = await run(['display', '--config', file, '--port', pty.a, 'input', 'board']);
    expect(r.error).toBeUndefined();
    expect(sim.input).toBe('dp');
    const missing = await run(['display', '--config', file, 'power', 'on']);
    expect((missing.error as Error).message).toBe('serial port /dev/missing is missing');
    expect((await run(['display', '--config', file, 'inputs'])).out).toBe('hdmi1\t21\nhdmi2\t23\ndp\t25\nboard\t25\n');
  });

  it('refuses incomplete or contradictory options', async () => {
    expect(((await run(['display', '--port', pty.a, 'power', 'on'])).error as Error).message).toMatch(/^name the display: --port PATH --profile PROFILE/);
    expect(((await run(['display', '--cec', '--profile', 'lg', 'power', 'on'])).error as Error).message).toBe('--cec cannot be combined with --profile or --baud');
    expect(((await run(['display', '--cec', '--port', '/dev/cec-lectern-none', 'power', 'on'])).error as Error).message).toMatch(/^no CEC adapter: \/dev\/cec-lectern-none does not exist/);
    sim.power = 'off';
    const refused = await run(['display', '--port', pty.a, '--profile', 'samsung-mdc', '--id', '3', 'input', 'hdmi2']);
    expect((refused.error as Error).message).toBe(
      `display panel on ${pty.a} refused input hdmi2: NAK, error code 0x02\n(a panel in standby, or still booting, refuses input changes: \`power on\` first, then wait a few seconds)`,
    );
    const bad = await run(['display', '--port', pty.a, '--profile', 'samsung-mdc', 'power', 'maybe']);
    expect(bad.err).toMatch(/must be on, off or status/);
  });
});

describe('lectern sim display', () => {
  it('creates a pty pair, prints the path to open, serves until stopped', async () => {
    const captured: Captured = { out: '', err: '' };
    const stop = new AbortController();
    const root = new Command('lectern');
    root.exitOverride();
    registerSimDisplay(root.command('sim'), { out: (s) => (captured.out += s), err: (s) => (captured.err += s) }, stop.signal);
    const running = root.parseAsync(['sim', 'display', '--profile', 'lg', '--id', '5', '--power', 'on'], { from: 'user' });
    let path: string | undefined;
    try {
      await until(() => captured.out.includes('stop with Ctrl-C'), 'simulator started');
      expect(captured.out).toContain('display simulator: LG, id 5, power on, input hdmi1');
      path = /^ {2}open (\S+)$/m.exec(captured.out)?.[1];
      expect(path && existsSync(path)).toBe(true);
      expect(captured.out).toContain(`lectern display --port ${path} --profile lg --id 5 power status`);
      const r = await run(['display', '--port', path ?? '', '--profile', 'lg', '--id', '5', 'power', 'status']);
      expect(r.out).toBe(`display on ${path}: power on, input hdmi1\n`);
    } finally {
      stop.abort();
      await running;
    }
    expect(captured.out).toContain('display simulator stopped');
    // The temporary pair is gone with it.
    expect(existsSync(path ?? '/')).toBe(false);
  });
});
