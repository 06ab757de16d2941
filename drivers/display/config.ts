/**
 * Display configuration: the type, a JSON Schema fragment for the agent's Ajv validation, the
 * checks a schema cannot express (input codes per profile, the command table's hex and regular
 * expressions, the lesson input being one the display knows), and the factory.
 */
import { ConfigError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { BENQ_INPUTS, benqCodec } from './benq.js';
import { CEC_INPUTS, CecChannel, DEFAULT_CEC_DEVICE, PHYS_ADDR_PATTERN } from './cec.js';
import type { DisplayChannel } from './channel.js';
import { Display, type DisplayOptions } from './controller.js';
import { compileCommandTable, type CustomCommandTable } from './custom.js';
import { LG_INPUTS, lgCodec } from './lg.js';
import { MDC_INPUTS, samsungMdcCodec } from './samsung-mdc.js';
import { BAUD_RATES, SerialChannel, type BaudRate, type SerialSettings } from './serial.js';
import { INPUT_NAME_PATTERN, normaliseInput, PROFILES, type DisplayCodec, type ProfileName } from './protocol.js';

export interface DisplayConfig {
  /** The display's name in health reports and events (default `panel`). */
  name?: string;
  /** A model label for health reports; defaults to the profile's name. */
  model?: string;
  transport: 'serial' | 'cec';
  /** Serial: the port (prefer /dev/serial/by-id/…). CEC: the device (default /dev/cec0). */
  port?: string;
  /** Serial only: which protocol the panel speaks. */
  profile?: ProfileName;
  /** The panel's ID as set in its menu (Samsung 0–254, LG 0–255 with 0 = all, BenQ 1–98); default 1. */
  id?: number;
  baudRate?: BaudRate;
  dataBits?: 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  /**
   * Input name → the profile's code for it, added to (or replacing) the built-in names:
   * Samsung a hex byte (`21`), LG two hex digits (`90`), BenQ three digits (`001`), CEC a
   * physical address (`1.0.0.0`). A command table lists its inputs under `commands.inputs`.
   */
  inputs?: Record<string, string>;
  /** LG only: `xb` (current models, default) or `kb` (older ones). */
  inputCommand?: 'xb' | 'kb';
  /** The input to show during lessons: selected at pre-roll, with the display powered on. */
  lessonInput?: string;
  /** Power the display off once the last lesson of the day has ended. */
  powerOffAfterLastLesson: boolean;
  /** Profile `custom`: the panel's command table. */
  commands?: CustomCommandTable;
  /** Wait this long for each answer (default 1000 ms on serial, 3000 ms on CEC). */
  timeoutMs?: number;
  /** Sends per request before giving up (default 3). */
  tries?: number;
  /** How often to ask the display for its power state, for health (default 10 s; 0: never). */
  pollIntervalSec?: number;
}

export const DISPLAY_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';
const PROFILE_LABEL: Record<ProfileName, string> = { 'samsung-mdc': 'Samsung MDC', lg: 'LG', benq: 'BenQ', custom: 'custom command table' };

const customCommand = {
  type: 'object',
  additionalProperties: false,
  required: ['send'],
  properties: { send: { type: 'string', minLength: 1, maxLength: 256 }, expect: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

export const commandTableSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'powerOn', 'powerOff'],
  properties: {
    format: { enum: ['hex', 'ascii'] },
    powerOn: customCommand,
    powerOff: customCommand,
    powerQuery: {
      type: 'object',
      additionalProperties: false,
      required: ['send', 'on', 'off'],
      properties: { send: { type: 'string', minLength: 1, maxLength: 256 }, on: { type: 'string', minLength: 1 }, off: { type: 'string', minLength: 1 } },
    },
    inputs: { type: 'object', propertyNames: { pattern: INPUT_NAME_PATTERN }, additionalProperties: customCommand, maxProperties: 32 },
    inputQuery: {
      type: 'object',
      additionalProperties: false,
      required: ['send', 'replies'],
      properties: {
        send: { type: 'string', minLength: 1, maxLength: 256 },
        replies: { type: 'object', propertyNames: { pattern: INPUT_NAME_PATTERN }, additionalProperties: { type: 'string', minLength: 1 }, minProperties: 1 },
      },
    },
    refused: { type: 'string', minLength: 1 },
  },
} as const;

/** JSON Schema (draft 2020-12) for the `display` section. */
export const displayConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transport', 'powerOffAfterLastLesson'],
  properties: {
    name: { type: 'string', pattern: DISPLAY_NAME_PATTERN, default: 'panel' },
    model: { type: 'string', minLength: 1, maxLength: 64 },
    transport: { enum: ['serial', 'cec'] },
    port: { type: 'string', minLength: 1, maxLength: 4096 },
    profile: { enum: [...PROFILES] },
    id: { type: 'integer', minimum: 0, maximum: 255 },
    baudRate: { enum: [...BAUD_RATES] },
    dataBits: { enum: [7, 8] },
    parity: { enum: ['none', 'even', 'odd'] },
    stopBits: { enum: [1, 2] },
    inputs: { type: 'object', propertyNames: { pattern: INPUT_NAME_PATTERN }, additionalProperties: { type: 'string', minLength: 1, maxLength: 16 }, maxProperties: 32 },
    inputCommand: { enum: ['xb', 'kb'] },
    lessonInput: { type: 'string', pattern: INPUT_NAME_PATTERN },
    powerOffAfterLastLesson: { type: 'boolean', default: false },
    commands: commandTableSchema,
    timeoutMs: { type: 'integer', minimum: 50, maximum: 60_000 },
    tries: { type: 'integer', minimum: 1, maximum: 10 },
    pollIntervalSec: { type: 'number', minimum: 0, maximum: 3600 },
  },
  allOf: [
    // Serial needs a port and a profile; a command table goes with profile custom only.
    { if: { properties: { transport: { const: 'serial' } }, required: ['transport'] }, then: { required: ['port', 'profile'] } },
    { if: { properties: { profile: { const: 'custom' } }, required: ['profile'] }, then: { required: ['commands'] } },
  ],
} as const;

