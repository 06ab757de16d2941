/**
 * Media settings: sources, encoders, uplink, recording, playback. `mediaConfigSchema` is a JSON
 * Schema fragment (defaults included) meant to become the `media` section of the agent's config;
 * `checkMediaConfig` adds the rules a schema cannot say (URL templates, paths, device names), using
 * the same checks the description builder applies, so a bad setting is reported at load time.
 */
import type { SchemaObject } from 'ajv';
import { join } from 'node:path';
import { createAjv, describeErrors } from '../agent/contract/validate.js';
import { ConfigError, UnsafeValueError } from '../agent/errors.js';
import { checkAbsolutePath, checkAlsaDevice, checkDevicePath, checkPulseDevice } from './safe.js';
import { checkRtspUrl, expandTemplate, parseRtmpUrl, parseSrtUrl } from './urls.js';

export const H264_ENCODERS = ['vaapih264enc', 'nvh264enc', 'v4l2h264enc', 'x264enc'] as const;
export type H264EncoderName = (typeof H264_ENCODERS)[number];

export const AAC_ENCODERS = ['avenc_aac', 'voaacenc'] as const;
export type AacEncoderName = (typeof AAC_ENCODERS)[number];

export const VIDEO_SINKS = ['auto', 'kms', 'xv', 'ximage', 'gl', 'wayland', 'fake'] as const;
export type VideoSinkKind = (typeof VIDEO_SINKS)[number];

export const AUDIO_SINKS = ['auto', 'alsa', 'pulse', 'fake'] as const;
export type AudioSinkKind = (typeof AUDIO_SINKS)[number];

export const H264_DECODERS = ['avdec_h264', 'vaapih264dec', 'v4l2h264dec'] as const;
export type H264DecoderName = (typeof H264_DECODERS)[number];

export const TEST_PATTERNS = ['ball', 'smpte', 'snow', 'bar', 'pinwheel', 'gradient', 'colors'] as const;
export type TestPattern = (typeof TEST_PATTERNS)[number];

export interface VideoSourceConfig {
  /** `v4l2` USB/UVC camera, `hdmi` capture card (also V4L2), `rtsp` IP camera, `test` pattern. */
  type: 'v4l2' | 'hdmi' | 'rtsp' | 'test';
  /** V4L2 device node (v4l2, hdmi). */
  device: string;
  /** What the V4L2 device delivers: raw frames or MJPEG (most USB cameras at 720p30). */
  format: 'raw' | 'mjpeg';
  /** Capture size and rate asked of a V4L2 device; the output size is `output`. */
  width: number;
  height: number;
  fps: number;
  /** RTSP camera URL (rtsp). */
  url?: string;
  /** RTSP jitter buffer (rtsp). */
  latencyMs: number;
  /** RTSP stream codec (rtsp). */
  codec: 'h264' | 'h265';
  /** RTSP transport: `tcp` survives NAT and lossy Wi-Fi better; `auto` lets rtspsrc choose. */
  transport: 'auto' | 'tcp' | 'udp';
  /** Test pattern (test). */
  pattern: TestPattern;
  /** Overlay on the test pattern: wall clock, running time, or nothing. */
  overlay: 'clock' | 'time' | 'none';
}

export interface AudioSourceConfig {
  type: 'alsa' | 'pulse' | 'test';
  /** ALSA PCM (`hw:1,0`, `plughw:CARD=Array,DEV=0`) or PulseAudio source name; empty = default. */
  device?: string;
  channels: number;
  /** Test source (test): a tone, or silence (to try the silence alarm). */
  testWave: 'sine' | 'silence';
  /** Test tone frequency (test). */
  freq: number;
}

export interface OutputConfig {
  width: number;
  height: number;
  fps: number;
}

export interface EncoderConfig {
  /** Tried in order; the first that exists and encodes a test clip is used (x264enc always works). */
  preference: H264EncoderName[];
  keyframeSec: number;
  profile: 'baseline' | 'main' | 'high';
  /** x264 speed preset; `veryfast` keeps 720p30 under one core of a small x86 mini PC. */
  x264Preset: 'ultrafast' | 'superfast' | 'veryfast' | 'faster';
}

export interface AudioEncoderConfig {
  /** AAC for MPEG-TS/RTMP (what media servers expect); Opus only over SRT. */
  codec: 'aac' | 'opus';
  bitrateKbps: number;
  aacPreference: AacEncoderName[];
}

export interface BitrateConfig {
  floorKbps: number;
  startKbps: number;
  ceilingKbps: number;
}

