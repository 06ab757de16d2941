// Lesson pipeline benchmarks. They print figures next to their targets and assert only that
// they ran.
//
//   npx vitest run --config vitest.bench.config.ts test/bench/pipeline.bench.ts
//   PIPELINE_BENCH_SECONDS=20 PIPELINE_BENCH_PAIRS=1 … for a shorter run (default 60 s, 2 pairs)
//
// 1. CPU: a 720p30 lecture (test pattern with clock, tone, x264 veryfast 2.5 Mbit/s, AAC, SRT to
//    a listener on loopback, 60 s segments to disk) run by a Node process through the binding
//    (the agent's LessonPipelines, in a child process as in the daemon) against gst-launch-1.0
//    running the same descriptions in one process, alternating which goes first. CPU is the
//    process's utime+stime over a window after a warm-up. Target: Node / gst-launch ≤ 1.05.
//    Frames: camera frames handed over and frames recorded (from the segment files' timestamps),
//    and the QoS drops the runtime counted. Target: no drops.
// 2. Latency: the GStreamer latency tracer on the running lesson, per pipeline path (median and
//    p95). Target for the encode path (raw frame in → MPEG-TS out to the uplink) ≤ 150 ms.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLessonPlan, combinedDescription } from '../../pipelines/builder.js';
import { resolveMediaConfig, type MediaConfigInput } from '../../pipelines/config.js';
import { descriptionWords } from '../../pipelines/describe.js';
import { LessonChild, SrtReceiver, freeUdpPort, segmentFiles, testMediaInput, tsTimeline, type ChildEvent } from '../support/media.js';

const SECONDS = Number(process.env.PIPELINE_BENCH_SECONDS ?? 60);
const PAIRS = Number(process.env.PIPELINE_BENCH_PAIRS ?? 2);
const WARMUP_MS = 5000;
const FPS = 30;
/** `ball` (the brief's source) is nearly static and cheap to encode; `smpte` with the clock is busier. */
const PATTERN = process.env.PIPELINE_BENCH_PATTERN ?? 'ball';

const tmp = mkdtempSync(join(tmpdir(), 'lectern-pipeline-bench-'));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function lectureInput(port: number, dir: string): MediaConfigInput {
  return testMediaInput({
    video: { type: 'test', pattern: PATTERN, overlay: 'clock' },
    output: { width: 1280, height: 720, fps: FPS },
    encoder: { preference: ['x264enc'], keyframeSec: 2, x264Preset: 'veryfast' },
    audioEncoder: { bitrateKbps: 128 },
    // A fixed bitrate, so both sides encode the same way for the whole run.
    uplink: { urlTemplate: `srt://127.0.0.1:${port}?streamid=#!::r=live/{deviceId},m=publish`, latencyMs: 200, bitrate: { floorKbps: 2500, startKbps: 2500, ceilingKbps: 2500 }, adaptive: false },
    recording: { dir, segmentSec: 60 },
    monitor: { statsIntervalMs: 1000 },
  });
}

interface RunResult {
  who: 'node' | 'gst-launch';
  cpuSec: number;
  wallSec: number;
  framesRecorded: number;
  recordedSec: number;
  qosDropped?: number;
  handedOver?: number;
}

/** Frames in the recording and the time they cover, from the segment files. */
function recorded(dir: string): { frames: number; sec: number } {
  let frames = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const f of segmentFiles(dir)) {
    const pts = tsTimeline(f).video?.pts ?? [];
    frames += pts.length;
    for (const p of pts) {
      first = Math.min(first, p);
      last = Math.max(last, p);
    }
  }
  return { frames, sec: frames ? last - first + 1 / FPS : 0 };
}

async function runNode(port: number, i: number): Promise<RunResult> {
  const dir = join(tmp, `node-${i}`);
  const child = new LessonChild({ runDir: tmp, role: 'lecture', deviceId: 'QZ-BENCH-0001', lessonId: `bench-node-${i}`, config: lectureInput(port, dir), stopTimeoutMs: 15_000 });
  cleanups.push(() => child.kill());
  child.start();
  const ready = await child.wait((e) => e.type === 'ready' || e.type === 'error', 'ready', 60_000);
  if (ready.type === 'error') throw new Error(String(ready.message));
  const pid = Number(ready.pid);
  await sleep(WARMUP_MS);
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const c1 = cpuSeconds(pid);
  const t1 = Date.now();
  const stats: ChildEvent = await child.stats();
  await child.stop();
  const rec = recorded(String(ready.recordingDir));
  return {
    who: 'node',
    cpuSec: c1 - c0,
    wallSec: (t1 - t0) / 1000,
    framesRecorded: rec.frames,
    recordedSec: rec.sec,
    qosDropped: (stats.stream as { droppedFrames?: number } | null)?.droppedFrames,
  };
}

