// Local recording through the real pipelines, each lesson in its own Node process as in the
// daemon: segment files and their journal, a power cut (SIGKILL), a missing camera, silence,
// and a hardware encoder that fails.
//
// gst-discoverer-1.0 (1.22) tells whether a segment plays and what it holds; it cannot always
// estimate the duration of these short live MPEG-TS segments (it reports 0 for many), so
// durations and continuity are measured from the PES timestamps in the files.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LessonChild, decodeGrayFrames, discover, haveGst, segmentFiles, testMediaInput, tsTimeline, type ChildEvent } from '../support/media.js';

const tmp = mkdtempSync(join(tmpdir(), 'lectern-record-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const children: LessonChild[] = [];
afterAll(async () => {
  for (const c of children) await c.kill();
});

const FPS = 15;
const DEVICE = 'QZ-TEST-0001';

function child(opts: Partial<ConstructorParameters<typeof LessonChild>[0]> & { config: unknown }): LessonChild {
  const c = new LessonChild({ runDir: tmp, role: 'lecture', deviceId: DEVICE, lessonId: 'QZ-TEST-0001:rec:2026-09-07', ...opts });
  children.push(c);
  c.start();
  return c;
}

async function ready(c: LessonChild): Promise<ChildEvent> {
  const e = await c.wait((x) => x.type === 'ready' || x.type === 'error', 'the lesson to start', 60_000);
  if (e.type === 'error') throw new Error(`lesson did not start: ${String(e.message)}\n${c.stderr}`);
  return e;
}

interface Seg {
  kind: 'opened' | 'closed';
  location: string;
  index: number;
  runningTimeNs: number;
  durationNs?: number;
}

const segEvents = (c: LessonChild): Seg[] => c.eventsNamed('segment').map((e) => e.payload as Seg);
const closedCount = (c: LessonChild): number => segEvents(c).filter((s) => s.kind === 'closed').length;
/**
 * Frames a closed segment must hold, from its journaled duration. Segments are 2 s, except that
 * splitmuxsink closes a fragment early rather than let a GOP run past the limit (a GOP that
 * met a requested keyframe can be 16 frames long), so a segment may hold one GOP less.
 */
const framesIn = (s: Seg): number => Math.round(((s.durationNs ?? 0) / 1e9) * FPS);

async function waitClosed(c: LessonChild, n: number, timeoutMs = 45_000): Promise<void> {
  await c.wait(() => closedCount(c) >= n, `${n} closed segments`, timeoutMs);
}

describe.skipIf(!haveGst('x264enc', 'splitmuxsink', 'mpegtsmux', 'avenc_aac', 'intervideosink'))('recording', () => {
  it('writes playable 2 s MPEG-TS segments (H.264 + AAC), journaled, contiguous, the last one finalised at stop', async () => {
    const dir = join(tmp, 'a');
    const c = child({ config: testMediaInput({ recording: { dir } }) });
    const r = await ready(c);
    const lessonDir = String(r.recordingDir);
    expect(lessonDir).toBe(join(dir, 'QZ-TEST-0001_rec_2026-09-07-') + lessonDir.slice(-8));
    await waitClosed(c, 3);
    const stopped = await c.stop();
    expect((stopped.result as { finalised: boolean }).finalised).toBe(true);

    const segs = segEvents(c);
    const closed = segs.filter((s) => s.kind === 'closed');
    expect(closed.length).toBeGreaterThanOrEqual(4);
    expect(closed.map((s) => s.index)).toEqual(closed.map((_, i) => i + 1));
    // Every segment opens where the previous one closed (running time), none left open.
    const opened = segs.filter((s) => s.kind === 'opened');
    expect(opened).toHaveLength(closed.length);
    for (let i = 1; i < opened.length; i++) expect(opened[i]!.runningTimeNs).toBe(closed[i - 1]!.runningTimeNs);
    for (const s of closed.slice(0, -1)) expect([1, 2]).toContain(Math.round(s.durationNs! / 1e9));
    expect(closed.filter((s) => s.durationNs === 2_000_000_000).length).toBeGreaterThanOrEqual(closed.length - 2);
    expect(segmentFiles(lessonDir)).toEqual(closed.map((s) => s.location));

    let prevLast: number | undefined;
    for (const [i, s] of closed.entries()) {
      const d = discover(s.location);
      expect(d.ok, d.output).toBe(true);
      expect(d.container).toBe('video/mpegts');
      expect(d.video).toMatchObject({ codec: 'video/x-h264', width: 320, height: 240, fps: '15/1' });
      expect(d.audio?.codec).toBe('audio/mpeg');
      const t = tsTimeline(s.location);
      expect(t.badPackets).toBe(0);
      const v = [...t.video!.pts].sort((a, b) => a - b);
      const last = i === closed.length - 1;
      if (!last) {
        // 15 fps, and 46.9 AAC frames (1024 samples at 48 kHz) per second.
        const sec = s.durationNs! / 1e9;
        expect(v.length).toBe(framesIn(s));
        expect(v.at(-1)! - v[0]! + 1 / FPS).toBeCloseTo(sec, 1);
        expect(t.audio!.pts.length).toBeGreaterThanOrEqual(Math.floor(sec * 46.875) - 4);
        expect(t.audio!.pts.length).toBeLessThanOrEqual(Math.ceil(sec * 46.875) + 4);
      } else {
        expect(v.length).toBeGreaterThan(0);
      }
      // No gap and no overlap between segments: one frame interval from the previous one.
      if (prevLast !== undefined) expect(v[0]! - prevLast).toBeCloseTo(1 / FPS, 2);
      prevLast = v.at(-1)!;
    }
  });

  it('a power cut (SIGKILL) loses at most the open segment; the next start continues the numbering', async () => {
    const dir = join(tmp, 'b');
    const c = child({ config: testMediaInput({ recording: { dir } }), lessonId: 'L-kill' });
    const r = await ready(c);
    const lessonDir = String(r.recordingDir);
    await waitClosed(c, 3);
    await c.kill('SIGKILL');
    const closed = segEvents(c).filter((s) => s.kind === 'closed');
    expect(closed.length).toBeGreaterThanOrEqual(3);
    for (const s of closed) {
      const d = discover(s.location);
      expect(d.ok, d.output).toBe(true);
      expect(d.video?.codec).toBe('video/x-h264');
      expect(tsTimeline(s.location).video!.pts.length).toBe(framesIn(s));
    }
    // The segment that was open at the cut is readable up to it (TS needs no index).
    const files = segmentFiles(lessonDir);
    const open = files.filter((f) => !closed.some((s) => s.location === f));
    expect(open.length).toBeLessThanOrEqual(1);
    for (const f of open) expect(tsTimeline(f).badPackets).toBe(0);

    // A restarted agent continues the same lesson: new segments never overwrite the old ones.
    const again = child({ config: testMediaInput({ recording: { dir } }), lessonId: 'L-kill' });
    await ready(again);
    await again.wait(() => segEvents(again).some((s) => s.kind === 'opened'), 'a segment to open');
    expect(segEvents(again)[0]!.index).toBe(files.length + 1);
    await again.stop();
    for (const s of closed) expect(existsSync(s.location)).toBe(true);
  });

  it('a missing camera: fault reported, recording continues with audio and "camera offline" on black', async () => {
    const dir = join(tmp, 'c');
    const c = child({ config: testMediaInput({ recording: { dir }, video: { type: 'v4l2', device: '/dev/video-lectern-absent', format: 'raw', width: 320, height: 240, fps: 15 } }) });
    await ready(c);
    const fault = await c.wait((e) => e.type === 'event' && e.name === 'device' && (e.payload as { now: { id: string; status: string } }).now.id === 'video-source' && (e.payload as { now: { status: string } }).now.status === 'fault', 'a camera fault');
    expect((fault.payload as { now: { detail: string } }).now.detail).toMatch(/video-lectern-absent: .*ENOENT/);
    await waitClosed(c, 2);
    const stats = await c.stats();
    // Audio kept flowing: the level element reported all along, and the microphone is fine.
    expect(stats.levels as number).toBeGreaterThan(4);
    const devices = stats.devices as { id: string; status: string }[];
    expect(devices.find((d) => d.id === 'audio-source')?.status).toBe('ok');
    expect(devices.find((d) => d.id === 'video-source')?.status).toBe('fault');
    await c.stop();
    const second = segEvents(c).filter((s) => s.kind === 'closed')[1]!;
    const t = tsTimeline(second.location);
    expect(t.video!.pts.length).toBe(framesIn(second));
    expect(t.audio!.pts.length).toBeGreaterThanOrEqual(Math.floor((second.durationNs! / 1e9) * 46.875) - 4);
    // Black frames with white text in the middle.
    const frames = decodeGrayFrames(second.location, join(tmp, 'c-frames.gray'), 320, 240);
    expect(frames.length).toBe(framesIn(second));
    const f = frames[Math.floor(frames.length / 2)]!;
    const bright = f.filter((y) => y > 180).length;
    const mean = f.reduce((a, y) => a + y, 0) / f.length;
    expect(bright).toBeGreaterThan(200);
    expect(mean).toBeLessThan(40);
    const top = f.subarray(0, 320 * 60).filter((y) => y > 180).length;
    expect(top).toBe(0);
  });

  it('silence on the microphone raises the alarm after the configured time', async () => {
    const c = child({
      config: testMediaInput({ audio: { type: 'test', testWave: 'silence' }, recording: { enabled: false }, monitor: { silenceAfterSec: 1, silenceThresholdDb: -50, levelIntervalMs: 200 } }),
    });
    await ready(c);
    const e = await c.waitEvent('silence', 'the silence alarm', 20_000);
    const p = e.payload as { silent: boolean; levelDb: number };
    expect(p.silent).toBe(true);
    expect(p.levelDb).toBeLessThan(-50);
    await c.stop();
  });

  it('encoders: a configured hardware encoder that is missing, then one that fails in the lesson → x264enc', async () => {
    // Probe: vaapih264enc is not installed; nvh264enc claims to be but cannot encode.
    const probed = child({ config: testMediaInput({ encoder: { preference: ['vaapih264enc', 'nvh264enc', 'x264enc'] }, recording: { enabled: false } }), presentFactories: ['nvh264enc'] });
    const r = await ready(probed);
    expect(r.encoder).toBe('x264enc');
    const attempts = (r.probe as { attempts: { encoder: string; ok: boolean; reason?: string }[] }).attempts;
    expect(attempts.map((a) => [a.encoder, a.ok])).toEqual([
      ['vaapih264enc', false],
      ['nvh264enc', false],
      ['x264enc', true],
    ]);
    expect(attempts[0]!.reason).toMatch(/not installed/);
    expect(attempts[1]!.reason).toMatch(/nvh264enc/);
    await probed.stop();

    // Runtime: the probe said nvh264enc works, the lesson pipeline says otherwise.
    const dir = join(tmp, 'e');
    const c = child({ config: testMediaInput({ recording: { dir } }), encoders: { chosen: 'nvh264enc', usable: ['nvh264enc', 'x264enc'], attempts: [] } });
    const ready2 = await ready(c);
    expect(ready2.encoder).toBe('x264enc');
    const fb = await c.waitEvent('encoder.fallback', 'the encoder fallback');
    expect(fb.payload).toMatchObject({ from: 'nvh264enc', to: 'x264enc' });
    expect((fb.payload as { reason: string }).reason).toMatch(/nvh264enc/);
    const devices = ready2.devices as { id: string; model?: string; status: string; detail?: string }[];
    expect(devices.find((d) => d.id === 'video-encoder')).toMatchObject({ model: 'x264enc', status: 'ok' });
    await waitClosed(c, 1);
    await c.stop();
    const first = segEvents(c).find((s) => s.kind === 'closed')!;
    expect(discover(first.location).video?.codec).toBe('video/x-h264');
  });
});
