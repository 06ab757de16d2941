// A lesson's pipelines in a worker process driven through LessonMediaProcess: the agent-side
// view (events, heartbeat figures, stop) and a worker that dies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { resolveMediaConfig } from '../../pipelines/config.js';
import { LessonMediaProcess, type ProcessEvents } from '../../pipelines/process.js';
import type { SegmentEvent } from '../../pipelines/runtime.js';
import { REPO, discover, haveGst, testMediaInput } from '../support/media.js';
import { waitUntil } from '../support/tmp.js';

const tmp = mkdtempSync(join(tmpdir(), 'lectern-process-'));
const workers: LessonMediaProcess[] = [];
afterAll(async () => {
  for (const w of workers) await w.kill();
  rmSync(tmp, { recursive: true, force: true });
});

// From the sources: vite-node runs the TypeScript worker (the built agent runs dist/pipelines/worker-main.js).
const command = { file: join(REPO, 'node_modules/.bin/vite-node'), args: [join(REPO, 'pipelines/worker-main.ts')] };

function worker(lessonId: string): LessonMediaProcess {
  const w = new LessonMediaProcess({
    config: resolveMediaConfig(testMediaInput({ recording: { dir: join(tmp, 'rec') } })),
    role: 'lecture',
    deviceId: 'QZ-TEST-0001',
    lessonId,
    log: silentLogger(),
    encoders: { chosen: 'x264enc', usable: ['x264enc'], attempts: [] },
    logLevel: 'warn',
    runDir: tmp,
    command,
  });
  workers.push(w);
  return w;
}

describe.skipIf(!haveGst('x264enc', 'splitmuxsink'))('lesson media in a worker process', () => {
  it('events and heartbeat figures reach the agent; stop finalises the last segment', async () => {
    const w = worker('L-worker');
    const segments: SegmentEvent[] = [];
    const exits: ProcessEvents['exit'][] = [];
    w.on('segment', (s) => segments.push(s));
    w.on('exit', (e) => exits.push(e));
    await w.start();
    expect(w.pid).toBeGreaterThan(0);
    expect(w.deviceHealth().find((d) => d.id === 'video-encoder')).toMatchObject({ model: 'x264enc', status: 'ok' });
    expect(w.streamNow()).toBeNull();
    await waitUntil(() => segments.filter((s) => s.kind === 'closed').length >= 2, 'two segments', 30_000);
    const r = await w.stop();
    expect(r.finalised).toBe(true);
    const closed = r.segments.filter((s) => s.kind === 'closed');
    expect(closed.length).toBeGreaterThanOrEqual(3);
    expect(segments.filter((s) => s.kind === 'closed').map((s) => s.location)).toEqual(closed.map((s) => s.location));
    for (const s of closed) expect(discover(s.location).ok).toBe(true);
    expect(exits).toEqual([{ code: 0, signal: null, expected: true }]);
  });

  it('a worker that dies is reported as an unexpected exit', async () => {
    const w = worker('L-crash');
    const exits: ProcessEvents['exit'][] = [];
    w.on('exit', (e) => exits.push(e));
    await w.start();
    process.kill(w.pid!, 'SIGKILL');
    await waitUntil(() => exits.length > 0, 'the exit event', 10_000);
    expect(exits[0]).toEqual({ code: null, signal: 'SIGKILL', expected: false });
  });
});
