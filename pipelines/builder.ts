/**
 * Builds the pipelines of one lesson from typed settings.
 *
 * Layout (each line one GStreamer pipeline, so each can fail and restart on its own):
 *
 *   video-source  camera / HDMI / RTSP / test pattern → raw I420 at the output size → intervideosink
 *   audio-source  microphone → (webrtcdsp when the room also plays audio) → level → interaudiosink
 *   main          intervideosrc + interaudiosrc → encode once (H.264 + AAC) → tee
 *                   ├→ splitmuxsink (MPEG-TS segments, the recording)
 *                   └→ mpegtsmux → leaky queue → shmsink (hands the stream to the uplink)
 *   uplink        shmsrc → srtsink (MPEG-TS over SRT) or tsdemux → flvmux → rtmp2sink
 *   playback      srtsrc/rtmp2src → demux → decode → video sink, audio → webrtcechoprobe → audio sink
 *
 * Why separate pipelines: an element error stops data in its own pipeline only, and through the
 * binding a pipeline can only be restarted as a whole (no pad probes to unlink a tee branch).
 * The inter elements keep the main pipeline running when a source dies: intervideosrc repeats
 * the last frame, then sends black (with "camera offline" drawn by the runtime) and interaudiosrc
 * sends silence, so the recording never has a gap. The shm hop lets the uplink fail, reconnect
 * and restart while the recording keeps the same encoded stream (encoded once, no second encoder);
 * the leaky queue in front of shmsink drops uplink data rather than ever blocking the recording.
 */
import { join } from 'node:path';
import { UnsafeValueError } from '../agent/errors.js';
import type { AacEncoderName, H264EncoderName, MediaConfig } from './config.js';
import { Fraction, caps, el, elementNames, quoted, ref, render, token, type Chain, type ElementNode } from './describe.js';
import { audioEncoderElement, h264EncoderElement } from './encoders.js';
import { checkAbsolutePath, checkAlsaDevice, checkDevicePath, checkId, checkPulseDevice, lessonDirName } from './safe.js';
import { checkRtspUrl, resolveMediaUrl, type MediaTarget, type SrtTarget } from './urls.js';

export type Role = 'lecture' | 'listen';
export type PipelineId = 'playback' | 'audio-source' | 'video-source' | 'main' | 'uplink';

/** Element names the runtime looks up while playing. */
export const NAMES = {
  videoSource: 'vsrc',
  videoSink: 'vsink',
  audioSource: 'asrc',
  audioSink: 'asink',
  level: 'alevel',
  dsp: 'dsp',
  cameraNote: 'camnote',
  videoEncoder: 'venc',
  /** The recording's own encoder, when the adaptive stream has one of its own (`recording.fullQuality`). */
  recordingEncoder: 'recenc',
  audioEncoder: 'aenc',
  recorder: 'rec',
  uplinkShmSink: 'ushm',
  uplinkSink: 'upsink',
  playbackSource: 'psrc',
  playbackVideoSink: 'pvsink',
  playbackAudioSink: 'pasink',
} as const;

export interface PipelineSpec {
  id: PipelineId;
  /** One line for technicians: what this pipeline does. */
  purpose: string;
  description: string;
  /** The names of the elements the description creates. */
  elements: string[];
  /** The element factories it uses (`x264enc`, `srtsink`…): what must be installed to run it. */
  factories: string[];
  /**
   * Whether one native pipeline can be played again after a stop. Not when a demuxer or
   * rtspsrc adds pads at run time: the parser links those once, when they first appear, so a
   * second run would leave them unlinked.
   */
  reusable: boolean;
}

export interface PlanOptions {
  role: Role;
  deviceId: string;
  lessonId: string;
  /** The lecture room (listen role) or the peer whose return stream a lecture room plays. */
  peerRoomId?: string;
  encoder: H264EncoderName;
  aacEncoder?: AacEncoderName;
  /** Unique among the lesson runtimes of this process: names inter channels and the echo probe. */
  instance: string;
  /** The Unix socket main → uplink. */
  uplinkSocket: string;
  /** First recording segment number (continues a lesson after a restart). */
  segmentStartIndex?: number;
  /** The encoder's starting bitrate (defaults to uplink.bitrate.startKbps). */
  startBitrateKbps?: number;
  /** Override: play the peer's stream in a lecture room (default: listen.playInLecture). */
  playback?: boolean;
}

