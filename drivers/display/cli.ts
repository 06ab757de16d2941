/**
 * `lectern display …` (a technician switches the classroom panel on or off, or to an input, by
 * hand) and `lectern sim display …` (a simulated panel on a pty). The entry point assembles
 * these.
 *
 * The display is named by `--port` and `--profile` (or `--cec`), or taken from the `display`
 * section of `--config`; options given on the command line win over the file. Errors leave
 * the action as exceptions whose message names the port; a panel that does not answer gets a
 * list of what to check.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { loadConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/errors.js';
import { createSocatPair, type PtyPairHandle } from '../visca/socat.js';
import { DEFAULT_CEC_DEVICE } from './cec.js';
import { createDisplay, displayInputs, type DisplayConfig } from './config.js';
import type { Display, DisplayStatus } from './controller.js';
import { DisplayError, DisplayRefusedError, DisplayTimeoutError } from './errors.js';
import { PROFILES, type ProfileName } from './protocol.js';
import { BAUD_RATES, type BaudRate } from './serial.js';
import { DisplaySimulator, SIM_PROFILES, type SimDisplayFaults, type SimProfile } from './simulator.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

function intIn(what: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be an integer ${min}–${max}.`);
    return n;
  };
}

function probability(value: string): number {
  const p = Number(value);
  if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError('must be a probability 0–1.');
  return p;
}

function parseBaud(value: string): BaudRate {
  const n = Number(value);
  if (!(BAUD_RATES as readonly number[]).includes(n)) throw new InvalidArgumentError(`baud rate must be one of ${BAUD_RATES.join(', ')}.`);
  return n as BaudRate;
}

// ---------------------------------------------------------------------------------------------
// lectern display
// ---------------------------------------------------------------------------------------------

interface DisplayCliOptions {
  port?: string;
  profile?: ProfileName;
  cec?: boolean;
  id?: number;
  baud?: BaudRate;
  config?: string;
  timeout: number;
  tries: number;
  json?: boolean;
}

/** The display config the options describe: the file's section, overridden by the flags. */
export function cliDisplayConfig(o: DisplayCliOptions): DisplayConfig {
  let base: DisplayConfig | undefined;
  if (o.config) {
    base = loadConfig({ file: o.config, placeholderUrl: 'mqtt://127.0.0.1:1883' }).display;
    if (!base && !o.port && !o.cec) throw new ConfigError(`${o.config} has no "display" section; give --port and --profile (or --cec)`);
  }
  if (o.cec) {
    if (o.profile !== undefined || o.baud !== undefined) throw new ConfigError('--cec cannot be combined with --profile or --baud');
    const fromFile = base?.transport === 'cec' ? base : undefined;
    return { transport: 'cec', port: o.port ?? fromFile?.port ?? DEFAULT_CEC_DEVICE, powerOffAfterLastLesson: false, ...(fromFile?.inputs ? { inputs: fromFile.inputs } : {}) };
  }
  if (!base) {
    if (!o.port || !o.profile) throw new ConfigError('name the display: --port PATH --profile PROFILE, --cec [--port DEVICE], or --config FILE with a "display" section');
    if (o.profile === 'custom') throw new ConfigError('profile "custom" needs its command table: use --config FILE');
    return { transport: 'serial', port: o.port, profile: o.profile, powerOffAfterLastLesson: false, ...(o.id !== undefined ? { id: o.id } : {}), ...(o.baud ? { baudRate: o.baud } : {}) };
  }
  const merged: DisplayConfig = { ...base };
  if (o.port !== undefined) merged.port = o.port;
  if (o.profile !== undefined) {
    if (o.profile !== base.profile) {
      // The file's input codes and command table belong to its own profile.
      delete merged.inputs;
      delete merged.commands;
      delete merged.lessonInput;
      delete merged.inputCommand;
    }
    merged.profile = o.profile;
  }
  if (o.id !== undefined) merged.id = o.id;
  if (o.baud !== undefined) merged.baudRate = o.baud;
  return merged;
}

const NO_ANSWER_HINTS = [
  'the cable (RS-232 straight or crossed as the panel\'s manual says; a USB adapter\'s /dev/serial/by-id/ path)',
  'the baud rate (--baud; most panels 9600, some BenQ 38400)',
  'the panel\'s ID (--id; set in its menu)',
  'that RS-232 control is enabled in the panel\'s menu (some panels disable it in standby or "eco" power mode)',
];

