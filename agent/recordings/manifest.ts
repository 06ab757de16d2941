// The manifest of one lesson's recording: `manifest.json` in the lesson's folder of the cache,
// uploaded beside the segments. Parsing is pure and strict: anything that is not a manifest this
// version wrote is reported as corrupt (with the reason), and the cache rebuilds it from the files.

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;

export type SegmentCondition = 'whole' | 'truncated' | 'bad-sync' | 'empty' | 'missing';

export interface ManifestSegment {
  /** File name in the lesson folder, `seg-00001.ts`. */
  name: string;
  index: number;
  /** Bytes of the file on disk. */
  bytes: number;
  /** Bytes uploaded: the whole packets from the start (all of a whole segment). */
  uploadBytes: number;
  /** Seconds covered, from the recorder's report or the stream's clock; null when unknown. */
  durationSec: number | null;
  /** sha256 (hex) of the uploaded bytes. */
  sha256: string;
  condition: SegmentCondition;
}

export interface ManifestGap {
  /** The segment the gap is at (or after, for a missing one). */
  index: number;
  reason: 'missing-segment' | 'truncated-segment' | 'damaged-segment' | 'empty-segment';
  detail: string;
}

export interface Manifest {
  version: number;
  lessonId: string;
  deviceId: string;
  /** True once the lesson has ended: no segment will be added. */
  complete: boolean;
  updatedAt: string;
  segments: ManifestSegment[];
  gaps: ManifestGap[];
  /** Set when this manifest was rebuilt from the files (after a crash or a corrupt manifest). */
  rebuiltAt?: string;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

const CONDITIONS = new Set<SegmentCondition>(['whole', 'truncated', 'bad-sync', 'empty', 'missing']);
const GAP_REASONS = new Set<ManifestGap['reason']>(['missing-segment', 'truncated-segment', 'damaged-segment', 'empty-segment']);

/** Parses a manifest's text; throws ManifestError naming the first thing that is wrong. */
export function parseManifest(text: string): Manifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(v)) throw new ManifestError('not a JSON object');
  if (v.version !== MANIFEST_VERSION) throw new ManifestError(`version ${JSON.stringify(v.version)} is not ${MANIFEST_VERSION}`);
  if (typeof v.lessonId !== 'string' || !v.lessonId) throw new ManifestError('lessonId: missing');
  if (typeof v.deviceId !== 'string') throw new ManifestError('deviceId: missing');
  if (typeof v.complete !== 'boolean') throw new ManifestError('complete: not true or false');
  if (typeof v.updatedAt !== 'string') throw new ManifestError('updatedAt: missing');
  if (!Array.isArray(v.segments)) throw new ManifestError('segments: not a list');
  if (!Array.isArray(v.gaps)) throw new ManifestError('gaps: not a list');
  v.segments.forEach((s: unknown, i) => {
    const where = `segments[${i}]`;
    if (!isObject(s)) throw new ManifestError(`${where}: not an object`);
    if (typeof s.name !== 'string' || !/^seg-\d{5}\.ts$/.test(s.name)) throw new ManifestError(`${where}.name: not a segment file name`);
    for (const k of ['index', 'bytes', 'uploadBytes'] as const) {
      if (!Number.isSafeInteger(s[k]) || (s[k] as number) < 0) throw new ManifestError(`${where}.${k}: not a whole number`);
    }
    if ((s.uploadBytes as number) > (s.bytes as number)) throw new ManifestError(`${where}.uploadBytes: larger than bytes`);
    if (s.durationSec !== null && (typeof s.durationSec !== 'number' || !(s.durationSec >= 0))) throw new ManifestError(`${where}.durationSec: not a duration`);
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) throw new ManifestError(`${where}.sha256: not a sha256`);
    if (!CONDITIONS.has(s.condition as SegmentCondition)) throw new ManifestError(`${where}.condition: unknown`);
  });
  v.gaps.forEach((g: unknown, i) => {
    if (!isObject(g) || !Number.isSafeInteger(g.index) || !GAP_REASONS.has(g.reason as ManifestGap['reason']) || typeof g.detail !== 'string') {
      throw new ManifestError(`gaps[${i}]: not a gap`);
    }
  });
  return v as unknown as Manifest;
}

export function formatManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Gaps of a lesson's segment list: numbers missing from the sequence, damaged or empty files. */
export function findGaps(segments: readonly ManifestSegment[]): ManifestGap[] {
  const gaps: ManifestGap[] = [];
  const sorted = [...segments].sort((a, b) => a.index - b.index);
  let prev: number | undefined;
  for (const s of sorted) {
    if (prev !== undefined && s.index > prev + 1) {
      const from = prev + 1;
      const to = s.index - 1;
      gaps.push({ index: from, reason: 'missing-segment', detail: from === to ? `segment ${from} is missing` : `segments ${from} to ${to} are missing` });
    }
    prev = s.index;
    if (s.condition === 'truncated') {
      gaps.push({ index: s.index, reason: 'truncated-segment', detail: `${s.name} ends in a partial packet (recording cut); ${s.uploadBytes} of ${s.bytes} bytes kept` });
    } else if (s.condition === 'bad-sync') {
      gaps.push({ index: s.index, reason: 'damaged-segment', detail: `${s.name} is damaged at byte ${s.uploadBytes}; ${s.uploadBytes} of ${s.bytes} bytes kept` });
    } else if (s.condition === 'empty') {
      gaps.push({ index: s.index, reason: 'empty-segment', detail: `${s.name} is empty (nothing was recorded into it)` });
    }
  }
  return gaps;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
