/**
 * Contract timestamps: ISO 8601 with the local offset of a given IANA zone
 * (`2026-09-07T08:00:00+08:00`), and local dates (`2026-09-07`) in that zone.
 *
 * Offsets come from the system's tz database (see tzif.ts: Intl costs the daemon 8.5 MB of
 * memory); Intl is used only on a machine without one.
 */
import { existsSync } from 'node:fs';
import { TzDatabase } from './tzif.js';

const tz = new TzDatabase();
const haveTzData = existsSync(process.env.TZDIR || '/usr/share/zoneinfo');
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export function localParts(date: Date, timeZone: string): LocalParts {
  const offset = haveTzData ? tz.offsetMs(timeZone, date.getTime()) : undefined;
  if (offset !== undefined) {
    const local = new Date(Math.floor(date.getTime() / 1000) * 1000 + offset);
    return {
      year: local.getUTCFullYear(),
      month: local.getUTCMonth() + 1,
      day: local.getUTCDate(),
      hour: local.getUTCHours(),
      minute: local.getUTCMinutes(),
      second: local.getUTCSeconds(),
    };
  }
  return intlParts(date, timeZone);
}

/** The same through ICU, for machines without a tz database (and to check tzif.ts against). */
export function intlParts(date: Date, timeZone: string): LocalParts {
  const parts: Partial<Record<string, number>> = {};
  for (const p of formatter(timeZone).formatToParts(date)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 0,
    month: parts.month ?? 0,
    day: parts.day ?? 0,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

const pad = (n: number, w = 2): string => String(Math.trunc(Math.abs(n))).padStart(w, '0');

/** `2026-09-07T08:00:00+08:00` for `date` in `timeZone` (whole seconds). */
export function isoInZone(date: Date, timeZone: string): string {
  const p = localParts(date, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offsetMin = Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60_000);
  const sign = offsetMin >= 0 ? '+' : '-';
  const off = offsetMin === 0 ? '+00:00' : `${sign}${pad(offsetMin / 60)}:${pad(offsetMin % 60)}`;
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${off}`;
}

/** The local calendar date (`YYYY-MM-DD`) of `date` in `timeZone`. */
export function localDate(date: Date, timeZone: string): string {
  const p = localParts(date, timeZone);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

/** True when `timeZone` is an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (haveTzData) return tz.has(timeZone);
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Strict `YYYY-MM-DD` that names a real calendar day. */
export function isValidDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}
