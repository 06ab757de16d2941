// The device's config file: one JSON document, validated against this schema before anything
// starts. Defaults here are the documented defaults (README "Configuration"); Ajv fills them in.
import type { SchemaObject } from 'ajv';
import { camerasConfigSchema, type CameraConfig } from '../../drivers/visca/config.js';
import { displayConfigSchema, type DisplayConfig } from '../../drivers/display/config.js';
import type { MediaConfigInput } from '../../pipelines/config.js';
import { microphoneConfigSchema, type MicrophoneConfig, type MicrophoneConfigInput } from '../../drivers/mic/config.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface PlatformConfig {
  /** `mqtt://host:1883` or `mqtts://host:8883` (also ws/wss). */
  mqttUrl: string;
  /** 5 = MQTT 5 (preferred), 4 = MQTT 3.1.1 for older city brokers. */
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  /** PEM files for TLS: the platform's CA, and this device's certificate and key for mTLS. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Check the broker's certificate (leave on outside a lab). */
  rejectUnauthorized: boolean;
  keepaliveSec: number;
  connectTimeoutSec: number;
  heartbeatIntervalSec: number;
  reconnectMinSec: number;
  reconnectMaxSec: number;
  /** Broker-side session kept this long while the device is offline (MQTT 5), so commands wait. */
  sessionExpirySec: number;
}

export interface OutboxConfig {
  /** Messages in flight at once (sent, waiting for PUBACK); the broker's Receive Maximum caps it. */
  window: number;
  /** Oldest events (never lesson records) are dropped past this many pending messages. */
  maxPendingEvents: number;
}

export interface LessonsConfig {
  /** Stream uptime (% of the scheduled time) from which a lesson is `effective`. */
  effectiveThresholdPct: number;
  /** Seconds before the bell to recall the camera preset and bring the pipelines up. */
  preRollSec: number;
  /** Seconds before the bell to run the readiness check (camera, uplink, disk…). */
  readinessLeadSec: number;
}

export interface DeviceHealthConfig {
  /**
   * A device's change between working and broken is reported (device.fault / device.recovered)
   * once it has lasted this long: a device that drops and returns within it raises no events.
   */
  debounceSec: number;
}

export interface UploadsConfig {
  /** The platform's S3-compatible object store, `https://host[:port]`; without it nothing is uploaded (recordings stay cached). */
  endpoint?: string;
  region: string;
  bucket?: string;
  /** Object keys are `<prefix>/<deviceId>/<date>/<lesson>/seg-00001.ts` (and `manifest.json`). */
  prefix: string;
  accessKeyId?: string;
  /** Never logged; `lectern config show` prints it as [hidden]. */
  secretAccessKey?: string;
  /** Path-style URLs (`endpoint/bucket/key`), as MinIO and most self-hosted stores want. */
  forcePathStyle: boolean;
  /** Multipart part size; S3 wants at least 5 MiB for every part but the last. */
  partSizeBytes: number;
  /** Bandwidth cap while a lesson is live and during the spread after it (kbit/s); 0 pauses uploads then. */
  liveKbps: number;
  /** Bandwidth cap otherwise (kbit/s); 0 is no cap. */
  idleKbps: number;
  /** Uploads wait a random delay of up to this many seconds after a lesson ends (and at start-up). */
  spreadSec: number;
  retryMinSec: number;
  retryMaxSec: number;
  /** A segment the store refused outright is tried again after this (or at `uploads.retry`). */
  failedRetrySec: number;
  /** A request with no progress for this long is given up (and retried). */
  requestTimeoutSec: number;
  /** Parts sent at once when no cap applies (each holds a part in memory). */
  concurrentParts: number;
}

export interface CacheConfig {
  /** Most bytes the cached recordings may take. */
  maxCacheBytes: number;
  /** Free space to keep on the data dir's disk. */
  minFreeBytes: number;
  /** What one lesson is expected to take; `disk.low` is reported when the next one would not fit. */
  lessonReserveBytes: number;
}

