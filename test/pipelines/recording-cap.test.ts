// The recording's bitrate capped mid-lesson (disk pressure), through the worker process as the
// agent drives it: the encoder's bitrate property changes while playing, later segments take
// measurably fewer bytes per second, and the recording goes on without a gap.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, type Logger } from '../../agent/log.js';
import { resolveMediaConfig } from '../../pipelines/config.js';
import { LessonMediaProcess } from '../../pipelines/process.js';
import type { BitrateEvent, RecordingBitrateEvent, SegmentEvent } from '../../pipelines/runtime.js';
import { REPO, freeUdpPort, haveGst, ptsSpan, testMediaInput, tsTimeline } from '../support/media.js';
import { tempDir, waitUntil } from '../support/tmp.js';

const tmp = tempDir('lectern-reccap-');
const workers: LessonMediaProcess[] = [];
afterAll(async () => {
  for (const w of workers) await w.kill();
  tmp.cleanup();
});

const command = { file: join(REPO, 'node_modules/.bin/vite-node'), args: [join(REPO, 'pipelines/worker-main.ts')] };
const FPS = 15;

function worker(lessonId: string, media: Record<string, unknown>, log: Logger = silentLogger()): LessonMediaProcess {
  const w = new LessonMediaProcess({
    // Noise: the encoder needs every bit it is given, so the file size follows its bitrate.
    config: resolveMediaConfig(testMediaInput({ video: { pattern: 'snow', overlay: 'none' }, recording: { dir: join(tmp.path, 'rec'), segmentSec: 2 }, ...media })),
    role: 'lecture',
    deviceId: 'QZ-TEST-0001',
    lessonId,
    log,
    encoders: { chosen: 'x264enc', usable: ['x264enc'], attempts: [] },
    logLevel: 'warn',
    runDir: tmp.path,
    command,
  });
  workers.push(w);
  return w;
}

interface Timed {
  segment: SegmentEvent;
  t: number;
}

/** Bytes per second of closed segments. */
function rate(segments: SegmentEvent[]): number {
  const bytes = segments.reduce((n, s) => n + statSync(s.location).size, 0);
  const sec = segments.reduce((n, s) => n + (s.durationNs ?? 0) / 1e9, 0);
  return bytes / sec;
}

/** Runs a lesson, caps its recording after a few segments, and measures before and after. */
async function capMidLesson(w: LessonMediaProcess, capKbps: number): Promise<{ before: number; after: number; closed: SegmentEvent[]; capEvents: RecordingBitrateEvent[]; streamKbps: number }> {
  const seen: Timed[] = [];
  const capEvents: RecordingBitrateEvent[] = [];
  w.on('segment', (segment) => seen.push({ segment, t: Date.now() }));
  w.on('recording.bitrate', (e) => capEvents.push(e));
  await w.start();
  const closedCount = (): number => seen.filter((s) => s.segment.kind === 'closed').length;
  await waitUntil(() => closedCount() >= 3, 'three segments at full bitrate', 60_000);
  w.setRecordingCap(capKbps);
  await waitUntil(() => w.recordingBitrateKbps === capKbps, "the encoder's bitrate property at the cap", 15_000);
  const capAt = Date.now();
  const streamKbps = w.targetBitrateKbps;
  // Segments opened once the encoder runs at the cap: measured after it.
  const afterCap = (): SegmentEvent[] => {
    const opened = new Set(seen.filter((s) => s.segment.kind === 'opened' && s.t > capAt).map((s) => s.segment.location));
    return seen.filter((s) => s.segment.kind === 'closed' && opened.has(s.segment.location)).map((s) => s.segment);
  };
  await waitUntil(() => afterCap().length >= 3, 'three segments at the cap', 60_000);
  const r = await w.stop();
  expect(r.finalised).toBe(true);
  const closed = r.segments.filter((s) => s.kind === 'closed');
  // Before: the closed segments before the cap, less the first (the encoder settling in).
  const before = seen.filter((s) => s.segment.kind === 'closed' && s.t < capAt).map((s) => s.segment).slice(1);
  return { before: rate(before), after: rate(afterCap()), closed, capEvents, streamKbps };
}

/** The recording is whole: consecutive segments, each beginning where the last one ended. */
function expectNoGap(closed: SegmentEvent[]): void {
  const sorted = [...closed].sort((a, b) => a.index - b.index);
  expect(sorted.map((s) => s.index)).toEqual(sorted.map((_, i) => sorted[0]!.index + i));
  let lastEnd: number | undefined;
  for (const s of sorted) {
    const v = tsTimeline(s.location).video;
    expect(v?.pts.length ?? 0).toBeGreaterThan(0);
    const first = Math.min(...v!.pts);
    if (lastEnd !== undefined) expect(Math.abs(first - lastEnd)).toBeLessThan(0.25);
    lastEnd = first + ptsSpan(v, FPS);
  }
}

