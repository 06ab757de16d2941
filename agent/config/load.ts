import { readFileSync, accessSync, constants } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import { join, resolve } from 'node:path';
import { createAjv, describeErrors } from '../contract/validate.js';
import { ConfigError, errorMessage } from '../errors.js';
import { isValidTimeZone } from '../contract/time.js';
import { checkCameraConfigs } from '../../drivers/visca/config.js';
import { checkDisplayConfig } from '../../drivers/display/config.js';
import { resolveMediaConfig, type MediaConfigInput } from '../../pipelines/config.js';
import { checkMicrophoneConfig } from '../../drivers/mic/config.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

/** Options given on the command line; each overrides the same setting of the file. */
export interface ConfigOverrides {
  deviceId?: string;
  mqttUrl?: string;
  dataDir?: string;
  logLevel?: string;
}

let compiled: ValidateFunction<Config> | undefined;
/** Compiled on first use, so commands that never read a config do not pay for it. */
function validateConfig(): ValidateFunction<Config> {
  compiled ??= createAjv({ useDefaults: true }).compile<Config>(configSchema);
  return compiled;
}

const MQTT_SCHEMES = new Set(['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:']);

/**
 * Checks a config object: schema first (every problem, each with its path), then the rules a
 * schema cannot say (zone names, URL syntax, readable certificate files). Returns the config
 * with defaults filled in, or throws one ConfigError listing every problem.
 */
export function validateConfigObject(input: unknown, source: string): Config {
  const copy: unknown = structuredClone(input);
  if (copy === null || typeof copy !== 'object' || Array.isArray(copy)) {
    throw new ConfigError(`${source}: the config must be a JSON object`);
  }
  const problems: string[] = [];
  const validate = validateConfig();
  if (!validate(copy)) {
    problems.push(...describeErrors(validate.errors));
    throw new ConfigError(`${source} is invalid`, problems);
  }
  const config = copy;
  if (!isValidTimeZone(config.timezone)) problems.push(`/timezone: "${config.timezone}" is not a known IANA time zone`);
  let url: URL | undefined;
  try {
    url = new URL(config.platform.mqttUrl);
  } catch {
    problems.push(`/platform/mqttUrl: "${config.platform.mqttUrl}" is not a URL (expected mqtt://host:port or mqtts://host:port)`);
  }
  if (url && !MQTT_SCHEMES.has(url.protocol)) {
    problems.push(`/platform/mqttUrl: scheme "${url.protocol}" is not one of mqtt:, mqtts:, ws:, wss:`);
  }
  if (url && !url.hostname) problems.push('/platform/mqttUrl: has no host');
  // The URL is logged and shown (`config show`, `lectern status`); credentials belong in the
  // settings that are kept out of both.
  if (url && (url.username || url.password)) {
    problems.push('/platform/mqttUrl: must not contain a user name or password; set platform.username and platform.password instead');
  }
  if (config.platform.reconnectMaxSec < config.platform.reconnectMinSec) {
    problems.push('/platform/reconnectMaxSec: must not be less than reconnectMinSec');
  }
  if (Boolean(config.platform.certFile) !== Boolean(config.platform.keyFile)) {
    problems.push('/platform/certFile, /platform/keyFile: a client certificate needs both the certificate and its key');
  }
  for (const field of ['caFile', 'certFile', 'keyFile'] as const) {
    const path = config.platform[field];
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (e) {
      problems.push(`/platform/${field}: cannot read "${path}" (${errorMessage(e)})`);
    }
  }
  problems.push(...checkUploads(config));
  // The data dir holds the state database and, unless media.recording.dir says otherwise, the
  // recordings, whose path goes into the recording pipeline: no control characters here.
  const control = [...config.dataDir].find((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
  if (control !== undefined) problems.push(`/dataDir: contains a control character (U+${control.charCodeAt(0).toString(16).padStart(4, '0')})`);
  if (config.media && control === undefined) {
    // Checked exactly as the agent will use them, recordings dir included.
    const ownDir = config.media.recording?.dir !== undefined;
    try {
      resolveMediaConfig(lessonMediaInput(config.media, resolve(config.dataDir)), 'media settings', config.deviceId);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) {
        if (!ownDir && p.startsWith('recording.dir: ')) problems.push(`/dataDir: recordings go to ${join(resolve(config.dataDir), 'recordings')}, which ${p.slice('recording.dir: '.length)}`);
        else problems.push(p.startsWith('/media') ? p : `/media: ${p}`);
      }
    }
  }
  if (config.microphone) problems.push(...checkMicrophoneConfig(config.microphone, config.cameras.map((c) => c.id)));
  problems.push(...checkCameraConfigs(config.cameras).map((p) => `/${p.replace(/^cameras\[(\d+)\]\./, 'cameras/$1/')}`));
  if (config.display) problems.push(...checkDisplayConfig(config.display).map((p) => `/display/${p}`));
  if (problems.length) throw new ConfigError(`${source} is invalid`, problems);
  config.dataDir = resolve(config.dataDir);
  return config;
}

/** The upload settings' cross-field rules. */
function checkUploads(config: Config): string[] {
  const u = config.uploads;
  const problems: string[] = [];
  if (u.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(u.endpoint);
    } catch {
      problems.push(`/uploads/endpoint: "${u.endpoint}" is not a URL (expected https://host[:port])`);
    }
    if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`/uploads/endpoint: scheme "${url.protocol}" is not http: or https:`);
    if (url && (url.username || url.password)) problems.push('/uploads/endpoint: put credentials in accessKeyId and secretAccessKey, not in the URL');
    if (u.bucket === undefined) problems.push('/uploads/bucket: an endpoint needs a bucket');
  } else if (u.bucket !== undefined) {
    problems.push('/uploads/endpoint: a bucket needs an endpoint');
  }
  if (Boolean(u.accessKeyId) !== Boolean(u.secretAccessKey)) problems.push('/uploads/accessKeyId, /uploads/secretAccessKey: give both or neither');
  if (u.retryMaxSec < u.retryMinSec) problems.push('/uploads/retryMaxSec: must not be less than retryMinSec');
  return problems;
}

