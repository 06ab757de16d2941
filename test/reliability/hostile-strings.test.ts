import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../../agent/errors.js';
import { lessonMediaInput, validateConfigObject } from '../../agent/config/load.js';
import type { ConfigInput } from '../../agent/config/schema.js';
import { Contract } from '../../agent/contract/validate.js';
import { timetableProblems } from '../../agent/timetable/validate.js';
import type { EventMessage, LessonRecord, ReplyMessage, StatusMessage, Timetable } from '../../agent/contract/types.js';
import { resolveMediaConfig } from '../../pipelines/config.js';
import { buildLessonPlan } from '../../pipelines/builder.js';
import { loadGstBinding, type GstBinding } from '../../pipelines/gst.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { SrtServer, freeUdpPort, haveGst, parsedElementNames, segmentFiles, testMediaInput } from '../support/media.js';

// Hostile strings at the entry points that lead to a pipeline description, a file path or a
// process's arguments: the config file (every media setting and dataDir), the timetable (entry
// ids become lesson ids, then recording folder names) and the platform's commands. Each is either
// refused with the setting named, or provably harmless: it reaches its GStreamer element exactly
// as written and the parsed pipeline has the same elements as with a plain value. (The builder
// and quoting themselves are proven in test/pipelines/describe.test.ts; here the question is
// whether anything gets past the entry points that the agent then trips over.) The agent runs no
// shell: the only processes it starts take fixed arguments (timedatectl, socat for sd_notify).
const DEVICE = 'QZ-HOS-0001-R201';
const PEER = 'QZ-AX-0312-R101';
const HOSTILE = [
  '!', '"', "'", '\\', '=', ',', ';', '{', '}', '(', ')', '<', '>', ' ', '\n', '\r', '\t', '\0', '#', '%', '%d', '$', '$(touch pwned)', '`id`', '|', '&', '*', '?',
  '/', '..', '../', '../../etc/passwd', '~', '课', '😀', '\u2028', '\ud800', 'a', 'Z', '0', '-', '_', '.', ':', '@', '+',
  ' ! filesink location=/tmp/pwned', 'name=evil', ' ! ', 'NULL', 'x'.repeat(300),
];
const hostile = fc.array(fc.constantFrom(...HOSTILE), { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
/** Half plain (accepted cases prove harmlessness), half hostile (refusals prove naming). */
const mixed = (plain: string[]): fc.Arbitrary<string> =>
  fc.oneof(fc.array(fc.constantFrom(...plain), { minLength: 1, maxLength: 6 }).map((p) => p.join('')), hostile);

const binding: GstBinding | undefined = haveGst('srtsink', 'x264enc', 'splitmuxsink', 'v4l2src', 'alsasrc', 'rtspsrc') ? loadGstBinding() : undefined;
const tmp = tempDir('lectern-hostile-');
afterAll(() => tmp.cleanup());

/** Element names without GStreamer's generated numbers, sorted: one more element shows. */
const layout = (names: Set<string>): string[] => [...names].map((n) => n.replace(/_?\d+$/, '')).sort();

interface Setting {
  /** The setting as named in problems (after `/media/…` or on its own). */
  name: RegExp;
  put(c: ConfigInput & { media: Record<string, Record<string, unknown>> }, s: string): void;
  role: 'lecture' | 'listen';
  pipeline: string;
  element: string;
  prop: string;
  /** What the element must hold, from the value and the accepted config. */
  expected(s: string, c: ReturnType<typeof validateConfigObject>): (got: unknown) => boolean;
  /** Whether pausing the pipeline is safe here (no device or network it would wait for). */
  parse: boolean;
  gen: fc.Arbitrary<string>;
}

const is = (v: string) => (got: unknown) => got === v;
const SETTINGS: Record<string, Setting> = {
  'media.video.device': {
    name: /video[./]device/,
    put: (c, s) => (c.media.video = { type: 'v4l2', device: `/dev/${s}` }),
    role: 'lecture', pipeline: 'video-source', element: 'vsrc', prop: 'device', parse: false,
    expected: (s) => is(`/dev/${s}`),
    gen: mixed(['video0', 'v4l/by-id/', 'usb-046d_C920', '-index0', ':', '+', '.']),
  },
  'media.video.url (rtsp)': {
    name: /video[./]url/,
    put: (c, s) => (c.media.video = { type: 'rtsp', url: `rtsp://127.0.0.1:8554/${s}` }),
    role: 'lecture', pipeline: 'video-source', element: 'vsrc', prop: 'location', parse: false,
    expected: (s) => (got) => typeof got === 'string' && got.startsWith('rtsp://127.0.0.1:8554/') && safeDecode(got.slice(22)) === safeDecode(s),
    gen: mixed(['cam', '1', '/', 'stream', '_', '-', '.', '~']),
  },
  'media.audio.device (alsa)': {
    name: /audio[./]device/,
    put: (c, s) => (c.media.audio = { type: 'alsa', device: s }),
    role: 'lecture', pipeline: 'audio-source', element: 'asrc', prop: 'device', parse: false,
    expected: (s) => is(s),
    gen: mixed(['plughw', ':', 'CARD=', 'Array', ',', 'DEV=0', 'hw', '1']),
  },
  'media.audio.device (pulse)': {
    name: /audio[./]device/,
    put: (c, s) => (c.media.audio = { type: 'pulse', device: s }),
    role: 'lecture', pipeline: 'audio-source', element: 'asrc', prop: 'device', parse: false,
    expected: (s) => is(s),
    gen: mixed(['alsa_input', '.usb-SEEED', '_ReSpeaker', '-00', '.multichannel-input', '@']),
  },
  'media.uplink.urlTemplate': {
    name: /uplink[./]urlTemplate/,
    put: (c, s) => (c.media.uplink = { ...c.media.uplink, urlTemplate: `srt://127.0.0.1:9?streamid=#!::r=live/{deviceId},m=publish,x=${s}` }),
    role: 'lecture', pipeline: 'uplink', element: 'upsink', prop: 'streamid', parse: true,
    expected: (s) => is(`#!::r=live/${DEVICE},m=publish,x=${safeDecode(s)}`),
    gen: mixed(['a', 'Z', '9', '#', '!', ':', ',', '=', '/', '课', '%41', '@', '.']),
  },
  'media.listen.urlTemplate': {
    name: /listen[./]urlTemplate/,
    put: (c, s) => (c.media.listen = { urlTemplate: `srt://127.0.0.1:9?streamid=#!::r=live/{peerRoomId},m=request,x=${s}`, videoSink: 'fake', audioSink: 'fake' }),
    role: 'listen', pipeline: 'playback', element: 'psrc', prop: 'streamid', parse: false,
    expected: (s) => is(`#!::r=live/${PEER},m=request,x=${safeDecode(s)}`),
    gen: mixed(['a', 'Z', '9', '#', '!', ':', ',', '=', '/', '课', '%41', '@', '.']),
  },
  'media.listen.audioDevice': {
    name: /listen[./]audioDevice/,
    put: (c, s) => (c.media.listen = { urlTemplate: `srt://127.0.0.1:9?streamid=#!::r=live/{peerRoomId},m=request`, videoSink: 'fake', audioSink: 'alsa', audioDevice: s }),
    role: 'listen', pipeline: 'playback', element: 'pasink', prop: 'device', parse: false,
    expected: (s) => is(s),
    gen: mixed(['plughw', ':', 'CARD=', 'Array', ',', 'DEV=0', 'hw', '1']),
  },
  'media.recording.dir': {
    name: /recording[./]dir/,
    put: (c, s) => (c.media.recording = { ...c.media.recording, dir: `${tmp.path}/rec/${s}` }),
    role: 'lecture', pipeline: 'main', element: 'rec', prop: 'location', parse: true,
    expected: (s) => (got) => typeof got === 'string' && got.startsWith(`${tmp.path}/rec/${s.replace(/\/+$/, '')}/`),
    gen: mixed(['a', 'b', ' ', '课', '_', '-', '~', '=', ',', ':', '@', '+', 'x.y', '/']),
  },
  dataDir: {
    name: /^\/dataDir/,
    put: (c, s) => (c.dataDir = `${tmp.path}/data/${s}`),
    role: 'lecture', pipeline: 'main', element: 'rec', prop: 'location', parse: true,
    expected: (_s, config) => (got) => typeof got === 'string' && got.startsWith(`${join(config.dataDir, 'recordings')}/`),
    gen: mixed(['a', 'b', ' ', '课', '_', '-', '~', '=', ',', ':', '@', '+', 'x.y', '/']),
  },
};

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The media settings exactly as the agent resolves them at start (recordings under dataDir). */
function agentMedia(config: ReturnType<typeof validateConfigObject>): ReturnType<typeof resolveMediaConfig> {
  return resolveMediaConfig(lessonMediaInput(config.media!, config.dataDir), 'media settings', config.deviceId);
}

function baseConfig(): ConfigInput & { media: Record<string, Record<string, unknown>> } {
  return {
    ...testConfig(`${tmp.path}/data/plain`, 'mqtt://127.0.0.1:1883', { deviceId: DEVICE }),
    media: testMediaInput({ uplink: { urlTemplate: 'srt://127.0.0.1:9?streamid=#!::r=live/{deviceId},m=publish' } }) as Record<string, Record<string, unknown>>,
  };
}

describe.skipIf(!binding)('hostile strings in the config file', () => {
  for (const [key, setting] of Object.entries(SETTINGS)) {
    it(`${key}: refused naming it, or reaches its element intact with nothing added`, async () => {
      const plan = (config: ReturnType<typeof validateConfigObject>) =>
        buildLessonPlan(agentMedia(config), { role: setting.role, deviceId: DEVICE, lessonId: `${DEVICE}:manual:2026-09-07`, peerRoomId: PEER, encoder: 'x264enc', instance: 'h1', uplinkSocket: join(tmp.path, 'u.sock') });
      const plainInput = baseConfig();
      setting.put(plainInput, 'plain');
      const plainSpec = plan(validateConfigObject(plainInput, 'config')).pipelines.find((p) => p.id === setting.pipeline)!;
      expect(plainSpec, `${setting.pipeline} pipeline`).toBeDefined();
      const plainLayout = setting.parse ? layout(await parsedElementNames(binding!, plainSpec.description)) : undefined;
      let accepted = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(setting.gen, async (s) => {
          const input = baseConfig();
          setting.put(input, s);
          let config;
          try {
            config = validateConfigObject(input, 'config');
          } catch (e) {
            expect(e).toBeInstanceOf(ConfigError);
            const problems = (e as ConfigError).problems;
            expect(problems.some((p) => setting.name.test(p)), problems.join('\n')).toBe(true);
            refused++;
            return;
          }
          accepted++;
          // What config validation accepts, the agent's start must accept too.
          let spec;
          try {
            spec = plan(config).pipelines.find((p) => p.id === setting.pipeline)!;
          } catch (e) {
            throw new Error(`accepted by config validation but refused at start: ${(e as Error).message}`);
          }
          const pipeline = new binding!.Pipeline(spec.description);
          const got = (pipeline.findChild(setting.element))?.[setting.prop];
          expect(setting.expected(s, config)(got), `${setting.element}.${setting.prop} = ${JSON.stringify(got)} for ${JSON.stringify(s)}`).toBe(true);
          for (const n of spec.elements) expect(pipeline.findChild(n), n).toBeDefined();
          if (plainLayout) expect(layout(await parsedElementNames(binding!, spec.description))).toEqual(plainLayout);
        }),
        { numRuns: setting.parse ? 30 : 60, seed: 21092026 },
      );
      expect(accepted, 'accepted cases').toBeGreaterThan(2);
      expect(refused, 'refused cases').toBeGreaterThan(5);
    }, 60_000);
  }

  it('deviceId and camera ids: only the contract pattern is accepted', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        for (const [put, name] of [
          [(c: ConfigInput) => (c.deviceId = s), /^\/deviceId/],
          [(c: ConfigInput) => (c.cameras = [{ id: s, transport: { type: 'visca-ip', host: '127.0.0.1', port: 52381 } }]), /^\/cameras\/0\/id/],
        ] as const) {
          const input = baseConfig();
          put(input);
          try {
            validateConfigObject(input, 'config');
            expect(s).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
          } catch (e) {
            expect((e as ConfigError).problems.some((p) => name.test(p)), (e as ConfigError).problems.join('\n')).toBe(true);
          }
        }
      }),
      { numRuns: 200, seed: 22092026 },
    );
  });
});

