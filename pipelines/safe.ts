/**
 * Allow-lists for the values that settings, timetable entries and platform commands bring into a
 * pipeline description. Each check throws UnsafeValueError naming the setting (for example
 * `uplink.urlTemplate: contains a space`) and returns the value ready for `quoted()`.
 */
import { createHash } from 'node:crypto';
import { UnsafeValueError } from '../agent/errors.js';
import { quoteProblem } from './describe.js';

/** The contract's device and room id pattern. */
export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/;

function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  switch (ch) {
    case ' ':
      return 'a space';
    case '"':
      return 'a double quote';
    case "'":
      return 'a single quote';
    case '\\':
      return 'a backslash';
    case '\n':
    case '\r':
      return 'a line break';
    case '\0':
      return 'a NUL character';
    default:
      if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).padStart(4, '0')})`;
      return `"${ch}"`;
  }
}

/** The first character of `value` outside `allowed`, described for a person; undefined if none. */
function firstBadChar(value: string, allowed: RegExp): string | undefined {
  for (const ch of value) {
    if (!allowed.test(ch)) return describeChar(ch);
  }
  return undefined;
}

function checkChars(value: string, setting: string, allowed: RegExp, maxLength: number): void {
  if (typeof value !== 'string') throw new UnsafeValueError(setting, 'is not a string');
  if (value.length === 0) throw new UnsafeValueError(setting, 'is empty');
  if (value.length > maxLength) throw new UnsafeValueError(setting, `is longer than ${maxLength} characters`);
  const bad = firstBadChar(value, allowed);
  if (bad) throw new UnsafeValueError(setting, `contains ${bad}`);
  const problem = quoteProblem(value);
  if (problem) throw new UnsafeValueError(setting, problem);
}

/** A device, room or peer room id (`QZ-FZ-0101-R201`). */
export function checkId(value: string, setting: string): string {
  if (typeof value !== 'string') throw new UnsafeValueError(setting, 'is not a string');
  if (!ID_RE.test(value)) {
    const bad = firstBadChar(value, /[A-Za-z0-9_-]/);
    throw new UnsafeValueError(setting, bad ? `contains ${bad}` : `"${value}" does not match ${ID_RE.source}`);
  }
  return value;
}

const PATH_CHAR = /[\p{L}\p{N}\p{M} ._+@,:=~/-]/u;

/**
 * An absolute file or directory path: letters (any script), digits, space and `._+@,:=~-/`; no
 * `..` segment, no `%` (splitmuxsink reads its location as a printf pattern).
 */
export function checkAbsolutePath(value: string, setting: string): string {
  checkChars(value, setting, PATH_CHAR, 1024);
  if (!value.startsWith('/')) throw new UnsafeValueError(setting, 'is not an absolute path');
  if (value.split('/').some((seg) => seg === '..' || seg === '.')) throw new UnsafeValueError(setting, 'contains a "." or ".." segment');
  if (value.includes('//')) throw new UnsafeValueError(setting, 'contains an empty path segment');
  if (value.length > 1 && value.endsWith('/')) return value.slice(0, -1);
  return value;
}

/** A device node such as `/dev/video0` or `/dev/v4l/by-id/usb-Logitech_C920-video-index0`. */
export function checkDevicePath(value: string, setting: string): string {
  checkChars(value, setting, /[A-Za-z0-9._:/+-]/, 256);
  if (!value.startsWith('/dev/')) throw new UnsafeValueError(setting, 'is not under /dev/');
  if (value.split('/').some((seg) => seg === '..' || seg === '.') || value.includes('//')) {
    throw new UnsafeValueError(setting, 'is not a plain device path');
  }
  return value;
}

/** An ALSA PCM name: `default`, `hw:1,0`, `plughw:CARD=Array,DEV=0`, `dsnoop:CARD=C920`. */
export function checkAlsaDevice(value: string, setting: string): string {
  checkChars(value, setting, /[A-Za-z0-9_:,=.-]/, 128);
  return value;
}

/** A PulseAudio source name (`alsa_input.usb-SEEED_ReSpeaker-00.multichannel-input`). */
export function checkPulseDevice(value: string, setting: string): string {
  checkChars(value, setting, /[A-Za-z0-9_.:@-]/, 256);
  return value;
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A host name, IPv4 address or bracketed IPv6 address. */
export function checkHost(value: string, setting: string): string {
  if (value.startsWith('[') && value.endsWith(']')) {
    if (!/^\[[0-9A-Fa-f:.]{2,45}\]$/.test(value)) throw new UnsafeValueError(setting, `host "${value}" is not an IPv6 address`);
    return value;
  }
  checkChars(value, setting, /[A-Za-z0-9.-]/, 253);
  if (!value.split('.').every((l) => HOST_LABEL.test(l))) throw new UnsafeValueError(setting, `host "${value}" is not a host name`);
  return value;
}

export function checkPort(value: string, setting: string): number {
  if (!/^\d{1,5}$/.test(value)) throw new UnsafeValueError(setting, `port "${value}" is not a number`);
  const port = Number(value);
  if (port < 1 || port > 65535) throw new UnsafeValueError(setting, `port ${port} is out of range`);
  return port;
}

/**
 * The directory name for one lesson's recording: the lesson id with every character outside
 * `[A-Za-z0-9_.-]` replaced by `_`; when anything was replaced, a short hash of the original is
 * appended so that two ids differing only in those characters never share a directory.
 */
export function lessonDirName(lessonId: string, setting = 'lessonId'): string {
  if (typeof lessonId !== 'string' || lessonId.length === 0) throw new UnsafeValueError(setting, 'is empty');
  if (lessonId.length > 128) throw new UnsafeValueError(setting, 'is longer than 128 characters');
  let safe = lessonId.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (/^\.+$/.test(safe) || safe.startsWith('.')) safe = `_${safe}`;
  if (safe === lessonId) return safe;
  const hash = createHash('sha256').update(lessonId).digest('hex').slice(0, 8);
  return `${safe.slice(0, 110)}-${hash}`;
}
