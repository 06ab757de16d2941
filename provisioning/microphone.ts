/**
 * The USB microphone for provisioning and diagnostics, through drivers/mic only:
 *
 * - which USB microphones are connected (known array models and plain USB Audio Class
 *   microphones) and the ALSA capture device of each;
 * - its level over a few seconds, measured by GStreamer's `level` element in gst-launch-1.0
 *   (its own process, so a stuck audio driver cannot hang the CLI); a microphone that delivers
 *   digital silence is muted or not connected to its capsule;
 * - its vendor controls applied and read back;
 * - the doctor check of a configured microphone.
 *
 * The USB bus is a parameter (tests give a FakeUsbBus), and so is the capture element for the
 * level (tests, which have no ALSA device, give `audiotestsrc`).
 */
import { errorMessage } from '../agent/errors.js';
import type { AlsaRoots } from '../drivers/mic/alsa.js';
import { listMicrophones, type MicListing } from '../drivers/mic/cli.js';
import type { MicControlsConfig, MicrophoneConfig } from '../drivers/mic/config.js';
import { Microphone, type MicState } from '../drivers/mic/microphone.js';
import { describeMatch, type MicMatch } from '../drivers/mic/models.js';
import { NodeUsbBus, type UsbBus } from '../drivers/mic/usb.js';
import { el, quoted, render, type ElementNode } from '../pipelines/describe.js';
import type { SystemRoots } from './detect.js';
import { parseLevels, runGstFor } from './media.js';
import { fail, pass, warn, type StepOutcome } from './steps.js';

export interface FoundMicrophone extends MicListing {
  /** The ALSA device for the pipeline (`plughw:CARD=Array,DEV=0`: the plug layer converts formats). */
  alsaDevice: string | null;
}

/** The real USB bus of this machine (its sysfs under `roots.sys`). */
export function systemUsbBus(roots: SystemRoots): UsbBus {
  return new NodeUsbBus(roots.sys);
}

function alsaRoots(roots: SystemRoots): AlsaRoots {
  return { sys: roots.sys, proc: roots.proc };
}

/** `hw:CARD=Array,DEV=0` → `plughw:CARD=Array,DEV=0`. */
export function plugDevice(pcm: string): string {
  return pcm.replace(/^hw:/, 'plughw:');
}

/**
 * The USB microphones connected, the one the agent would use (a known array model first)
 * marked `selected` and listed first. Rejects when USB devices cannot be listed at all.
 */
export async function detectMicrophones(bus: UsbBus, roots: SystemRoots, match?: MicMatch): Promise<FoundMicrophone[]> {
  const list = await listMicrophones(bus, match ? { id: 'microphone', match, controls: {} } : undefined, alsaRoots(roots));
  return list.map((m) => ({ ...m, alsaDevice: m.alsa ? plugDevice(m.alsa) : null })).sort((a, b) => Number(b.selected) - Number(a.selected));
}

/** The `microphone` section for a microphone found: matched by model when known, else by VID/PID. */
export function microphoneConfigFor(found: FoundMicrophone, controls: MicControlsConfig = {}): MicrophoneConfig {
  const [vid, pid] = found.vidPid.split(':') as [string, string];
  return { id: 'microphone', match: found.model ? { model: found.model } : { vid, pid }, controls };
}

// ---------------------------------------------------------------------------------------------
// Level
// ---------------------------------------------------------------------------------------------

/** Peaks below this are digital silence: a muted microphone, or no capsule behind the USB part. */
export const SILENT_PEAK_DB = -90;
/** Peaks below this are too quiet for a lesson (nobody near it, or its gain far too low). */
export const QUIET_PEAK_DB = -60;

/** The capture element for an ALSA device; tests replace it (they have no sound card). */
export type LevelSource = (alsaDevice: string) => ElementNode;

export const alsaLevelSource: LevelSource = (device) => el('alsasrc', { device: quoted(device, 'microphone device') }, 'micsrc');

export interface LevelResult {
  ok: boolean;
  /** Loudest peak and average RMS over the measurement, dBFS (GStreamer's floor is far below -300). */
  peakDb?: number;
  rmsDb?: number;
  /** Level reports received (one per quarter second). */
  reports: number;
  seconds: number;
  error?: string;
}

/** `src ! audioconvert ! level ! fakesink`, a level report every quarter second. */
export function levelDescription(source: ElementNode): string {
  return render([[source, el('audioconvert', {}, 'micconv'), el('level', { interval: 250_000_000, 'post-messages': true }, 'miclevel'), el('fakesink', { sync: false }, 'micsink')]]);
}

/**
 * Listens for `seconds` (from PLAYING) and reports the loudest peak and the average RMS.
 * Never rejects: a pipeline that cannot run is `ok: false` with GStreamer's own message.
 */
export async function measureLevel(device: string, seconds: number, source: LevelSource = alsaLevelSource): Promise<LevelResult> {
  let description: string;
  try {
    description = levelDescription(source(device));
  } catch (e) {
    return { ok: false, reports: 0, seconds, error: `cannot build the level pipeline: ${errorMessage(e)}` };
  }
  const output = await runGstFor(description, seconds, 20);
  const reports = (output.text.match(/\(element\): level,/g) ?? []).length;
  const levels = parseLevels(output.text);
  const fields = { ...(levels.peakDb !== undefined ? { peakDb: levels.peakDb } : {}), ...(levels.rmsDb !== undefined ? { rmsDb: levels.rmsDb } : {}) };
  if (output.code !== 0 || reports === 0) {
    const why = /ERROR: (.*)/.exec(output.text)?.[1] ?? output.text.split('\n').filter(Boolean).slice(-2).join(' | ');
    return { ok: false, reports, seconds, ...fields, error: output.timedOut ? `gst-launch-1.0 did not finish: ${why}` : why || 'no level reports' };
  }
  return { ok: true, reports, seconds, ...fields };
}