export interface RecordingPlan {
  /** The lesson's directory. */
  dir: string;
  /** splitmuxsink's location pattern (`…/seg-%05d.ts`). */
  location: string;
  segmentSec: number;
  startIndex: number;
}

export interface LessonPlan {
  role: Role;
  instance: string;
  encoder: H264EncoderName;
  /** In start order: playback first (its echo probe must exist before webrtcdsp starts). */
  pipelines: PipelineSpec[];
  recording?: RecordingPlan;
  uplink?: MediaTarget;
  playback?: MediaTarget;
  /** webrtcdsp runs on the microphone (the room plays remote audio). */
  echoCancel: boolean;
  /** Why an optional part is left out (uplink not configured, …). */
  notes: string[];
}

const INSTANCE_RE = /^[a-z0-9]{1,16}$/;
const SEGMENT_PATTERN = 'seg-%05d.ts';

/** The segment file name for an index (`seg-00001.ts`). */
export function segmentFileName(index: number): string {
  return `seg-${String(index).padStart(5, '0')}.ts`;
}

/** The index of a segment file name, or undefined. */
export function segmentIndex(fileName: string): number | undefined {
  const m = /^seg-(\d{5,})\.ts$/.exec(fileName);
  return m ? Number(m[1]) : undefined;
}

function rawVideoCaps(c: MediaConfig): ReturnType<typeof caps> {
  const o = c.output;
  return caps('video/x-raw', { format: token('I420'), width: o.width, height: o.height, framerate: new Fraction(o.fps, 1), 'pixel-aspect-ratio': new Fraction(1, 1) });
}

function rawAudioCaps(channels: number): ReturnType<typeof caps> {
  return caps('audio/x-raw', { format: token('S16LE'), layout: token('interleaved'), rate: 48000, channels });
}

function interVideoChannel(instance: string): string {
  return `lectern_${instance}_video`;
}

function interAudioChannel(instance: string): string {
  return `lectern_${instance}_audio`;
}

function echoProbeName(instance: string): string {
  return `echo_${instance}`;
}

function videoSourceChains(c: MediaConfig, instance: string): Chain[] {
  const v = c.video;
  const toOutput: ElementNode[] = [el('videoconvert', {}, 'camconv'), el('videoscale', {}, 'camscale'), el('videorate', {}, 'camrate')];
  // sync=false: a hand-off, not a display. Waiting for the clock here only adds latency, and a
  // frame later than max-lateness (5 ms) would be dropped on a busy machine.
  const sink = el('intervideosink', { channel: quoted(interVideoChannel(instance), 'instance'), sync: false }, NAMES.videoSink);
  const fps = new Fraction(v.fps, 1);
  switch (v.type) {
    case 'v4l2':
    case 'hdmi': {
      const device = quoted(checkDevicePath(v.device, 'video.device'), 'video.device');
      const src = el('v4l2src', { device }, NAMES.videoSource);
      if (v.format === 'mjpeg') {
        return [[src, caps('image/jpeg', { width: v.width, height: v.height, framerate: fps }), el('jpegdec', {}, 'camjpeg'), ...toOutput, rawVideoCaps(c), sink]];
      }
      return [[src, caps('video/x-raw', { width: v.width, height: v.height, framerate: fps }), ...toOutput, rawVideoCaps(c), sink]];
    }
    case 'rtsp': {
      if (!v.url) throw new UnsafeValueError('video.url', 'is required for an RTSP camera');
      const location = quoted(checkRtspUrl(v.url, 'video.url'), 'video.url');
      const protocols = v.transport === 'auto' ? undefined : token(v.transport);
      const src = el('rtspsrc', { location, latency: v.latencyMs, protocols }, NAMES.videoSource);
      const h265 = v.codec === 'h265';
      return [
        [
          src,
          el(h265 ? 'rtph265depay' : 'rtph264depay', {}, 'camdepay'),
          el(h265 ? 'h265parse' : 'h264parse', {}, 'camparse'),
          el(h265 ? 'avdec_h265' : 'avdec_h264', {}, 'camdec'),
          ...toOutput,
          rawVideoCaps(c),
          sink,
        ],
      ];
    }
    case 'test': {
      const o = c.output;
      const overlay =
        v.overlay === 'clock'
          ? [el('clockoverlay', { 'font-desc': quoted('Sans 20', 'video.overlay'), halignment: token('right'), valignment: token('top') }, 'voverlay')]
          : v.overlay === 'time'
            ? [el('timeoverlay', { 'font-desc': quoted('Sans 20', 'video.overlay'), halignment: token('right'), valignment: token('top') }, 'voverlay')]
            : [];
      return [
        [
          el('videotestsrc', { 'is-live': true, pattern: token(v.pattern) }, NAMES.videoSource),
          caps('video/x-raw', { format: token('I420'), width: o.width, height: o.height, framerate: new Fraction(o.fps, 1), 'pixel-aspect-ratio': new Fraction(1, 1) }),
          ...overlay,
          sink,
        ],
      ];
    }
  }
}