/** The media settings a lesson runs with: recordings under `<dataDir>/recordings` unless set. */
export function lessonMediaInput(media: MediaConfigInput, dataDir: string): MediaConfigInput {
  return { ...media, recording: { dir: join(dataDir, 'recordings'), ...media.recording } };
}

/** Reads and parses a config file; a JSON syntax error names the line and column. */
export function readConfigFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${errorMessage(e)}`);
  }
  try {
    return JSON.parse(text) as ConfigInput;
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${describeJsonError(text, e)}`);
  }
}

function describeJsonError(text: string, e: unknown): string {
  const msg = errorMessage(e);
  const m = /position (\d+)/.exec(msg);
  if (!m) return msg;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${msg} (line ${line}, column ${column})`;
}

/** Applies command-line overrides on top of a file's content (or the embedded defaults). */
export function applyOverrides(input: ConfigInput, overrides: ConfigOverrides): ConfigInput {
  const out: ConfigInput = { ...input, platform: { ...input.platform } };
  if (overrides.deviceId !== undefined) out.deviceId = overrides.deviceId;
  if (overrides.dataDir !== undefined) out.dataDir = overrides.dataDir;
  if (overrides.logLevel !== undefined) out.logLevel = overrides.logLevel as Config['logLevel'];
  if (overrides.mqttUrl !== undefined) out.platform = { ...out.platform, mqttUrl: overrides.mqttUrl };
  return out;
}

/** The embedded defaults of a simulated classroom kit: runs on a bare machine with no file. */
export function simulatedKitConfig(): ConfigInput {
  return {
    deviceId: 'SIM-LOCAL-R001',
    school: '模拟学校 (simulated school)',
    room: 'R001 simulated recording classroom',
    role: 'both',
    dataDir: '.lectern-sim',
    // Frequent enough to watch by hand.
    platform: { heartbeatIntervalSec: 10 },
  };
}

export function loadConfig(opts: { file?: string; simulate?: boolean; overrides?: ConfigOverrides; placeholderUrl?: string }): Config {
  let input: ConfigInput = opts.file ? readConfigFile(opts.file) : opts.simulate ? simulatedKitConfig() : {};
  input = applyOverrides(input, opts.overrides ?? {});
  if (opts.placeholderUrl && !input.platform?.mqttUrl) {
    input = { ...input, platform: { ...input.platform, mqttUrl: opts.placeholderUrl } };
  }
  return validateConfigObject(input, opts.file ?? (opts.simulate ? 'simulated kit config' : 'config'));
}

/** Shown by `lectern config show`: the effective config with secrets hidden. */
export function redactConfig(config: Config): Config {
  const platform = { ...config.platform };
  if (platform.password) platform.password = '[hidden]';
  const uploads = { ...config.uploads };
  if (uploads.secretAccessKey) uploads.secretAccessKey = '[hidden]';
  return { ...config, platform, uploads };
}