const INPUT_CODE: Record<Exclude<ProfileName, 'custom'> | 'cec', { pattern: RegExp; what: string }> = {
  'samsung-mdc': { pattern: /^(0x)?[0-9a-f]{2}$/i, what: 'a hex byte like 21' },
  lg: { pattern: /^[0-9a-f]{2}$/i, what: 'two hex digits like 90' },
  benq: { pattern: /^\d{3}$/, what: 'three digits like 001' },
  cec: { pattern: new RegExp(PHYS_ADDR_PATTERN), what: 'a physical address like 1.0.0.0' },
};

const ID_RANGE: Record<Exclude<ProfileName, 'custom'>, [number, number]> = { 'samsung-mdc': [0, 254], lg: [0, 255], benq: [1, 98] };

function builtInInputs(c: DisplayConfig): Record<string, string> {
  if (c.transport === 'cec') return { ...CEC_INPUTS };
  switch (c.profile) {
    case 'samsung-mdc':
      return Object.fromEntries(Object.entries(MDC_INPUTS).map(([k, v]) => [k, v.toString(16).padStart(2, '0')]));
    case 'lg':
      return { ...LG_INPUTS };
    case 'benq':
      return { ...BENQ_INPUTS };
    default:
      return {};
  }
}

/** The input names this config can select: built in plus configured (or the command table's). */
export function displayInputs(c: DisplayConfig): Record<string, string> {
  if (c.transport === 'serial' && c.profile === 'custom') return Object.fromEntries(Object.keys(c.commands?.inputs ?? {}).map((k) => [normaliseInput(k), k]));
  const out = builtInInputs(c);
  for (const [k, v] of Object.entries(c.inputs ?? {})) out[normaliseInput(k)] = v;
  return out;
}

/**
 * What a schema cannot say. Paths are relative to the display section (`inputs/hdmi1`); the
 * caller prefixes its own (`/display/`).
 */
