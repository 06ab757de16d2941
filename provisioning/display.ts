/**
 * The classroom display for provisioning and diagnostics, through drivers/display only:
 *
 * - a serial probe that recognises a panel on a port where no camera answered: each built-in
 *   profile's power status query is sent at the profile's default line settings with a short
 *   timeout; the first profile whose reply is valid names the panel (profile and ID);
 * - the provisioning test: switch the panel on and show the lesson input, the way the lesson
 *   loop does at pre-roll, then read its status back;
 * - the doctor check of a configured display;
 * - whether HDMI-CEC could be used instead (cec-ctl installed and a /dev/cec* device).
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { errorMessage } from '../agent/errors.js';
import { benqCodec, decodeBenq } from '../drivers/display/benq.js';
import { CEC_CTL } from '../drivers/display/cec.js';
import { createDisplay, displayInputs, displayModel, type DisplayConfig } from '../drivers/display/config.js';
import type { Display, DisplayOptions } from '../drivers/display/controller.js';
import { DisplayPortError, DisplayRefusedError, DisplayTimeoutError } from '../drivers/display/errors.js';
import { DisplayLessonHooks } from '../drivers/display/hooks.js';
import { decodeLgReply, lgCodec } from '../drivers/display/lg.js';
import { latin1, type DisplayCodec, type PowerState } from '../drivers/display/protocol.js';
import { decodeMdc, samsungMdcCodec } from '../drivers/display/samsung-mdc.js';
import { DEFAULT_SERIAL, SerialChannel, type BaudRate } from '../drivers/display/serial.js';
import type { SerialProbe } from './cameras.js';
import type { SystemRoots } from './detect.js';

export type BuiltInProfile = 'samsung-mdc' | 'lg' | 'benq';

export interface FoundDisplay {
  /** The port as the config names it (a /dev/serial/by-id path where there is one). */
  port: string;
  profile: BuiltInProfile;
  /** The panel's ID as it answered. */
  id: number;
  baudRate: BaudRate;
  power: PowerState;
  /** The input it shows now (a name where the profile knows the code), when it says. */
  input?: string;
  /** `Samsung MDC display`. */
  model: string;
}

/**
 * How each built-in profile is asked "are you there?". The query goes to the address every
 * panel on the line answers where the protocol has one (Samsung 0xFE, LG set ID 0), so a panel
 * whose ID was changed in its menu is found too; BenQ's broadcast ID gets no reply, so BenQ is
 * asked at ID 1, its factory setting. The reply names the panel's own ID, and the profile's own
 * codec for that ID must accept the reply as a power status.
 */
interface ProfileProbe {
  profile: BuiltInProfile;
  queryId: number;
  /** Line speeds to try, the profile's default first. */
  baudRates: readonly BaudRate[];
  codec(id: number): DisplayCodec;
  /** The panel ID a reply frame carries, if it is a reply of this protocol. */
  idOf(frame: Uint8Array): number | undefined;
  /** Bytes sent before the query (see LG). */
  preamble?: Uint8Array;
}

const PROFILE_PROBES: readonly ProfileProbe[] = [
  {
    profile: 'samsung-mdc',
    queryId: 0xfe,
    baudRates: [DEFAULT_SERIAL.baudRate],
    codec: (id) => samsungMdcCodec({ id }),
    idOf: (frame) => decodeMdc(frame).id,
  },
  {
    profile: 'lg',
    queryId: 0,
    baudRates: [DEFAULT_SERIAL.baudRate],
    codec: (id) => lgCodec({ id }),
    idOf: (frame) => decodeLgReply(frame)?.id,
    // LG commands are lines: a CR first ends whatever earlier probes left in the panel's line
    // buffer, which would otherwise spoil the query.
    preamble: Uint8Array.of(0x0d),
  },
  {
    profile: 'benq',
    queryId: 1,
    // Some BenQ product lines are fixed at 38400 baud.
    baudRates: [DEFAULT_SERIAL.baudRate, 38400],
    codec: (id) => benqCodec({ id }),
    idOf: (frame) => {
      const f = decodeBenq(latin1(frame.subarray(0, -1)));
      return f ? Number(f.id) : undefined;
    },
  },
];

export const PROBED_PROFILES: readonly BuiltInProfile[] = PROFILE_PROBES.map((p) => p.profile);

/**
 * The query codec for one profile: the profile's status query to its probe address, and a reply
 * accepted when the profile's codec for the ID in the reply accepts it. `answered` gets that ID.
 */