async function withDisplay<T>(cmd: Command, io: CliIo, fn: (display: Display) => Promise<T>, text: (result: T, display: Display) => string): Promise<void> {
  const o = cmd.optsWithGlobals<DisplayCliOptions>();
  const config = cliDisplayConfig(o);
  const display = createDisplay(config, { tuning: { reconnect: false, pollIntervalMs: 0, reopenAfterFailures: 0, timeoutMs: o.timeout, tries: o.tries } });
  const where = { port: display.port, transport: config.transport, ...(config.profile ? { profile: config.profile } : {}) };
  try {
    await display.start();
    const result = await fn(display);
    io.out(o.json ? `${JSON.stringify({ ok: true, ...where, result: result ?? null })}\n` : `${text(result, display)}\n`);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (o.json) io.out(`${JSON.stringify({ ok: false, ...where, error: message })}\n`);
    if (e instanceof DisplayTimeoutError && config.transport === 'serial') {
      throw new DisplayError(`${message}\ncheck:\n${NO_ANSWER_HINTS.map((h) => `  - ${h}`).join('\n')}`, display.port, { cause: e });
    }
    if (e instanceof DisplayRefusedError && /refused input/.test(message)) {
      throw new DisplayError(`${message}\n(a panel in standby, or still booting, refuses input changes: \`power on\` first, then wait a few seconds)`, display.port, { cause: e });
    }
    throw e;
  } finally {
    await display.stop();
  }
}

function statusText(s: DisplayStatus, d: Display): string {
  return `display on ${d.port}: power ${s.power}${s.input !== null ? `, input ${s.input}` : ''}`;
}

/** Adds `lectern display` with its subcommands to `program`. */
export function registerDisplayCommands(program: Command, io: CliIo = processIo): Command {
  const display = program
    .command('display')
    .description('switch the classroom display (interactive panel) on or off, or to an input, by hand')
    .option('--port <path>', `serial port, e.g. /dev/serial/by-id/usb-FTDI_…-if00-port0 (with --cec: the CEC device, default ${DEFAULT_CEC_DEVICE})`)
    .addOption(new Option('--profile <name>', 'the panel\'s RS-232 protocol').choices(PROFILES.filter((p) => p !== 'custom')))
    .option('--cec', 'HDMI-CEC through cec-ctl instead of RS-232')
    .option('--id <n>', 'the panel\'s ID as set in its menu (default 1)', intIn('id', 0, 255))
    .option('--baud <rate>', `serial speed: ${BAUD_RATES.join(', ')} (default 9600)`, parseBaud)
    .option('-c, --config <file>', 'take the display from this config file\'s "display" section')
    .option('--timeout <ms>', 'wait this long for each reply', intIn('timeout', 50, 60_000), 1000)
    .option('--tries <n>', 'sends per command before giving up', intIn('tries', 1, 10), 3)
    .option('--json', 'print the result as JSON');

  display
    .command('power')
    .description('power on, power off, or show power and input (status)')
    .argument('<state>', 'on, off or status', (v: string) => {
      if (v !== 'on' && v !== 'off' && v !== 'status') throw new InvalidArgumentError('must be on, off or status.');
      return v;
    })
    .action(async (state: 'on' | 'off' | 'status', _opts: unknown, cmd: Command) => {
      if (state === 'status') {
        await withDisplay(cmd, io, (d) => d.status(), statusText);
        return;
      }
      await withDisplay(
        cmd,
        io,
        async (d) => {
          if (state === 'on') await d.powerOn();
          else await d.powerOff();
          return { power: state };
        },
        (_r, d) => `display on ${d.port}: power ${state}`,
      );
    });

  display
    .command('input')
    .description('show an input: a built-in name (hdmi1, hdmi2, dp, …) or one from the config')
    .argument('<name>', 'input name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withDisplay(
        cmd,
        io,
        async (d) => {
          await d.selectInput(name);
          return { input: name.toLowerCase() };
        },
        (_r, d) => `display on ${d.port}: input ${name.toLowerCase()}`,
      );
    });

  display
    .command('inputs')
    .description('list the input names this display knows (no panel needed)')
    .action((_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DisplayCliOptions>();
      const inputs = displayInputs(cliDisplayConfig(o));
      if (o.json) io.out(`${JSON.stringify({ ok: true, inputs })}\n`);
      else io.out(`${Object.entries(inputs).map(([k, v]) => `${k}\t${v}`).join('\n')}\n`);
    });

  return display;
}

// ---------------------------------------------------------------------------------------------
// lectern sim display
// ---------------------------------------------------------------------------------------------

export interface SimDisplayCliOptions {
  profile: SimProfile;
  pty?: string;
  createPty?: string;
  id?: number;
  power?: 'on' | 'off';
  input?: string;
  baud?: number;
  silent?: boolean;
  garbage?: boolean;
  refuse?: boolean;
  noise?: number;
  split?: number;
  delay?: number;
}