export interface UplinkConfig {
  enabled: boolean;
  protocol: 'srt' | 'rtmp';
  /** `srt://media.example:10080?streamid=#!::r=live/{deviceId},m=publish`; empty = not configured. */
  urlTemplate: string;
  latencyMs: number;
  bitrate: BitrateConfig;
  /** Adapt the encoder's bitrate to the SRT link (RTT, loss, bandwidth). */
  adaptive: boolean;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** An outage longer than this shows as `failed` instead of `reconnecting` in heartbeats. */
  failedAfterSec: number;
}

export interface RecordingConfig {
  enabled: boolean;
  dir: string;
  segmentSec: number;
  /**
   * With an adaptive uplink, encode the recording separately at the ceiling bitrate, so that a
   * weak 5G link lowers the stream and never the recording (a second encode; default true).
   */
  fullQuality: boolean;
}

export interface ListenConfig {
  protocol: 'srt' | 'rtmp';
  /** `srt://media.example:10080?streamid=#!::r=live/{peerRoomId},m=request`; empty = not configured. */
  urlTemplate: string;
  latencyMs: number;
  videoSink: VideoSinkKind;
  audioSink: AudioSinkKind;
  /** ALSA PCM or PulseAudio sink for the loudspeakers; empty = default. */
  audioDevice?: string;
  decoder: H264DecoderName;
  /** A lecture room also plays its peer's return stream (remote audio for interaction). */
  playInLecture: boolean;
  /** No decoded frame for this long restarts playback. */
  stallSec: number;
}

export interface AudioProcessingConfig {
  /** Echo cancellation and noise suppression (webrtcdsp) whenever the room also plays audio. */
  echoCancel: boolean;
  noiseSuppression: boolean;
}

export interface MonitorConfig {
  levelIntervalMs: number;
  /** Loudest channel's RMS below this counts as silence. */
  silenceThresholdDb: number;
  silenceAfterSec: number;
  statsIntervalMs: number;
}

export interface SourceRestartConfig {
  minMs: number;
  maxMs: number;
}

export interface MediaConfig {
  video: VideoSourceConfig;
  audio: AudioSourceConfig;
  output: OutputConfig;
  encoder: EncoderConfig;
  audioEncoder: AudioEncoderConfig;
  uplink: UplinkConfig;
  recording: RecordingConfig;
  listen: ListenConfig;
  processing: AudioProcessingConfig;
  monitor: MonitorConfig;
  sourceRestart: SourceRestartConfig;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends (infer U)[] ? U[] : T[K] extends object ? DeepPartial<T[K]> : T[K] };
/** The media settings as written by a person: everything with a default may be left out. */
export type MediaConfigInput = DeepPartial<MediaConfig>;

export const DEFAULT_RECORDING_DIR = '/var/lib/lectern/recordings';

const int = (minimum: number, maximum: number, dflt: number): SchemaObject => ({ type: 'integer', minimum, maximum, default: dflt });