export interface Config {
  deviceId: string;
  school?: string;
  room?: string;
  role: 'lecture' | 'listen' | 'both';
  /** IANA zone used for dates when no timetable applies. */
  timezone: string;
  dataDir: string;
  logLevel: LogLevel;
  platform: PlatformConfig;
  outbox: OutboxConfig;
  lessons: LessonsConfig;
  /** PTZ cameras on VISCA (serial, VISCA over IP, raw TCP), by name. */
  cameras: CameraConfig[];
  /** Lesson media (sources, encoder, uplink, recording, listening room); checked by pipelines/config.ts. */
  media?: MediaConfigInput;
  /** The USB microphone: which one, its vendor controls, voice tracking (drivers/mic/config.ts). */
  microphone?: MicrophoneConfig;
  deviceHealth: DeviceHealthConfig;
  /** The classroom display (interactive panel) on RS-232 or HDMI-CEC; none: no display control. */
  display?: DisplayConfig;
  /** Upload of the cached recordings to the platform's object store. */
  uploads: UploadsConfig;
  /** Quota of the recording cache. */
  cache: CacheConfig;
}

/** The config file as written by a person: everything with a default may be left out. */
export type ConfigInput = Partial<Omit<Config, 'platform' | 'outbox' | 'lessons' | 'cameras' | 'media' | 'microphone' | 'deviceHealth' | 'display' | 'uploads' | 'cache'>> & {
  microphone?: MicrophoneConfigInput;
  deviceHealth?: Partial<DeviceHealthConfig>;
  uploads?: Partial<UploadsConfig>;
  cache?: Partial<CacheConfig>;
  media?: MediaConfigInput;
  display?: Omit<DisplayConfig, 'powerOffAfterLastLesson'> & { powerOffAfterLastLesson?: boolean };
  cameras?: CameraConfig[];
  platform?: Partial<PlatformConfig>;
  outbox?: Partial<OutboxConfig>;
  lessons?: Partial<LessonsConfig>;
};

export const DEFAULT_DATA_DIR = '/var/lib/lectern';
export const DEFAULT_CONFIG_FILE = '/etc/lectern/config.json';

