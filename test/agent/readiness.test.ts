import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import {
  mediaServerCheck,
  rtmpHello,
  runReadinessChecks,
  srtInduction,
  type ReadinessCheck,
  type ReadinessLesson,
} from '../../agent/lessons/readiness.js';
import { resolveMediaConfig, type MediaConfigInput } from '../../pipelines/config.js';
import { freeTcpPort, freeUdpPort, haveCommand, haveNginxRtmp, startNginxRtmp } from '../support/media.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The readiness checks' network probes against real servers: srt-live-transmit as an SRT
// listener, nginx with the RTMP module, and plain sockets that are neither.
const DEVICE = 'QZ-RDY-0001-R201';
const LESSON: ReadinessLesson = {
  lessonId: `${DEVICE}:mon-1:2026-09-07`,
  role: 'lecture',
  start: new Date('2026-09-07T08:00:00+08:00'),
  end: new Date('2026-09-07T08:40:00+08:00'),
  peerRoomIds: [],
};
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = once(p, 'exit');
  p.kill('SIGKILL');
  await exited;
}

const media = (input: MediaConfigInput) => resolveMediaConfig({ recording: { dir: '/var/lib/lectern/recordings' }, ...input }, 'test media', DEVICE);

describe('SRT induction', () => {
  it.skipIf(!haveCommand('srt-live-transmit'))('srt-live-transmit listening answers; after it stops, the port does not', async () => {
    const port = await freeUdpPort();
    const srt = spawn('srt-live-transmit', ['-q', `srt://127.0.0.1:${port}?mode=listener`, 'file://con'], { stdio: ['ignore', 'ignore', 'ignore'] });
    cleanups.push(() => stop(srt));
    // The listener binds a moment after it starts; until then the probe fails.
    await waitUntil(async () => (await srtInduction('127.0.0.1', port, 500)) === undefined, 'an SRT answer from srt-live-transmit');
    expect(await srtInduction('127.0.0.1', port, 3000)).toBeUndefined();
    await stop(srt);
    expect(await srtInduction('127.0.0.1', port, 1000)).toMatch(/^(nothing listens there|no SRT answer within 1\.0 s)/);
  });

  it('a UDP port that takes packets but does not speak SRT is not a media server', async () => {
    const sock = dgram.createSocket('udp4');
    let received = 0;
    sock.on('message', () => received++);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
    // Something answering garbage must not count either.
    sock.on('message', (_m, rinfo) => sock.send(Buffer.from('hello'), rinfo.port, rinfo.address));
    expect(await srtInduction('127.0.0.1', sock.address().port, 800)).toBe('no SRT answer within 0.8 s');
    expect(received).toBeGreaterThan(0);
  });

  it('an unresolvable host name is said to be one', async () => {
    expect(await srtInduction('no-such-host.invalid', 10080, 5000)).toBe('cannot resolve the host name "no-such-host.invalid" (DNS)');
  });
});

describe('RTMP hello', () => {
  it.skipIf(!haveNginxRtmp())('nginx with the RTMP module answers the handshake', async () => {
    const d = tempDir();
    cleanups.push(() => d.cleanup());
    const nginx = await startNginxRtmp(d.path);
    cleanups.push(() => nginx.stop());
    expect(await rtmpHello('127.0.0.1', nginx.port, 5000)).toBeUndefined();
  });

  it('a TCP server that is not RTMP, and a closed port', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s.on('error', () => undefined));
      s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      sockets.forEach((s) => s.destroy());
      return new Promise<void>((r) => server.close(() => r()));
    });
    const { port } = server.address() as net.AddressInfo;
    expect(await rtmpHello('127.0.0.1', port, 5000)).toBe('answered, but not as an RTMP server (first byte 72)');
    const closed = await freeTcpPort();
    expect(await rtmpHello('127.0.0.1', closed, 5000)).toBe('refused the connection (nothing listens on that port)');
  });
});

describe('media server check', () => {
  it('RTMP uplink refused: the failure names the server, the port and what to check', async () => {
    const port = await freeTcpPort();
    const check = mediaServerCheck({ media: media({ uplink: { protocol: 'rtmp', urlTemplate: `rtmp://127.0.0.1:${port}/live/{deviceId}` } }), deviceId: DEVICE });
    const report = await runReadinessChecks([check], LESSON);
    expect(report).toMatchObject({ checks: 1, results: [{ name: 'media server', result: 'fail' }] });
    expect(report.failures).toEqual([
      `media server 127.0.0.1:${port} (RTMP): refused the connection (nothing listens on that port); check that the media server is up, that TCP port ${port} is open on the way, and media.uplink.urlTemplate`,
    ]);
  });

  it('what the config leaves out: no uplink URL, a listening lesson without a peer; a disabled uplink is not checked', async () => {
    const empty = await runReadinessChecks([mediaServerCheck({ media: media({}), deviceId: DEVICE })], LESSON);
    expect(empty.failures).toEqual(["media server: media.uplink.urlTemplate is empty, so the lesson will not be streamed; set it to the platform's media server URL"]);
    const listen = await runReadinessChecks(
      [
        mediaServerCheck({
          media: media({ uplink: { enabled: false }, listen: { protocol: 'srt', urlTemplate: 'srt://127.0.0.1:10080?streamid=#!::r=live/{peerRoomId},m=request' } }),
          deviceId: DEVICE,
        }),
      ],
      { ...LESSON, role: 'listen' },
    );
    expect(listen.failures).toEqual(["media server: the lesson has no peer room to play; add the lecturing room to the timetable entry's peerRoomIds"]);
    const off = await runReadinessChecks([mediaServerCheck({ media: media({ uplink: { enabled: false } }), deviceId: DEVICE })], LESSON);
    expect(off).toMatchObject({ checks: 0, failures: [], results: [{ result: 'not-applicable' }] });
  });
});

describe('running the checks', () => {
  it('a check that throws is a failure of its own; not-applicable checks are not counted', async () => {
    const checks: ReadinessCheck[] = [
      { name: 'display', timeoutMs: 1000, run: () => Promise.reject(new Error('port /dev/ttyS9 is gone')) },
      { name: 'microphone', timeoutMs: 1000, run: async () => 'not-applicable' },
      { name: 'platform', timeoutMs: 1000, run: async () => [] },
    ];
    const report = await runReadinessChecks(checks, LESSON);
    expect(report.checks).toBe(2);
    expect(report.failures).toEqual(['display: the check itself failed (port /dev/ttyS9 is gone)']);
    expect(report.results.map((r) => [r.name, r.result])).toEqual([
      ['display', 'fail'],
      ['microphone', 'not-applicable'],
      ['platform', 'pass'],
    ]);
  });

  it('stopping the agent stops the checks under way', async () => {
    const abort = new AbortController();
    let seen = false;
    const check: ReadinessCheck = {
      name: 'encoder',
      timeoutMs: 60_000,
      run: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => ((seen = true), resolve([])))),
    };
    const running = runReadinessChecks([check], LESSON, abort.signal);
    abort.abort();
    const report = await running;
    expect(seen).toBe(true);
    expect(report.failures).toEqual(['encoder: not finished (the agent is stopping)']);
  });
});