function audioSourceChains(c: MediaConfig, instance: string, echoCancel: boolean): Chain[] {
  const a = c.audio;
  let src: ElementNode;
  switch (a.type) {
    case 'alsa':
      // provide-clock=false: every pipeline of the lesson runs on the system clock, so the
      // inter elements see no drift between the sound card's clock and the rest.
      src = el('alsasrc', { device: a.device ? quoted(checkAlsaDevice(a.device, 'audio.device'), 'audio.device') : undefined, 'provide-clock': false }, NAMES.audioSource);
      break;
    case 'pulse':
      src = el('pulsesrc', { device: a.device ? quoted(checkPulseDevice(a.device, 'audio.device'), 'audio.device') : undefined, 'provide-clock': false }, NAMES.audioSource);
      break;
    case 'test':
      src = el('audiotestsrc', { 'is-live': true, wave: token(a.testWave), freq: a.freq, volume: 0.3 }, NAMES.audioSource);
      break;
  }
  const dsp = echoCancel
    ? [
        el(
          'webrtcdsp',
          { probe: quoted(echoProbeName(instance), 'instance'), 'echo-cancel': c.processing.echoCancel, 'noise-suppression': c.processing.noiseSuppression },
          NAMES.dsp,
        ),
      ]
    : [];
  return [
    [
      src,
      el('audioconvert', {}, 'micconv'),
      el('audioresample', {}, 'micresample'),
      rawAudioCaps(a.channels),
      ...dsp,
      el('level', { interval: c.monitor.levelIntervalMs * 1_000_000, 'post-messages': true }, NAMES.level),
      el('interaudiosink', { channel: quoted(interAudioChannel(instance), 'instance'), sync: false }, NAMES.audioSink),
    ],
  ];
}

/**
 * Whether the recording gets its own encoder: with an adaptive uplink, one shared encoder would
 * record at whatever bitrate the 5G link allows at the moment; a second encoder at the ceiling
 * keeps the recording at full quality (the cost is a second encode).
 */
export function separateRecordingEncoder(c: MediaConfig, recording: boolean, uplink: boolean): boolean {
  return recording && uplink && c.uplink.adaptive && c.recording.fullQuality;
}

/**
 * The most kbit/s the recording's video runs at without a disk cap. With an adaptive uplink it
 * reaches the ceiling: its own encoder runs there (`recording.fullQuality`), and a shared encoder
 * goes there whenever the uplink is down. Otherwise the encoder stays at the start bitrate.
 */
export function recordingFullVideoKbps(c: MediaConfig): number {
  const uplink = c.uplink.enabled && c.uplink.urlTemplate !== '';
  return uplink && c.uplink.adaptive ? c.uplink.bitrate.ceilingKbps : c.uplink.bitrate.startKbps;
}