function probeCodec(p: ProfileProbe, answered: (id: number) => void): DisplayCodec {
  const base = p.codec(p.queryId);
  return {
    ...base,
    encode(r) {
      const bytes = base.encode(r);
      return p.preamble ? Uint8Array.from([...p.preamble, ...bytes]) : bytes;
    },
    interpret(r, frame) {
      const id = p.idOf(frame);
      if (id === undefined) return undefined;
      const outcome = p.codec(id).interpret(r, frame);
      if (outcome?.kind !== 'ok' || !outcome.power) return undefined;
      answered(id);
      return outcome;
    },
  };
}

async function withChannel<T>(channel: SerialChannel, fn: () => Promise<T>): Promise<T> {
  await channel.open();
  try {
    return await fn();
  } finally {
    await channel.close();
  }
}

export interface DisplayProbeOptions {
  /** Per query; panels answer RS-232 within about 100 ms. */
  timeoutMs?: number;
  /** Profiles to try, in order (default all built-in ones). */
  profiles?: readonly BuiltInProfile[];
}

/**
 * Asks the port as each profile in turn. Resolves undefined when no profile got a valid
 * answer; rejects only when the port cannot be opened at all.
 */
export async function identifyDisplay(port: string, opts: DisplayProbeOptions = {}): Promise<FoundDisplay | undefined> {
  const timeoutMs = opts.timeoutMs ?? 500;
  const wanted = opts.profiles ?? PROBED_PROFILES;
  for (const p of PROFILE_PROBES.filter((x) => wanted.includes(x.profile))) {
    for (const baudRate of p.baudRates) {
      let id: number | undefined;
      const channel = new SerialChannel({ path: port, codec: probeCodec(p, (x) => (id = x)), settings: { ...DEFAULT_SERIAL, baudRate } });
      const power = await withChannel(channel, async () => {
        try {
          const r = await channel.exchange({ op: 'power?' }, timeoutMs);
          return r.kind === 'ok' ? r.power : undefined;
        } catch (e) {
          if (e instanceof DisplayTimeoutError) return undefined;
          throw e;
        }
      });
      if (!power || id === undefined) continue;
      const config: DisplayConfig = { transport: 'serial', port, profile: p.profile, id, baudRate, powerOffAfterLastLesson: false };
      // The input it shows now, best effort: a panel in standby may not say.
      const real = new SerialChannel({ path: port, codec: p.codec(id), settings: { ...DEFAULT_SERIAL, baudRate } });
      const input = await withChannel(real, async () => {
        const r = await real.exchange({ op: 'input?' }, timeoutMs).catch(() => undefined);
        return r?.kind === 'ok' ? r.input : undefined;
      }).catch(() => undefined);
      return { port, profile: p.profile, id, baudRate, power, ...(input ? { input } : {}), model: displayModel(config) };
    }
  }
  return undefined;
}

/** The display as a serial probe: offered the ports where no camera answered. */
export function displaySerialProbe(opts: DisplayProbeOptions = {}): SerialProbe {
  return {
    kind: 'display',
    async probe(port) {
      const display = await identifyDisplay(port.path, opts);
      if (!display) return undefined;
      return {
        kind: 'display',
        summary: `${display.model}, ID ${display.id}, ${display.baudRate} baud (power ${display.power}${display.input ? `, input ${display.input}` : ''})`,
        display,
      };
    },
  };
}

/** The `display` section for a panel found on a serial port. */
export function displayConfigFor(found: FoundDisplay, lessonInput: string | undefined, powerOffAfterLastLesson = false): DisplayConfig {
  return {
    transport: 'serial',
    port: found.port,
    profile: found.profile,
    id: found.id,
    ...(found.baudRate !== DEFAULT_SERIAL.baudRate ? { baudRate: found.baudRate } : {}),
    ...(lessonInput ? { lessonInput } : {}),
    powerOffAfterLastLesson,
  };
}

/**
 * The lesson input to configure: the technician's answer, else the input the panel shows now
 * (when it is a named one), else the profile's first input (hdmi1 for every built-in profile).
 */
export function lessonInputFor(found: FoundDisplay, answer: string | undefined): string | undefined {
  const known = Object.keys(displayInputs(displayConfigFor(found, undefined)));
  if (answer) return answer.trim().toLowerCase();
  if (found.input && known.includes(found.input)) return found.input;
  return known.includes('hdmi1') ? 'hdmi1' : known[0];
}

/** Controller settings for one-shot use: no background polling, no reconnecting. */
const ONE_SHOT: Omit<DisplayOptions, 'id' | 'channel' | 'model' | 'log'> = { reconnect: false, pollIntervalMs: 0, tries: 2, retryMinMs: 100, retryMaxMs: 300 };