export interface RunningSimDisplay {
  simulator: DisplaySimulator;
  /** The path the driver should open (the pair's other end, or the pty given). */
  driverPath: string;
  close(): Promise<void>;
}

/** Start the simulator as the options say; the caller decides how long it runs. */
export async function startSimDisplay(o: SimDisplayCliOptions): Promise<RunningSimDisplay> {
  if (o.pty && o.createPty) throw new DisplayError('give --pty or --create-pty, not both', '');
  const faults: SimDisplayFaults = {
    ...(o.silent ? { silent: true } : {}),
    ...(o.garbage ? { garbage: true } : {}),
    ...(o.refuse ? { refuse: true } : {}),
    ...(o.noise !== undefined ? { noise: o.noise } : {}),
    ...(o.split !== undefined ? { split: o.split } : {}),
    ...(o.delay !== undefined ? { delayMs: o.delay } : {}),
  };
  const sim = new DisplaySimulator({ profile: o.profile, ...(o.id !== undefined ? { id: o.id } : {}), power: o.power ?? 'off', ...(o.input ? { input: o.input } : {}), faults });
  let pair: PtyPairHandle | undefined;
  let tempDir: string | undefined;
  try {
    if (o.pty) {
      await sim.attachSerial(o.pty, o.baud ? { baudRate: o.baud } : {});
      return { simulator: sim, driverPath: `(the other end of ${o.pty})`, close: () => sim.close() };
    }
    let driverPath: string;
    if (o.createPty) {
      driverPath = isAbsolute(o.createPty) ? o.createPty : resolvePath(o.createPty);
    } else {
      tempDir = await mkdtemp(join(tmpdir(), 'lectern-display-'));
      driverPath = join(tempDir, 'display');
    }
    pair = await createSocatPair(driverPath, `${driverPath}.sim`);
    await sim.attachSerial(pair.devicePath, o.baud ? { baudRate: o.baud } : {});
    const p = pair;
    const dir = tempDir;
    return {
      simulator: sim,
      driverPath,
      close: async () => {
        await sim.close();
        await p.close();
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await sim.close();
    await pair?.close();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
    throw e;
  }
}

/** Resolves on SIGINT/SIGTERM or when `signal` aborts. */
function untilStopped(signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

const LABEL: Record<SimProfile, string> = { 'samsung-mdc': 'Samsung MDC', lg: 'LG', benq: 'BenQ' };

/** Adds `sim display` to the `sim` command. `signal` lets a test end it instead of a signal. */
export function registerSimDisplay(sim: Command, io: CliIo = processIo, signal?: AbortSignal): Command {
  return sim
    .command('display')
    .description('a simulated interactive panel (Samsung MDC, LG or BenQ RS-232) on a pty')
    .addOption(new Option('--profile <name>', 'the protocol it speaks').choices(SIM_PROFILES).makeOptionMandatory())
    .option('--create-pty <link>', 'create the socat pty pair here: the driver opens LINK, the simulator LINK.sim (default: a temporary path)')
    .option('--pty <path>', 'serve on this existing serial device instead')
    .option('--id <n>', 'the panel\'s ID (default 1)', intIn('id', 0, 255))
    .addOption(new Option('--power <state>', 'initial power').choices(['on', 'off']).default('off'))
    .option('--input <name>', 'initial input (default hdmi1)')
    .option('--baud <rate>', 'serial speed of the simulator\'s end', parseBaud)
    .option('--silent', 'never answer (a panel that stops responding)')
    .option('--garbage', 'answer every command with bytes that are not a reply')
    .option('--refuse', 'refuse every command (NAK / NG / -)')
    .option('--noise <p>', 'probability 0–1 of noise bytes before a reply', probability)
    .option('--split <p>', 'probability 0–1 that a reply is written in two pieces', probability)
    .option('--delay <ms>', 'delay every reply', intIn('delay', 0, 60_000))
    .action(async (opts: SimDisplayCliOptions) => {
      const running = await startSimDisplay(opts);
      const s = running.simulator;
      io.out(`display simulator: ${LABEL[s.profile]}, id ${s.id}, power ${s.power}, input ${s.input}\n`);
      io.out(`  open ${running.driverPath}\n`);
      io.out(`  e.g. lectern display --port ${running.driverPath} --profile ${s.profile}${s.id !== 1 ? ` --id ${s.id}` : ''} power status\n`);
      io.out('stop with Ctrl-C\n');
      await untilStopped(signal);
      await running.close();
      io.out('display simulator stopped\n');
    });
}