function mainChains(c: MediaConfig, o: PlanOptions, recording: RecordingPlan | undefined, uplink: boolean): Chain[] {
  const out = c.output;
  const bitrateKbps = o.startBitrateKbps ?? c.uplink.bitrate.startKbps;
  const opus = c.audioEncoder.codec === 'opus';
  const twoEncoders = separateRecordingEncoder(c, recording !== undefined, uplink);
  const encoderSettings = { fps: out.fps, keyframeSec: c.encoder.keyframeSec, x264Preset: c.encoder.x264Preset };
  // Encoder → H.264 caps → parser; SPS/PPS before every keyframe, so that each segment and a
  // late-joining receiver can decode at once.
  const encode = (kbps: number, encName: string, parseName: string): Chain => [
    h264EncoderElement(o.encoder, { ...encoderSettings, bitrateKbps: kbps }, encName),
    caps('video/x-h264', { profile: token(c.encoder.profile) }),
    el('h264parse', { 'config-interval': -1 }, parseName),
  ];
  const raw: Chain = [
    // After `timeout` without frames intervideosrc sends black; the runtime then shows the note.
    el('intervideosrc', { channel: quoted(interVideoChannel(o.instance), 'instance'), timeout: 1_000_000_000 }, 'vin'),
    rawVideoCaps(c),
    el(
      'textoverlay',
      { text: quoted('camera offline', 'overlay'), silent: true, 'font-desc': quoted('Sans 28', 'overlay'), valignment: token('center'), halignment: token('center') },
      NAMES.cameraNote,
    ),
  ];
  const videoQueue = (name: string): ElementNode => el('queue', { 'max-size-buffers': 3, 'max-size-bytes': 0, 'max-size-time': 0 }, name);
  const chains: Chain[] = twoEncoders
    ? [
        [...raw, el('tee', {}, 'rawtee')],
        // allow-not-linked: the uplink branch may be absent (the runtime links it by name).
        [ref('rawtee'), videoQueue('vq'), ...encode(bitrateKbps, NAMES.videoEncoder, 'vparse'), el('tee', { 'allow-not-linked': true }, 'vtee')],
      ]
    : [
        // allow-not-linked: a lesson without recording and uplink still runs (level monitoring).
        [...raw, videoQueue('vq'), ...encode(bitrateKbps, NAMES.videoEncoder, 'vparse'), el('tee', { 'allow-not-linked': true }, 'vtee')],
      ];
  chains.push([
    el('interaudiosrc', { channel: quoted(interAudioChannel(o.instance), 'instance') }, 'ain'),
    rawAudioCaps(c.audio.channels),
    el('audioconvert', {}, 'aconv'),
    audioEncoderElement(c.audioEncoder.codec, o.aacEncoder ?? 'avenc_aac', c.audioEncoder.bitrateKbps, NAMES.audioEncoder),
    el(opus ? 'opusparse' : 'aacparse', {}, 'aparse'),
    el('tee', { 'allow-not-linked': true }, 'atee'),
  ]);
  if (recording) {
    // Generous queues: a slow disk may stall for seconds without blocking the encoder.
    const q = (name: string): ElementNode => el('queue', { 'max-size-buffers': 0, 'max-size-bytes': 0, 'max-size-time': 5_000_000_000 }, name);
    if (twoEncoders) {
      chains.push([ref('rawtee'), videoQueue('rvq0'), ...encode(c.uplink.bitrate.ceilingKbps, NAMES.recordingEncoder, 'rvparse'), q('rvq'), ref(NAMES.recorder, 'video')]);
    } else {
      chains.push([ref('vtee'), q('rvq'), ref(NAMES.recorder, 'video')]);
    }
    chains.push([ref('atee'), q('raq'), ref(NAMES.recorder, 'audio_%u')]);
    chains.push([
      el(
        'splitmuxsink',
        {
          // MPEG-TS: a file cut at any byte still plays up to the cut (no index written at the end).
          'muxer-factory': token('mpegtsmux'),
          location: quoted(recording.location, 'recording.dir'),
          'max-size-time': recording.segmentSec * 1_000_000_000,
          'max-size-bytes': 0,
          // Ask the encoder for a keyframe at each boundary: segments of exactly segmentSec.
          'send-keyframe-requests': true,
          'start-index': recording.startIndex,
        },
        NAMES.recorder,
      ),
    ]);
  }
  if (!recording && !uplink) {
    // Sinks so that end-of-stream completes (a bin without sinks never reports it).
    chains.push([ref('vtee'), el('fakesink', { sync: false, async: false }, 'vnull')]);
    chains.push([ref('atee'), el('fakesink', { sync: false, async: false }, 'anull')]);
  }
  if (uplink) {
    const q = (name: string): ElementNode => el('queue', {}, name);
    chains.push([ref('vtee'), q('uvq'), ref('upmux')]);
    chains.push([ref('atee'), q('uaq'), ref('upmux')]);
    chains.push([
      // Seven TS packets per buffer: one SRT/UDP payload (1316 bytes).
      el('mpegtsmux', { alignment: 7 }, 'upmux'),
      // Leaky: when the uplink is slow or gone, its data is dropped here; the encoder never waits.
      el('queue', { leaky: token('downstream'), 'max-size-buffers': 0, 'max-size-bytes': 0, 'max-size-time': 1_000_000_000 }, 'ushmq'),
      el(
        'shmsink',
        { 'socket-path': quoted(checkAbsolutePath(o.uplinkSocket, 'uplinkSocket'), 'uplinkSocket'), 'wait-for-connection': false, sync: false, async: false, 'shm-size': 8 * 1024 * 1024 },
        NAMES.uplinkShmSink,
      ),
    ]);
  }
  return chains;
}

