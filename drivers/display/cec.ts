/**
 * A display over HDMI-CEC through the kernel CEC framework and `cec-ctl` (v4l-utils): Image
 * View On turns the TV on, Standby turns it off, Give Device Power Status reads its power, and
 * Active Source (broadcast, with the physical address of the lesson input) makes it show that
 * input. CEC has no message that reads which input a TV shows, so the input status is unknown.
 *
 * Each request runs `cec-ctl` once, with its arguments as an argv array (never a shell
 * string), and its output is parsed. Building the argv and parsing the output are pure
 * functions, tested on their own. Where no CEC device node exists the display is `absent`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Listeners } from '../visca/transport.js';
import type { ChannelClose, DisplayChannel } from './channel.js';
import { DisplayArgumentError, DisplayPortError, DisplayTimeoutError } from './errors.js';
import { describeRequest, normaliseInput, type DisplayOutcome, type DisplayRequest, type PowerState } from './protocol.js';

export const CEC_CTL = 'cec-ctl';
export const DEFAULT_CEC_DEVICE = '/dev/cec0';
/** The TV is always logical address 0; 15 is broadcast. */
const TV = '0';
const BROADCAST = '15';

/** HDMI inputs by physical address: the usual layout of a TV's first four HDMI ports. */
export const CEC_INPUTS: Readonly<Record<string, string>> = { hdmi1: '1.0.0.0', hdmi2: '2.0.0.0', hdmi3: '3.0.0.0', hdmi4: '4.0.0.0' };
export const PHYS_ADDR_PATTERN = '^[0-9a-fA-F]\\.[0-9a-fA-F]\\.[0-9a-fA-F]\\.[0-9a-fA-F]$';

/** Claims a logical address as a playback device, so that messages can be sent. */
export function cecConfigureArgv(device: string, osdName = 'Lectern'): string[] {
  return ['-d', device, '-s', '--playback', '-o', osdName];
}

/** The argv (without the program) for one request. Throws DisplayArgumentError for what CEC cannot do. */
export function cecArgv(device: string, request: DisplayRequest, inputs: Readonly<Record<string, string>> = CEC_INPUTS, replyTimeoutMs = 1000): string[] {
  const base = ['-d', device, '-s'];
  switch (request.op) {
    case 'power':
      return [...base, '--to', TV, request.on ? '--image-view-on' : '--standby'];
    case 'power?':
      return [...base, '--to', TV, '--timeout', String(Math.max(100, Math.round(replyTimeoutMs))), '--give-device-power-status'];
    case 'input': {
      const addr = inputs[normaliseInput(request.input)];
      if (addr === undefined) throw new DisplayArgumentError(`unknown input "${request.input}"; known: ${Object.keys(inputs).join(', ')}`, device);
      if (!new RegExp(PHYS_ADDR_PATTERN).test(addr)) throw new DisplayArgumentError(`input "${request.input}": "${addr}" is not a physical address like 1.0.0.0`, device);
      return [...base, '--to', BROADCAST, '--active-source', `phys-addr=${addr}`];
    }
    case 'input?':
      throw new DisplayArgumentError('HDMI-CEC cannot read which input the display shows', device);
  }
}

export interface CecRun {
  /** Exit status; null when killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed for taking too long. */
  timedOut?: boolean;
  /** It could not be started at all (ENOENT: not installed). */
  spawnError?: string;
}

export type CecResult =
  | { kind: 'ok'; power?: PowerState }
  /** The TV answered with Feature Abort. */
  | { kind: 'refused'; reason: string }
  /** Nobody acknowledged the message, or no reply came. */
  | { kind: 'no-answer'; reason: string }
  /** The CEC device node does not exist. */
  | { kind: 'absent'; reason: string }
  /** cec-ctl failed for another reason (permissions, not installed, crashed). */
  | { kind: 'failed'; reason: string };

const TX_FAILURE = /\b(Not Acknowledged|Arbitration Lost|Low Drive|Error|Aborted|Max Retries)\b/;
/** Power status codes: 0 on, 1 standby, 2 standby → on, 3 on → standby. */
const PWR_STATE = /pwr-state:[^(\n]*\(0x0?([0-3])\)/i;

function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => l.trim()).pop()?.trim() ?? '';
}

