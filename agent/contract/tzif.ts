import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Time zone offsets from the system's tz database (TZif files, RFC 8536), without ICU.
 *
 * Why not Intl: the first Intl.DateTimeFormat a Node process creates costs about 8.5 MB of
 * resident memory (ICU's calendar and locale data), a tenth of what the idle daemon may use on a
 * small mini-PC. Reading the zone's TZif file (Debian's tzdata, always installed) gives the same
 * answers for a few kilobytes; a test compares the two over many zones and instants.
 */

interface Zone {
  /** Transition instants (seconds since the epoch), ascending. */
  times: number[];
  /** UTC offset in seconds in force from the transition with the same index. */
  offsets: number[];
  /** Offset before the first transition. */
  initial: number;
  /** The POSIX TZ rule that continues the table after its last transition, if any. */
  rule: PosixRule | undefined;
}

interface PosixRule {
  stdOffset: number;
  dst?: { offset: number; start: RuleDate; end: RuleDate };
}

type RuleDate =
  | { kind: 'M'; month: number; week: number; day: number; time: number }
  | { kind: 'J'; day: number; time: number }
  | { kind: 'N'; day: number; time: number };

const ZONE_NAME = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/;

export class TzDatabase {
  private readonly zones = new Map<string, Zone | null>();

  constructor(private readonly dir = process.env.TZDIR || '/usr/share/zoneinfo') {}

  /** UTC offset in milliseconds of `zone` at instant `ms`, or undefined when the zone is unknown. */
  offsetMs(zone: string, ms: number): number | undefined {
    const z = this.zone(zone);
    if (!z) return undefined;
    return offsetAt(z, Math.floor(ms / 1000)) * 1000;
  }

  has(zone: string): boolean {
    return this.zone(zone) !== null;
  }

  private zone(name: string): Zone | null {
    let z = this.zones.get(name);
    if (z === undefined) {
      z = ZONE_NAME.test(name) && !name.split('/').includes('..') ? load(join(this.dir, name)) : null;
      this.zones.set(name, z);
    }
    return z;
  }
}

function load(path: string): Zone | null {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return null;
  }
  try {
    return parse(buf);
  } catch {
    return null;
  }
}

/** Parses a TZif file (versions 1 to 4); uses the 64-bit data block when there is one. */
export function parse(buf: Buffer): Zone {
  if (buf.toString('latin1', 0, 4) !== 'TZif') throw new Error('not a TZif file');
  const version = buf[4] ?? 0;
  const header = (at: number): number[] => [0, 1, 2, 3, 4, 5].map((i) => buf.readUInt32BE(at + 20 + i * 4));
  let at = 0;
  let [isut, isstd, leap, timecnt, typecnt, charcnt] = header(0) as [number, number, number, number, number, number];
  let timeSize = 4;
  if (version >= 0x32) {
    // Skip the version-1 block to the 64-bit one.
    at = 44 + timecnt * 4 + timecnt + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    [isut, isstd, leap, timecnt, typecnt, charcnt] = header(at) as [number, number, number, number, number, number];
    timeSize = 8;
  }
  let p = at + 44;
  const times: number[] = [];
  for (let i = 0; i < timecnt; i++, p += timeSize) times.push(timeSize === 8 ? Number(buf.readBigInt64BE(p)) : buf.readInt32BE(p));
  const idx: number[] = [];
  for (let i = 0; i < timecnt; i++, p++) idx.push(buf[p] ?? 0);
  const types: { off: number; dst: boolean }[] = [];
  for (let i = 0; i < typecnt; i++, p += 6) types.push({ off: buf.readInt32BE(p), dst: buf[p + 4] === 1 });
  p += charcnt + leap * (timeSize + 4) + isstd + isut;
  let rule: PosixRule | undefined;
  if (timeSize === 8 && buf[p] === 0x0a) {
    const end = buf.indexOf(0x0a, p + 1);
    if (end > p + 1) rule = parseRule(buf.toString('latin1', p + 1, end));
  }
  const firstStd = types.find((t) => !t.dst) ?? types[0];
  return {
    times,
    offsets: idx.map((i) => types[i]?.off ?? 0),
    initial: firstStd?.off ?? 0,
    rule,
  };
}

