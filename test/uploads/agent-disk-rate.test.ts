import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventMessage, LessonRecord } from '../../agent/contract/types.js';
import { diskKbps, roomNeeded } from '../../agent/recordings/disk-rate.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { haveGst, testMediaInput } from '../support/media.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The built agent as its own process with real pipelines, a real broker and the fake platform
// (every payload checked against the contract): a cache quota too small for the lesson at its
// full bitrate lowers the recording's bitrate as the lesson goes live, reports disk.low, and the
// whole lesson is recorded, within the quota, without a gap.
const DEVICE = 'QZ-DRATE-0001-R201';
let broker: Awaited<ReturnType<typeof startBroker>>;
let platform: FakePlatform;
const dir = tempDir();

beforeAll(async () => {
  broker = await startBroker();
  platform = new FakePlatform(broker.url);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.cleanup();
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

describe.skipIf(!haveGst('x264enc', 'splitmuxsink'))('recording bitrate under disk pressure, in the running agent', () => {
  it('a quota too small for the lesson: the recording is capped at what fits, disk.low is reported, and the lesson is recorded to its end', async () => {
    const dataDir = join(dir.path, 'data');
    // A one-minute lesson; without an uplink the encoder runs at its start bitrate (400 kbit/s
    // video + 64 audio). The quota holds the minute at about 250 kbit/s of video.
    const quota = Math.round(roomNeeded(250, 64, 60));
    const proc = AgentProcess.withConfig(
      dir.path,
      testConfig(dataDir, broker.url, {
        deviceId: DEVICE,
        logLevel: 'info',
        // Noise: the encoder needs every bit it is given, so the files follow its bitrate.
        media: testMediaInput({ video: { type: 'test', pattern: 'snow', overlay: 'none' } }),
        cache: { maxCacheBytes: quota, minFreeBytes: 0, lessonReserveBytes: 1000 },
      }),
    );
    proc.start();
    try {
      await waitUntil(() => platform.payloads<{ online: boolean }>('status', DEVICE).find((s) => s.online), 'birth', 20_000);
      const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId: 'dr-start', args: { subject: '数学', durationMin: 1 } });
      expect(started.ok).toBe(true);
      const lessonId = started.result!.lessonId;

      const low = await waitUntil(
        () => platform.payloads<EventMessage>('events', DEVICE).find((e) => e.type === 'disk.low' && e.lessonId === lessonId),
        'disk.low for the lesson',
        30_000,
      );
      const details = low.details as { recordingCapKbps: number; fullVideoKbps: number; remainingSec: number };
      expect(details.fullVideoKbps).toBe(400);
      expect(details.remainingSec).toBeGreaterThan(45);
      expect(details.recordingCapKbps).toBeGreaterThanOrEqual(200);
      expect(details.recordingCapKbps).toBeLessThan(300);
      expect(low.message).toContain(`lowered to ${details.recordingCapKbps} kbit/s`);
      // The worker's encoder took it: its confirmation is in the agent's log.
      await waitUntil(() => proc.output.includes('recording bitrate capped: the recording'), "the media worker's confirmation", 20_000);

      // The lesson runs to its planned end and is recorded whole, within the quota.
      const rec = await waitUntil(() => platform.payloads<LessonRecord>('lessons', DEVICE).find((r) => r.lessonId === lessonId), 'the lesson record', 120_000);
      const folder = join(dataDir, 'recordings', lessonDirName(lessonId));
      expect(existsSync(folder)).toBe(true);
      const segs = readdirSync(folder).filter((f) => /^seg-\d{5}\.ts$/.test(f)).sort();
      const indices = segs.map((f) => Number(f.slice(4, 9)));
      expect(indices).toEqual(indices.map((_, i) => indices[0]! + i));
      expect(rec.recording.segments).toBe(segs.length);
      expect(rec.recording.durationSec).toBeGreaterThanOrEqual(50);
      const bytes = segs.reduce((n, f) => n + statSync(join(folder, f)).size, 0);
      expect(bytes).toBeLessThanOrEqual(quota);
      // At the full 400 kbit/s it would not have fitted.
      expect((diskKbps(400, 64) * 1000 * rec.recording.durationSec) / 8).toBeGreaterThan(quota);
      console.log(`recorded ${rec.recording.durationSec} s in ${bytes} bytes of a ${quota}-byte quota at ${details.recordingCapKbps} kbit/s`);
    } finally {
      await proc.stop();
    }
  }, 240_000);
});
