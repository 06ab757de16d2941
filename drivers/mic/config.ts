/**
 * The `microphone` section of the config: which USB microphone, its vendor controls applied at
 * each lesson start, and optional voice tracking. A JSON Schema fragment for the agent's Ajv
 * validation (defaults filled in there) plus the cross-field rules a schema cannot say.
 */
import { KNOWN_MODELS, modelByKey, type MicMatch } from './models.js';
import { zoneOverlaps, type VoiceZone } from './voice-tracking.js';

export interface MicControlsConfig {
  /** Automatic gain control on or off. */
  agc?: boolean;
  /** AGC gain factor (linear, 0–1000). */
  agcGain?: number;
  stationaryNoiseSuppression?: boolean;
  nonStationaryNoiseSuppression?: boolean;
  echoSuppression?: boolean;
}

export interface VoiceTrackingConfig {
  /** The camera (its config id) that turns to the speaker, usually `students`. */
  camera: string;
  zones: VoiceZone[];
  /** Degrees either side of the current zone within which the camera stays. */
  hysteresisDeg: number;
  /** A new direction must be heard this long before the camera turns. */
  settleSec: number;
  /** After a move the camera stays at least this long. */
  holdSec: number;
  /** Back to this preset after `idleSec` without voice (none: stay). */
  idlePreset?: number;
  idleSec: number;
  /** How often the microphone is asked for direction and voice activity. */
  pollMs: number;
}

export interface MicrophoneConfig {
  /** The device's name in heartbeats and events. */
  id: string;
  /** Which microphone: by model, VID/PID (hex), serial; none = the array microphone, else any. */
  match?: MicMatch;
  controls: MicControlsConfig;
  voiceTracking?: VoiceTrackingConfig;
}

/** The section as written by a person: everything with a default may be left out. */
export type MicrophoneConfigInput = Partial<Omit<MicrophoneConfig, 'voiceTracking'>> & {
  voiceTracking?: Partial<VoiceTrackingConfig> & Pick<VoiceTrackingConfig, 'camera' | 'zones'>;
};

const HEX4 = '^(0x)?[0-9a-fA-F]{4}$';

/** JSON Schema (draft 2020-12) for the `microphone` section. */
export const microphoneConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'controls'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', default: 'microphone' },
    match: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        vid: { type: 'string', pattern: HEX4, description: 'vendor id in hex, as lsusb prints it, e.g. 2886' },
        pid: { type: 'string', pattern: HEX4, description: 'product id in hex, e.g. 0018' },
        model: { type: 'string', enum: KNOWN_MODELS.map((m) => m.key) },
        serial: { type: 'string', minLength: 1, maxLength: 128 },
      },
    },
    controls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        agc: { type: 'boolean' },
        agcGain: { type: 'number', minimum: 0, maximum: 1000 },
        stationaryNoiseSuppression: { type: 'boolean' },
        nonStationaryNoiseSuppression: { type: 'boolean' },
        echoSuppression: { type: 'boolean' },
      },
      default: {},
    },
    voiceTracking: {
      type: 'object',
      additionalProperties: false,
      required: ['camera', 'zones', 'hysteresisDeg', 'settleSec', 'holdSec', 'idleSec', 'pollMs'],
      properties: {
        camera: { type: 'string', minLength: 1, maxLength: 32 },
        zones: {
          type: 'array',
          minItems: 1,
          maxItems: 16,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['fromDeg', 'toDeg', 'preset'],
            properties: {
              fromDeg: { type: 'integer', minimum: 0, maximum: 360 },
              toDeg: { type: 'integer', minimum: 0, maximum: 360 },
              preset: { type: 'integer', minimum: 0, maximum: 254 },
              name: { type: 'string', minLength: 1, maxLength: 64 },
            },
          },
        },
        hysteresisDeg: { type: 'number', minimum: 0, maximum: 90, default: 10 },
        settleSec: { type: 'number', minimum: 0, maximum: 30, default: 0.8 },
        holdSec: { type: 'number', minimum: 0, maximum: 600, default: 4 },
        idlePreset: { type: 'integer', minimum: 0, maximum: 254 },
        idleSec: { type: 'number', minimum: 1, maximum: 3600, default: 30 },
        pollMs: { type: 'integer', minimum: 50, maximum: 10_000, default: 200 },
      },
    },
  },
} as const;

/**
 * Rules across fields and sections: the voice-tracking camera exists, zones do not overlap,
 * controls are not asked of a model that has none. Paths as in the config file.
 */
export function checkMicrophoneConfig(c: MicrophoneConfig, cameraIds: readonly string[]): string[] {
  const problems: string[] = [];
  const model = c.match?.model ? modelByKey(c.match.model) : undefined;
  const controls = Object.keys(c.controls).filter((k) => c.controls[k as keyof MicControlsConfig] !== undefined);
  if (model && !model.protocol && controls.length > 0) {
    problems.push(`/microphone/controls: ${model.name} has no vendor controls (${controls.join(', ')} cannot be applied)`);
  }
  if (model && c.match?.vid !== undefined && parseInt(c.match.vid.replace(/^0x/i, ''), 16) !== model.vendorId) {
    problems.push(`/microphone/match/vid: ${c.match.vid} is not the vendor id of model ${model.key}`);
  }
  if (model && c.match?.pid !== undefined && parseInt(c.match.pid.replace(/^0x/i, ''), 16) !== model.productId) {
    problems.push(`/microphone/match/pid: ${c.match.pid} is not the product id of model ${model.key}`);
  }
  const vt = c.voiceTracking;
  if (vt) {
    if (!cameraIds.includes(vt.camera)) {
      problems.push(
        `/microphone/voiceTracking/camera: "${vt.camera}" is not a configured camera (${cameraIds.length ? `cameras: ${cameraIds.join(', ')}` : 'no cameras are configured'})`,
      );
    }
    if (model && !model.capabilities.includes('doa')) problems.push(`/microphone/voiceTracking: ${model.name} does not report the direction of arrival`);
    vt.zones.forEach((z, i) => {
      if (z.fromDeg % 360 === z.toDeg % 360 && vt.zones.length > 1) problems.push(`/microphone/voiceTracking/zones/${i}: a zone from ${z.fromDeg} to ${z.toDeg} is the whole circle; it leaves no room for other zones`);
    });
    for (const o of zoneOverlaps(vt.zones)) problems.push(`/microphone/voiceTracking/zones: ${o}`);
  }
  return problems;
}