export const mediaConfigSchema: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  properties: {
    video: {
      type: 'object',
      additionalProperties: false,
      properties: {
        type: { type: 'string', enum: ['v4l2', 'hdmi', 'rtsp', 'test'], default: 'v4l2' },
        device: { type: 'string', minLength: 1, maxLength: 256, default: '/dev/video0' },
        format: { type: 'string', enum: ['raw', 'mjpeg'], default: 'mjpeg' },
        width: int(160, 3840, 1280),
        height: int(120, 2160, 720),
        fps: int(1, 60, 30),
        url: { type: 'string', minLength: 1, maxLength: 1024 },
        latencyMs: int(0, 5000, 200),
        codec: { type: 'string', enum: ['h264', 'h265'], default: 'h264' },
        transport: { type: 'string', enum: ['auto', 'tcp', 'udp'], default: 'tcp' },
        pattern: { type: 'string', enum: [...TEST_PATTERNS], default: 'ball' },
        overlay: { type: 'string', enum: ['clock', 'time', 'none'], default: 'clock' },
      },
      default: {},
    },
    audio: {
      type: 'object',
      additionalProperties: false,
      properties: {
        type: { type: 'string', enum: ['alsa', 'pulse', 'test'], default: 'alsa' },
        device: { type: 'string', minLength: 1, maxLength: 256 },
        channels: int(1, 8, 1),
        testWave: { type: 'string', enum: ['sine', 'silence'], default: 'sine' },
        freq: int(20, 20000, 440),
      },
      default: {},
    },
    output: {
      type: 'object',
      additionalProperties: false,
      properties: { width: int(160, 3840, 1280), height: int(120, 2160, 720), fps: int(1, 60, 30) },
      default: {},
    },
    encoder: {
      type: 'object',
      additionalProperties: false,
      properties: {
        preference: {
          type: 'array',
          items: { type: 'string', enum: [...H264_ENCODERS] },
          minItems: 1,
          maxItems: 4,
          uniqueItems: true,
          default: ['vaapih264enc', 'nvh264enc', 'x264enc'],
        },
        keyframeSec: int(1, 10, 2),
        profile: { type: 'string', enum: ['baseline', 'main', 'high'], default: 'main' },
        x264Preset: { type: 'string', enum: ['ultrafast', 'superfast', 'veryfast', 'faster'], default: 'veryfast' },
      },
      default: {},
    },
    audioEncoder: {
      type: 'object',
      additionalProperties: false,
      properties: {
        codec: { type: 'string', enum: ['aac', 'opus'], default: 'aac' },
        bitrateKbps: int(16, 320, 128),
        aacPreference: {
          type: 'array',
          items: { type: 'string', enum: [...AAC_ENCODERS] },
          minItems: 1,
          uniqueItems: true,
          default: ['avenc_aac', 'voaacenc'],
        },
      },
      default: {},
    },
    uplink: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        protocol: { type: 'string', enum: ['srt', 'rtmp'], default: 'srt' },
        urlTemplate: { type: 'string', maxLength: 2048, default: '' },
        latencyMs: int(20, 8000, 300),
        bitrate: {
          type: 'object',
          additionalProperties: false,
          properties: { floorKbps: int(100, 50000, 600), startKbps: int(100, 50000, 2000), ceilingKbps: int(100, 50000, 3000) },
          default: {},
        },
        adaptive: { type: 'boolean', default: true },
        reconnectMinMs: int(100, 600000, 1000),
        reconnectMaxMs: int(100, 600000, 30000),
        failedAfterSec: int(1, 3600, 60),
      },
      default: {},
    },
    recording: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', minLength: 1, maxLength: 1024, default: DEFAULT_RECORDING_DIR },
        segmentSec: int(2, 3600, 60),
        fullQuality: { type: 'boolean', default: true },
      },
      default: {},
    },
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        protocol: { type: 'string', enum: ['srt', 'rtmp'], default: 'srt' },
        urlTemplate: { type: 'string', maxLength: 2048, default: '' },
        latencyMs: int(20, 8000, 300),
        videoSink: { type: 'string', enum: [...VIDEO_SINKS], default: 'auto' },
        audioSink: { type: 'string', enum: [...AUDIO_SINKS], default: 'auto' },
        audioDevice: { type: 'string', minLength: 1, maxLength: 256 },
        decoder: { type: 'string', enum: [...H264_DECODERS], default: 'avdec_h264' },
        playInLecture: { type: 'boolean', default: false },
        stallSec: int(2, 600, 10),
      },
      default: {},
    },
    processing: {
      type: 'object',
      additionalProperties: false,
      properties: { echoCancel: { type: 'boolean', default: true }, noiseSuppression: { type: 'boolean', default: true } },
      default: {},
    },
    monitor: {
      type: 'object',
      additionalProperties: false,
      properties: {
        levelIntervalMs: int(50, 10000, 500),
        silenceThresholdDb: { type: 'number', minimum: -120, maximum: 0, default: -50 },
        silenceAfterSec: int(1, 3600, 30),
        statsIntervalMs: int(200, 60000, 1000),
      },
      default: {},
    },
    sourceRestart: {
      type: 'object',
      additionalProperties: false,
      properties: { minMs: int(100, 600000, 1000), maxMs: int(100, 600000, 30000) },
      default: {},
    },
  },
  default: {},
};

/**
 * The rules a schema cannot say; each problem starts with the setting's path. `ids` lets the
 * templates be checked with the real device id (the placeholder check runs either way).
 */
