/**
 * The technician's commands: `lectern provision`, `lectern doctor`, `lectern support-bundle`.
 * The entry point (agent/cli.ts) registers them.
 *
 * Exit status: 0 when every check passed (warnings allowed), 1 when one failed, 2 for bad
 * arguments or an invalid answers file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../agent/config/schema.js';
import { runAction } from '../agent/cli/common.js';
import { errorMessage } from '../agent/errors.js';
import { mergeAnswers, readAnswersFile, terminalPrompter, type ProvisionAnswers } from './answers.js';
import { writeSupportBundle } from './bundle.js';
import { SYSTEM_ROOTS, type SystemRoots } from './detect.js';
import { doctor, type DoctorReport } from './doctor.js';
import { provision } from './provision.js';
import { formatChecklist, progressLine, type Progress } from './steps.js';

function positiveInt(what: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min) throw new InvalidArgumentError(`${what} must be a whole number ≥ ${min}.`);
    return n;
  };
}

/** `500M`, `2G`, `1048576`: bytes. */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)i?B?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError('a size like 500M, 2G or a number of bytes.');
  const power = ' KMGTP'.indexOf((m[2] || ' ').toUpperCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

function rootsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--dev-root <dir>', 'look for devices under DIR instead of /dev').default('/dev').hideHelp())
    .addOption(new Option('--sys-root <dir>', 'sysfs root').default('/sys').hideHelp())
    .addOption(new Option('--proc-root <dir>', 'procfs root').default('/proc').hideHelp());
}

function rootsOf(o: { devRoot?: string; sysRoot?: string; procRoot?: string }): SystemRoots {
  return { dev: o.devRoot ?? SYSTEM_ROOTS.dev, sys: o.sysRoot ?? SYSTEM_ROOTS.sys, proc: o.procRoot ?? SYSTEM_ROOTS.proc };
}

/** One line per result; on a terminal also a line when a step starts (some take seconds). */
function progressTo(write: (s: string) => void, tty: boolean): Progress {
  return ({ index, total, step, result }) => {
    if (result) write(`${progressLine(index, total, result)}\n`);
    else if (tty) write(`[${index}/${total}] ${step.title} …\n`);
  };
}

interface ProvisionCliOptions {
  answers?: string;
  json?: boolean;
  nonInteractive?: boolean;
  out: string;
  owner: string;
  clipSeconds: number;
  clipFile?: string;
  deviceId?: string;
  school?: string;
  room?: string;
  role?: ProvisionAnswers['role'];
  timezone?: string;
  dataDir?: string;
  mqttUrl?: string;
  protocolVersion?: string;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  cameraName?: string[];
  serialPort?: string[];
  video?: string;
  audio?: string;
  uplinkUrl?: string;
  listenUrl?: string;
  displayInput?: string;
  displayPowerOff?: boolean;
  skipCameraMove?: boolean;
  skipDisplayTest?: boolean;
  skipMicLevel?: boolean;
  skipClip?: boolean;
  skipPlatform?: boolean;
  devRoot?: string;
  sysRoot?: string;
  procRoot?: string;
}

interface DoctorCliOptions {
  config: string;
  json?: boolean;
  minFree?: number;
  lessonMinutes: number;
  requireElement?: string[];
  bandwidthMb: number;
  certWarnDays: number;
  micSeconds: number;
  devRoot?: string;
  sysRoot?: string;
  procRoot?: string;
}

