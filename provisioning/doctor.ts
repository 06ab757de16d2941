/**
 * `lectern doctor`: can this kit run a lesson now? The provisioning checks run again on the
 * installed config (cameras, display, microphone presence and level, media devices), plus what
 * only matters later: clock synchronisation, free disk for a lesson's recording, every GStreamer
 * element the configured pipelines use, certificate expiry, the media server, the broker with
 * the real credentials, and the uplink's throughput.
 *
 * With the agent running, its devices are asked through the control socket (it holds the serial
 * ports and the microphone's vendor interface); otherwise doctor opens them itself. The
 * microphone's level is measured either way (the agent holds the ALSA device only during a
 * lesson; then the measurement says so and is skipped).
 */
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadConfig } from '../agent/config/load.js';
import type { Config } from '../agent/config/schema.js';
import { clockSynced } from '../agent/clock-sync.js';
import { controlRequest } from '../agent/control.js';
import { ConfigError, StateError, errorMessage } from '../agent/errors.js';
import { silentLogger } from '../agent/log.js';
import { openState } from '../agent/state/db.js';
import type { Role } from '../pipelines/builder.js';
import { resolveMediaConfig, type MediaConfig } from '../pipelines/config.js';
import { factoryExists, probeAacEncoder, probeH264Encoders, type EncoderProbeResult } from '../pipelines/encoders.js';
import { loadGstBinding } from '../pipelines/gst.js';
import { resolveMediaUrl } from '../pipelines/urls.js';
import type { UsbBus } from '../drivers/mic/usb.js';
import { checkConfiguredCameras } from './cameras.js';
import { checkCertificates } from './certs.js';
import { detectAudioCapture, type SystemRoots } from './detect.js';
import { checkConfiguredDisplay } from './display.js';
import { checkConfiguredMicrophone, isBusy, levelOutcome, measureLevel, systemUsbBus, type LevelSource } from './microphone.js';
import { missingElements, packageFor, requiredElements } from './media.js';
import { checkBrokerLogin, checkMediaServer, checkUplink } from './platform.js';
import { anyFailed, fail, pass, runSteps, skip, warn, type Progress, type Step, type StepOutcome, type StepResult } from './steps.js';

export interface DoctorOptions {
  configFile: string;
  roots: SystemRoots;
  /** Free bytes a lesson needs; default: the stream's top bitrate for `lessonMinutes`, plus a tenth. */
  minFreeBytes?: number;
  lessonMinutes: number;
  /** Elements to require besides those of the configured pipelines. */
  requireElements: string[];
  /** Bytes sent for the uplink measurement; 0 skips it. */
  bandwidthBytes: number;
  certWarnDays: number;
  progress?: Progress;
  /** Replaces gst-inspect-1.0 --exists (tests). */
  elementExists?: (factory: string) => Promise<boolean>;
  /** The USB bus the microphone is looked for on (default: this machine's). */
  usb?: UsbBus;
  /** The capture element for the microphone level (default: alsasrc on its device). */
  levelSource?: LevelSource;
  /** Seconds the microphone level is measured; 0 skips it (default 3). */
  levelSeconds?: number;
}

export interface DoctorReport {
  ok: boolean;
  configFile: string;
  deviceId: string | null;
  agentRunning: boolean;
  results: StepResult[];
}

interface Ctx {
  opts: DoctorOptions;
  config?: Config;
  media?: MediaConfig;
  agent?: Record<string, unknown>;
  encoders?: EncoderProbeResult;
}

/** Device health as the agent's status reports it. */
interface AgentDevice {
  kind: string;
  id: string;
  status: string;
  detail?: string;
  model?: string;
}

function agentDevices(ctx: Ctx): AgentDevice[] | undefined {
  const d = ctx.agent?.devices;
  return Array.isArray(d) ? (d as AgentDevice[]) : undefined;
}

/** Lesson bitrate assumed for the disk check without media settings (as the lesson loop does). */
const DEFAULT_LESSON_KBPS = 4000;

