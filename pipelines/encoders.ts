/**
 * H.264 and audio encoders: the element each one needs, and probing which one works here.
 *
 * A hardware encoder can be installed and still not work (no VA driver for this GPU, no NVIDIA
 * driver, a busy V4L2 M2M device), so probing is two steps: the element factory must exist
 * (`gst-inspect-1.0 --exists`), and a short test encode (a few 320x240 frames to a fakesink) must
 * reach end-of-stream without an error. The first encoder of the preference that passes is used;
 * x264enc is always tried last, even when not listed, because the kit must stream without a GPU.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../agent/log.js';
import { errorMessage } from '../agent/errors.js';
import type { AacEncoderName, EncoderConfig, H264EncoderName } from './config.js';
import { Fraction, caps, el, quoted, render, token, type Chain, type ElementNode } from './describe.js';
import { normalizeMessage, type GstBinding, type NativePipeline } from './gst.js';

export interface H264EncoderSettings {
  bitrateKbps: number;
  fps: number;
  keyframeSec: number;
  x264Preset: EncoderConfig['x264Preset'];
}

/** The encoder element (named `name`); every one takes `bitrate` in kbit/s, changeable while playing. */
export function h264EncoderElement(encoder: H264EncoderName, s: H264EncoderSettings, name: string): ElementNode {
  const gop = Math.max(1, Math.round(s.fps * s.keyframeSec));
  switch (encoder) {
    case 'x264enc':
      // zerolatency: no B-frames, no lookahead, sliced threads: about one frame of encoder delay.
      return el('x264enc', { tune: token('zerolatency'), 'speed-preset': token(s.x264Preset), bitrate: s.bitrateKbps, 'key-int-max': gop }, name);
    case 'vaapih264enc':
      return el('vaapih264enc', { 'rate-control': token('cbr'), bitrate: s.bitrateKbps, 'keyframe-period': gop }, name);
    case 'nvh264enc':
      return el('nvh264enc', { preset: token('low-latency-hq'), 'rc-mode': token('cbr'), bitrate: s.bitrateKbps, 'gop-size': gop, zerolatency: true, bframes: 0 }, name);
    case 'v4l2h264enc':
      // V4L2 memory-to-memory encoders (Raspberry Pi, Rockchip) take rate and GOP as controls;
      // the bitrate cannot be changed while playing through this binding.
      return el(
        'v4l2h264enc',
        { 'extra-controls': quoted(`controls,video_bitrate=${s.bitrateKbps * 1000},h264_i_frame_period=${gop}`, 'encoder') },
        name,
      );
  }
}

export interface ProbeAttempt {
  encoder: H264EncoderName;
  ok: boolean;
  /** Why it was not chosen (not installed, test encode failed: message). */
  reason?: string;
  ms: number;
}

export interface EncoderProbeResult {
  chosen: H264EncoderName;
  /** Every encoder that passed, best first (the runtime falls back along this list). */
  usable: H264EncoderName[];
  attempts: ProbeAttempt[];
}

export interface ProbeOptions {
  binding: GstBinding;
  log: Logger;
  /** Per test encode. */
  timeoutMs?: number;
  /** Stop at the first usable encoder (startup) or try all (diagnostics). */
  all?: boolean;
  /** Replaces `gst-inspect-1.0 --exists` (tests). */
  exists?: (factory: string) => Promise<boolean>;
}

/** Whether an element factory is installed and registered, without loading it into this process. */
export function factoryExists(factory: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('gst-inspect-1.0', ['--exists', factory], { timeout: 15_000 }, (err) => resolve(!err));
  });
}

/** The short test encode: a few small test frames through the encoder into a fakesink. */
export function testEncodeDescription(encoder: H264EncoderName): string {
  const chains: Chain[] = [
    [
      el('videotestsrc', { 'num-buffers': 15 }, 'src'),
      caps('video/x-raw', { width: 320, height: 240, framerate: new Fraction(30, 1) }),
      el('videoconvert', {}, 'convert'),
      h264EncoderElement(encoder, { bitrateKbps: 500, fps: 30, keyframeSec: 1, x264Preset: 'ultrafast' }, 'enc'),
      el('fakesink', { sync: false }, 'sink'),
    ],
  ];
  return render(chains);
}

/** Runs a short encode; resolves with undefined when it reached EOS, or the reason it did not. */
export async function testEncode(binding: GstBinding, encoder: H264EncoderName, timeoutMs: number): Promise<string | undefined> {
  let pipeline: NativePipeline;
  try {
    pipeline = new binding.Pipeline(testEncodeDescription(encoder));
  } catch (e) {
    return `cannot build a test pipeline: ${errorMessage(e)}`;
  }
  return new Promise<string | undefined>((resolve) => {
    let settled = false;
    const finish = (reason: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Stopping from here ends the bus loop with this message (the pipeline is then NULL).
      pipeline.stop();
      resolve(reason);
    };
    const timer = setTimeout(() => finish(`no result within ${timeoutMs} ms`), timeoutMs);
    pipeline.pollBus((raw) => {
      try {
        const m = normalizeMessage(raw);
        if (m.kind === 'eos') finish(undefined);
        else if (m.kind === 'error') finish(`${m.src}: ${m.text}`);
      } catch (e) {
        finish(errorMessage(e));
      }
    });
    pipeline.play();
  });
}

/** Probes the preferred encoders in order (then x264enc); see the module comment. */
export async function probeH264Encoders(preference: readonly H264EncoderName[], opts: ProbeOptions): Promise<EncoderProbeResult> {
  const order = [...new Set<H264EncoderName>([...preference, 'x264enc'])];
  const exists = opts.exists ?? factoryExists;
  const attempts: ProbeAttempt[] = [];
  const usable: H264EncoderName[] = [];
  for (const encoder of order) {
    const t0 = Date.now();
    if (!(await exists(encoder))) {
      attempts.push({ encoder, ok: false, reason: 'element not installed (or its plugin found no device)', ms: Date.now() - t0 });
      opts.log.info({ encoder }, 'H.264 encoder not available: element not installed');
      continue;
    }
    const failure = await testEncode(opts.binding, encoder, opts.timeoutMs ?? 8000);
    attempts.push({ encoder, ok: !failure, reason: failure, ms: Date.now() - t0 });
    if (failure) {
      opts.log.warn({ encoder, reason: failure }, 'H.264 encoder failed its test encode');
      continue;
    }
    usable.push(encoder);
    if (!opts.all) break;
  }
  const chosen = usable[0];
  if (!chosen) {
    const why = attempts.map((a) => `${a.encoder}: ${a.reason ?? 'failed'}`).join('; ');
    throw new Error(`no H.264 encoder works on this machine (${why})`);
  }
  opts.log.info({ encoder: chosen, attempts }, 'H.264 encoder chosen');
  return { chosen, usable, attempts };
}

/** The first installed AAC encoder of the preference. */
export async function probeAacEncoder(preference: readonly AacEncoderName[], exists: (f: string) => Promise<boolean> = factoryExists): Promise<AacEncoderName> {
  for (const e of preference) if (await exists(e)) return e;
  throw new Error(`no AAC encoder installed (tried ${preference.join(', ')})`);
}

/** The audio encoder element for a codec; bitrates in bit/s as the elements take them. */
export function audioEncoderElement(codec: 'aac' | 'opus', aac: AacEncoderName, bitrateKbps: number, name: string): ElementNode {
  if (codec === 'opus') return el('opusenc', { bitrate: bitrateKbps * 1000 }, name);
  return el(aac, { bitrate: bitrateKbps * 1000 }, name);
}