async function runGst(port: number, i: number): Promise<RunResult> {
  const dir = join(tmp, `gst-${i}`);
  const sock = join(tmp, `gst-sock-${i}`);
  mkdirSync(sock, { recursive: true });
  const plan = buildLessonPlan(resolveMediaConfig(lectureInput(port, dir)), {
    role: 'lecture',
    deviceId: 'QZ-BENCH-0001',
    lessonId: `bench-gst-${i}`,
    encoder: 'x264enc',
    aacEncoder: 'avenc_aac',
    instance: `gst${i}`,
    uplinkSocket: join(sock, 'uplink.sock'),
  });
  mkdirSync(plan.recording!.dir, { recursive: true });
  const proc = spawn('gst-launch-1.0', ['-e', ...descriptionWords(combinedDescription(plan))], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  cleanups.push(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  await sleep(WARMUP_MS);
  if (proc.exitCode !== null) throw new Error(`gst-launch-1.0 ended: ${stderr}`);
  const c0 = cpuSeconds(proc.pid!);
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const c1 = cpuSeconds(proc.pid!);
  const t1 = Date.now();
  const exited = once(proc, 'exit');
  proc.kill('SIGINT');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
  const rec = recorded(plan.recording!.dir);
  return { who: 'gst-launch', cpuSec: c1 - c0, wallSec: (t1 - t0) / 1000, framesRecorded: rec.frames, recordedSec: rec.sec };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

describe('lesson pipeline benchmarks', () => {
  it(`720p30 lecture (stream + record), ${SECONDS} s: CPU of Node vs gst-launch-1.0 (target ratio ≤ 1.05, no dropped frames)`, async () => {
    expect(spawnSync('gst-inspect-1.0', ['--exists', 'x264enc']).status).toBe(0);
    const port = await freeUdpPort();
    const rx = new SrtReceiver(port, '/dev/null');
    rx.start();
    cleanups.push(() => rx.stop());
    const results: RunResult[][] = [];
    for (let i = 0; i < PAIRS; i++) {
      const order = i % 2 === 0 ? (['node', 'gst'] as const) : (['gst', 'node'] as const);
      const pair: RunResult[] = [];
      for (const who of order) {
        // Each run needs a fresh listener connection.
        await rx.stop();
        rx.start();
        await sleep(500);
        pair.push(who === 'node' ? await runNode(port, i) : await runGst(port, i));
      }
      results.push(pair);
    }
    const lines = ['', `720p30 lecture (pattern ${PATTERN}), x264 veryfast 2500 kbit/s + AAC, SRT to loopback + 60 s TS segments; ${SECONDS} s windows after ${WARMUP_MS / 1000} s warm-up`];
    const ratios: number[] = [];
    for (const [i, pair] of results.entries()) {
      const node = pair.find((r) => r.who === 'node')!;
      const gst = pair.find((r) => r.who === 'gst-launch')!;
      const ratio = node.cpuSec / gst.cpuSec;
      ratios.push(ratio);
      lines.push(`pair ${i + 1} (${pair.map((r) => r.who).join(' then ')}):`);
      for (const r of pair) {
        lines.push(
          `  ${r.who.padEnd(10)} cpu ${r.cpuSec.toFixed(2)} s over ${r.wallSec.toFixed(1)} s = ${((100 * r.cpuSec) / r.wallSec).toFixed(1)}% of a core; ` +
            `recorded ${r.framesRecorded} frames covering ${r.recordedSec.toFixed(1)} s (${(r.framesRecorded / Math.max(r.recordedSec, 0.001)).toFixed(2)} fps)` +
            (r.qosDropped !== undefined ? `; QoS drops ${r.qosDropped}` : ''),
        );
      }
      lines.push(`  ratio node/gst-launch ${ratio.toFixed(3)}`);
    }
    lines.push(`ratio median ${median(ratios).toFixed(3)}, spread ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} (target ≤ 1.05)`);
    process.stdout.write(lines.join('\n') + '\n');
    expect(results.length).toBe(PAIRS);
  });

  it('encode latency of the lecture path with the GStreamer latency tracer (target ≤ 150 ms with x264)', async () => {
    const port = await freeUdpPort();
    const rx = new SrtReceiver(port, '/dev/null');
    rx.start();
    cleanups.push(() => rx.stop());
    const log = join(tmp, 'tracer.log');
    const child = new LessonChild({
      runDir: tmp,
      role: 'lecture',
      deviceId: 'QZ-BENCH-0001',
      lessonId: 'bench-latency',
      config: lectureInput(port, join(tmp, 'latency')),
      env: { GST_TRACERS: 'latency(flags=pipeline+element)', GST_DEBUG: 'GST_TRACER:7', GST_DEBUG_NO_COLOR: '1' },
      stderrFile: log,
    });
    cleanups.push(() => child.kill());
    child.start();
    const ready = await child.wait((e) => e.type === 'ready' || e.type === 'error', 'ready', 60_000);
    if (ready.type === 'error') throw new Error(String(ready.message));
    const seconds = Math.min(SECONDS, 20);
    await sleep(WARMUP_MS + seconds * 1000);
    await child.stop();
    const text = readFileSync(log, 'utf8');
    const paths = new Map<string, number[]>();
    const elements = new Map<string, number[]>();
    for (const line of text.split('\n')) {
      // The encoder probe's test pipeline (src → sink) is not part of the lesson.
      const p = /latency, src-element-id=\(string\)\S+ src-element=\(string\)([^,]+), src=\(string\)[^,]+, sink-element-id=\(string\)\S+ sink-element=\(string\)([^,]+), sink=\(string\)[^,]+, time=\(guint64\)(\d+)/.exec(line);
      if (p) {
        if (p[1] === 'src' && p[2] === 'sink') continue;
        const key = `${p[1]} → ${p[2]}`;
        (paths.get(key) ?? paths.set(key, []).get(key)!).push(Number(p[3]) / 1e6);
        continue;
      }
      const e = /element-latency, element-id=\(string\)\S+ element=\(string\)([^,]+), src=\(string\)[^,]+, time=\(guint64\)(\d+)/.exec(line);
      if (e) (elements.get(e[1]!) ?? elements.set(e[1]!, []).get(e[1]!)!).push(Number(e[2]) / 1e6);
    }
    const fmt = (xs: number[]) => `median ${pct(xs, 50).toFixed(1)} ms, p95 ${pct(xs, 95).toFixed(1)} ms (${xs.length} samples)`;
    const lines = ['', `latency tracer, 720p30 x264 veryfast zerolatency, ${seconds} s after warm-up (paths measured inside each pipeline)`];
    for (const [k, xs] of [...paths.entries()].sort()) lines.push(`  ${k.padEnd(22)} ${fmt(xs)}${/→ sink$/.test(k) ? '  (splitmuxsink holds a GOP before writing)' : ''}`);
    lines.push('  per element (processing time):');
    for (const [k, xs] of [...elements.entries()].filter(([, xs]) => pct(xs, 50) >= 0.5).sort((a, b) => pct(b[1], 50) - pct(a[1], 50))) lines.push(`    ${k.padEnd(20)} ${fmt(xs)}`);
    const encode = paths.get('vin → ushm') ?? [];
    const source = paths.get('vsrc → vsink') ?? [];
    const uplink = paths.get('ushmsrc → upsink') ?? [];
    if (encode.length) {
      // The hand-off between pipelines adds up to one frame: intervideosrc sends the newest
      // camera frame on its own 30 fps cadence.
      const total = pct(source, 50) + 1000 / FPS / 2 + pct(encode, 50) + (uplink.length ? pct(uplink, 50) : 0);
      const worst = pct(source, 95) + 1000 / FPS + pct(encode, 95) + (uplink.length ? pct(uplink, 95) : 0);
      lines.push(`encode path (raw frame → MPEG-TS at the uplink hand-off): ${fmt(encode)} (target ≤ 150 ms)`);
      lines.push(`camera → SRT socket, sum of the paths plus the inter hand-off: about ${total.toFixed(1)} ms typical, ${worst.toFixed(1)} ms at p95`);
    } else {
      lines.push('the tracer reported no encode path');
    }
    process.stdout.write(lines.join('\n') + '\n');
    expect(paths.size).toBeGreaterThan(0);
  });
});
