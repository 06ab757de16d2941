import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LessonRecord, StatusMessage } from '../../agent/contract/types.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform, type Reply } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { SrtServer, freeUdpPort, haveGst, testMediaInput } from '../support/media.js';

// `lesson.stop` arriving while the lesson's pipelines are still starting (the platform, or a
// technician, starting and at once stopping a lesson): the lesson ends with one record, and the
// pipelines that come up afterwards are stopped again instead of streaming and recording on with
// no lesson to own them.
const DEVICE = 'QZ-SWS-0001-R201';
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

/** Bytes under `root`, all files. */
function bytesUnder(root: string): number {
  if (!existsSync(root)) return 0;
  let n = 0;
  for (const f of readdirSync(root, { recursive: true }) as string[]) {
    const s = statSync(join(root, f));
    if (s.isFile()) n += s.size;
  }
  return n;
}

describe.skipIf(!haveGst('srtsink', 'x264enc', 'shmsink', 'splitmuxsink'))('lesson.stop while the pipelines start', () => {
  it('ends the lesson with one record and leaves no pipelines running', async () => {
    const srtPort = await freeUdpPort();
    const received = join(dir.path, 'received.ts');
    const server = new SrtServer(srtPort, received);
    server.start();
    const dataDir = join(dir.path, 'data');
    const proc = AgentProcess.withConfig(
      dir.path,
      testConfig(dataDir, broker.url, {
        deviceId: DEVICE,
        media: testMediaInput({ uplink: { urlTemplate: `srt://127.0.0.1:${srtPort}?streamid=#!::r=live/{deviceId},m=publish` }, recording: { segmentSec: 2 } }),
      }),
    );
    proc.start();
    try {
      await waitUntil(() => platform.payloads<StatusMessage>('status', DEVICE).find((s) => s.online), 'birth', 30_000);
      const started = await platform.reply<{ lessonId: string }>(DEVICE, 'lesson.start', { requestId: 'sws-1', args: { subject: '数学' } });
      expect(started.ok).toBe(true);
      // The agent's next round begins the lesson and starts its pipelines; stop it meanwhile.
      await platform.waitFor('events', (e: { type: string }) => e.type === 'lesson.started', 'lesson.started', 15_000);
      const stopped = await platform.reply(DEVICE, 'lesson.stop', { requestId: 'sws-2' });
      expect(stopped.ok, JSON.stringify(stopped)).toBe(true);
      await platform.waitFor<LessonRecord>('lessons', (r) => r.lessonId === started.result!.lessonId, 'the record', 30_000);
      // Give pipelines that came up late time to show: nothing may be recorded or streamed on.
      await new Promise((r) => setTimeout(r, 8000));
      const recorded = bytesUnder(join(dataDir, 'recordings'));
      const streamed = existsSync(received) ? statSync(received).size : 0;
      await new Promise((r) => setTimeout(r, 5000));
      expect(bytesUnder(join(dataDir, 'recordings')), 'recording after the stop').toBe(recorded);
      expect(existsSync(received) ? statSync(received).size : 0, 'streaming after the stop').toBe(streamed);
      expect(platform.payloads<LessonRecord>('lessons', DEVICE)).toHaveLength(1);
      expect(platform.payloads<Reply>('reply', DEVICE).filter((r) => r.error?.code === 'internal')).toEqual([]);
    } catch (e) {
      console.log(`failed: ${(e as Error).message}\nagent output:\n${proc.output.slice(-4000)}`);
      throw e;
    } finally {
      await proc.stop();
      await server.stop();
    }
  }, 90_000);
});
