/**
 * Media checks for provisioning and diagnostics: which GStreamer elements the configured lesson
 * pipelines need and whether each is installed, and a short test clip recorded from the
 * configured sources (with the microphone's level measured on the way) that must play back.
 *
 * The clip runs in gst-launch-1.0 (its own process: a camera driver that hangs cannot hang the
 * CLI) and is judged by gst-discoverer-1.0, which opens it as any player would.
 */
import { spawn, execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../agent/errors.js';
import { buildLessonPlan, type Role } from '../pipelines/builder.js';
import type { AacEncoderName, H264EncoderName, MediaConfig } from '../pipelines/config.js';
import { Fraction, caps, descriptionWords, el, quoted, ref, render, token, type Chain, type ElementNode } from '../pipelines/describe.js';
import { audioEncoderElement, factoryExists, h264EncoderElement } from '../pipelines/encoders.js';
import { checkDevicePath } from '../pipelines/safe.js';

/** Element factories every configured role's pipelines use, in first-use order. */
export function requiredElements(media: MediaConfig, opts: { roles: readonly Role[]; deviceId: string; encoder: H264EncoderName; aacEncoder?: AacEncoderName }): string[] {
  const all = new Set<string>();
  for (const role of opts.roles) {
    const plan = buildLessonPlan(media, {
      role,
      deviceId: opts.deviceId,
      lessonId: 'check',
      // Only the element list matters; a placeholder peer lets templates naming one resolve.
      peerRoomId: 'PEER-ROOM-CHECK',
      encoder: opts.encoder,
      aacEncoder: opts.aacEncoder,
      instance: 'check',
      uplinkSocket: join(tmpdir(), 'lectern-check.sock'),
    });
    for (const p of plan.pipelines) for (const f of p.factories) all.add(f);
  }
  return [...all];
}

/** The Debian package that brings an element, for the fix line of a missing one. */
const PACKAGE_OF: Record<string, string> = {
  x264enc: 'gstreamer1.0-plugins-ugly',
  vaapih264enc: 'gstreamer1.0-vaapi',
  vaapih264dec: 'gstreamer1.0-vaapi',
  avenc_aac: 'gstreamer1.0-libav',
  avdec_h264: 'gstreamer1.0-libav',
  avdec_h265: 'gstreamer1.0-libav',
  alsasrc: 'gstreamer1.0-alsa',
  alsasink: 'gstreamer1.0-alsa',
  pulsesrc: 'gstreamer1.0-pulseaudio',
  pulsesink: 'gstreamer1.0-pulseaudio',
  ximagesink: 'gstreamer1.0-x',
  xvimagesink: 'gstreamer1.0-x',
  v4l2src: 'gstreamer1.0-plugins-good',
  jpegdec: 'gstreamer1.0-plugins-good',
  splitmuxsink: 'gstreamer1.0-plugins-good',
  level: 'gstreamer1.0-plugins-good',
  flvmux: 'gstreamer1.0-plugins-good',
  flvdemux: 'gstreamer1.0-plugins-good',
  rtspsrc: 'gstreamer1.0-plugins-good',
  aacparse: 'gstreamer1.0-plugins-good',
  srtsink: 'gstreamer1.0-plugins-bad',
  srtsrc: 'gstreamer1.0-plugins-bad',
  rtmp2sink: 'gstreamer1.0-plugins-bad',
  rtmp2src: 'gstreamer1.0-plugins-bad',
  mpegtsmux: 'gstreamer1.0-plugins-bad',
  tsdemux: 'gstreamer1.0-plugins-bad',
  h264parse: 'gstreamer1.0-plugins-bad',
  webrtcdsp: 'gstreamer1.0-plugins-bad',
  webrtcechoprobe: 'gstreamer1.0-plugins-bad',
  intervideosrc: 'gstreamer1.0-plugins-bad',
  intervideosink: 'gstreamer1.0-plugins-bad',
  interaudiosrc: 'gstreamer1.0-plugins-bad',
  interaudiosink: 'gstreamer1.0-plugins-bad',
  shmsrc: 'gstreamer1.0-plugins-bad',
  shmsink: 'gstreamer1.0-plugins-bad',
  kmssink: 'gstreamer1.0-plugins-bad',
  voaacenc: 'gstreamer1.0-plugins-bad',
};

export function packageFor(factory: string): string {
  return PACKAGE_OF[factory] ?? 'gstreamer1.0-plugins-base / -good / -bad / -ugly (gst-inspect-1.0 NAME tells once installed)';
}

/** The elements of `names` that are not installed. */
export async function missingElements(names: readonly string[], exists: (f: string) => Promise<boolean> = factoryExists): Promise<string[]> {
  const missing: string[] = [];
  for (const n of names) if (!(await exists(n))) missing.push(n);
  return missing;
}

export interface ClipOptions {
  media: MediaConfig;
  encoder: H264EncoderName;
  aacEncoder: AacEncoderName;
  /** Recorded length in seconds of wall-clock time. */
  seconds?: number;
  file: string;
  /** Without a microphone in the kit: a clip of video only. */
  audio?: boolean;
}

export interface ClipResult {
  ok: boolean;
  file: string;
  /** As gst-discoverer-1.0 reads it. */
  durationSec?: number;
  video?: string;
  audio?: string;
  /** Loudest and average microphone level seen while recording, in dBFS. */
  audioPeakDb?: number;
  audioRmsDb?: number;
  error?: string;
}

function videoChain(m: MediaConfig): ElementNode[] {
  const v = m.video;
  const out = [el('videoconvert', {}, 'conv'), el('videoscale', {}, 'scale'), caps('video/x-raw', { format: token('I420'), width: m.output.width, height: m.output.height })];
  switch (v.type) {
    case 'v4l2':
    case 'hdmi': {
      const src = el('v4l2src', { device: quoted(checkDevicePath(v.device, 'video.device'), 'video.device') }, 'vsrc');
      const fps = new Fraction(v.fps, 1);
      return v.format === 'mjpeg'
        ? ([src, caps('image/jpeg', { width: v.width, height: v.height, framerate: fps }), el('jpegdec', {}, 'jpeg'), ...out] as ElementNode[])
        : ([src, caps('video/x-raw', { width: v.width, height: v.height, framerate: fps }), ...out] as ElementNode[]);
    }
    case 'rtsp':
      return [el('rtspsrc', { location: quoted(v.url ?? '', 'video.url'), latency: v.latencyMs }, 'vsrc'), el('decodebin', {}, 'dec'), ...out] as ElementNode[];
    case 'test':
      return [el('videotestsrc', { 'is-live': true, pattern: token(v.pattern) }, 'vsrc'), caps('video/x-raw', { framerate: new Fraction(m.output.fps, 1) }), ...out] as ElementNode[];
  }
}

function audioSource(m: MediaConfig): ElementNode {
  const a = m.audio;
  const device = a.device ? quoted(a.device, 'audio.device') : undefined;
  if (a.type === 'alsa') return el('alsasrc', { device }, 'asrc');
  if (a.type === 'pulse') return el('pulsesrc', { device }, 'asrc');
  return el('audiotestsrc', { 'is-live': true, wave: token(a.testWave === 'silence' ? 'silence' : 'sine'), freq: a.freq }, 'asrc');
}

/** The test clip's description: the configured sources, encoded as a lesson is, into MPEG-TS. */
export function clipDescription(o: ClipOptions): string {
  const bitrate = o.media.uplink.bitrate.startKbps;
  const chains: Chain[] = [
    [
      ...videoChain(o.media),
      h264EncoderElement(o.encoder, { bitrateKbps: bitrate, fps: o.media.output.fps, keyframeSec: 1, x264Preset: o.media.encoder.x264Preset }, 'venc'),
      el('h264parse', {}, 'vparse'),
      el('mpegtsmux', {}, 'mux'),
      el('filesink', { location: quoted(o.file, 'clip file') }, 'sink'),
    ],
  ];
  if (o.audio !== false) {
    chains.push([
      audioSource(o.media),
      el('audioconvert', {}, 'aconv'),
      el('audioresample', {}, 'aresample'),
      el('level', { interval: 250_000_000, 'post-messages': true }, 'alevel'),
      el('audioconvert', {}, 'aconv2'),
      audioEncoderElement('aac', o.aacEncoder, 128, 'aenc'),
      el('aacparse', {}, 'aparse'),
      ref('mux'),
    ]);
  }
  return render(chains);
}

/** Runs a command and returns its stdout (and whether it exited cleanly). */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}` }));
  });
}

/** What gst-discoverer-1.0 says about a media file. */
export async function discover(file: string): Promise<{ ok: boolean; durationSec?: number; video?: string; audio?: string; text: string }> {
  const r = await run('gst-discoverer-1.0', ['--timeout=15', file], 30_000);
  const d = /Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)/.exec(r.out);
  const durationSec = d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined;
  const video = /video #\d+:\s*(.+)/.exec(r.out)?.[1]?.trim();
  const audio = /audio #\d+:\s*(.+)/.exec(r.out)?.[1]?.trim();
  return { ok: r.ok && durationSec !== undefined, durationSec, video, audio, text: r.out };
}

/** Levels from `gst-launch-1.0 -m` output: `rms=(GValueArray)< -20.5, -21 >`. */
export function parseLevels(text: string): { peakDb?: number; rmsDb?: number } {
  const numbers = (field: string): number[] =>
    [...text.matchAll(new RegExp(`${field}=\\(GValueArray\\)<\\s*([^>]*)>`, 'g'))].flatMap((m) => m[1]!.split(',').map((x) => Number(x.trim()))).filter((n) => Number.isFinite(n));
  const peaks = numbers('peak');
  const rms = numbers('rms');
  return {
    ...(peaks.length ? { peakDb: Math.round(Math.max(...peaks) * 10) / 10 } : {}),
    ...(rms.length ? { rmsDb: Math.round((rms.reduce((a, b) => a + b, 0) / rms.length) * 10) / 10 } : {}),
  };
}

/**
 * Records `seconds` of the configured sources to `file` (gst-launch-1.0 -e, stopped with SIGINT
 * so the muxer finishes the file), then checks it plays: a readable duration, a video stream,
 * and an audio stream when the kit has a microphone.
 */
export async function recordTestClip(o: ClipOptions): Promise<ClipResult> {
  const seconds = o.seconds ?? 5;
  let description: string;
  try {
    description = clipDescription(o);
  } catch (e) {
    return { ok: false, file: o.file, error: `cannot build the test pipeline: ${errorMessage(e)}` };
  }
  rmSync(o.file, { force: true });
  // Counted from PLAYING: start-up (a camera's first frame) is not part of the clip.
  const output = await runGstFor(description, seconds, 30);
  const levels = parseLevels(output.text);
  const levelFields = { ...(levels.peakDb !== undefined ? { audioPeakDb: levels.peakDb } : {}), ...(levels.rmsDb !== undefined ? { audioRmsDb: levels.rmsDb } : {}) };
  if (output.code !== 0) {
    const why = /ERROR: (.*)/.exec(output.text)?.[1] ?? output.text.split('\n').filter(Boolean).slice(-3).join(' | ');
    return { ok: false, file: o.file, ...levelFields, error: output.timedOut ? `gst-launch-1.0 did not finish (killed): ${why}` : `recording failed: ${why}` };
  }
  const d = await discover(o.file);
  const result: ClipResult = { ok: false, file: o.file, ...levelFields, ...(d.durationSec !== undefined ? { durationSec: Math.round(d.durationSec * 10) / 10 } : {}), ...(d.video ? { video: d.video } : {}), ...(d.audio ? { audio: d.audio } : {}) };
  if (!d.ok) return { ...result, error: `the clip does not play: ${d.text.split('\n').filter(Boolean).slice(-2).join(' | ')}` };
  if (!d.video) return { ...result, error: 'the clip has no video stream' };
  if (o.audio !== false && !d.audio) return { ...result, error: 'the clip has no audio stream' };
  if ((d.durationSec ?? 0) < seconds * 0.5) return { ...result, error: `the clip is ${d.durationSec?.toFixed(1)} s long, expected about ${seconds} s (the source stalled)` };
  return { ...result, ok: true };
}

export interface GstRun {
  /** gst-launch-1.0's exit code (-1 when it could not be started). */
  code: number | null;
  /** Its stdout and stderr together (the last megabyte of a long run). */
  text: string;
  /** It had to be killed `graceSec` after it should have ended. */
  timedOut: boolean;
}

/**
 * Runs a description in gst-launch-1.0 with its messages (-m) for `seconds` counted from
 * PLAYING, then ends it with end-of-stream (SIGINT with -e), so that files are finalised; killed
 * when it has not ended `graceSec` later.
 */
export function runGstFor(description: string, seconds: number, graceSec: number): Promise<GstRun> {
  return new Promise<GstRun>((resolve) => {
    const proc = spawn('gst-launch-1.0', ['-e', '-m', ...descriptionWords(description)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let stopTimer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (text.length > 2_000_000) text = text.slice(-1_000_000);
      if (!stopTimer && text.includes('Setting pipeline to PLAYING')) stopTimer = setTimeout(() => proc.kill('SIGINT'), seconds * 1000);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    const hardStop = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, (seconds + graceSec) * 1000);
    proc.once('error', (e) => {
      clearTimeout(hardStop);
      clearTimeout(stopTimer);
      resolve({ code: -1, text: `cannot run gst-launch-1.0: ${e.message}`, timedOut });
    });
    proc.once('close', (code) => {
      clearTimeout(hardStop);
      clearTimeout(stopTimer);
      resolve({ code, text, timedOut });
    });
  });
}
