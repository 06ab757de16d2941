import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { Agent } from '../agent.js';
import { loadConfig } from '../config/load.js';
import { DEFAULT_CONFIG_FILE } from '../config/schema.js';
import { createLogger, LOG_LEVELS } from '../log.js';
import { LogRing } from '../logring.js';
import { MosquittoBroker } from '../broker.js';
import { existsSync } from 'node:fs';
import { SdNotify } from '../sd-notify.js';
import { SimulatedKit } from '../sim-kit.js';
import { runAction } from './common.js';

interface AgentCliOptions {
  config?: string;
  simulate?: boolean;
  deviceId?: string;
  mqttUrl?: string;
  dataDir?: string;
  logLevel?: string;
}

/** Longest a stop may take before the process exits anyway (systemd's default is 90 s; we promise 10). */
const STOP_DEADLINE_MS = 9_000;

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the daemon: timetable, lessons, devices and the platform link')
    .option('-c, --config <file>', `config file (default ${DEFAULT_CONFIG_FILE}; none needed with --simulate)`)
    .option('--simulate', 'simulated classroom kit: no hardware, embedded defaults, a local broker when none is configured')
    .option('--device-id <id>', 'device id (overrides the config)')
    .option('--mqtt-url <url>', 'platform broker, mqtt://host:port or mqtts://host:port (overrides the config)')
    .option('-d, --data-dir <dir>', 'data dir for state and recordings (overrides the config)')
    .addOption(new Option('--log-level <level>', 'log level (overrides the config)').choices(LOG_LEVELS))
    .action((opts: AgentCliOptions) => runAction(() => runAgent(opts)));
}

async function runAgent(opts: AgentCliOptions): Promise<number> {
  const file = opts.config ?? (!opts.simulate && existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (!file && !opts.simulate) {
    process.stderr.write(`lectern: no config: give --config FILE, create ${DEFAULT_CONFIG_FILE}, or try --simulate\n`);
    return 2;
  }
  const overrides = { deviceId: opts.deviceId, mqttUrl: opts.mqttUrl, dataDir: opts.dataDir, logLevel: opts.logLevel };
  // Simulated kit without a broker: run our own on loopback so it works on a bare machine.
  let broker: MosquittoBroker | undefined;
  let config = loadConfig({ file, simulate: opts.simulate, overrides, placeholderUrl: opts.simulate ? 'mqtt://127.0.0.1:1' : undefined });
  const ring = new LogRing(500);
  const log = createLogger(config.logLevel, undefined, ring);
  if (opts.simulate && config.platform.mqttUrl === 'mqtt://127.0.0.1:1') {
    broker = new MosquittoBroker({ dir: join(config.dataDir, 'broker') });
    await broker.start();
    config = { ...config, platform: { ...config.platform, mqttUrl: broker.url } };
    process.stderr.write(
      `lectern: simulated kit ${config.deviceId}, local broker at ${broker.url}\n` +
        `lectern: watch it with:  mosquitto_sub -h ${broker.host} -p ${broker.port} -v -t 'classroom/v1/${config.deviceId}/#'\n` +
        `lectern: ask it:         mosquitto_pub -h ${broker.host} -p ${broker.port} -t 'classroom/v1/${config.deviceId}/cmd/health.get' -m '{"requestId":"r1"}'\n`,
    );
  }
  let kit: SimulatedKit | undefined;
  if (opts.simulate) {
    kit = new SimulatedKit(log.child({ module: 'sim-kit' }));
    await kit.start(config.dataDir);
    const cameras = config.cameras.length ? config.cameras : kit.cameras;
    // The simulated microphone's voice tracking turns the kit's students camera, when there is one.
    const simMic = kit.microphone && { ...kit.microphone, voiceTracking: cameras.some((c) => c.id === kit?.microphone?.voiceTracking?.camera) ? kit.microphone.voiceTracking : undefined };
    config = { ...config, cameras, media: config.media ?? kit.media, microphone: config.microphone ?? simMic, display: config.display ?? kit.display };
    process.stderr.write(kit.describe().map((l) => `lectern: ${l}\n`).join(''));
  }
  const notify = new SdNotify(log.child({ module: 'systemd' }));
  const agent = new Agent({ config, log, logRing: ring, onAlive: () => notify.alive(), ...(kit && { usb: kit.usb }) });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ signal }, 'stopping');
      notify.stopping();
      const deadline = setTimeout(() => {
        log.error('clean stop took too long; exiting');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      await agent.stop();
      await kit?.stop();
      await broker?.stop();
      notify.close();
      clearTimeout(deadline);
      // Stopped cleanly; anything still holding the event loop (a child process or socket that
      // escaped its owner) must not keep the daemon from exiting.
      setTimeout(() => {
        log.warn('stopped, but something still held the process; exiting');
        process.exit(0);
      }, 2000).unref();
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        stop(sig).then(resolve, (e: unknown) => {
          log.error({ err: e }, 'stop failed');
          resolve();
        });
      });
    }
  });
  try {
    await agent.start();
    notify.ready(`running as ${config.deviceId}`);
  } catch (e) {
    log.fatal({ err: e }, 'agent could not start');
    await kit?.stop();
    await broker?.stop();
    throw e;
  }
  await done;
  return 0;
}