function srtProps(t: SrtTarget, latencyMs: number, setting: string): Record<string, ReturnType<typeof quoted> | ReturnType<typeof token> | number | boolean | undefined> {
  return {
    uri: quoted(t.uri, setting),
    mode: token(t.mode),
    latency: t.latencyMs ?? latencyMs,
    streamid: t.streamId !== undefined ? quoted(t.streamId, `${setting} streamid`) : undefined,
    passphrase: t.passphrase !== undefined ? quoted(t.passphrase, `${setting} passphrase`) : undefined,
    pbkeylen: t.pbkeylen,
    // Reconnection is the runtime's job (with backoff and stream.failed/recovered events).
    'auto-reconnect': false,
  };
}

function uplinkChains(c: MediaConfig, o: PlanOptions, target: MediaTarget): Chain[] {
  const src = el('shmsrc', { 'socket-path': quoted(checkAbsolutePath(o.uplinkSocket, 'uplinkSocket'), 'uplinkSocket'), 'is-live': true, 'do-timestamp': true }, 'ushmsrc');
  const ts = caps('video/mpegts', { systemstream: true, packetsize: 188 });
  if (target.protocol === 'srt') {
    return [[src, ts, el('queue', {}, 'uq'), el('srtsink', { ...srtProps(target, c.uplink.latencyMs, 'uplink.urlTemplate'), 'wait-for-connection': false, sync: false }, NAMES.uplinkSink)]];
  }
  const opus = c.audioEncoder.codec === 'opus';
  if (opus) throw new UnsafeValueError('audioEncoder.codec', 'RTMP carries AAC only');
  return [
    [src, ts, el('tsdemux', { latency: 200 }, 'utsdemux')],
    [
      ref('utsdemux'),
      el('h264parse', {}, 'uvparse'),
      el('queue', {}, 'rtmpvq'),
      el('flvmux', { streamable: true }, 'uflv'),
      el('rtmp2sink', { location: quoted(target.location, 'uplink.urlTemplate'), sync: false }, NAMES.uplinkSink),
    ],
    [ref('utsdemux'), el('aacparse', {}, 'uaparse'), el('queue', {}, 'rtmpaq'), ref('uflv')],
  ];
}

