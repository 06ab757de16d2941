import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ViscaSimulator } from '../drivers/visca/simulator.js';
import { createSocatPair, type PtyPairHandle } from '../drivers/visca/socat.js';
import { DisplaySimulator } from '../drivers/display/simulator.js';
import type { DisplayConfig } from '../drivers/display/config.js';
import { simulatedMediaConfig, type MediaConfig } from '../pipelines/config.js';
import { freePort } from './broker.js';
import type { CameraConfig } from '../drivers/visca/config.js';
import { FakeUsbBus, FakeXmosArray } from '../drivers/mic/fake-usb.js';
import type { MicrophoneConfig } from '../drivers/mic/config.js';
import type { Logger } from './log.js';

/**
 * The hardware of a simulated classroom kit, for `lectern agent --simulate`: what a technician
 * would find in a real room, on loopback. Two PTZ cameras (teacher, students) speaking VISCA
 * over IP, each a protocol-faithful simulator that `lectern camera --udp` can drive too; a
 * camera and microphone made of GStreamer test sources (a moving pattern with a clock, a
 * tone); a stand-in for the platform's media server (an SRT listener that takes the stream); and
 * a USB array microphone on a simulated USB bus, whose voice comes from a different part of the
 * room every 20 seconds so voice tracking turns the student camera (`lectern mic info --simulate`
 * shows such a microphone too); and a Samsung MDC interactive panel on a socat pty pair, in
 * standby until a lesson's pre-roll.
 */
export class SimulatedKit {
  private readonly simulators: ViscaSimulator[] = [];
  private mediaServer: ChildProcess | undefined;
  private displaySim: DisplaySimulator | undefined;
  private displayPty: PtyPairHandle | undefined;
  cameras: CameraConfig[] = [];
  media: MediaConfig | undefined;
  /** The USB bus with the array microphone plugged in. */
  readonly usb = new FakeUsbBus();
  readonly mic = new FakeXmosArray({ bus: '001', ports: [1, 2], address: 7, serialNumber: 'SIM0001' });
  microphone: MicrophoneConfig | undefined;
  private speakerTimer: NodeJS.Timeout | undefined;
  display: DisplayConfig | undefined;

  constructor(private readonly log: Logger) {}

  async start(dataDir: string): Promise<void> {
    const port = await freePort();
    this.mediaServer = spawn('gst-launch-1.0', ['-q', 'srtsrc', `uri=srt://127.0.0.1:${port}?mode=listener`, '!', 'fakesink', 'sync=false'], {
      stdio: 'ignore',
    });
    this.mediaServer.on('error', (e) => this.log.warn({ err: e }, 'simulated media server did not start; the stream will show as reconnecting'));
    const media = simulatedMediaConfig(dataDir);
    media.uplink.urlTemplate = `srt://127.0.0.1:${port}?streamid=#!::r=live/{deviceId},m=publish`;
    media.recording.dir = join(dataDir, 'recordings');
    this.media = media;
    for (const id of ['teacher', 'students']) {
      // Moves at twice a real camera's speed: a preset recall takes about a second.
      const sim = new ViscaSimulator({ cameras: 1, moveSpeed: 2, bootMs: 500, log: this.log });
      const port = await sim.listenUdp(0, '127.0.0.1');
      this.simulators.push(sim);
      this.cameras.push({ id, model: 'simulated VISCA camera', transport: { type: 'visca-ip', host: '127.0.0.1', port } });
    }
    this.usb.plug(this.mic);
    this.microphone = simulatedMicrophoneConfig();
    // Someone speaks from the left rows, then the right rows, then nobody, in turn.
    const turns = [60, 200, undefined];
    let turn = 0;
    this.speakerTimer = setInterval(() => {
      const angle = turns[turn++ % turns.length];
      if (angle === undefined) this.mic.quiet();
      else this.mic.speak(angle);
    }, 20_000);
    this.speakerTimer.unref();
    await this.startDisplay(dataDir);
  }

  /** A panel the agent drives over a pty, as over a USB serial adapter; none if socat is missing. */
  private async startDisplay(dataDir: string): Promise<void> {
    const dir = resolve(dataDir, 'sim');
    const link = join(dir, 'display');
    try {
      mkdirSync(dir, { recursive: true });
      // Links left by a simulate run that was killed.
      for (const p of [link, `${link}.sim`]) rmSync(p, { force: true });
      this.displayPty = await createSocatPair(link, `${link}.sim`);
      this.displaySim = new DisplaySimulator({ profile: 'samsung-mdc', id: 1, power: 'off', log: this.log });
      await this.displaySim.attachSerial(this.displayPty.devicePath);
      this.display = { transport: 'serial', port: link, profile: 'samsung-mdc', id: 1, lessonInput: 'hdmi1', powerOffAfterLastLesson: true, model: 'simulated Samsung MDC panel' };
    } catch (e) {
      this.log.warn({ err: e }, 'simulated display not available (is socat installed?); running without one');
      await this.displaySim?.close();
      await this.displayPty?.close();
      this.displaySim = undefined;
      this.displayPty = undefined;
    }
  }

  describe(): string[] {
    const media = this.media ? [`media: lessons recorded under ${this.media.recording.dir}, streamed to ${this.media.uplink.urlTemplate}`] : [];
    const mic = this.microphone ? [`microphone: simulated ReSpeaker array on USB 1-1.2 (lectern mic info --simulate); voice tracking turns the students camera`] : [];
    const display = this.display ? [`display: lectern display --port ${this.display.port} --profile ${this.display.profile} power status`] : [];
    return [...media, ...mic, ...display, ...this.cameras.map((c) =>
      c.transport.type === 'visca-ip' ? `camera ${c.id}: lectern camera --udp ${c.transport.host}:${c.transport.port} info` : `camera ${c.id}`,
    )];
  }

  async stop(): Promise<void> {
    clearInterval(this.speakerTimer);
    this.mediaServer?.kill();
    this.mediaServer = undefined;
    await Promise.all(this.simulators.splice(0).map((s) => s.close()));
    await this.displaySim?.close();
    await this.displayPty?.close();
    this.displaySim = undefined;
    this.displayPty = undefined;
  }
}

/** The simulated kit's microphone section: the array, its controls, voice tracking to the student camera. */
export function simulatedMicrophoneConfig(): MicrophoneConfig {
  return {
    id: 'microphone',
    match: { model: 'respeaker-v2' },
    controls: { agc: true, stationaryNoiseSuppression: true, nonStationaryNoiseSuppression: true, echoSuppression: true },
    voiceTracking: {
      camera: 'students',
      zones: [
        { fromDeg: 0, toDeg: 120, preset: 1, name: 'left rows' },
        { fromDeg: 120, toDeg: 240, preset: 2, name: 'right rows' },
      ],
      hysteresisDeg: 10,
      settleSec: 0.8,
      holdSec: 4,
      idlePreset: 0,
      idleSec: 15,
      pollMs: 250,
    },
  };
}