export function checkDisplayConfig(c: DisplayConfig): string[] {
  const problems: string[] = [];
  const serialOnly = ['profile', 'baudRate', 'dataBits', 'parity', 'stopBits', 'inputCommand', 'commands'] as const;
  if (c.transport === 'cec') {
    for (const k of serialOnly) if (c[k] !== undefined) problems.push(`${k}: applies to transport "serial" only, not "cec"`);
  } else {
    if (!c.port) problems.push('port: a serial display needs its port, e.g. /dev/serial/by-id/usb-FTDI_…-if00-port0');
    if (!c.profile) problems.push(`profile: a serial display needs a profile: ${PROFILES.join(', ')}`);
  }
  if (c.profile !== 'custom' && c.commands !== undefined && c.transport === 'serial') problems.push('commands: a command table is used with profile "custom" only');
  if (c.profile === 'custom' && c.inputs !== undefined) problems.push('inputs: with profile "custom", list inputs under commands.inputs');
  if (c.inputCommand !== undefined && c.profile !== 'lg') problems.push('inputCommand: applies to profile "lg" only');
  const codeKind = c.transport === 'cec' ? 'cec' : c.profile && c.profile !== 'custom' ? c.profile : undefined;
  if (codeKind) {
    const rule = INPUT_CODE[codeKind];
    for (const [name, code] of Object.entries(c.inputs ?? {})) {
      if (!rule.pattern.test(code)) problems.push(`inputs/${name}: "${code}" is not ${rule.what}`);
    }
  }
  if (c.transport === 'serial' && c.profile && c.profile !== 'custom' && c.id !== undefined) {
    const [min, max] = ID_RANGE[c.profile];
    if (c.id < min || c.id > max) problems.push(`id: a ${PROFILE_LABEL[c.profile]} ID must be ${min}–${max}, got ${c.id}`);
  }
  if (c.transport === 'serial' && c.profile === 'custom' && c.commands) {
    problems.push(...compileCommandTable(c.commands).problems.map((p) => `commands/${p}`));
  }
  if (c.lessonInput !== undefined) {
    const known = Object.keys(displayInputs(c));
    if (!known.includes(normaliseInput(c.lessonInput))) problems.push(`lessonInput: "${c.lessonInput}" is not an input of this display; known: ${known.join(', ') || 'none'}`);
  }
  return problems;
}

function codecFor(c: DisplayConfig): DisplayCodec {
  const inputs = displayInputs(c);
  const id = c.id ?? 1;
  switch (c.profile) {
    case 'samsung-mdc':
      return samsungMdcCodec({ id, inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, parseInt(v.replace(/^0x/i, ''), 16)])) });
    case 'lg':
      return lgCodec({ id, inputs, ...(c.inputCommand ? { inputCommand: c.inputCommand } : {}) });
    case 'benq':
      return benqCodec({ id, inputs });
    case 'custom': {
      const compiled = compileCommandTable(c.commands ?? ({} as CustomCommandTable));
      if (!compiled.codec) throw new ConfigError('invalid display command table', compiled.problems.map((p) => `/display/commands/${p}`));
      return compiled.codec;
    }
    default:
      throw new ConfigError('invalid display configuration', ['/display/profile: a serial display needs a profile']);
  }
}

/** The channel a config describes (serial with its codec, or CEC). */
export function createDisplayChannel(c: DisplayConfig): DisplayChannel {
  if (c.transport === 'cec') return new CecChannel({ device: c.port ?? DEFAULT_CEC_DEVICE, inputs: displayInputs(c) });
  const settings: Partial<SerialSettings> = {
    ...(c.baudRate ? { baudRate: c.baudRate } : {}),
    ...(c.dataBits ? { dataBits: c.dataBits } : {}),
    ...(c.parity ? { parity: c.parity } : {}),
    ...(c.stopBits ? { stopBits: c.stopBits } : {}),
  };
  return new SerialChannel({ path: c.port ?? '', codec: codecFor(c), settings });
}

export function displayModel(c: DisplayConfig): string {
  return c.model ?? (c.transport === 'cec' ? 'HDMI-CEC display' : `${PROFILE_LABEL[c.profile ?? 'custom']} display`);
}

export interface CreateDisplayOptions {
  log?: Logger;
  /** Controller tuning (timeouts, reconnect); what the config sets wins. */
  tuning?: Omit<DisplayOptions, 'id' | 'channel' | 'model' | 'log'>;
  /** Replaces the channel a config would open. */
  channel?: DisplayChannel;
}

export function createDisplay(c: DisplayConfig, options: CreateDisplayOptions = {}): Display {
  const problems = checkDisplayConfig(c);
  if (problems.length) throw new ConfigError('invalid display configuration', problems.map((p) => `/display/${p}`));
  return new Display({
    ...options.tuning,
    id: c.name ?? 'panel',
    model: displayModel(c),
    channel: options.channel ?? createDisplayChannel(c),
    ...(options.log ? { log: options.log } : {}),
    ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
    ...(c.tries !== undefined ? { tries: c.tries } : {}),
    ...(c.pollIntervalSec !== undefined ? { pollIntervalMs: c.pollIntervalSec * 1000 } : {}),
  });
}