export function checkMediaConfig(config: MediaConfig, deviceId = 'CHECK-DEVICE-ID'): string[] {
  const problems: string[] = [];
  const attempt = (fn: () => unknown): void => {
    try {
      fn();
    } catch (e) {
      if (e instanceof UnsafeValueError) problems.push(e.message);
      else throw e;
    }
  };
  const v = config.video;
  if (v.type === 'v4l2' || v.type === 'hdmi') attempt(() => checkDevicePath(v.device, 'video.device'));
  if (v.type === 'rtsp') {
    if (!v.url) problems.push('video.url: is required for an RTSP camera');
    else attempt(() => checkRtspUrl(v.url!, 'video.url'));
  }
  const a = config.audio;
  if (a.device !== undefined) {
    if (a.type === 'alsa') attempt(() => checkAlsaDevice(a.device!, 'audio.device'));
    if (a.type === 'pulse') attempt(() => checkPulseDevice(a.device!, 'audio.device'));
  }
  if (config.output.width % 2 || config.output.height % 2) problems.push('output: width and height must be even (4:2:0 video)');
  const u = config.uplink;
  if (u.urlTemplate) {
    attempt(() => {
      const url = expandTemplate(u.urlTemplate, { deviceId, peerRoomId: 'CHECK-PEER-ID' }, 'uplink.urlTemplate');
      return u.protocol === 'srt' ? parseSrtUrl(url, 'uplink.urlTemplate') : parseRtmpUrl(url, 'uplink.urlTemplate');
    });
  }
  const b = u.bitrate;
  if (!(b.floorKbps <= b.startKbps && b.startKbps <= b.ceilingKbps)) {
    problems.push('uplink.bitrate: needs floorKbps <= startKbps <= ceilingKbps');
  }
  if (u.reconnectMaxMs < u.reconnectMinMs) problems.push('uplink.reconnectMaxMs: must not be less than reconnectMinMs');
  if (u.protocol === 'rtmp' && config.audioEncoder.codec !== 'aac') problems.push('audioEncoder.codec: RTMP carries AAC only');
  if (config.recording.enabled) attempt(() => checkAbsolutePath(config.recording.dir, 'recording.dir'));
  const l = config.listen;
  if (l.urlTemplate) {
    attempt(() => {
      const url = expandTemplate(l.urlTemplate, { deviceId, peerRoomId: 'CHECK-PEER-ID' }, 'listen.urlTemplate');
      return l.protocol === 'srt' ? parseSrtUrl(url, 'listen.urlTemplate') : parseRtmpUrl(url, 'listen.urlTemplate');
    });
  }
  if (l.audioDevice !== undefined) {
    if (l.audioSink === 'alsa') attempt(() => checkAlsaDevice(l.audioDevice!, 'listen.audioDevice'));
    else if (l.audioSink === 'pulse') attempt(() => checkPulseDevice(l.audioDevice!, 'listen.audioDevice'));
  }
  if (config.sourceRestart.maxMs < config.sourceRestart.minMs) problems.push('sourceRestart.maxMs: must not be less than minMs');
  return problems;
}

/**
 * Fills in defaults and checks everything; throws one ConfigError listing every problem. The
 * input is not modified.
 */
export function resolveMediaConfig(input: MediaConfigInput = {}, source = 'media settings', deviceId?: string): MediaConfig {
  const copy: unknown = structuredClone(input);
  const validate = createAjv({ useDefaults: true }).compile<MediaConfig>(mediaConfigSchema);
  if (!validate(copy)) throw new ConfigError(`${source} are invalid`, describeErrors(validate.errors, '/media'));
  const problems = checkMediaConfig(copy, deviceId);
  if (problems.length) throw new ConfigError(`${source} are invalid`, problems);
  return copy;
}

/** The defaults, fully filled in. */
export function defaultMediaConfig(): MediaConfig {
  return resolveMediaConfig({});
}

/**
 * The simulated kit: a moving test pattern with the wall clock and a 440 Hz tone, SRT to a media
 * server on this machine (for example `srt-live-transmit` or MediaMTX), recordings under
 * `dataDir`, playback into fakesinks. Small enough to run on a laptop next to the agent.
 */
export function simulatedMediaConfig(dataDir = '/tmp/lectern-sim'): MediaConfig {
  return resolveMediaConfig({
    video: { type: 'test', pattern: 'ball', overlay: 'clock', width: 640, height: 360, fps: 30 },
    audio: { type: 'test', freq: 440, channels: 1 },
    output: { width: 640, height: 360, fps: 30 },
    encoder: { preference: ['x264enc'], keyframeSec: 2 },
    uplink: {
      protocol: 'srt',
      urlTemplate: 'srt://127.0.0.1:10080?streamid=#!::r=live/{deviceId},m=publish',
      latencyMs: 200,
      bitrate: { floorKbps: 300, startKbps: 1000, ceilingKbps: 1500 },
    },
    recording: { dir: join(dataDir, 'recordings'), segmentSec: 60, fullQuality: true },
    listen: {
      protocol: 'srt',
      urlTemplate: 'srt://127.0.0.1:10080?streamid=#!::r=live/{peerRoomId},m=request',
      latencyMs: 200,
      videoSink: 'fake',
      audioSink: 'fake',
    },
  });
}