const VIDEO_SINK_FACTORY = {
  auto: 'autovideosink',
  kms: 'kmssink',
  xv: 'xvimagesink',
  ximage: 'ximagesink',
  gl: 'glimagesink',
  wayland: 'waylandsink',
  fake: 'fakesink',
} as const;

function playbackChains(c: MediaConfig, o: PlanOptions, target: MediaTarget, echoCancel: boolean): Chain[] {
  const l = c.listen;
  const chains: Chain[] = [];
  if (target.protocol === 'srt') {
    chains.push([
      el('srtsrc', srtProps(target, l.latencyMs, 'listen.urlTemplate'), NAMES.playbackSource),
      el('queue', {}, 'pq'),
      el('tsdemux', { latency: 200 }, 'pdemux'),
    ]);
  } else {
    chains.push([el('rtmp2src', { location: quoted(target.location, 'listen.urlTemplate') }, NAMES.playbackSource), el('queue', {}, 'pq'), el('flvdemux', {}, 'pdemux')]);
  }
  chains.push([
    ref('pdemux'),
    el('h264parse', {}, 'pvparse'),
    el(l.decoder, {}, 'pvdec'),
    el('queue', { 'max-size-buffers': 5 }, 'pvq'),
    el('videoconvert', {}, 'pvconv'),
    // fpsdisplaysink wraps the real sink and counts rendered and dropped frames for heartbeats.
    el('fpsdisplaysink', { 'video-sink': token(VIDEO_SINK_FACTORY[l.videoSink]), 'text-overlay': false, 'signal-fps-measurements': false, sync: true }, NAMES.playbackVideoSink),
  ]);
  let audioSink: ElementNode;
  switch (l.audioSink) {
    case 'alsa':
      audioSink = el('alsasink', { device: l.audioDevice ? quoted(checkAlsaDevice(l.audioDevice, 'listen.audioDevice'), 'listen.audioDevice') : undefined }, NAMES.playbackAudioSink);
      break;
    case 'pulse':
      audioSink = el('pulsesink', { device: l.audioDevice ? quoted(checkPulseDevice(l.audioDevice, 'listen.audioDevice'), 'listen.audioDevice') : undefined }, NAMES.playbackAudioSink);
      break;
    case 'fake':
      audioSink = el('fakesink', { sync: true }, NAMES.playbackAudioSink);
      break;
    case 'auto':
      audioSink = el('autoaudiosink', {}, NAMES.playbackAudioSink);
      break;
  }
  chains.push([
    ref('pdemux'),
    el('aacparse', {}, 'paparse'),
    el('avdec_aac', {}, 'padec'),
    el('queue', {}, 'paq'),
    el('audioconvert', {}, 'paconv'),
    el('audioresample', {}, 'paresample'),
    ...(echoCancel ? [rawAudioCaps(1), el('webrtcechoprobe', {}, echoProbeName(o.instance))] : []),
    audioSink,
  ]);
  return chains;
}

const DYNAMIC_PADS = new Set(['tsdemux', 'flvdemux', 'rtspsrc', 'decodebin', 'uridecodebin']);

function spec(id: PipelineId, purpose: string, chains: Chain[]): PipelineSpec {
  const reusable = !chains.some((c) => c.some((n) => n.kind === 'element' && DYNAMIC_PADS.has(n.factory)));
  const factories = [...new Set(chains.flatMap((c) => c.flatMap((n) => (n.kind === 'element' ? [n.factory] : []))))];
  return { id, purpose, description: render(chains), elements: elementNames(chains), factories, reusable };
}

/**
 * The pipelines of one lesson. Throws UnsafeValueError (naming the setting) for any value that
 * is not allowed; nothing from a setting reaches a description unchecked.
 */