export function registerProvisioningCommands(program: Command): void {
  rootsOptions(
    program
      .command('provision')
      .description('set up this kit: find and test the devices, ask for the room’s settings, test the platform, write the config')
      .option('--answers <file>', 'answers as JSON (keys as the flags: deviceId, mqttUrl, cameraNames…); flags win')
      .option('--non-interactive', 'never ask (the default when stdin is not a terminal)')
      .option('--json', 'print the report as JSON (implies --non-interactive)')
      .option('-o, --out <file>', 'config file to write', DEFAULT_CONFIG_FILE)
      .option('--owner <user>', 'run as root: give the written config to this user (the service’s)', 'lectern')
      .option('--device-id <id>', 'device id assigned by the platform')
      .option('--school <name>')
      .option('--room <name>')
      .addOption(new Option('--role <role>', 'this room’s role').choices(['lecture', 'listen', 'both']))
      .option('--timezone <zone>', 'IANA time zone (default Asia/Shanghai)')
      .option('-d, --data-dir <dir>', 'data dir (default /var/lib/lectern)')
      .option('--mqtt-url <url>', 'platform broker, mqtts://host:8883')
      .addOption(new Option('--protocol-version <n>', 'MQTT version').choices(['4', '5']))
      .option('--username <name>', 'broker user name')
      .option('--password <password>', 'broker password (prefer the answers file: flags show in ps)')
      .option('--ca-file <pem>', 'the platform’s CA certificate')
      .option('--cert-file <pem>', 'this device’s certificate (mTLS)')
      .option('--key-file <pem>', 'this device’s key (mTLS)')
      .option('--camera-name <names...>', 'names for the cameras found, in order (default teacher students board)')
      .option('--serial-port <paths...>', 'also probe these serial ports')
      .option('--video <source>', 'auto, test, or a /dev/video* path')
      .option('--audio <source>', 'auto, test, or an ALSA capture device')
      .option('--uplink-url <url>', 'stream target template, srt://…{deviceId}… or rtmp://…')
      .option('--listen-url <url>', 'where a listening room plays the lecture from')
      .option('--display-input <name>', 'the display input lessons show (hdmi1, hdmi2, dp…; default: the one it shows now)')
      .option('--display-power-off', 'switch the display off after the day’s last lesson')
      .option('--skip-camera-move', 'do not move the cameras')
      .option('--skip-display-test', 'do not switch the display on or change its input')
      .option('--skip-mic-level', 'do not measure the microphone level')
      .option('--skip-clip', 'do not record the test clip')
      .option('--skip-platform', 'do not connect to the platform')
      .option('--clip-seconds <n>', 'length of the test clip', positiveInt('clip length', 2), 5)
      .option('--clip-file <file>', 'where the test clip goes (default in the temp dir)'),
  ).action((o: ProvisionCliOptions) =>
    runAction(async () => {
      const flags: ProvisionAnswers = {
        deviceId: o.deviceId,
        school: o.school,
        room: o.room,
        role: o.role,
        timezone: o.timezone,
        dataDir: o.dataDir ? resolve(o.dataDir) : undefined,
        mqttUrl: o.mqttUrl,
        protocolVersion: o.protocolVersion ? (Number(o.protocolVersion) as 4 | 5) : undefined,
        username: o.username,
        password: o.password,
        caFile: o.caFile,
        certFile: o.certFile,
        keyFile: o.keyFile,
        cameraNames: o.cameraName,
        serialPorts: o.serialPort,
        video: o.video,
        audio: o.audio,
        uplinkUrl: o.uplinkUrl,
        listenUrl: o.listenUrl,
        displayInput: o.displayInput,
        displayPowerOff: o.displayPowerOff,
        skipCameraMove: o.skipCameraMove,
        skipDisplayTest: o.skipDisplayTest,
        skipMicLevel: o.skipMicLevel,
        skipClip: o.skipClip,
        skipPlatform: o.skipPlatform,
      };
      const answers = mergeAnswers(o.answers ? readAnswersFile(o.answers) : {}, flags);
      const interactive = !o.json && !o.nonInteractive && Boolean(process.stdin.isTTY);
      const write = o.json ? (s: string) => process.stderr.write(s) : (s: string) => process.stdout.write(s);
      const prompter = interactive ? terminalPrompter() : undefined;
      try {
        if (interactive) write('lectern provision: looking at the kit first, then a few questions, then the tests.\n');
        const report = await provision({
          answers,
          prompter,
          out: resolve(o.out),
          owner: o.owner,
          roots: rootsOf(o),
          clipSeconds: o.clipSeconds,
          clipFile: o.clipFile,
          progress: progressTo(write, interactive),
        });
        if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else process.stdout.write(`\n${formatChecklist(report.results)}`);
        return report.ok ? 0 : 1;
      } finally {
        prompter?.close();
      }
    }),
  );

  rootsOptions(
    program
      .command('doctor')
      .description('check that this kit can run a lesson: cameras, display, microphone, pipelines, clock, disk, certificates, media server, broker, uplink')
      .option('-c, --config <file>', 'config file', DEFAULT_CONFIG_FILE)
      .option('--json', 'print the report as JSON')
      .option('--min-free <size>', 'free disk a lesson needs (default: the stream bitrate for --lesson-minutes)', parseSize)
      .option('--lesson-minutes <n>', 'lesson length for the disk check', positiveInt('lesson length'), 45)
      .option('--require-element <names...>', 'GStreamer elements to require besides the configured pipelines’')
      .option('--bandwidth-mb <n>', 'MiB to send for the uplink measurement (0: skip)', positiveInt('size', 0), 2)
      .option('--cert-warn-days <n>', 'warn when a certificate expires within this many days', positiveInt('days', 0), 30)
      .option('--mic-seconds <n>', 'seconds the microphone level is measured (0: skip)', positiveInt('seconds', 0), 3),
  ).action((o: DoctorCliOptions) =>
    runAction(async () => {
      const write = o.json ? (s: string) => process.stderr.write(s) : (s: string) => process.stdout.write(s);
      const report = await doctor({
        configFile: resolve(o.config),
        roots: rootsOf(o),
        minFreeBytes: o.minFree,
        lessonMinutes: o.lessonMinutes,
        requireElements: o.requireElement ?? [],
        bandwidthBytes: o.bandwidthMb * 1048576,
        certWarnDays: o.certWarnDays,
        levelSeconds: o.micSeconds,
        progress: progressTo(write, !o.json && Boolean(process.stdout.isTTY)),
      });
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(`\n${formatChecklist(report.results)}${report.ok ? 'this kit can run a lesson\n' : 'this kit can NOT run a lesson until the failures above are fixed\n'}`);
      return report.ok ? 0 : 1;
    }),
  );

  program
    .command('support-bundle')
    .description('write a .tar.gz for remote support: config (secrets hidden), recent logs, doctor report, state summary')
    .option('-c, --config <file>', 'config file', DEFAULT_CONFIG_FILE)
    .option('-o, --out <file>', 'the bundle (default lectern-support-<device>-<time>.tar.gz here)')
    .option('--log-lines <n>', 'log lines to include', positiveInt('lines'), 2000)
    .action((o: { config: string; out?: string; logLines: number }) =>
      runAction(async () => {
        const configFile = resolve(o.config);
        let raw: unknown = null;
        try {
          raw = JSON.parse(readFileSync(configFile, 'utf8'));
        } catch (e) {
          process.stderr.write(`lectern: the bundle goes without the config: ${errorMessage(e)}\n`);
        }
        const rawObj = raw && typeof raw === 'object' ? (raw as { deviceId?: unknown; dataDir?: unknown }) : {};
        const deviceId = typeof rawObj.deviceId === 'string' ? rawObj.deviceId.replace(/[^A-Za-z0-9_-]/g, '') : 'unknown';
        const dataDir = typeof rawObj.dataDir === 'string' ? rawObj.dataDir : raw ? '/var/lib/lectern' : undefined;
        let report: DoctorReport | { error: string };
        try {
          // Without the uplink test: a bundle must not upload megabytes behind the technician's back.
          report = await doctor({ configFile, roots: SYSTEM_ROOTS, lessonMinutes: 45, requireElements: [], bandwidthBytes: 0, certWarnDays: 30 });
        } catch (e) {
          report = { error: errorMessage(e) };
        }
        const out = resolve(o.out ?? `lectern-support-${deviceId}-${new Date().toISOString().replace(/[:.]/g, '-')}.tar.gz`);
        const files = await writeSupportBundle({ out, configFile, rawConfig: raw, dataDir, doctor: report, logLines: o.logLines });
        process.stdout.write(`${out}\n${files.map((f) => `  ${f}`).join('\n')}\n`);
        return 0;
      }),
    );
}
