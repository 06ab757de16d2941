import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TsScanner, scanTs } from '../../agent/recordings/mpegts.js';
import { ManifestError, findGaps, formatManifest, parseManifest, type Manifest } from '../../agent/recordings/manifest.js';
import { recordTestSegments } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

// Unit tests of the pure parts: MPEG-TS checks (on real segments from GStreamer) and manifests.
const dir = tempDir();
let segment: Buffer;

beforeAll(() => {
  recordTestSegments(dir.path, { seconds: 2, count: 2 });
  segment = readFileSync(join(dir.path, 'seg-00001.ts'));
});
afterAll(() => dir.cleanup());

describe('MPEG-TS checks', () => {
  it('a whole segment is whole, with its duration from the stream clock', () => {
    const f = scanTs(segment);
    expect(f.problem).toBeUndefined();
    expect(f.validBytes).toBe(segment.length);
    expect(f.packets * 188).toBe(segment.length);
    expect(f.durationSec).toBeGreaterThan(1.5);
    expect(f.durationSec).toBeLessThan(2.5);
  });

  it('gives the same findings whatever the chunk sizes', () => {
    const s = new TsScanner();
    for (let off = 0, step = 1; off < segment.length; off += step, step = (step * 7 + 3) % 5000 + 1) s.push(segment.subarray(off, off + step));
    expect(s.result()).toEqual(scanTs(segment));
  });

  it('a segment cut mid-packet is truncated; its readable part is the whole packets before the cut', () => {
    const cut = segment.subarray(0, 188 * 100 + 77);
    const f = scanTs(cut);
    expect(f).toMatchObject({ problem: 'truncated', validBytes: 188 * 100, badOffset: 188 * 100, bytes: cut.length });
  });

  it('a packet without its sync byte marks the damage; what follows is not readable', () => {
    const bad = Buffer.from(segment);
    bad[188 * 50] = 0x00;
    expect(scanTs(bad)).toMatchObject({ problem: 'bad-sync', validBytes: 188 * 50, badOffset: 188 * 50 });
  });

  it('an empty file and garbage are told apart', () => {
    expect(scanTs(Buffer.alloc(0))).toMatchObject({ problem: 'empty', validBytes: 0 });
    expect(scanTs(Buffer.from('not a transport stream at all, just text, long enough to be a packet'.repeat(4)))).toMatchObject({ problem: 'bad-sync', validBytes: 0 });
  });
});

describe('manifests', () => {
  const good: Manifest = {
    version: 1,
    lessonId: 'QZ-1:e1:2026-09-01',
    deviceId: 'QZ-1',
    complete: true,
    updatedAt: '2026-09-01T08:45:00.000Z',
    segments: [
      { name: 'seg-00001.ts', index: 1, bytes: 1880, uploadBytes: 1880, durationSec: 60, sha256: 'a'.repeat(64), condition: 'whole' },
      { name: 'seg-00003.ts', index: 3, bytes: 2000, uploadBytes: 1880, durationSec: null, sha256: 'b'.repeat(64), condition: 'truncated' },
    ],
    gaps: [],
  };

  it('round-trips', () => {
    expect(parseManifest(formatManifest(good))).toEqual(good);
  });

  it('names what is wrong with a corrupt one', () => {
    const text = formatManifest(good);
    expect(() => parseManifest(text.slice(0, text.length / 2))).toThrow(ManifestError);
    expect(() => parseManifest(text.slice(0, text.length / 2))).toThrow(/not JSON/);
    expect(() => parseManifest('[]')).toThrow(/not a JSON object/);
    expect(() => parseManifest(JSON.stringify({ ...good, version: 9 }))).toThrow(/version 9/);
    expect(() => parseManifest(JSON.stringify({ ...good, segments: [{ ...good.segments[0], sha256: 'xyz' }] }))).toThrow(/segments\[0\]\.sha256/);
    expect(() => parseManifest(JSON.stringify({ ...good, segments: [{ ...good.segments[0], uploadBytes: 5000 }] }))).toThrow(/uploadBytes: larger than bytes/);
  });

  it('lists missing, cut and empty segments as gaps with their reasons', () => {
    const gaps = findGaps([
      ...good.segments,
      { name: 'seg-00006.ts', index: 6, bytes: 0, uploadBytes: 0, durationSec: null, sha256: 'c'.repeat(64), condition: 'empty' },
    ]);
    expect(gaps.map((g) => [g.index, g.reason])).toEqual([
      [2, 'missing-segment'],
      [3, 'truncated-segment'],
      [4, 'missing-segment'],
      [6, 'empty-segment'],
    ]);
    expect(gaps[2]!.detail).toBe('segments 4 to 5 are missing');
  });
});
