// The uplink to a media server on loopback: SRT to a real listener that goes away and comes
// back, RTMP to a real nginx with the RTMP module (accepting, and refusing the stream). The
// recording must not notice any of it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StreamNow } from '../../agent/contract/types.js';
import { LessonChild, SrtReceiver, discover, freeUdpPort, haveGst, haveNginxRtmp, startNginxRtmp, testMediaInput, tsTimeline, type ChildEvent, type NginxRtmp } from '../support/media.js';

const tmp = mkdtempSync(join(tmpdir(), 'lectern-uplink-'));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

const FPS = 15;

interface Seg {
  kind: 'opened' | 'closed';
  location: string;
  runningTimeNs: number;
  durationNs?: number;
}

function child(config: unknown): LessonChild {
  const c = new LessonChild({ runDir: tmp, role: 'lecture', deviceId: 'QZ-TEST-0001', lessonId: 'L-uplink', config });
  cleanups.push(() => c.kill());
  c.start();
  return c;
}

async function ready(c: LessonChild): Promise<ChildEvent> {
  const e = await c.wait((x) => x.type === 'ready' || x.type === 'error', 'the lesson to start', 60_000);
  if (e.type === 'error') throw new Error(`lesson did not start: ${String(e.message)}\n${c.stderr}`);
  return e;
}

const stream = (s: ChildEvent): StreamNow => s.stream as StreamNow;
const closedSegs = (c: LessonChild): Seg[] => c.eventsNamed('segment').map((e) => e.payload as Seg).filter((s) => s.kind === 'closed');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every closed segment follows the previous one without a gap, by running time and by PTS. */
function expectContiguous(c: LessonChild): number {
  const segs = c.eventsNamed('segment').map((e) => e.payload as Seg);
  const opened = segs.filter((s) => s.kind === 'opened');
  const closed = segs.filter((s) => s.kind === 'closed');
  for (let i = 1; i < opened.length; i++) expect(opened[i]!.runningTimeNs).toBe(closed[i - 1]!.runningTimeNs);
  let prev: number | undefined;
  for (const s of closed) {
    const v = [...tsTimeline(s.location).video!.pts].sort((a, b) => a - b);
    if (prev !== undefined) expect(v[0]! - prev).toBeCloseTo(1 / FPS, 2);
    prev = v.at(-1);
  }
  return closed.length;
}

describe.skipIf(!haveGst('srtsink', 'srtsrc', 'x264enc', 'shmsink'))('SRT uplink', () => {
  it('streams to a listener; losing it leaves the recording whole; reconnects when it returns', async () => {
    const port = await freeUdpPort();
    const rx1 = new SrtReceiver(port, join(tmp, 'srt-1.ts'));
    rx1.start();
    cleanups.push(() => rx1.stop());
    const c = child(
      testMediaInput({
        uplink: { urlTemplate: `srt://127.0.0.1:${port}?streamid=#!::r=live/{deviceId},m=publish` },
        // One encoder shared by stream and recording: the runtime must raise it to the ceiling
        // while the uplink is down (with its own encoder the recording is always at the ceiling).
        recording: { dir: join(tmp, 'srt-rec'), fullQuality: false },
      }),
    );
    await ready(c);
    // Loss needs two samples of the counters, so it shows from the second interval on.
    const live = await c.waitStats((s) => stream(s).state === 'live' && stream(s).bitrateKbps > 0 && stream(s).lossPct !== null, 'the uplink to be live');
    expect(stream(live).rttMs).toBeGreaterThanOrEqual(0);
    expect(stream(live).lossPct).toBeGreaterThanOrEqual(0);
    expect(stream(live).droppedFrames).toBe(0);
    await sleep(2500);
    const beforeOutage = closedSegs(c).length;

    // The media server goes away mid-lesson.
    await rx1.stop();
    const failed = await c.waitEvent('stream.failed', 'stream.failed', 20_000);
    expect(failed.payload).toMatchObject({ direction: 'uplink' });
    await c.wait(() => closedSegs(c).length >= beforeOutage + 3, 'recording to go on during the outage', 30_000);
    const during = await c.stats();
    expect(['reconnecting', 'failed']).toContain(stream(during).state);
    expect(stream(during).bitrateKbps).toBe(0);
    expect(during.targetKbps).toBe(600);

    // It comes back on the same port.
    const rx2 = new SrtReceiver(port, join(tmp, 'srt-2.ts'));
    rx2.start();
    cleanups.push(() => rx2.stop());
    const recovered = await c.waitEvent('stream.recovered', 'stream.recovered', 30_000);
    const downMs = (recovered.payload as { downMs: number }).downMs;
    expect(downMs).toBeGreaterThan(1000);
    expect(recovered.t as number).toBeGreaterThan(failed.t as number);
    await c.waitStats((s) => stream(s).state === 'live', 'live again');
    await sleep(2500);
    await c.stop();
    await rx2.stop();

    // Both listeners received the stream.
    for (const f of ['srt-1.ts', 'srt-2.ts']) {
      const t = tsTimeline(join(tmp, f));
      expect(t.video?.pts.length ?? 0, f).toBeGreaterThan(15);
      expect(t.audio?.pts.length ?? 0, f).toBeGreaterThan(30);
    }
    // The recording has no gap across the outage.
    expect(expectContiguous(c)).toBeGreaterThanOrEqual(beforeOutage + 4);
    // While down the encoder went to the ceiling for the recording; back to the start when live.
    const bitrates = c.eventsNamed('bitrate').map((e) => e.payload as { kbps: number; reason: string });
    expect(bitrates.some((b) => b.kbps === 600 && /uplink down/.test(b.reason))).toBe(true);
    expect(bitrates.some((b) => b.kbps === 400 && /connected/.test(b.reason))).toBe(true);
    const uplinkDevice = c.eventsNamed('device').map((e) => (e.payload as { now: { id: string; status: string } }).now).filter((d) => d.id === 'uplink');
    expect(uplinkDevice.map((d) => d.status)).toEqual(expect.arrayContaining(['ok', 'fault']));
    expect(c.eventsNamed('stream.failed')).toHaveLength(1);
    expect(c.eventsNamed('stream.recovered')).toHaveLength(1);
  });
});