export type LevelVerdict = 'silent' | 'quiet' | 'ok';

export function judgeLevel(peakDb: number | undefined): LevelVerdict {
  if (peakDb === undefined || peakDb < SILENT_PEAK_DB) return 'silent';
  if (peakDb < QUIET_PEAK_DB) return 'quiet';
  return 'ok';
}

export function describeLevel(r: LevelResult): string {
  const peak = r.peakDb !== undefined && r.peakDb > -200 ? `${r.peakDb} dBFS` : 'no signal';
  const rms = r.rmsDb !== undefined && r.rmsDb > -200 ? `, average ${r.rmsDb} dBFS` : '';
  return `peak ${peak}${rms} over ${r.seconds} s`;
}

/** The checklist line for a level measurement of `who`. */
export function levelOutcome(who: string, r: LevelResult): StepOutcome {
  if (!r.ok) {
    return fail(
      'microphone-level-failed',
      `${who}: cannot listen: ${r.error ?? 'no level reports'}`,
      'check no other program records from it (a lesson of the agent does), then `arecord -D DEVICE -d 3 /tmp/test.wav`',
      r,
    );
  }
  switch (judgeLevel(r.peakDb)) {
    case 'silent':
      return fail(
        'microphone-silent',
        `${who}: silent (${describeLevel(r)})`,
        'check the mute switch or button on the microphone and its cable (and, for a microphone with a separate capsule, the capsule’s cable); in alsamixer (F6: its card) capture must be unmuted; then speak near it and run again',
        r,
      );
    case 'quiet':
      return warn(`${who}: very quiet (${describeLevel(r)})`, 'speak near the microphone while it is measured; if it stays this quiet, raise its capture level in alsamixer or turn its AGC on', r);
    case 'ok':
      return pass(`${who}: ${describeLevel(r)}`, r);
  }
}

/** A busy capture device: the agent's lesson pipeline has it. */
export function isBusy(r: LevelResult): boolean {
  return /busy|Device or resource busy/i.test(r.error ?? '');
}

// ---------------------------------------------------------------------------------------------
// Vendor controls
// ---------------------------------------------------------------------------------------------

export interface ControlsResult {
  ok: boolean;
  detail: string;
  state?: MicState;
}

const CONTROL_NAMES: Record<keyof MicControlsConfig, string> = {
  agc: 'AGC',
  agcGain: 'AGC gain',
  stationaryNoiseSuppression: 'stationary noise suppression',
  nonStationaryNoiseSuppression: 'non-stationary noise suppression',
  echoSuppression: 'echo suppression',
};

/**
 * Writes the configured vendor controls to the microphone the config matches, then reads them
 * back: each must read as written (the AGC gain within the device's fixed-point rounding).
 */
export async function applyControls(config: MicrophoneConfig, bus: UsbBus, roots: SystemRoots): Promise<ControlsResult> {
  const mic = new Microphone({ config, usb: bus, roots: alsaRoots(roots), scanMs: 3_600_000, lessonCheckMs: 3_600_000, applyOnAttach: false, open: { tries: 4, minMs: 200, maxMs: 1000 } });
  try {
    await mic.start();
    await mic.settled();
    if (!mic.device) return { ok: false, detail: `no USB microphone connected (looking for ${describeMatch(config.match)})` };
    if (!mic.hasControls()) return { ok: false, detail: `${mic.device.label} has no vendor controls` };
    await mic.applySettings();
    const state = await mic.readState();
    const wrong: string[] = [];
    for (const [key, want] of Object.entries(config.controls) as [keyof MicControlsConfig, boolean | number | undefined][]) {
      if (want === undefined) continue;
      const got = state[key];
      const same = typeof want === 'number' ? typeof got === 'number' && Math.abs(got - want) <= Math.max(0.001, Math.abs(want) * 1e-3) : got === want;
      if (!same) wrong.push(`${CONTROL_NAMES[key]}: wrote ${String(want)}, reads ${String(got)}`);
    }
    const written = Object.entries(config.controls)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${CONTROL_NAMES[k as keyof MicControlsConfig]} ${typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v)}`)
      .join(', ');
    if (wrong.length) return { ok: false, detail: `read back differs: ${wrong.join('; ')}`, state };
    return { ok: true, detail: `${written}: written and read back`, state };
  } catch (e) {
    return { ok: false, detail: errorMessage(e) };
  } finally {
    await mic.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Doctor
// ---------------------------------------------------------------------------------------------

export type ConfiguredMicrophoneCheck =
  | { ok: true; detail: string; alsaDevice: string | null }
  | { ok: false; detail: string };

/** Whether the configured microphone is on the USB bus, and its ALSA capture device. */
export async function checkConfiguredMicrophone(config: MicrophoneConfig, bus: UsbBus, roots: SystemRoots): Promise<ConfiguredMicrophoneCheck> {
  const mic = new Microphone({ config, usb: bus, roots: alsaRoots(roots), scanMs: 3_600_000, lessonCheckMs: 3_600_000, applyOnAttach: false, open: { tries: 1, minMs: 100, maxMs: 100 } });
  try {
    await mic.start();
    await mic.settled();
    const c = mic.device;
    if (!c) return { ok: false, detail: mic.health().detail ?? `no USB microphone connected (looking for ${describeMatch(config.match)})` };
    const alsa = mic.capture ? plugDevice(mic.capture.pcm) : null;
    return { ok: true, detail: `${c.vidPid} ${c.label}${alsa ? `, ALSA ${alsa}` : ', no ALSA capture device'}`, alsaDevice: alsa };
  } finally {
    await mic.stop();
  }
}