/** Reads what cec-ctl printed for `request`. */
export function parseCecOutput(request: DisplayRequest, run: CecRun): CecResult {
  if (run.spawnError) {
    return { kind: 'failed', reason: /ENOENT/.test(run.spawnError) ? `${CEC_CTL} is not installed (it comes with v4l-utils)` : `${CEC_CTL} did not start: ${run.spawnError}` };
  }
  if (run.timedOut) return { kind: 'no-answer', reason: `${CEC_CTL} did not finish in time` };
  const text = `${run.stdout}\n${run.stderr}`;
  const open = /Failed to open (\S+?):? (.*)/.exec(text);
  if (open) {
    if (/No such file or directory/i.test(open[2] ?? '')) return { kind: 'absent', reason: `CEC device ${open[1]} does not exist` };
    return { kind: 'failed', reason: `cannot open CEC device ${open[1]}: ${(open[2] ?? '').trim()}` };
  }
  const lines = text.split('\n');
  // Transmit status lines start with "Tx" and list flags; a reply's status with "Rx".
  for (const line of lines) {
    const l = line.trim();
    if (/^Tx\b/.test(l) && TX_FAILURE.test(l) && !/\bOK\b/.test(l)) {
      return { kind: 'no-answer', reason: `the display did not acknowledge ${describeRequest(request)} (${l.replace(/^Tx,?\s*/, '')})` };
    }
    if (/Feature Abort/i.test(l) || /FEATURE_ABORT/.test(l)) {
      return { kind: 'refused', reason: `the display refused ${describeRequest(request)} (Feature Abort)` };
    }
    if (/^Rx\b/.test(l) && /Timeout/.test(l)) return { kind: 'no-answer', reason: `no reply to ${describeRequest(request)} (timeout)` };
  }
  if (/FAIL|Transmit failed/i.test(text)) return { kind: 'no-answer', reason: `${describeRequest(request)} not transmitted: ${lastLine(text)}` };
  if (run.code !== 0) return { kind: 'failed', reason: `${CEC_CTL} exited with ${run.code === null ? 'a signal' : `status ${run.code}`}: ${lastLine(run.stderr) || lastLine(run.stdout) || 'no output'}` };
  if (request.op === 'power?') {
    const m = PWR_STATE.exec(text);
    if (!m) return { kind: 'no-answer', reason: 'no power status in the reply' };
    const code = Number(m[1]);
    // In transition counts as where it is going.
    return { kind: 'ok', power: code === 0 || code === 2 ? 'on' : 'off' };
  }
  return { kind: 'ok', ...(request.op === 'power' ? { power: request.on ? ('on' as const) : ('off' as const) } : {}) };
}

/** Runs cec-ctl without a shell; never rejects (failures are in the result). */
export function runCecCtl(argv: readonly string[], timeoutMs: number, program = CEC_CTL): Promise<CecRun> {
  return new Promise((resolve) => {
    execFile(program, [...argv], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr });
      const e = error as NodeJS.ErrnoException & { code?: unknown; killed?: boolean; signal?: string | null };
      if (typeof e.code === 'string') return resolve({ code: null, stdout, stderr, spawnError: `${e.code}: ${e.message}` });
      resolve({ code: typeof e.code === 'number' ? e.code : null, stdout, stderr, ...(e.killed ? { timedOut: true } : {}) });
    });
  });
}

export interface CecChannelOptions {
  /** `/dev/cec0` unless the kit has several adapters. */
  device?: string;
  /** Input name → physical address (`1.0.0.0`). */
  inputs?: Readonly<Record<string, string>>;
  /** The name the TV shows for the kit. */
  osdName?: string;
  /** The program to run; tests point it elsewhere only to check a missing one. */
  program?: string;
}

export class CecChannel implements DisplayChannel {
  readonly kind = 'cec';
  private open_ = false;
  private readonly events = new Listeners<{ close: ChannelClose }>();

  constructor(private readonly options: CecChannelOptions = {}) {}

  get name(): string {
    return this.options.device ?? DEFAULT_CEC_DEVICE;
  }

  get isOpen(): boolean {
    return this.open_;
  }

  get inputs(): readonly string[] {
    return Object.keys(this.inputTable);
  }

  private get inputTable(): Readonly<Record<string, string>> {
    return this.options.inputs ?? CEC_INPUTS;
  }

  supports(request: DisplayRequest): boolean {
    if (request.op === 'input?') return false;
    return request.op !== 'input' || this.inputTable[normaliseInput(request.input)] !== undefined;
  }

  onClose(listener: (e: ChannelClose) => void): () => void {
    return this.events.on('close', listener);
  }

  private missing(): DisplayPortError {
    return new DisplayPortError(`no CEC adapter: ${this.name} does not exist (HDMI-CEC needs a kernel CEC driver for the HDMI port, or a USB CEC adapter)`, this.name, true);
  }

  async open(): Promise<void> {
    if (!existsSync(this.name)) throw this.missing();
    const run = await runCecCtl(cecConfigureArgv(this.name, this.options.osdName), 10_000, this.options.program);
    const r = parseCecOutput({ op: 'power?' }, run);
    // The configure call prints no power status; only the failures matter here.
    if (r.kind === 'absent') throw this.missing();
    if (r.kind === 'failed') throw new DisplayPortError(r.reason, this.name, false);
    this.open_ = true;
  }

  async close(): Promise<void> {
    this.open_ = false;
  }

  async exchange(request: DisplayRequest, timeoutMs: number): Promise<DisplayOutcome> {
    if (!this.open_) throw new DisplayPortError(`CEC device ${this.name} is not open`, this.name, false);
    const argv = cecArgv(this.name, request, this.inputTable, timeoutMs);
    if (!existsSync(this.name)) return this.vanished();
    // cec-ctl waits up to the reply timeout itself; allow it time to start and print.
    const run = await runCecCtl(argv, timeoutMs + 2000, this.options.program);
    const r = parseCecOutput(request, run);
    switch (r.kind) {
      case 'ok':
        return r.power ? { kind: 'ok', power: r.power } : { kind: 'ok', ...(request.op === 'input' ? { input: normaliseInput(request.input) } : {}) };
      case 'refused':
        return { kind: 'refused', reason: r.reason };
      case 'no-answer':
        throw new DisplayTimeoutError(`${r.reason} on ${this.name}`, this.name, 1);
      case 'absent':
        return this.vanished();
      case 'failed':
        throw new DisplayPortError(r.reason, this.name, false);
    }
  }

  private vanished(): never {
    this.open_ = false;
    this.events.emit('close', { disconnected: true });
    throw this.missing();
  }
}