describe('hostile timetable entry ids', () => {
  const contract = new Contract();
  const recordings = '/var/lib/lectern/recordings';
  const timetable = (id: string): Timetable => ({
    version: 'hostile-1',
    timezone: 'Asia/Shanghai',
    term: { start: '2026-09-01', end: '2026-12-31' },
    bells: [{ period: 1, start: '08:00', end: '08:40' }],
    entries: [{ id, weekday: 1, period: 1, subject: '数学', role: 'lecture' }],
  });

  it('are refused at /entries/0/id, or become one recording folder inside the recordings dir', () => {
    let accepted = 0;
    const dirs = new Map<string, string>();
    fc.assert(
      fc.property(fc.oneof(hostile, fc.constantFrom('.', '..', '...', '-', '_', '.hidden', 'a..b', '..%2F..')), (id) => {
        const problems = timetableProblems(contract, timetable(id), DEVICE);
        if (problems.length) {
          expect(problems.some((p) => p.startsWith('/entries/0/id')), problems.join('\n')).toBe(true);
          return;
        }
        accepted++;
        const lessonId = `${DEVICE}:${id}:2026-09-07`;
        const name = lessonDirName(lessonId);
        expect(name).not.toMatch(/[/\\\0]/);
        expect(['.', '..']).not.toContain(name);
        expect(name.startsWith('.')).toBe(false);
        const folder = resolve(recordings, name);
        expect(relative(recordings, folder).split(sep)).toEqual([name]);
        // Two lesson ids never share a folder.
        const other = dirs.get(name);
        if (other !== undefined) expect(other).toBe(lessonId);
        dirs.set(name, lessonId);
      }),
      { numRuns: 300, seed: 23092026 },
    );
    expect(accepted).toBeGreaterThan(10);
  });
});