export interface PanelTestResult {
  ok: boolean;
  detail: string;
  before?: { power: PowerState | 'unknown'; input: string | null };
  after?: { power: PowerState | 'unknown'; input: string | null };
}

/**
 * Switches the panel on and selects `lessonInput` exactly as the lesson loop's pre-roll does
 * (an input change refused while the panel boots is retried), then reads the status back.
 * The panel is left on, showing the lesson input.
 */
export async function testPanel(config: DisplayConfig, opts: { inputAttempts?: number; inputRetryMs?: number } = {}): Promise<PanelTestResult> {
  const display = createDisplay(config, { tuning: ONE_SHOT });
  await display.start();
  try {
    const before = await display.status();
    const hooks = new DisplayLessonHooks({
      display,
      ...(config.lessonInput ? { lessonInput: config.lessonInput } : {}),
      powerOffAfterLastLesson: false,
      nextLessonStart: () => undefined,
      timeZone: () => 'UTC',
      inputAttempts: opts.inputAttempts ?? 6,
      inputRetryMs: opts.inputRetryMs ?? 2500,
    });
    const r = await hooks.preRoll('provisioning-test');
    hooks.close();
    if (!r.poweredOn) return { ok: false, detail: `did not switch on: ${r.error ?? 'no reason given'}`, before };
    if (config.lessonInput && r.input === null) return { ok: false, detail: `switched on, but input ${config.lessonInput} was not selected: ${r.error ?? 'no reason given'}`, before };
    const after = await display.status();
    if (after.power !== 'on' && after.power !== 'unknown') return { ok: false, detail: `switched on, but it then reported power ${after.power}`, before, after };
    if (config.lessonInput && after.input !== null && after.input !== config.lessonInput) {
      return { ok: false, detail: `asked for input ${config.lessonInput}, it reports ${after.input}`, before, after };
    }
    const was = `was ${before.power}${before.input ? ` on ${before.input}` : ''}`;
    return { ok: true, detail: `switched on${config.lessonInput ? ` and showing ${config.lessonInput}` : ''} (${was})`, before, after };
  } finally {
    await display.stop();
  }
}

export type ConfiguredDisplayCheck =
  | { ok: true; detail: string; power: PowerState | 'unknown'; input: string | null }
  | { ok: false; missing: boolean; detail: string };

/**
 * Asks a configured display for its status (its port must be free: with the agent running,
 * read the agent's health for it instead).
 */
export async function checkConfiguredDisplay(config: DisplayConfig): Promise<ConfiguredDisplayCheck> {
  let display: Display;
  try {
    display = createDisplay(config, { tuning: ONE_SHOT });
  } catch (e) {
    return { ok: false, missing: false, detail: errorMessage(e) };
  }
  const where = `${displayModel(config)} on ${display.port}`;
  try {
    await display.start();
  } catch (e) {
    return { ok: false, missing: e instanceof DisplayPortError && e.absent, detail: `${where}: ${errorMessage(e)}` };
  }
  try {
    const s = await display.status();
    return { ok: true, detail: `${where}: power ${s.power}${s.input ? `, input ${s.input}` : ''}`, power: s.power, input: s.input };
  } catch (e) {
    const missing = e instanceof DisplayPortError && e.absent;
    const why = e instanceof DisplayRefusedError ? `it refused the status query (${e.reason})` : errorMessage(e);
    return { ok: false, missing, detail: `${where}: ${why}` };
  } finally {
    await display.stop();
  }
}

export interface CecInfo {
  /** Where cec-ctl is, if installed. */
  program?: string;
  /** /dev/cec* devices. */
  devices: string[];
  /** Both there: the display could be driven over HDMI-CEC instead. */
  possible: boolean;
}

/** Whether HDMI-CEC is available here: cec-ctl on the PATH and a CEC device node. */
export function detectCec(roots: SystemRoots, searchPath: string = process.env.PATH ?? ''): CecInfo {
  let program: string | undefined;
  for (const dir of searchPath.split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, CEC_CTL), constants.X_OK);
      program = join(dir, CEC_CTL);
      break;
    } catch {
      // Not in this directory.
    }
  }
  let devices: string[] = [];
  try {
    devices = readdirSync(roots.dev)
      .filter((n) => /^cec\d+$/.test(n))
      .sort()
      .map((n) => join(roots.dev, n));
  } catch {
    devices = [];
  }
  return { ...(program ? { program } : {}), devices, possible: program !== undefined && devices.length > 0 };
}
