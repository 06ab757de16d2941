/**
 * `lectern provision`: from a bare kit to a written, checked config in one pass.
 *
 *   1. look at the kit: serial ports and what answers on them (VISCA cameras, else a display
 *      speaking Samsung MDC, LG or BenQ), whether HDMI-CEC could drive the display, V4L2 video
 *      devices, ALSA capture devices, USB microphones, the H.264 encoders that work here;
 *   2. the technician's answers (prompts on a terminal, else the answers file and flags):
 *      device id, school, room, role, camera names, the display's lesson input, video and audio
 *      source, stream target, platform endpoint and credentials;
 *   3. test: each camera moves and comes back, the display switches on and shows the lesson
 *      input, the microphone is not silent (and takes its vendor settings), a 5-second clip
 *      from the chosen sources plays, the TLS files are sound, the media server answers, the
 *      platform accepts the status birth;
 *   4. write the config (validated by the agent's own validator, atomically, 0600);
 *   5. print the checklist: each step passed or failed, with the fix for each failure.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfigObject } from '../agent/config/load.js';
import type { Config, ConfigInput } from '../agent/config/schema.js';
import { ConfigError, errorMessage } from '../agent/errors.js';
import { silentLogger } from '../agent/log.js';
import { displayInputs } from '../drivers/display/config.js';
import type { UsbBus } from '../drivers/mic/usb.js';
import { CAMERA_ID_PATTERN } from '../drivers/visca/config.js';
import type { AacEncoderName, MediaConfig, MediaConfigInput } from '../pipelines/config.js';
import { resolveMediaConfig } from '../pipelines/config.js';
import { probeAacEncoder, probeH264Encoders, type EncoderProbeResult } from '../pipelines/encoders.js';
import { loadGstBinding } from '../pipelines/gst.js';
import { resolveMediaUrl } from '../pipelines/urls.js';
import type { Prompter, ProvisionAnswers } from './answers.js';
import { checkFoundCameraMoves, viscaSerialProbe, type FoundCamera, type SerialProbe, type SerialProbeResult } from './cameras.js';
import { checkCertificates } from './certs.js';
import { writeConfigFile } from './config-file.js';
import { detectAudioCapture, detectSerialPorts, detectVideoDevices, type AudioCaptureInfo, type SerialPortInfo, type SystemRoots, type VideoDeviceInfo } from './detect.js';
import { detectCec, displayConfigFor, displaySerialProbe, lessonInputFor, testPanel, type CecInfo, type FoundDisplay } from './display.js';
import { recordTestClip } from './media.js';
import {
  applyControls,
  detectMicrophones,
  levelOutcome,
  measureLevel,
  microphoneConfigFor,
  systemUsbBus,
  type FoundMicrophone,
  type LevelSource,
} from './microphone.js';
import { checkMediaServer, checkPlatformBirth } from './platform.js';
import { anyFailed, fail, pass, runSteps, skip, warn, type Progress, type Step, type StepOutcome, type StepResult } from './steps.js';

export interface ProvisionOptions {
  answers: ProvisionAnswers;
  /** Ask on the terminal, with the answers as defaults. */
  prompter?: Prompter;
  /** Where the config goes. */
  out: string;
  roots: SystemRoots;
  clipSeconds: number;
  clipFile?: string;
  /** Owner of the written config when run as root (the service's user). */
  owner?: string;
  progress?: Progress;
  /** Probes offered each serial port, in order (default: VISCA cameras, then displays). */
  serialProbes?: SerialProbe[];
  /** The USB bus to look for microphones on (default: this machine's). */
  usb?: UsbBus;
  /** The capture element for the microphone level (default: alsasrc on the microphone's device). */
  levelSource?: LevelSource;
  /** How long the microphone level is measured (default 3 s). */
  levelSeconds?: number;
  /** Pause between tries of an input change the display refuses while it boots (default 2.5 s). */
  displayInputRetryMs?: number;
}

export interface ProvisionReport {
  ok: boolean;
  configFile: string | null;
  deviceId: string | null;
  found: {
    serialPorts: SerialPortInfo[];
    cameras: FoundCamera[];
    displays: FoundDisplay[];
    cec: CecInfo | null;
    video: VideoDeviceInfo[];
    audio: AudioCaptureInfo[];
    microphones: FoundMicrophone[];
    encoders: string[];
  };
  results: StepResult[];
}