export const configSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['deviceId', 'role', 'timezone', 'dataDir', 'logLevel', 'platform', 'outbox', 'lessons', 'cameras', 'deviceHealth', 'uploads', 'cache'],
  properties: {
    deviceId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$' },
    school: { type: 'string', maxLength: 128 },
    room: { type: 'string', maxLength: 128 },
    role: { type: 'string', enum: ['lecture', 'listen', 'both'], default: 'both' },
    timezone: { type: 'string', minLength: 1, maxLength: 64, default: 'Asia/Shanghai' },
    dataDir: { type: 'string', minLength: 1, maxLength: 4096, default: DEFAULT_DATA_DIR },
    logLevel: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
    },
    platform: {
      type: 'object',
      additionalProperties: false,
      required: [
        'mqttUrl',
        'protocolVersion',
        'rejectUnauthorized',
        'keepaliveSec',
        'connectTimeoutSec',
        'heartbeatIntervalSec',
        'reconnectMinSec',
        'reconnectMaxSec',
        'sessionExpirySec',
      ],
      properties: {
        mqttUrl: { type: 'string', minLength: 1, maxLength: 2048 },
        protocolVersion: { type: 'integer', enum: [4, 5], default: 5 },
        username: { type: 'string', maxLength: 256 },
        password: { type: 'string', maxLength: 1024 },
        caFile: { type: 'string', maxLength: 4096 },
        certFile: { type: 'string', maxLength: 4096 },
        keyFile: { type: 'string', maxLength: 4096 },
        rejectUnauthorized: { type: 'boolean', default: true },
        keepaliveSec: { type: 'integer', minimum: 5, maximum: 600, default: 30 },
        connectTimeoutSec: { type: 'integer', minimum: 1, maximum: 120, default: 10 },
        heartbeatIntervalSec: { type: 'integer', minimum: 5, maximum: 600, default: 30 },
        reconnectMinSec: { type: 'number', exclusiveMinimum: 0, maximum: 600, default: 1 },
        reconnectMaxSec: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 60 },
        sessionExpirySec: { type: 'integer', minimum: 0, maximum: 604800, default: 86400 },
      },
      default: {},
    },
    outbox: {
      type: 'object',
      additionalProperties: false,
      required: ['window', 'maxPendingEvents'],
      properties: {
        window: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        maxPendingEvents: { type: 'integer', minimum: 100, maximum: 10_000_000, default: 100_000 },
      },
      default: {},
    },
    lessons: {
      type: 'object',
      additionalProperties: false,
      required: ['effectiveThresholdPct', 'preRollSec', 'readinessLeadSec'],
      properties: {
        effectiveThresholdPct: { type: 'number', minimum: 0, maximum: 100, default: 80 },
        preRollSec: { type: 'integer', minimum: 0, maximum: 1800, default: 120 },
        readinessLeadSec: { type: 'integer', minimum: 0, maximum: 7200, default: 600 },
      },
      default: {},
    },
    cameras: { ...camerasConfigSchema, maxItems: 8, default: [] },
    // Checked in full (schema and cross-field rules) by pipelines/config.ts's resolveMediaConfig.
    media: { type: 'object' },
    microphone: microphoneConfigSchema,
    deviceHealth: {
      type: 'object',
      additionalProperties: false,
      required: ['debounceSec'],
      properties: {
        debounceSec: { type: 'number', minimum: 0, maximum: 600, default: 10 },
      },
      default: {},
    },
    // Cross-field rules (input codes, command table, lesson input) in drivers/display/config.ts.
    display: displayConfigSchema,
    uploads: {
      type: 'object',
      additionalProperties: false,
      required: ['region', 'prefix', 'forcePathStyle', 'partSizeBytes', 'liveKbps', 'idleKbps', 'spreadSec', 'retryMinSec', 'retryMaxSec', 'failedRetrySec', 'requestTimeoutSec', 'concurrentParts'],
      properties: {
        endpoint: { type: 'string', minLength: 1, maxLength: 2048 },
        region: { type: 'string', minLength: 1, maxLength: 64, default: 'us-east-1' },
        bucket: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
        prefix: { type: 'string', maxLength: 256, pattern: '^[A-Za-z0-9/_.-]*$', default: 'recordings' },
        accessKeyId: { type: 'string', minLength: 1, maxLength: 256 },
        secretAccessKey: { type: 'string', minLength: 1, maxLength: 1024 },
        forcePathStyle: { type: 'boolean', default: true },
        partSizeBytes: { type: 'integer', minimum: 5 * 1024 * 1024, maximum: 512 * 1024 * 1024, default: 8 * 1024 * 1024 },
        liveKbps: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 1000 },
        idleKbps: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 0 },
        spreadSec: { type: 'integer', minimum: 0, maximum: 3600, default: 300 },
        retryMinSec: { type: 'number', exclusiveMinimum: 0, maximum: 3600, default: 5 },
        retryMaxSec: { type: 'number', exclusiveMinimum: 0, maximum: 86400, default: 600 },
        failedRetrySec: { type: 'integer', minimum: 1, maximum: 604800, default: 3600 },
        requestTimeoutSec: { type: 'integer', minimum: 5, maximum: 3600, default: 120 },
        concurrentParts: { type: 'integer', minimum: 1, maximum: 8, default: 2 },
      },
      default: {},
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      required: ['maxCacheBytes', 'minFreeBytes', 'lessonReserveBytes'],
      properties: {
        maxCacheBytes: { type: 'integer', minimum: 0, default: 32 * 1024 ** 3 },
        minFreeBytes: { type: 'integer', minimum: 0, default: 2 * 1024 ** 3 },
        lessonReserveBytes: { type: 'integer', minimum: 0, default: 1_500_000_000 },
      },
      default: {},
    },
  },
};