describe.skipIf(!haveGst('srtsink', 'x264enc', 'shmsink', 'splitmuxsink'))('hostile command arguments, end to end', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let platform: FakePlatform;
  const d = tempDir('lectern-hostile-e2e-');
  beforeAll(async () => {
    broker = await startBroker();
    platform = new FakePlatform(broker.url);
    await platform.start();
  });
  afterAll(async () => {
    await platform.stop();
    await broker.cleanup();
    d.cleanup();
    expect(platform.invalid).toEqual([]);
  });

  /** Every path under `root`, relative. */
  const tree = (root: string): string[] => {
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        out.push(relative(root, p));
        if (statSync(p).isDirectory()) walk(p);
      }
    };
    if (existsSync(root)) walk(root);
    return out;
  };

  it('a lesson with a hostile subject records intact and writes only its own folder; hostile ids are refused by name', async () => {
    const srtPort = await freeUdpPort();
    const server = new SrtServer(srtPort, join(d.path, 'received.ts'));
    server.start();
    const dataDir = join(d.path, 'data');
    const proc = AgentProcess.withConfig(
      d.path,
      testConfig(dataDir, broker.url, {
        deviceId: DEVICE,
        media: testMediaInput({ uplink: { urlTemplate: `srt://127.0.0.1:${srtPort}?streamid=#!::r=live/{deviceId},m=publish` }, recording: { segmentSec: 2 } }),
      }),
    );
    proc.start();
    const outside = tree(d.path).filter((p) => !p.startsWith('data'));
    try {
      await waitUntil(() => platform.payloads<StatusMessage>('status', DEVICE).find((s) => s.online), 'birth', 30_000);
      // Refused, each naming its argument.
      const badPeer = await platform.reply(DEVICE, 'lesson.start', { requestId: 'h-1', args: { subject: '数学', peerRoomIds: ['../../etc', '$(id)'] } });
      expect(badPeer.error?.code).toBe('bad-request');
      expect(badPeer.error?.message).toMatch(/\/args\/peerRoomIds\/0/);
      const badStop = await platform.reply(DEVICE, 'lesson.stop', { requestId: 'h-2', args: { lessonId: '../../../../tmp/x' } });
      expect(badStop.ok).toBe(false);
      const badCamera = await platform.reply(DEVICE, 'camera.preset.recall', { requestId: 'h-3', args: { camera: '../../dev/ttyS0', preset: 1 } });
      expect(badCamera.error).toMatchObject({ code: 'bad-request' });
      expect(badCamera.error!.message).toMatch(/\/args\/camera/);
      // Accepted: the subject goes only into the record and events, never into a path or pipeline.
      const subject = '"; rm -rf / ; ../../x ! filesink location=pwned $(id)\n';
      const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId: 'h-4', args: { subject } });
      expect(started.ok, JSON.stringify(started)).toBe(true);
      const lessonId = started.result!.lessonId;
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === lessonId, 'lesson.started', 30_000);
      await waitUntil(() => segmentFiles(join(dataDir, 'recordings', lessonDirName(lessonId))).length >= 2, 'two segments', 30_000);
      const stopped = await platform.reply(DEVICE, 'lesson.stop', { requestId: 'h-5' });
      expect(stopped.ok).toBe(true);
      const record = await platform.waitFor<LessonRecord>('lessons', (r) => r.lessonId === lessonId, 'the record', 30_000);
      expect(record.subject).toBe(subject);
      expect((platform.payloads<EventMessage>('events', DEVICE).find((e) => e.type === 'lesson.started')!.details as { subject: string }).subject).toBe(subject);
      expect(readdirSync(join(dataDir, 'recordings'))).toEqual([lessonDirName(lessonId)]);
      expect(platform.payloads<ReplyMessage>('reply', DEVICE).filter((r) => r.error?.code === 'internal')).toEqual([]);
    } finally {
      await proc.stop();
      await server.stop();
    }
    // Nothing was created outside the data dir (besides what the test itself wrote).
    const after = tree(d.path).filter((p) => !p.startsWith('data'));
    expect(after.sort()).toEqual([...new Set([...outside, 'received.ts', 'config.json'])].sort());
    expect(tree(d.path).filter((p) => /pwned/.test(p))).toEqual([]);
  }, 120_000);
});
