/**
 * The technician's answers to provisioning: from an answers file (JSON), command-line flags
 * (which win), and, on a terminal, prompts with the known answers as defaults. The file is
 * checked against a schema and every problem is reported at once.
 */
import { readFileSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { createAjv, describeErrors } from '../agent/contract/validate.js';
import { ConfigError, errorMessage } from '../agent/errors.js';
import { INPUT_NAME_PATTERN } from '../drivers/display/protocol.js';
import { microphoneConfigSchema, type MicControlsConfig } from '../drivers/mic/config.js';

export interface ProvisionAnswers {
  deviceId?: string;
  school?: string;
  room?: string;
  role?: 'lecture' | 'listen' | 'both';
  timezone?: string;
  dataDir?: string;
  mqttUrl?: string;
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  rejectUnauthorized?: boolean;
  /** Names for the cameras found, in the order found (`teacher`, `students`…). */
  cameraNames?: string[];
  /** Serial ports to probe besides those found by looking. */
  serialPorts?: string[];
  /** `auto` (the first V4L2 capture device), `test` (a test pattern) or a device path. */
  video?: string;
  /** `auto` (the first ALSA capture device, USB first), `test` (a test tone) or an ALSA device. */
  audio?: string;
  /** The stream's target, a template (`srt://media.example:10080?streamid=…{deviceId}…`, `rtmp://…`). */
  uplinkUrl?: string;
  /** Where a listening room plays the lecture room from. */
  listenUrl?: string;
  /** The display input lessons show (`hdmi1`); default: the input the panel shows now. */
  displayInput?: string;
  /** Switch the display off after the day's last lesson. */
  displayPowerOff?: boolean;
  /** Vendor controls to set on an array microphone (written to the config, applied and read back). */
  micControls?: MicControlsConfig;
  skipCameraMove?: boolean;
  /** Do not switch the display on or change its input. */
  skipDisplayTest?: boolean;
  /** Do not measure the microphone's level. */
  skipMicLevel?: boolean;
  skipClip?: boolean;
  skipPlatform?: boolean;
}

const str = (max = 4096): object => ({ type: 'string', maxLength: max });

const answersSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    deviceId: str(64),
    school: str(128),
    room: str(128),
    role: { enum: ['lecture', 'listen', 'both'] },
    timezone: str(64),
    dataDir: str(),
    mqttUrl: str(2048),
    protocolVersion: { enum: [4, 5] },
    username: str(256),
    password: str(1024),
    caFile: str(),
    certFile: str(),
    keyFile: str(),
    rejectUnauthorized: { type: 'boolean' },
    cameraNames: { type: 'array', items: str(32), maxItems: 8 },
    serialPorts: { type: 'array', items: str(), maxItems: 16 },
    video: str(),
    audio: str(256),
    uplinkUrl: str(2048),
    listenUrl: str(2048),
    displayInput: { type: 'string', pattern: INPUT_NAME_PATTERN },
    displayPowerOff: { type: 'boolean' },
    micControls: microphoneConfigSchema.properties.controls,
    skipCameraMove: { type: 'boolean' },
    skipDisplayTest: { type: 'boolean' },
    skipMicLevel: { type: 'boolean' },
    skipClip: { type: 'boolean' },
    skipPlatform: { type: 'boolean' },
  },
};

export function readAnswersFile(path: string): ProvisionAnswers {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`answers file ${path}: ${errorMessage(e)}`);
  }
  const validate = createAjv().compile(answersSchema);
  if (!validate(value)) throw new ConfigError(`answers file ${path} is invalid`, describeErrors(validate.errors));
  return value as ProvisionAnswers;
}

/** Flags over file answers; undefined flags leave the file's answer. */
export function mergeAnswers(file: ProvisionAnswers, flags: ProvisionAnswers): ProvisionAnswers {
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as ProvisionAnswers;
  return { ...file, ...defined };
}

/** Asks questions on a terminal. */
export interface Prompter {
  /** Asks until `check` accepts the answer (returns undefined) ; an empty answer takes `def`. */
  ask(question: string, def?: string, check?: (answer: string) => string | undefined): Promise<string>;
  /** Like ask, without echoing what is typed. */
  secret(question: string, hasDefault: boolean): Promise<string | undefined>;
  choose<T extends string>(question: string, choices: readonly T[], def: T): Promise<T>;
  yes(question: string, def: boolean): Promise<boolean>;
  close(): void;
}

/** A Writable to the terminal that can stop echoing (for the password). */
class MutableOutput extends Writable {
  muted = false;
  constructor(private readonly target: NodeJS.WriteStream) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (!this.muted) this.target.write(chunk);
    done();
  }
}

export function terminalPrompter(input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stdout): Prompter {
  const out = new MutableOutput(output);
  const rl: Interface = createInterface({ input, output: out, terminal: Boolean(output.isTTY) });
  const ask = async (question: string, def?: string, check?: (a: string) => string | undefined): Promise<string> => {
    for (;;) {
      const raw = (await rl.question(`${question}${def !== undefined && def !== '' ? ` [${def}]` : ''}: `)).trim();
      const answer = raw === '' && def !== undefined ? def : raw;
      const problem = check?.(answer);
      if (problem === undefined) return answer;
      output.write(`  ${problem}\n`);
    }
  };
  return {
    ask,
    async secret(question, hasDefault) {
      output.write(`${question}${hasDefault ? ' [keep the given one]' : ' [none]'}: `);
      out.muted = true;
      try {
        const answer = await rl.question('');
        return answer === '' ? undefined : answer;
      } finally {
        out.muted = false;
        output.write('\n');
      }
    },
    async choose<T extends string>(question: string, choices: readonly T[], def: T): Promise<T> {
      const a = await ask(`${question} (${choices.join('/')})`, def, (x) => ((choices as readonly string[]).includes(x) ? undefined : `answer one of: ${choices.join(', ')}`));
      return a as T;
    },
    async yes(question, def) {
      const a = await ask(`${question} (y/n)`, def ? 'y' : 'n', (x) => (/^(y|yes|n|no)$/i.test(x) ? undefined : 'answer y or n'));
      return /^y/i.test(a);
    },
    close: () => rl.close(),
  };
}