interface Ctx {
  opts: ProvisionOptions;
  answers: ProvisionAnswers;
  serialPorts: SerialPortInfo[];
  probed: { port: SerialPortInfo; result: SerialProbeResult }[];
  cameras: FoundCamera[];
  displays: FoundDisplay[];
  cec?: CecInfo;
  video: VideoDeviceInfo[];
  audio: AudioCaptureInfo[];
  usb: UsbBus;
  microphones: FoundMicrophone[];
  encoders?: EncoderProbeResult;
  aac?: AacEncoderName;
  input?: ConfigInput;
  config?: Config;
  media?: MediaConfig;
  written?: string;
}

const DEFAULT_CAMERA_NAMES = ['teacher', 'students', 'board'];

function cameraName(i: number, names: readonly string[] | undefined): string {
  return names?.[i] ?? DEFAULT_CAMERA_NAMES[i] ?? `camera${i + 1}`;
}

// ---------------------------------------------------------------------------------------------
// Step lists. A new kind of device adds its detection step to DETECT and its test to TEST.
// ---------------------------------------------------------------------------------------------

const DETECT: Step<Ctx>[] = [
  {
    id: 'serial-ports',
    title: 'serial ports',
    async run(ctx) {
      ctx.serialPorts = detectSerialPorts(ctx.opts.roots, ctx.answers.serialPorts ?? []);
      if (!ctx.serialPorts.length) return warn('none found', 'plug in the cameras’ USB-serial adapter (ls /dev/serial/by-id); IP cameras need none');
      return pass(ctx.serialPorts.map((p) => p.path).join(', '), ctx.serialPorts);
    },
  },
  {
    id: 'serial-probe',
    title: 'devices on the serial ports',
    async run(ctx) {
      const probes = ctx.opts.serialProbes ?? [viscaSerialProbe(), displaySerialProbe()];
      const outcomes: StepOutcome[] = [];
      for (const port of ctx.serialPorts) {
        let found: SerialProbeResult | undefined;
        const errors: string[] = [];
        for (const probe of probes) {
          try {
            found = await probe.probe(port);
          } catch (e) {
            errors.push(`${probe.kind}: ${errorMessage(e)}`);
          }
          if (found) break;
        }
        if (found) {
          ctx.probed.push({ port, result: found });
          ctx.cameras.push(...(found.cameras ?? []));
          if (found.display) ctx.displays.push(found.display);
          outcomes.push(pass(`${port.path}: ${found.summary}`, found));
        } else {
          outcomes.push(skip(`${port.path}: nothing answered${errors.length ? ` (${errors.join('; ')})` : ''}`));
        }
      }
      if (!ctx.cameras.length) {
        outcomes.push(
          fail(
            'camera-missing',
            'no VISCA camera answered on any serial port',
            'check the camera is powered, its RS-232/RS-485 cable and adapter are connected, and its protocol is VISCA; then `lectern camera --port PATH info`',
          ),
        );
      }
      return outcomes;
    },
  },
  {
    id: 'display',
    title: 'display (RS-232, HDMI-CEC)',
    async run(ctx) {
      const cec = (ctx.cec = detectCec(ctx.opts.roots));
      const cecNote = cec.possible
        ? `HDMI-CEC also possible (${cec.devices.join(', ')})`
        : `HDMI-CEC not available (${cec.program ? 'no /dev/cec* device' : 'cec-ctl not installed'})`;
      const d = ctx.displays[0];
      if (d) {
        const more = ctx.displays.length > 1 ? `; also ${ctx.displays.slice(1).map((x) => `${x.model} on ${x.port}`).join(', ')} (not configured)` : '';
        return pass(`${d.model}, ID ${d.id} on ${d.port}${more}; ${cecNote}`, { displays: ctx.displays, cec });
      }
      const fixSerial =
        'connect the panel’s RS-232 port to a USB-serial adapter (a null-modem cable where the panel needs one), switch RS-232 control on in its menu, and run provision again; without it lessons run but nothing switches the panel';
      if (cec.possible) {
        return warn(`no panel answered on a serial port (Samsung MDC, LG, BenQ); ${cecNote}`, `${fixSerial}; or drive it over HDMI-CEC: a display section with transport "cec" (README, "Displays")`, { cec });
      }
      return warn(`no panel answered on a serial port (Samsung MDC, LG, BenQ at their default line settings); ${cecNote}`, fixSerial, { cec });
    },
  },
  {
    id: 'video-devices',
    title: 'video devices (V4L2)',
    async run(ctx) {
      ctx.video = detectVideoDevices(ctx.opts.roots);
      const list = ctx.video.map((v) => `${v.path} "${v.name}"`).join(', ');
      if (ctx.video.length) return pass(list, ctx.video);
      if (ctx.answers.video && ctx.answers.video !== 'auto') return skip(`none found; using ${ctx.answers.video} as answered`);
      return fail('video-device-missing', 'no /dev/video* device', 'plug the USB camera or HDMI capture card into a USB 3 port; `ls /dev/video*` should list it');
    },
  },
  {
    id: 'audio-devices',
    title: 'audio capture devices (ALSA)',
    async run(ctx) {
      ctx.audio = detectAudioCapture(ctx.opts.roots);
      const list = ctx.audio.map((a) => `${a.alsaDevice} "${a.name}"${a.usb ? ' (USB)' : ''}`).join(', ');
      if (ctx.audio.length) return pass(list, ctx.audio);
      if (ctx.answers.audio && ctx.answers.audio !== 'auto') return skip(`none found; using ${ctx.answers.audio} as answered`);
      return fail('audio-device-missing', 'no ALSA capture device', 'plug in the USB array microphone; `arecord -l` should list it');
    },
  },
  {
    id: 'microphone',
    title: 'USB microphone',
    async run(ctx) {
      try {
        ctx.microphones = await detectMicrophones(ctx.usb, ctx.opts.roots);
      } catch (e) {
        return warn(`USB devices cannot be listed: ${errorMessage(e)}`, 'run provision on the kit itself (as root): the microphone is found on its USB bus');
      }
      const answered = ctx.answers.audio !== undefined && ctx.answers.audio !== 'auto';
      const m = ctx.microphones[0];
      if (!m) {
        if (answered) return skip(`no USB microphone; using ${ctx.answers.audio} as answered`);
        return warn(
          'no USB microphone (no known array model, no USB audio device with a capture interface)',
          'plug the array microphone into a USB port (`lsusb` lists it); a microphone on the built-in sound card works, without vendor controls',
        );
      }
      const list = ctx.microphones.map((x) => `${x.vidPid} ${x.name}${x.known ? '' : ' (plain USB microphone)'}${x.alsaDevice ? ` → ${x.alsaDevice}` : ' → no ALSA device'}`).join(', ');
      if (!m.alsaDevice && ctx.answers.audio !== 'test') {
        return fail(
          'microphone-no-alsa',
          `${list}: the kernel made no ALSA capture device for it`,
          'check snd-usb-audio is loaded (`lsmod | grep snd_usb_audio`) and `arecord -l` lists the card; replug the microphone',
          ctx.microphones,
        );
      }
      return pass(list, ctx.microphones);
    },
  },
  {
    id: 'encoders',
    title: 'H.264 encoders',
    async run(ctx) {
      try {
        ctx.encoders = await probeH264Encoders(['vaapih264enc', 'nvh264enc', 'v4l2h264enc', 'x264enc'], { binding: loadGstBinding(), log: silentLogger(), all: true });
      } catch (e) {
        return fail('no-h264-encoder', errorMessage(e), 'run provisioning/bootstrap.sh (it installs GStreamer and x264enc)');
      }
      ctx.aac = await probeAacEncoder(['avenc_aac', 'voaacenc']).catch(() => undefined);
      const notes = ctx.encoders.attempts.filter((a) => !a.ok).map((a) => `${a.encoder}: ${a.reason ?? 'failed'}`);
      return pass(`usable: ${ctx.encoders.usable.join(', ')}${notes.length ? ` (not usable: ${notes.join('; ')})` : ''}`, ctx.encoders);
    },
  },
];