describe.skipIf(!haveGst('x264enc', 'splitmuxsink'))('recording bitrate capped mid-lesson', () => {
  it('shared encoder (no uplink): the cap lowers the encoder, later segments are smaller, no gap', async () => {
    const w = worker('L-cap-shared', { uplink: { bitrate: { floorKbps: 200, startKbps: 1200, ceilingKbps: 1500 } } });
    const { before, after, closed, capEvents } = await capMidLesson(w, 300);
    expect(capEvents[0]).toMatchObject({ capKbps: 300, kbps: 300, encoder: 'shared', applied: true });
    // 1200 → 300 kbit/s of video (audio 64 kbit/s on top): well under half the bytes per second.
    expect(after).toBeLessThan(before * 0.5);
    expect(after).toBeGreaterThan(0);
    console.log(`shared encoder: ${Math.round((before * 8) / 1000)} kbit/s on disk at 1200+64, ${Math.round((after * 8) / 1000)} kbit/s at 300+64`);
    expectNoGap(closed);
  }, 180_000);

  it('own recording encoder (adaptive uplink, full quality): the cap lowers the recording encoder only', async () => {
    const port = await freeUdpPort();
    // Nobody listens on the uplink's port: the stream keeps reconnecting, the recording runs.
    const w = worker('L-cap-own', {
      uplink: { urlTemplate: `srt://127.0.0.1:${port}?mode=caller`, bitrate: { floorKbps: 200, startKbps: 400, ceilingKbps: 1200 } },
    });
    const { before, after, closed, capEvents, streamKbps } = await capMidLesson(w, 300);
    expect(capEvents[0]).toMatchObject({ capKbps: 300, kbps: 300, encoder: 'recording', applied: true });
    // The stream's encoder keeps its own bitrate.
    expect(streamKbps).toBe(400);
    expect(after).toBeLessThan(before * 0.5);
    console.log(`own encoder: ${Math.round((before * 8) / 1000)} kbit/s on disk at 1200+64, ${Math.round((after * 8) / 1000)} kbit/s at 300+64`);
    expectNoGap(closed);
  }, 180_000);

  it('shared encoder with an adaptive uplink that is down: the uplink logic cannot take it above the cap', async () => {
    const port = await freeUdpPort();
    // Nobody listens: the uplink fails again and again, and each time asks for the ceiling.
    // The worker's log, as the agent receives it: each failed uplink attempt is a line.
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done): void {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const uplinkFailures = (): number =>
      lines.filter((l) => {
        const rec = JSON.parse(l) as { msg?: string; worker?: { pipeline?: string } };
        return rec.msg === 'pipeline failed; restarting after a pause' && rec.worker?.pipeline === 'uplink';
      }).length;
    const w = worker(
      'L-cap-updown',
      {
        uplink: { urlTemplate: `srt://127.0.0.1:${port}?mode=caller`, bitrate: { floorKbps: 200, startKbps: 400, ceilingKbps: 1200 } },
        recording: { dir: join(tmp.path, 'rec'), segmentSec: 2, fullQuality: false },
      },
      createLogger('warn', sink),
    );
    const bitrates: BitrateEvent[] = [];
    const downs: unknown[] = [];
    w.on('bitrate', (e) => bitrates.push(e));
    w.on('stream.failed', (e) => downs.push(e));
    await w.start();
    await waitUntil(() => w.targetBitrateKbps === 1200, 'the ceiling while the uplink is down', 30_000);
    w.setRecordingCap(300);
    await waitUntil(() => w.recordingBitrateKbps === 300, 'the cap applied', 15_000);
    expect(w.targetBitrateKbps).toBe(300);
    const capped = bitrates.length;
    // Two more failed attempts, each asking for the ceiling again: the encoder stays at the cap.
    const failedBefore = uplinkFailures();
    await waitUntil(() => uplinkFailures() >= failedBefore + 2, 'two more failed uplink attempts', 30_000);
    expect(downs.length).toBeGreaterThanOrEqual(1);
    expect(bitrates.slice(capped).every((b) => b.kbps <= 300)).toBe(true);
    expect(bitrates.at(-1)).toMatchObject({ kbps: 300 });
    expect(bitrates.at(-1)!.reason).toContain("recording's cap");
    expect(w.recordingBitrateKbps).toBe(300);
    w.setRecordingCap(null);
    await waitUntil(() => w.recordingBitrateKbps === 1200, 'the ceiling again once the cap is lifted', 15_000);
    await w.stop();
  }, 120_000);

  it('a cap lifted while playing brings the full bitrate back', async () => {
    const w = worker('L-cap-lift', { uplink: { bitrate: { floorKbps: 200, startKbps: 800, ceilingKbps: 1500 } } });
    const events: RecordingBitrateEvent[] = [];
    w.on('recording.bitrate', (e) => events.push(e));
    await w.start();
    expect(w.recordingBitrateKbps).toBe(800);
    w.setRecordingCap(250);
    await waitUntil(() => w.recordingBitrateKbps === 250, 'the cap applied', 15_000);
    expect(w.targetBitrateKbps).toBe(250);
    w.setRecordingCap(null);
    await waitUntil(() => w.recordingBitrateKbps === 800, 'the full bitrate back', 15_000);
    expect(events.map((e) => e.capKbps)).toEqual([250, null]);
    await w.stop();
  }, 120_000);
});