export function buildLessonPlan(c: MediaConfig, o: PlanOptions): LessonPlan {
  checkId(o.deviceId, 'deviceId');
  if (o.peerRoomId !== undefined) checkId(o.peerRoomId, 'peerRoomId');
  if (!INSTANCE_RE.test(o.instance)) throw new UnsafeValueError('instance', 'must be 1-16 lowercase letters or digits');
  const notes: string[] = [];
  const ids = { deviceId: o.deviceId, peerRoomId: o.peerRoomId };

  let uplink: MediaTarget | undefined;
  if (!c.uplink.enabled) notes.push('uplink disabled in the settings');
  else if (!c.uplink.urlTemplate) notes.push('uplink not configured (uplink.urlTemplate is empty)');
  else uplink = resolveMediaUrl(c.uplink.protocol, c.uplink.urlTemplate, ids, 'uplink.urlTemplate');

  const wantsPlayback = o.playback ?? (o.role === 'listen' || c.listen.playInLecture);
  let playback: MediaTarget | undefined;
  if (wantsPlayback) {
    if (!c.listen.urlTemplate) notes.push('playback not configured (listen.urlTemplate is empty)');
    else if (o.peerRoomId === undefined && c.listen.urlTemplate.includes('{peerRoomId}')) notes.push('playback needs a peer room id');
    else playback = resolveMediaUrl(c.listen.protocol, c.listen.urlTemplate, ids, 'listen.urlTemplate');
  }
  const echoCancel = playback !== undefined && (c.processing.echoCancel || c.processing.noiseSuppression);

  let recording: RecordingPlan | undefined;
  if (c.recording.enabled) {
    const dir = join(checkAbsolutePath(c.recording.dir, 'recording.dir'), lessonDirName(o.lessonId));
    const startIndex = o.segmentStartIndex ?? 1;
    if (!Number.isSafeInteger(startIndex) || startIndex < 0 || startIndex > 99_999) throw new UnsafeValueError('segmentStartIndex', 'must be 0 to 99999');
    recording = { dir, location: join(dir, SEGMENT_PATTERN), segmentSec: c.recording.segmentSec, startIndex };
  } else {
    notes.push('recording disabled in the settings');
  }
  if (!recording && !uplink) notes.push('neither recording nor uplink: the main pipeline only encodes');

  const pipelines: PipelineSpec[] = [];
  if (playback) pipelines.push(spec('playback', "plays the peer room's stream", playbackChains(c, o, playback, echoCancel)));
  pipelines.push(spec('audio-source', echoCancel ? 'microphone → echo cancel → level → main' : 'microphone → level → main', audioSourceChains(c, o.instance, echoCancel)));
  pipelines.push(spec('video-source', `${c.video.type} camera → raw video → main`, videoSourceChains(c, o.instance)));
  pipelines.push(
    spec(
      'main',
      separateRecordingEncoder(c, recording !== undefined, uplink !== undefined)
        ? 'encodes the recording at full quality and the stream at the adaptive bitrate'
        : 'encodes once; records segments and feeds the uplink',
      mainChains(c, o, recording, uplink !== undefined),
    ),
  );
  if (uplink) pipelines.push(spec('uplink', `sends the stream by ${uplink.protocol.toUpperCase()}`, uplinkChains(c, o, uplink)));

  // Names are unique across the whole plan, so the descriptions can also run together in one
  // gst-launch-1.0 (technicians, benchmarks).
  const seen = new Set<string>();
  for (const p of pipelines) {
    for (const n of p.elements) {
      if (seen.has(n)) throw new UnsafeValueError('description', `element name ${n} is used in two pipelines`);
      seen.add(n);
    }
  }
  return { role: o.role, instance: o.instance, encoder: o.encoder, pipelines, recording, uplink, playback, echoCancel, notes };
}

/** All pipelines as one description (one gst-launch-1.0 process runs them together). */
export function combinedDescription(plan: LessonPlan): string {
  return plan.pipelines.map((p) => p.description).join('\n');
}

/** The plan as text for a technician: one commented block per pipeline. */
export function formatPlan(plan: LessonPlan): string {
  const lines: string[] = [`# lesson pipelines, role ${plan.role}, H.264 encoder ${plan.encoder}`];
  for (const n of plan.notes) lines.push(`# note: ${n}`);
  for (const p of plan.pipelines) {
    lines.push('', `# ${p.id}: ${p.purpose}`, p.description);
  }
  return lines.join('\n') + '\n';
}
