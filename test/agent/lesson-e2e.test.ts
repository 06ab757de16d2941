import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventMessage, LessonRecord, StatusMessage, Timetable } from '../../agent/contract/types.js';
import { localDate, localParts } from '../../agent/contract/time.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { AgentProcess, testConfig } from '../support/agent.js';
import { tempDir, waitUntil } from '../support/tmp.js';
import { isoWeekday } from '../../agent/timetable/resolve.js';
import { lessonDirName } from '../../pipelines/safe.js';
import { SrtServer, discover, freeUdpPort, haveGst, segmentFiles, testMediaInput } from '../support/media.js';
import { join } from 'node:path';

// End to end with the real agent process, a real broker, real GStreamer (test sources, an SRT
// listener as the media server) and the real clock: a one-minute timetabled lesson runs by
// itself; the agent is SIGKILLed in the middle of it and restarted; exactly one final record
// arrives, with the interruption listed, and every closed recording segment plays.
const DEVICE = 'QZ-E2E-0001-R201';
const ZONE = 'Asia/Shanghai';
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

const hhmm = (minutes: number): string => `${String(Math.floor(minutes / 60) % 24).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

describe.skipIf(!haveGst('srtsink', 'srtsrc', 'x264enc', 'shmsink', 'splitmuxsink'))('a timetabled lesson, end to end', () => {
  it('runs by itself and survives a SIGKILL mid-lesson with exactly one record', async () => {
    // The next whole minute at least 25 s away (the agent must be up and have the timetable).
    const now = new Date();
    let p = localParts(now, ZONE);
    let startMin = p.hour * 60 + p.minute + (p.second < 35 ? 1 : 2);
    if (startMin + 1 >= 24 * 60) {
      // Too close to midnight for a same-day slot: wait for the new day.
      await new Promise((r) => setTimeout(r, (24 * 60 - (p.hour * 60 + p.minute)) * 60_000 - p.second * 1000 + 2000));
      p = localParts(new Date(), ZONE);
      startMin = p.hour * 60 + p.minute + 1;
    }
    const today = localDate(new Date(), ZONE);
    const timetable: Timetable = {
      version: 'e2e-1',
      timezone: ZONE,
      term: { start: today, end: today },
      bells: [{ period: 1, start: hhmm(startMin), end: hhmm(startMin + 1) }],
      entries: [{ id: 'e2e-lesson', weekday: isoWeekday(today), period: 1, subject: '数学', role: 'lecture', peerRoomIds: ['QZ-AX-0312-R101'] }],
    };
    const srtPort = await freeUdpPort();
    const server = new SrtServer(srtPort, join(dir.path, 'received.ts'));
    server.start();
    const proc = AgentProcess.withConfig(
      dir.path,
      testConfig(`${dir.path}/data`, broker.url, {
        deviceId: DEVICE,
        lessons: { preRollSec: 5, readinessLeadSec: 20 },
        media: testMediaInput({
          uplink: { urlTemplate: `srt://127.0.0.1:${srtPort}?streamid=#!::r=live/{deviceId},m=publish` },
          recording: { segmentSec: 5 },
        }),
      }),
    );
    proc.start();
    try {
      await waitUntil(() => platform.payloads<StatusMessage>('status', DEVICE).find((s) => s.online), 'birth', 20_000);
      await platform.publishTimetable(DEVICE, timetable);
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied', 'timetable applied');
      const lessonId = `${DEVICE}:e2e-lesson:${today}`;
      const readiness = await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.readiness', 'readiness', 90_000);
      expect(readiness.lessonId).toBe(lessonId);
      const started = await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started', 'lesson.started', 90_000);
      expect(started.lessonId).toBe(lessonId);
      await new Promise((r) => setTimeout(r, 15_000));
      await proc.stop('SIGKILL'); // power cut, mid-lesson
      await new Promise((r) => setTimeout(r, 4000));
      proc.start();
      const record = await platform.waitFor<LessonRecord>('lessons', (l) => l.lessonId === lessonId, 'the lesson record', 90_000);
      await new Promise((r) => setTimeout(r, 3000));
      expect(platform.payloads<LessonRecord>('lessons', DEVICE)).toHaveLength(1);
      expect(record).toMatchObject({ status: 'completed', trigger: 'timetable', entryId: 'e2e-lesson', timetableVersion: 'e2e-1', date: today });
      expect(record.interruptions).toHaveLength(1);
      expect(record.interruptions[0]!.reason).toBe('agent-restart');
      const gap = (Date.parse(record.interruptions[0]!.to!) - Date.parse(record.interruptions[0]!.from)) / 1000;
      expect(gap).toBeGreaterThanOrEqual(3);
      expect(gap).toBeLessThanOrEqual(20);
      expect(record.durationSec).toBeGreaterThanOrEqual(60 - gap - 3);
      expect(record.durationSec).toBeLessThanOrEqual(60 - gap + 3);
      // Recorded on both sides of the power cut, in one folder, numbering continued: every
      // segment plays, but at most the one open when the power went (cut mid-write).
      const segs = segmentFiles(join(dir.path, 'data', 'recordings', lessonDirName(lessonId)));
      // The record counts the whole recording, from both sides of the cut.
      expect(record.recording.segments).toBe(segs.length);
      expect(record.recording.sha256).toHaveLength(segs.length);
      expect(record.recording.durationSec).toBeGreaterThanOrEqual(60 - gap - 12);
      const unplayable = segs.filter((f) => !discover(f).ok);
      expect(unplayable.length, unplayable.join(', ')).toBeLessThanOrEqual(1);
      // The stream was live for most of the lesson (the gap and start-up are not).
      expect(record.streamUptimePct, JSON.stringify(record)).toBeGreaterThan(40);
      expect(record.streamUptimePct).toBeLessThanOrEqual(100);
    } finally {
      await proc.stop();
      await server.stop();
    }
  }, 240_000);
});