const TEST: Step<Ctx>[] = [
  {
    id: 'settings',
    title: 'settings',
    async run(ctx) {
      try {
        ctx.config = validateConfigObject(ctx.input, 'the answers');
      } catch (e) {
        const problems = e instanceof ConfigError && e.problems.length ? e.problems.join('; ') : errorMessage(e);
        return fail('config-invalid', problems, 'give the missing or wrong answers (flags, --answers FILE, or run on a terminal to be asked)');
      }
      if (ctx.config.media) ctx.media = resolveMediaConfig({ ...ctx.config.media, recording: { dir: join(ctx.config.dataDir, 'recordings'), ...ctx.config.media.recording } }, 'media settings', ctx.config.deviceId);
      return pass(`device ${ctx.config.deviceId}, ${ctx.config.role}, ${ctx.config.cameras.length} camera(s), ${ctx.config.media ? 'media configured' : 'no media section'}`);
    },
  },
  {
    id: 'camera-move',
    title: 'camera moves and returns',
    async run(ctx) {
      if (ctx.answers.skipCameraMove) return skip('skipped as asked');
      if (!ctx.cameras.length) return skip('no camera found');
      const outcomes: StepOutcome[] = [];
      for (const [i, cam] of ctx.cameras.entries()) {
        const name = cameraName(i, ctx.answers.cameraNames);
        try {
          const r = await checkFoundCameraMoves(cam);
          outcomes.push(
            r.ok
              ? pass(`${name} (${cam.port} #${cam.address}): ${r.detail}`)
              : fail('camera-move-failed', `${name} (${cam.port} #${cam.address}): ${r.detail}`, 'check nothing blocks the camera head and that it is not in a menu or locked; power-cycle it and try again'),
          );
        } catch (e) {
          outcomes.push(fail('camera-move-failed', `${name} (${cam.port} #${cam.address}): ${errorMessage(e)}`, 'check the camera’s power and cable; `lectern camera --port PATH info`'));
        }
      }
      return outcomes;
    },
  },
  {
    id: 'display-test',
    title: 'display switches on and shows the lesson input',
    async run(ctx) {
      const d = ctx.displays[0];
      if (!d) return skip('no display found');
      if (ctx.answers.skipDisplayTest) return skip('skipped as asked');
      const config = displayConfigFor(d, lessonInputFor(d, ctx.answers.displayInput));
      const where = `${d.model} on ${d.port}`;
      let r: Awaited<ReturnType<typeof testPanel>>;
      try {
        r = await testPanel(config, { ...(ctx.opts.displayInputRetryMs !== undefined ? { inputRetryMs: ctx.opts.displayInputRetryMs } : {}) });
      } catch (e) {
        const problems = e instanceof ConfigError && e.problems.length ? e.problems.join('; ') : errorMessage(e);
        return fail('display-test-failed', `${where}: ${problems}`, 'check the panel’s power and RS-232 cable, and that the lesson input is one of its inputs (displayInput)');
      }
      if (!r.ok) {
        return fail(
          'display-test-failed',
          `${where}: ${r.detail}`,
          'check the panel is not locked by its own settings (RS-232 control on, no menu open), that the lesson input exists on it (displayInput), and its power; `lectern display --port PATH --profile PROFILE --id N power status`',
          r,
        );
      }
      // Left on rather than put back: the technician is in front of it and can see that the
      // kit's picture reaches that input, which the RS-232 answer alone cannot show.
      return pass(`${where}: ${r.detail}; left on, so you can check the kit’s picture is on it (lessons switch it as the timetable says)`, r);
    },
  },
  {
    id: 'microphone-level',
    title: 'microphone level',
    async run(ctx) {
      if (ctx.answers.skipMicLevel) return skip('skipped as asked');
      const m = ctx.microphones[0];
      const device = m?.alsaDevice ?? (ctx.media?.audio.type === 'alsa' ? ctx.media.audio.device : undefined);
      if (!device) return skip(m ? `${m.name}: no ALSA capture device to listen to` : 'no microphone to listen to');
      const r = await measureLevel(device, ctx.opts.levelSeconds ?? 3, ctx.opts.levelSource);
      return levelOutcome(m ? `${m.name} (${device})` : device, r);
    },
  },
  {
    id: 'microphone-controls',
    title: 'microphone vendor settings',
    async run(ctx) {
      const controls = ctx.answers.micControls;
      if (!controls || Object.values(controls).every((v) => v === undefined)) return skip('none asked for (answers: micControls)');
      const m = ctx.microphones[0];
      if (!m) return skip('no USB microphone found');
      if (!m.known) return warn(`${m.name} (${m.vidPid}) has no vendor controls: the settings asked for are not written to the config`, 'remove micControls from the answers, or connect the array microphone');
      const r = await applyControls(microphoneConfigFor(m, controls), ctx.usb, ctx.opts.roots);
      if (!r.ok) {
        return fail('microphone-controls-failed', `${m.name}: ${r.detail}`, 'check lectern may open the microphone (the udev rule from provisioning/install.sh), replug it and run again', r);
      }
      return pass(`${m.name}: ${r.detail}`, r);
    },
  },
  {
    id: 'test-clip',
    title: 'test clip',
    async run(ctx) {
      if (ctx.answers.skipClip) return skip('skipped as asked');
      if (!ctx.media || !ctx.encoders) return skip('no media settings or no encoder: nothing to record');
      if (!ctx.aac) return fail('gst-plugin-missing', 'no AAC encoder (avenc_aac, voaacenc)', 'install gstreamer1.0-libav (provisioning/bootstrap.sh)');
      const file = ctx.opts.clipFile ?? join(tmpdir(), `lectern-test-clip-${process.pid}.ts`);
      const r = await recordTestClip({ media: ctx.media, encoder: ctx.encoders.chosen, aacEncoder: ctx.aac, seconds: ctx.opts.clipSeconds, file });
      const level = r.audioPeakDb !== undefined ? `; microphone peak ${r.audioPeakDb} dBFS, average ${r.audioRmsDb} dBFS` : '';
      if (!r.ok) return fail('test-clip-failed', `${r.error ?? 'failed'}${level}`, 'check the camera and microphone are not in use by another program (is the agent running?) and `lectern pipeline print` runs', r);
      if (r.audioPeakDb !== undefined && r.audioPeakDb < -60) {
        return warn(`${file}: ${r.durationSec} s, ${r.video}, ${r.audio}${level}`, 'the microphone is nearly silent: check it is unmuted (alsamixer) and speak near it while testing', r);
      }
      return pass(`${file}: ${r.durationSec} s, ${r.video}, ${r.audio ?? 'no audio'}${level}`, r);
    },
  },
  {
    id: 'certificates',
    title: 'TLS certificates',
    async run(ctx) {
      if (!ctx.config) return skip('settings invalid');
      const outcomes = checkCertificates(ctx.config.platform);
      return outcomes.length ? outcomes : skip('no TLS files configured');
    },
  },
  {
    id: 'media-server',
    title: 'media server',
    async run(ctx) {
      if (!ctx.media || !ctx.config) return skip('no media settings');
      if (!ctx.media.uplink.urlTemplate) return skip('no stream target (uplinkUrl) given');
      return checkMediaServer(resolveMediaUrl(ctx.media.uplink.protocol, ctx.media.uplink.urlTemplate, { deviceId: ctx.config.deviceId }, 'uplink.urlTemplate'));
    },
  },
  {
    id: 'platform',
    title: 'platform connection and status birth',
    async run(ctx) {
      if (ctx.answers.skipPlatform) return skip('skipped as asked');
      if (!ctx.config) return skip('settings invalid');
      return checkPlatformBirth(ctx.config, {
        ...(ctx.encoders ? { encoders: ctx.encoders.usable.slice(0, 8) } : {}),
        ...(ctx.media?.uplink.urlTemplate ? { uplink: [ctx.media.uplink.protocol] } : {}),
      });
    },
  },
  {
    id: 'config',
    title: 'config file',
    async run(ctx) {
      if (!ctx.config || !ctx.input) return skip('not written: the settings are invalid');
      let owner: { uid: number; gid: number } | undefined;
      let note = '';
      if (ctx.opts.owner && process.getuid?.() === 0) {
        try {
          owner = {
            uid: Number(execFileSync('id', ['-u', ctx.opts.owner], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
            gid: Number(execFileSync('id', ['-g', ctx.opts.owner], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
          };
        } catch {
          note = `; user ${ctx.opts.owner} does not exist yet, so the file stays root's (provisioning/install.sh creates the user)`;
        }
      }
      try {
        writeConfigFile(ctx.opts.out, ctx.input, owner);
      } catch (e) {
        return fail('config-write-failed', `cannot write ${ctx.opts.out}: ${errorMessage(e)}`, 'run as root (sudo) or give --out FILE where you may write');
      }
      ctx.written = ctx.opts.out;
      return note
        ? warn(`${ctx.opts.out} written (mode 0600)${note}`, `run provisioning/install.sh, then: chown ${ctx.opts.owner}: ${ctx.opts.out}`)
        : pass(`${ctx.opts.out} written (mode 0600${owner ? `, owner ${ctx.opts.owner}` : ''}); \`lectern doctor\` checks it again at any time`);
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Questions
// ---------------------------------------------------------------------------------------------

const DEVICE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/;

function checkUrl(schemes: string[]): (a: string) => string | undefined {
  return (a) => {
    if (a === '') return undefined;
    try {
      const u = new URL(a);
      return schemes.includes(u.protocol) ? undefined : `use one of ${schemes.join(' ')}`;
    } catch {
      return 'not a URL';
    }
  };
}

/** Asks every question on the terminal, the known answers as defaults; returns the completed answers. */
async function askQuestions(p: Prompter, ctx: Ctx): Promise<ProvisionAnswers> {
  const a: ProvisionAnswers = { ...ctx.answers };
  a.deviceId = await p.ask('Device id (from the platform, e.g. QZ-FZ-0101-R201)', a.deviceId, (x) => (DEVICE_ID_RE.test(x) ? undefined : '3–64 letters, digits, _ or -, starting with a letter or digit'));
  a.school = (await p.ask('School', a.school ?? '')) || undefined;
  a.room = (await p.ask('Room', a.room ?? '')) || undefined;
  a.role = await p.choose('Role of this room', ['lecture', 'listen', 'both'] as const, a.role ?? 'both');
  const names: string[] = [];
  for (const [i, cam] of ctx.cameras.entries()) {
    names.push(
      await p.ask(`Name for camera ${i + 1} (${cam.model} on ${cam.port}, address ${cam.address})`, cameraName(i, a.cameraNames), (x) =>
        new RegExp(CAMERA_ID_PATTERN).test(x) && !names.includes(x) ? undefined : 'lowercase letters, digits, _ or -, unique',
      ),
    );
  }
  if (names.length) a.cameraNames = names;
  const display = ctx.displays[0];
  if (display) {
    const inputs = Object.keys(displayInputs(displayConfigFor(display, undefined)));
    a.displayInput = await p.ask(`Display input for lessons (${display.model}: ${inputs.join(', ')})`, lessonInputFor(display, a.displayInput), (x) =>
      inputs.includes(x.trim().toLowerCase()) ? undefined : `one of: ${inputs.join(', ')}`,
    );
  }
  const videoDefault = a.video ?? ctx.video[0]?.path ?? 'test';
  a.video = await p.ask(`Video source (${[...ctx.video.map((v) => v.path), 'test'].join(', ')})`, videoDefault);
  const usbMic = ctx.microphones[0]?.alsaDevice ?? undefined;
  const audioDefault = a.audio ?? usbMic ?? ctx.audio[0]?.alsaDevice ?? 'test';
  const audioChoices = [...new Set([...(usbMic ? [usbMic] : []), ...ctx.audio.map((x) => x.alsaDevice), 'test'])];
  a.audio = await p.ask(`Microphone (${audioChoices.join(', ')})`, audioDefault);
  a.uplinkUrl = (await p.ask('Stream target (srt://… or rtmp://…, {deviceId} allowed; empty: none)', a.uplinkUrl ?? '', checkUrl(['srt:', 'rtmp:', 'rtmps:']))) || undefined;
  a.mqttUrl = await p.ask('Platform broker URL (mqtts://host:8883)', a.mqttUrl, checkUrl(['mqtt:', 'mqtts:', 'ws:', 'wss:']));
  a.username = (await p.ask('Broker user name (empty: none)', a.username ?? '')) || undefined;
  const password = await p.secret('Broker password', a.password !== undefined);
  if (password !== undefined) a.password = password;
  a.caFile = (await p.ask('Platform CA file (PEM; empty: the system’s CAs)', a.caFile ?? '')) || undefined;
  a.certFile = (await p.ask('Device certificate file for mTLS (empty: none)', a.certFile ?? '')) || undefined;
  if (a.certFile) a.keyFile = (await p.ask('Device key file', a.keyFile ?? '')) || undefined;
  return a;
}

// ---------------------------------------------------------------------------------------------
// The config from the answers and what was found
// ---------------------------------------------------------------------------------------------

function protocolOf(url: string): 'srt' | 'rtmp' {
  return /^rtmps?:/i.test(url) ? 'rtmp' : 'srt';
}

export function buildConfigInput(
  a: ProvisionAnswers,
  found: { cameras: FoundCamera[]; video: VideoDeviceInfo[]; audio: AudioCaptureInfo[]; encoders?: EncoderProbeResult; displays?: FoundDisplay[]; microphones?: FoundMicrophone[] },
): ConfigInput {
  const platform: ConfigInput['platform'] = { mqttUrl: a.mqttUrl };
  for (const k of ['protocolVersion', 'username', 'password', 'caFile', 'certFile', 'keyFile', 'rejectUnauthorized'] as const) {
    if (a[k] !== undefined) (platform as Record<string, unknown>)[k] = a[k];
  }
  const input: ConfigInput = {
    deviceId: a.deviceId,
    ...(a.school ? { school: a.school } : {}),
    ...(a.room ? { room: a.room } : {}),
    role: a.role ?? 'both',
    ...(a.timezone ? { timezone: a.timezone } : {}),
    ...(a.dataDir ? { dataDir: a.dataDir } : {}),
    platform,
    cameras: found.cameras.map((c, i) => ({ id: cameraName(i, a.cameraNames), address: c.address, transport: { type: 'serial', path: c.port, baudRate: c.baudRate } })),
  };
  const display = found.displays?.[0];
  if (display) input.display = displayConfigFor(display, lessonInputFor(display, a.displayInput), a.displayPowerOff ?? false);
  const mic = found.microphones?.[0];
  // Vendor settings only for a microphone that has them (the agent would ignore them otherwise).
  if (mic) input.microphone = microphoneConfigFor(mic, mic.known ? (a.micControls ?? {}) : {});
  const videoAnswer = a.video ?? 'auto';
  const video: MediaConfigInput['video'] | undefined =
    videoAnswer === 'test' ? { type: 'test' } : videoAnswer === 'auto' ? (found.video[0] ? { type: 'v4l2', device: found.video[0].path } : undefined) : { type: 'v4l2', device: videoAnswer };
  const audioAnswer = a.audio ?? 'auto';
  const audio: MediaConfigInput['audio'] | undefined =
    audioAnswer === 'test'
      ? { type: 'test' }
      : audioAnswer === 'auto'
        ? mic?.alsaDevice
          ? { type: 'alsa', device: mic.alsaDevice }
          : found.audio[0]
            ? { type: 'alsa', device: found.audio[0].alsaDevice }
            : undefined
        : { type: 'alsa', device: audioAnswer };
  if (video && audio) {
    input.media = {
      video,
      audio,
      ...(found.encoders ? { encoder: { preference: found.encoders.usable } } : {}),
      ...(a.uplinkUrl ? { uplink: { protocol: protocolOf(a.uplinkUrl), urlTemplate: a.uplinkUrl } } : {}),
      ...(a.listenUrl ? { listen: { protocol: protocolOf(a.listenUrl), urlTemplate: a.listenUrl } } : {}),
    };
  }
  return input;
}

export async function provision(opts: ProvisionOptions): Promise<ProvisionReport> {
  const ctx: Ctx = { opts, answers: opts.answers, serialPorts: [], probed: [], cameras: [], displays: [], video: [], audio: [], usb: opts.usb ?? systemUsbBus(opts.roots), microphones: [] };
  const total = DETECT.length + TEST.length;
  const offset = (by: number): Progress | undefined => (opts.progress ? (e) => opts.progress!({ ...e, index: e.index + by, total }) : undefined);
  const results: StepResult[] = await runSteps(DETECT, ctx, offset(0));
  if (opts.prompter) ctx.answers = await askQuestions(opts.prompter, ctx);
  ctx.input = buildConfigInput(ctx.answers, ctx);
  results.push(...(await runSteps(TEST, ctx, offset(DETECT.length))));
  return {
    ok: !anyFailed(results),
    configFile: ctx.written ?? null,
    deviceId: ctx.config?.deviceId ?? null,
    found: {
      serialPorts: ctx.serialPorts,
      cameras: ctx.cameras,
      displays: ctx.displays,
      cec: ctx.cec ?? null,
      video: ctx.video,
      audio: ctx.audio,
      microphones: ctx.microphones,
      encoders: ctx.encoders?.usable ?? [],
    },
    results,
  };
}
