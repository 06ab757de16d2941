/**
 * `lectern pipeline …`: the technician's view of the media pipelines.
 *
 *   lectern pipeline print --role lecture|listen [--simulate] [--config FILE]
 *
 * prints the gst-launch-1.0 descriptions the agent would run for a lesson now (after probing the
 * encoders of this machine), or with `--shell` one command line that runs them all together.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { silentLogger } from '../agent/log.js';
import { ConfigError, errorMessage } from '../agent/errors.js';
import { runAction } from '../agent/cli/common.js';
import { buildLessonPlan, combinedDescription, formatPlan, type Role } from './builder.js';
import { H264_ENCODERS, resolveMediaConfig, simulatedMediaConfig, type H264EncoderName, type MediaConfig, type MediaConfigInput } from './config.js';
import { descriptionWords, shellWord } from './describe.js';
import { probeAacEncoder, probeH264Encoders } from './encoders.js';
import { loadGstBinding } from './gst.js';

interface PrintOptions {
  role: Role;
  simulate?: boolean;
  config?: string;
  deviceId?: string;
  lessonId: string;
  peerRoomId?: string;
  encoder?: H264EncoderName;
  shell?: boolean;
  json?: boolean;
}

interface FileSettings {
  deviceId?: string;
  dataDir?: string;
  media?: MediaConfigInput;
}

function readSettings(file: string): FileSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${file}: ${errorMessage(e)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${file}: the config must be a JSON object`);
  const o = parsed as Record<string, unknown>;
  return {
    deviceId: typeof o.deviceId === 'string' ? o.deviceId : undefined,
    dataDir: typeof o.dataDir === 'string' ? o.dataDir : undefined,
    media: o.media !== undefined && typeof o.media === 'object' && o.media !== null ? (o.media) : undefined,
  };
}

export function registerPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('the media pipelines (GStreamer) of a lesson');
  pipeline
    .command('print')
    .description('print the gst-launch-1.0 descriptions the agent would run for a lesson')
    .addOption(new Option('--role <role>', 'this room’s role in the lesson').choices(['lecture', 'listen']).makeOptionMandatory())
    .option('--simulate', 'the simulated kit’s media settings (test pattern, tone, local SRT)')
    .option('-c, --config <file>', 'config file; its `deviceId`, `dataDir` and `media` section are used')
    .option('--device-id <id>', 'device id for the URL templates (default: from the config)')
    .option('--lesson-id <id>', 'lesson id for the recording directory', 'preview')
    .option('--peer-room-id <id>', 'the peer room (the lecture room when --role listen)')
    .addOption(new Option('--encoder <name>', 'use this H.264 encoder instead of probing').choices([...H264_ENCODERS]))
    .option('--shell', 'print one shell command line running all pipelines in one gst-launch-1.0')
    .option('--json', 'print the plan as JSON')
    .action((opts: PrintOptions) =>
      runAction(async () => {
        const file = opts.config ? readSettings(opts.config) : {};
        const deviceId = opts.deviceId ?? file.deviceId ?? (opts.simulate ? 'SIM-LECTERN-0001' : undefined);
        if (!deviceId) throw new ConfigError('no device id: give --device-id or a config with deviceId');
        let config: MediaConfig;
        if (opts.simulate) config = simulatedMediaConfig(file.dataDir ?? join(tmpdir(), 'lectern-sim'));
        else config = resolveMediaConfig(file.media ?? {}, opts.config ? `${opts.config} media` : 'default media settings', deviceId);
        const log = silentLogger();
        let encoder = opts.encoder;
        const comments: string[] = [];
        if (!encoder) {
          const probe = await probeH264Encoders(config.encoder.preference, { binding: loadGstBinding(), log });
          encoder = probe.chosen;
          for (const a of probe.attempts) comments.push(`# encoder ${a.encoder}: ${a.ok ? 'works' : a.reason}`);
        }
        const aac = config.audioEncoder.codec === 'aac' ? await probeAacEncoder(config.audioEncoder.aacPreference) : undefined;
        const socketDir = join(tmpdir(), 'lectern-print');
        const plan = buildLessonPlan(config, {
          role: opts.role,
          deviceId,
          lessonId: opts.lessonId,
          peerRoomId: opts.peerRoomId,
          encoder,
          aacEncoder: aac,
          instance: 'print',
          uplinkSocket: join(socketDir, 'uplink.sock'),
        });
        if (opts.json) {
          process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
          return 0;
        }
        if (opts.shell) {
          const dirs = [socketDir, ...(plan.recording ? [plan.recording.dir] : [])];
          const words = descriptionWords(combinedDescription(plan));
          process.stdout.write(`mkdir -p ${dirs.map(shellWord).join(' ')} && gst-launch-1.0 -e ${words.map(shellWord).join(' ')}\n`);
          return 0;
        }
        process.stdout.write([...comments, formatPlan(plan)].join('\n'));
        return 0;
      }),
    );
}
