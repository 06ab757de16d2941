// A lecture room and a listening room end to end on loopback: lecture → SRT → a relay standing
// in for the media server → the listening room, which decodes and plays the lesson while it
// sends its own camera and microphone back (with echo cancellation, as it plays audio).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StreamNow } from '../../agent/contract/types.js';
import type { PlaybackNow } from '../../pipelines/runtime.js';
import { LessonChild, SrtReceiver, SrtRelay, freeUdpPort, haveCommand, haveGst, testMediaInput, tsTimeline, type ChildEvent } from '../support/media.js';

const tmp = mkdtempSync(join(tmpdir(), 'lectern-listen-'));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

async function ready(c: LessonChild): Promise<ChildEvent> {
  const e = await c.wait((x) => x.type === 'ready' || x.type === 'error', 'the lesson to start', 60_000);
  if (e.type === 'error') throw new Error(`lesson did not start: ${String(e.message)}\n${c.stderr}`);
  return e;
}

describe.skipIf(!haveCommand('srt-live-transmit') || !haveGst('srtsrc', 'srtsink', 'avdec_h264', 'webrtcdsp', 'webrtcechoprobe', 'fpsdisplaysink'))('listening room', () => {
  it('plays the lecture from the relay (frames decoded), recovers after a relay restart, and streams its own camera back', async () => {
    const [a, b, back] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const relay = new SrtRelay(a, b);
    relay.start();
    cleanups.push(() => relay.stop());
    const rxBack = new SrtReceiver(back, join(tmp, 'back.ts'));
    rxBack.start();
    cleanups.push(() => rxBack.stop());

    const lecture = new LessonChild({
      runDir: tmp,
      role: 'lecture',
      deviceId: 'QZ-TEST-0001',
      lessonId: 'L-e2e',
      config: testMediaInput({ uplink: { urlTemplate: `srt://127.0.0.1:${a}?streamid=#!::r=live/{deviceId},m=publish` }, recording: { enabled: false } }),
    });
    cleanups.push(() => lecture.kill());
    lecture.start();
    await ready(lecture);

    const listen = new LessonChild({
      runDir: tmp,
      role: 'listen',
      deviceId: 'QZ-TEST-0002',
      peerRoomId: 'QZ-TEST-0001',
      lessonId: 'L-e2e',
      config: testMediaInput({
        video: { type: 'test', pattern: 'smpte', overlay: 'time' },
        uplink: { urlTemplate: `srt://127.0.0.1:${back}?streamid=#!::r=live/{deviceId},m=publish` },
        listen: { urlTemplate: `srt://127.0.0.1:${b}?streamid=#!::r=live/{peerRoomId},m=request`, latencyMs: 120, videoSink: 'fake', audioSink: 'fake', stallSec: 8 },
        recording: { enabled: false },
      }),
    });
    cleanups.push(() => listen.kill());
    listen.start();
    const r = await ready(listen);
    expect(r.pipelines).toEqual(['playback', 'audio-source', 'video-source', 'main', 'uplink']);
    expect(r.echoCancel).toBe(true);

    const playing = await listen.waitStats((s) => {
      const p = s.playback as PlaybackNow | null;
      return p !== null && p.state === 'playing' && p.framesRendered >= 45;
    }, 'the listening room to decode 3 s of the lesson', 60_000);
    const p1 = playing.playback as PlaybackNow;
    const backLive = await listen.waitStats((s) => (s.stream as StreamNow).state === 'live', "the listening room's own uplink to be live", 30_000);
    expect((backLive.stream as StreamNow).bitrateKbps).toBeGreaterThan(0);

    // Frames keep coming at the lesson's rate.
    const t0 = Date.now();
    await new Promise((res) => setTimeout(res, 3000));
    const later = await listen.stats();
    const p2 = later.playback as PlaybackNow;
    const fps = ((p2.framesRendered - p1.framesRendered) * 1000) / (Number(later.t) - Number(playing.t));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    expect(fps).toBeGreaterThan(10);
    expect(fps).toBeLessThan(20);

    // The media server (relay) restarts mid-lesson: playback fails, then recovers by itself.
    await relay.stop();
    const failed = await listen.wait((e) => e.type === 'event' && e.name === 'stream.failed' && (e.payload as { direction: string }).direction === 'playback', 'playback to fail', 30_000);
    relay.start();
    const recovered = await listen.wait((e) => e.type === 'event' && e.name === 'stream.recovered' && (e.payload as { direction: string }).direction === 'playback', 'playback to recover', 60_000);
    expect(Number(recovered.t)).toBeGreaterThan(Number(failed.t));
    const before = ((await listen.stats()).playback as PlaybackNow).framesRendered;
    await new Promise((res) => setTimeout(res, 2000));
    const after = ((await listen.stats()).playback as PlaybackNow).framesRendered;
    expect(after - before).toBeGreaterThan(15);

    await listen.stop();
    await lecture.stop();
    await rxBack.stop();
    const t = tsTimeline(join(tmp, 'back.ts'));
    expect(t.video?.pts.length ?? 0).toBeGreaterThan(30);
    expect(t.audio?.pts.length ?? 0).toBeGreaterThan(60);
    expect(listen.eventsNamed('stream.failed').filter((e) => (e.payload as { direction: string }).direction === 'uplink')).toHaveLength(0);
  });
});