describe.skipIf(!haveNginxRtmp() || !haveGst('rtmp2sink', 'flvmux', 'tsdemux'))('RTMP uplink', () => {
  it('publishes to nginx-rtmp (the server records H.264 + AAC), and publishes again after a server restart', async () => {
    const ngDir = join(tmp, 'nginx-ok');
    const first: NginxRtmp = await startNginxRtmp(ngDir);
    cleanups.push(() => first.stop());
    const c = child(testMediaInput({ uplink: { protocol: 'rtmp', urlTemplate: `${first.url}/{deviceId}` }, recording: { enabled: false } }));
    await ready(c);
    const live = await c.waitStats((s) => stream(s).state === 'live' && stream(s).bitrateKbps > 0, 'the RTMP uplink to be live');
    expect(stream(live).rttMs).toBeNull();
    await sleep(2000);
    // The server restarts: the uplink pipeline (a demuxer inside, so rebuilt each time) comes back.
    await first.stop();
    await c.waitEvent('stream.failed', 'stream.failed', 20_000);
    const nginx: NginxRtmp = await startNginxRtmp(ngDir, { port: first.port });
    cleanups.push(() => nginx.stop());
    await c.waitEvent('stream.recovered', 'stream.recovered', 30_000);
    await c.waitStats((s) => stream(s).state === 'live' && stream(s).bitrateKbps > 0, 'the RTMP uplink to be live again');
    await sleep(4000);
    await c.stop();
    await nginx.stop();
    const flv = join(nginx.recordDir, 'QZ-TEST-0001.flv');
    expect(existsSync(flv), nginx.log()).toBe(true);
    const d = discover(flv);
    expect(d.ok, d.output).toBe(true);
    expect(d.video?.codec).toBe('video/x-h264');
    expect(d.audio?.codec).toBe('audio/mpeg');
    expect(d.output).toMatch(/mpegversion=\(int\)4/);
    expect(d.durationSec ?? 0).toBeGreaterThan(3);
    expect(nginx.log()).toMatch(/publish: name='QZ-TEST-0001'/);
  });

  it('a server that refuses the stream: stream.failed, retries, and the recording goes on', async () => {
    const nginx = await startNginxRtmp(join(tmp, 'nginx-deny'), { denyPublish: true });
    cleanups.push(() => nginx.stop());
    const c = child(testMediaInput({ uplink: { protocol: 'rtmp', urlTemplate: `${nginx.url}/{deviceId}` }, recording: { dir: join(tmp, 'deny-rec') } }));
    await ready(c);
    const failed = await c.waitEvent('stream.failed', 'stream.failed', 20_000);
    expect((failed.payload as { reason: string }).reason.length).toBeGreaterThan(0);
    await c.wait(() => closedSegs(c).length >= 3, 'three segments', 30_000);
    const s = await c.stats();
    expect(['reconnecting', 'failed']).toContain(stream(s).state);
    await c.stop();
    await nginx.stop();
    expect(expectContiguous(c)).toBeGreaterThanOrEqual(3);
    for (const seg of closedSegs(c)) expect(discover(seg.location).ok).toBe(true);
    // Still one outage: retries do not repeat the event.
    expect(c.eventsNamed('stream.failed')).toHaveLength(1);
    expect(c.eventsNamed('stream.recovered')).toHaveLength(0);
  });
});