const STEPS: Step<Ctx>[] = [
  {
    id: 'config',
    title: 'config',
    async run(ctx) {
      try {
        ctx.config = loadConfig({ file: ctx.opts.configFile });
      } catch (e) {
        const problems = e instanceof ConfigError && e.problems.length ? e.problems.join('; ') : errorMessage(e);
        return fail('config-invalid', problems, `fix ${ctx.opts.configFile} (\`lectern config validate\` lists every problem) or run \`lectern provision\` again`);
      }
      const c = ctx.config;
      if (c.media) ctx.media = resolveMediaConfig({ ...c.media, recording: { dir: join(c.dataDir, 'recordings'), ...c.media.recording } }, 'media settings', c.deviceId);
      return pass(`${ctx.opts.configFile}: device ${c.deviceId}, role ${c.role}`);
    },
  },
  {
    id: 'agent',
    title: 'agent',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      try {
        const r = await controlRequest(ctx.config.dataDir, 'GET', '/status');
        ctx.agent = r.body;
        const up = typeof r.body.uptimeSec === 'number' ? `up ${r.body.uptimeSec} s` : 'answering';
        return pass(`running (${up}); device checks ask it`);
      } catch (e) {
        return warn(`not running: ${errorMessage(e)}`, 'start it: systemctl start lectern (journalctl -u lectern says why it stopped)');
      }
    },
  },
  {
    id: 'cameras',
    title: 'cameras',
    async run(ctx) {
      const c = ctx.config;
      if (!c) return skip('no valid config');
      if (!c.cameras.length) return c.role === 'listen' ? skip('none configured') : warn('no camera configured', 'run `lectern provision` with the cameras connected');
      const outcomes: StepOutcome[] = [];
      const fixMissing = 'plug the camera’s USB-serial adapter back in (ls /dev/serial/by-id) or fix its path in the config';
      const fixSilent = 'check the camera’s power, its RS-232/RS-485 wiring, address and baud rate; `lectern camera --port PATH info` with the agent stopped';
      const devices = agentDevices(ctx);
      if (devices) {
        for (const cam of c.cameras) {
          const d = devices.find((x) => x.kind === 'camera' && x.id === cam.id);
          if (!d) outcomes.push(warn(`${cam.id}: the agent does not report it`, 'restart the agent after changing the config'));
          else if (d.status === 'absent') outcomes.push(fail('camera-missing', `${cam.id}: absent (${d.detail ?? 'port missing'})`, fixMissing));
          else if (d.status === 'fault') outcomes.push(fail('camera-not-answering', `${cam.id}: fault (${d.detail ?? 'no answer'})`, fixSilent));
          else outcomes.push(pass(`${cam.id}: ${d.status}${d.model ? ` (${d.model})` : ''}`));
        }
        return outcomes;
      }
      for (const r of await checkConfiguredCameras(c.cameras)) {
        if (r.ok) outcomes.push(pass(`${r.id}: ${r.info.model} on ${r.info.port} #${r.info.address}, power ${r.info.power}`));
        else if (r.missing) outcomes.push(fail('camera-missing', `${r.id}: ${r.where}: ${r.error}`, fixMissing));
        else outcomes.push(fail('camera-not-answering', `${r.id}: ${r.where}: ${r.error}`, fixSilent));
      }
      return outcomes;
    },
  },
  {
    id: 'display',
    title: 'display',
    async run(ctx) {
      const d = ctx.config?.display;
      if (!ctx.config) return skip('no valid config');
      if (!d) return skip('none configured (lessons do not switch a panel)');
      const name = d.name ?? 'panel';
      const fixMissing =
        d.transport === 'cec'
          ? 'HDMI-CEC needs its device (ls /dev/cec*): check the HDMI cable and the CEC adapter, or fix display.port'
          : 'plug the display’s USB-serial adapter back in (ls /dev/serial/by-id) or fix display.port in the config';
      const fixSilent =
        'check the panel has mains power, its RS-232 (or HDMI) cable, that RS-232 control is on in its menu, and its ID and baud rate match the config; `lectern display --config FILE power status` with the agent stopped';
      const devices = agentDevices(ctx);
      if (devices) {
        const h = devices.find((x) => x.kind === 'display' && x.id === name);
        if (!h) return warn(`${name}: the agent does not report it`, 'restart the agent after changing the config');
        if (h.status === 'absent') return fail('display-missing', `${name}: absent (${h.detail ?? 'port missing'})`, fixMissing);
        if (h.status === 'fault') return fail('display-not-answering', `${name}: fault (${h.detail ?? 'no answer'})`, fixSilent);
        return pass(`${name}: ${h.status}${h.model ? ` (${h.model})` : ''}, as the agent reports it`);
      }
      const r = await checkConfiguredDisplay(d);
      if (r.ok) return pass(`${name}: ${r.detail}`);
      return r.missing ? fail('display-missing', `${name}: ${r.detail}`, fixMissing) : fail('display-not-answering', `${name}: ${r.detail}`, fixSilent);
    },
  },
  {
    id: 'media-devices',
    title: 'video and audio sources',
    async run(ctx) {
      const m = ctx.media;
      if (!m) return skip('no media settings');
      const outcomes: StepOutcome[] = [];
      if (m.video.type === 'v4l2' || m.video.type === 'hdmi') {
        outcomes.push(
          existsSync(m.video.device)
            ? pass(`video ${m.video.device} present`)
            : fail('video-device-missing', `video device ${m.video.device} is missing`, 'plug the camera or capture card in; `ls /dev/video*`; fix media.video.device if its number changed'),
        );
      } else outcomes.push(pass(`video source: ${m.video.type}`));
      if (m.audio.type === 'alsa' && m.audio.device) {
        const card = /CARD=([^,]+)/.exec(m.audio.device)?.[1] ?? /^(?:plug)?hw:([^,]+)/.exec(m.audio.device)?.[1];
        const capture = detectAudioCapture(ctx.opts.roots);
        const there = card === undefined || capture.some((a) => a.cardId === card || String(a.card) === card);
        outcomes.push(
          there
            ? pass(`microphone ${m.audio.device} present`)
            : fail('audio-device-missing', `microphone ${m.audio.device}: no such capture card (found: ${capture.map((a) => a.alsaDevice).join(', ') || 'none'})`, 'plug the USB microphone in; `arecord -l` lists cards'),
        );
      } else outcomes.push(pass(`audio source: ${m.audio.type}${m.audio.device ? ` ${m.audio.device}` : ''}`));
      return outcomes;
    },
  },
  {
    id: 'microphone',
    title: 'microphone',
    async run(ctx) {
      const c = ctx.config;
      if (!c) return skip('no valid config');
      const mic = c.microphone;
      if (!mic) return skip('no USB microphone configured');
      const fixMissing = 'plug the USB microphone back in (`lsusb` lists it) or fix microphone.match in the config (`lectern mic list` shows what is there)';
      const outcomes: StepOutcome[] = [];
      const devices = agentDevices(ctx);
      const seen = devices?.find((x) => x.kind === 'microphone' && x.id === mic.id);
      if (seen?.status === 'absent') return fail('microphone-missing', `${mic.id}: absent (${seen.detail ?? 'not on USB'})`, fixMissing);
      const r = await checkConfiguredMicrophone(mic, ctx.opts.usb ?? systemUsbBus(ctx.opts.roots), ctx.opts.roots);
      if (!r.ok) return fail('microphone-missing', `${mic.id}: ${r.detail}`, fixMissing);
      if (seen?.status === 'degraded') outcomes.push(warn(`${mic.id}: ${r.detail}; the agent reports it degraded (${seen.detail ?? ''})`, 'see the agent’s log (journalctl -u lectern) for the microphone'));
      else outcomes.push(pass(`${mic.id}: ${r.detail}`));
      const device = r.alsaDevice;
      if (!device) {
        outcomes.push(fail('microphone-no-alsa', `${mic.id}: no ALSA capture device for it`, 'check snd-usb-audio is loaded (`lsmod | grep snd_usb_audio`) and `arecord -l` lists the card; replug the microphone'));
        return outcomes;
      }
      const seconds = ctx.opts.levelSeconds ?? 3;
      if (seconds <= 0) {
        outcomes.push(skip('level: skipped as asked'));
        return outcomes;
      }
      const level = await measureLevel(device, seconds, ctx.opts.levelSource);
      if (!level.ok && isBusy(level) && ctx.agent) outcomes.push(skip(`level: ${device} is in use (a lesson is recording from it)`));
      else outcomes.push(levelOutcome(`${mic.id} level (${device})`, level));
      return outcomes;
    },
  },
  {
    id: 'encoders',
    title: 'H.264 encoder',
    async run(ctx) {
      const preference = ctx.media?.encoder.preference ?? ['x264enc'];
      try {
        ctx.encoders = await probeH264Encoders(preference, { binding: loadGstBinding(), log: silentLogger(), ...(ctx.opts.elementExists ? { exists: ctx.opts.elementExists } : {}) });
        return pass(`${ctx.encoders.chosen} works`);
      } catch (e) {
        return fail('no-h264-encoder', errorMessage(e), 'install gstreamer1.0-plugins-ugly (x264enc) or the GPU’s VA driver; provisioning/bootstrap.sh');
      }
    },
  },
  {
    id: 'gst-plugins',
    title: 'GStreamer elements',
    async run(ctx) {
      const c = ctx.config;
      const names = [...ctx.opts.requireElements];
      if (c && ctx.media) {
        const roles: Role[] = c.role === 'both' ? ['lecture', 'listen'] : [c.role];
        const aac = await probeAacEncoder(ctx.media.audioEncoder.aacPreference, ctx.opts.elementExists ?? factoryExists).catch(() => ctx.media!.audioEncoder.aacPreference[0]);
        names.unshift(...requiredElements(ctx.media, { roles, deviceId: c.deviceId, encoder: ctx.encoders?.chosen ?? ctx.media.encoder.preference[0] ?? 'x264enc', aacEncoder: aac }));
      }
      if (!names.length) return skip('no media settings');
      const unique = [...new Set(names)];
      const missing = await missingElements(unique, ctx.opts.elementExists);
      if (missing.length) {
        const packages = [...new Set(missing.map(packageFor))];
        return fail('gst-plugin-missing', `missing: ${missing.join(', ')} (of ${unique.length} used)`, `install ${packages.join(', ')} (provisioning/bootstrap.sh installs the usual set)`, { missing });
      }
      return pass(`all ${unique.length} elements installed`, { elements: unique });
    },
  },
  {
    id: 'certificates',
    title: 'TLS certificates',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      const outcomes = checkCertificates(ctx.config.platform, { warnDays: ctx.opts.certWarnDays });
      return outcomes.length ? outcomes : skip('no TLS files configured');
    },
  },
  {
    id: 'clock',
    title: 'clock synchronisation',
    async run() {
      const synced = await clockSynced();
      if (synced === 'yes') return pass('synchronised (NTP)');
      if (synced === 'no') return fail('clock-unsynced', 'not synchronised', 'check NTP: timedatectl; systemctl status systemd-timesyncd; the network must reach an NTP server (UDP 123)');
      return skip('unknown here (timedatectl does not answer: no systemd)');
    },
  },
  {
    id: 'disk',
    title: 'disk space for a lesson',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      let dir = ctx.config.dataDir;
      while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
      const s = await statfs(dir);
      const free = Number(s.bavail) * Number(s.bsize);
      const kbps = ctx.media ? ctx.media.uplink.bitrate.ceilingKbps + ctx.media.audioEncoder.bitrateKbps : DEFAULT_LESSON_KBPS;
      const needed = ctx.opts.minFreeBytes ?? Math.ceil(((kbps * 1000) / 8) * ctx.opts.lessonMinutes * 60 * 1.1);
      const gb = (n: number): string => `${(n / 1e9).toFixed(2)} GB`;
      if (free < needed) {
        return fail('disk-full', `${gb(free)} free in ${dir}, a ${ctx.opts.lessonMinutes}-minute lesson needs about ${gb(needed)}`, 'free space: let the agent upload its recordings, remove old files, or use a larger disk', { free, needed });
      }
      return pass(`${gb(free)} free in ${dir} (a lesson needs about ${gb(needed)})`, { free, needed });
    },
  },
  {
    id: 'state',
    title: 'state database',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      if (!existsSync(join(ctx.config.dataDir, 'lectern.db'))) return skip(`none yet in ${ctx.config.dataDir} (the agent has not run)`);
      try {
        const db = openState({ dataDir: ctx.config.dataDir, readonly: true });
        try {
          const pending = (db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
          const lessons = (db.prepare('SELECT count(*) AS n FROM lessons').get() as { n: number }).n;
          return pass(`${lessons} lesson records, ${pending} messages waiting for the platform`, { lessons, pending });
        } finally {
          db.close();
        }
      } catch (e) {
        return fail('state-unreadable', errorMessage(e), e instanceof StateError ? 'see README "Troubleshooting": the agent sets a corrupt database aside and starts a new one' : 'check the data dir’s permissions');
      }
    },
  },
  {
    id: 'media-server',
    title: 'media server',
    async run(ctx) {
      const m = ctx.media;
      if (!ctx.config || !m) return skip('no media settings');
      if (!m.uplink.enabled || !m.uplink.urlTemplate) return skip('no stream target configured');
      return checkMediaServer(resolveMediaUrl(m.uplink.protocol, m.uplink.urlTemplate, { deviceId: ctx.config.deviceId }, 'uplink.urlTemplate'));
    },
  },
  {
    id: 'broker',
    title: 'platform broker',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      return checkBrokerLogin(ctx.config);
    },
  },
  {
    id: 'uplink',
    title: 'uplink throughput',
    async run(ctx) {
      if (!ctx.config) return skip('no valid config');
      if (ctx.opts.bandwidthBytes <= 0) return skip('skipped as asked');
      const floor = ctx.media?.uplink.bitrate.floorKbps ?? 600;
      const start = ctx.media?.uplink.bitrate.startKbps ?? 2000;
      return checkUplink(ctx.config, ctx.opts.bandwidthBytes, floor, start);
    },
  },
];

export async function doctor(opts: DoctorOptions): Promise<DoctorReport> {
  const ctx: Ctx = { opts };
  const results = await runSteps(STEPS, ctx, opts.progress);
  return { ok: !anyFailed(results), configFile: opts.configFile, deviceId: ctx.config?.deviceId ?? null, agentRunning: ctx.agent !== undefined, results };
}