function offsetAt(z: Zone, t: number): number {
  const { times } = z;
  if (!times.length || t < (times[0] ?? 0)) return z.rule && !times.length ? ruleOffset(z.rule, t) : z.initial;
  const last = times.length - 1;
  if (t >= (times[last] ?? 0) && z.rule) return ruleOffset(z.rule, t);
  let lo = 0;
  let hi = last;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((times[mid] ?? 0) <= t) lo = mid;
    else hi = mid - 1;
  }
  return z.offsets[lo] ?? z.initial;
}

// -----------------------------------------------------------------------------------------------
// POSIX TZ rules ("CST-8", "EST5EDT,M3.2.0,M11.1.0", "<-03>3", "IST-2IDT,M3.4.4/26,M10.5.0").

function parseRule(text: string): PosixRule | undefined {
  let i = 0;
  const name = (): boolean => {
    if (text[i] === '<') {
      const end = text.indexOf('>', i);
      if (end < 0) return false;
      i = end + 1;
      return true;
    }
    const start = i;
    while (i < text.length && /[A-Za-z]/.test(text[i] ?? '')) i++;
    return i - start >= 3;
  };
  /** [+-]hh[:mm[:ss]] as seconds. */
  const clock = (): number | undefined => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(text.slice(i));
    if (!m) return undefined;
    i += m[0].length;
    const secs = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    return m[1] === '-' ? -secs : secs;
  };
  if (!name()) return undefined;
  const std = clock();
  if (std === undefined) return undefined;
  // POSIX offsets are west-positive; TZif offsets are east-positive.
  const rule: PosixRule = { stdOffset: -std };
  if (i >= text.length) return rule;
  if (!name()) return undefined;
  let dstOffset = rule.stdOffset + 3600;
  if (text[i] !== ',' && i < text.length) {
    const d = clock();
    if (d === undefined) return undefined;
    dstOffset = -d;
  }
  if (text[i] !== ',') return undefined;
  i++;
  const date = (): RuleDate | undefined => {
    let m = /^M(\d{1,2})\.(\d)\.(\d)/.exec(text.slice(i));
    let d: RuleDate | undefined;
    if (m) d = { kind: 'M', month: Number(m[1]), week: Number(m[2]), day: Number(m[3]), time: 7200 };
    else if ((m = /^J(\d{1,3})/.exec(text.slice(i)))) d = { kind: 'J', day: Number(m[1]), time: 7200 };
    else if ((m = /^(\d{1,3})/.exec(text.slice(i)))) d = { kind: 'N', day: Number(m[1]), time: 7200 };
    if (!m || !d) return undefined;
    i += m[0].length;
    if (text[i] === '/') {
      i++;
      const t = clock();
      if (t === undefined) return undefined;
      d.time = t;
    }
    return d;
  };
  const start = date();
  if (!start || text[i] !== ',') return undefined;
  i++;
  const end = date();
  if (!end) return undefined;
  rule.dst = { offset: dstOffset, start, end };
  return rule;
}

const DAY = 86_400;

/** Seconds since the epoch of a rule date in `year`, as local time in the offset given. */
function ruleInstant(d: RuleDate, year: number, localOffset: number): number {
  const jan1 = Date.UTC(year, 0, 1) / 1000;
  let day: number;
  if (d.kind === 'J') {
    // 1–365, February 29 never counted.
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    day = d.day - 1 + (leap && d.day >= 60 ? 1 : 0);
  } else if (d.kind === 'N') {
    day = d.day;
  } else {
    const first = Date.UTC(year, d.month - 1, 1) / 1000;
    const firstWeekday = new Date(first * 1000).getUTCDay();
    let dom = 1 + ((d.day - firstWeekday + 7) % 7) + (d.week - 1) * 7;
    const daysInMonth = new Date(Date.UTC(year, d.month, 0)).getUTCDate();
    while (dom > daysInMonth) dom -= 7; // week 5 = the last such weekday of the month
    day = (first - jan1) / DAY + dom - 1;
  }
  return jan1 + day * DAY + d.time - localOffset;
}

function ruleOffset(rule: PosixRule, t: number): number {
  if (!rule.dst) return rule.stdOffset;
  const year = new Date((t + rule.stdOffset) * 1000).getUTCFullYear();
  const start = ruleInstant(rule.dst.start, year, rule.stdOffset);
  const end = ruleInstant(rule.dst.end, year, rule.dst.offset);
  // Northern rules start before they end within a year; southern ones wrap around New Year.
  const inDst = start < end ? t >= start && t < end : t >= start || t < end;
  return inDst ? rule.dst.offset : rule.stdOffset;
}
