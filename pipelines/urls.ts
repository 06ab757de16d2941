/**
 * Media URL templates (contract, section Media): `{deviceId}` and `{peerRoomId}` are replaced
 * with checked ids, then the URL is taken apart into the values the GStreamer elements need.
 *
 * An SRT URL's `streamid` usually starts with `#!::`, which a URL parser reads as a fragment and
 * srtsink would not see; so the query is parsed here and the stream id, latency and passphrase go
 * to their own element properties, while the element's `uri` holds only `srt://host:port`.
 */
import { UnsafeValueError } from '../agent/errors.js';
import { checkHost, checkId, checkPort } from './safe.js';
import { quoteProblem } from './describe.js';

export interface TemplateIds {
  deviceId: string;
  peerRoomId?: string;
}

/** Replaces the placeholders; any other `{…}`, or a missing peer room id, is refused. */
export function expandTemplate(template: string, ids: TemplateIds, setting: string): string {
  if (typeof template !== 'string' || template.length === 0) throw new UnsafeValueError(setting, 'is empty');
  if (template.length > 2048) throw new UnsafeValueError(setting, 'is longer than 2048 characters');
  return template.replace(/\{([^{}]*)\}|[{}]/g, (whole, name: string | undefined) => {
    if (name === 'deviceId') return checkId(ids.deviceId, 'deviceId');
    if (name === 'peerRoomId') {
      if (ids.peerRoomId === undefined) throw new UnsafeValueError(setting, 'uses {peerRoomId} but no peer room is given');
      return checkId(ids.peerRoomId, 'peerRoomId');
    }
    if (name === undefined) throw new UnsafeValueError(setting, `contains an unmatched "${whole}"`);
    throw new UnsafeValueError(setting, `contains an unknown placeholder {${name}}`);
  });
}

export type SrtMode = 'caller' | 'listener';

export interface SrtTarget {
  protocol: 'srt';
  /** `srt://host:port` (empty host for a listener on all addresses). */
  uri: string;
  host: string;
  port: number;
  mode: SrtMode;
  streamId?: string;
  latencyMs?: number;
  passphrase?: string;
  pbkeylen?: 16 | 24 | 32;
}

export interface RtmpTarget {
  protocol: 'rtmp';
  /** The whole URL, as rtmp2sink/rtmp2src take it. */
  location: string;
  host: string;
  port: number;
  app: string;
  stream: string;
}

export type MediaTarget = SrtTarget | RtmpTarget;

/** URL characters outside the stream id: unreserved, sub-delims we use, and percent escapes. */
const URL_CHARS = /[A-Za-z0-9._~%:/?&=+@,!$*;-]/;

function checkUrlChars(url: string, setting: string): void {
  for (const ch of url) {
    if (!URL_CHARS.test(ch) && ch !== '#' && ch !== '[' && ch !== ']') {
      const what = ch === ' ' ? 'a space' : ch === '"' ? 'a double quote' : ch === '\\' ? 'a backslash' : (ch.codePointAt(0) ?? 0) < 0x20 || ch === '\x7f' ? 'a control character' : `"${ch}"`;
      throw new UnsafeValueError(setting, `contains ${what}`);
    }
  }
}

function percentDecode(value: string, setting: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new UnsafeValueError(setting, 'has a malformed percent escape');
  }
}

function splitHostPort(authority: string, setting: string, requirePort: boolean, defaultPort?: number): { host: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::([^:]*))?$/.exec(authority);
  if (!m) throw new UnsafeValueError(setting, `"${authority}" is not host:port`);
  const hostText = m[1] ?? '';
  const portText = m[2];
  if (portText === undefined) {
    if (requirePort || defaultPort === undefined) throw new UnsafeValueError(setting, 'has no port');
    return { host: hostText ? checkHost(hostText, setting) : '', port: defaultPort };
  }
  return { host: hostText ? checkHost(hostText, setting) : '', port: checkPort(portText, setting) };
}

/**
 * Parses an expanded `srt://host:port?streamid=…&latency=…&passphrase=…&pbkeylen=…&mode=…`.
 * Other query parameters are refused rather than silently dropped.
 */
export function parseSrtUrl(url: string, setting: string): SrtTarget {
  const q = url.indexOf('?');
  const head = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? undefined : url.slice(q + 1);
  // The stream id may hold nearly anything; the rest of the URL is plain.
  checkUrlChars(head, setting);
  const m = /^srt:\/\/([^/?#]*)\/?$/.exec(head);
  if (!m) throw new UnsafeValueError(setting, `"${url.slice(0, 80)}" is not an srt://host:port URL`);
  const authority = m[1] ?? '';
  const { host, port } = splitHostPort(authority, setting, true);
  const target: SrtTarget = { protocol: 'srt', uri: `srt://${host}:${port}`, host, port, mode: 'caller' };
  if (query !== undefined && query.length > 0) {
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const raw = eq < 0 ? '' : part.slice(eq + 1);
      switch (key) {
        case 'streamid': {
          const id = percentDecode(raw, `${setting} streamid`);
          if (id.length > 512) throw new UnsafeValueError(`${setting} streamid`, 'is longer than 512 characters');
          const problem = quoteProblem(id);
          if (problem) throw new UnsafeValueError(`${setting} streamid`, problem);
          if (/[\s"'`]/.test(id)) throw new UnsafeValueError(`${setting} streamid`, 'contains a space or a quote');
          target.streamId = id;
          break;
        }
        case 'latency': {
          if (!/^\d{1,5}$/.test(raw)) throw new UnsafeValueError(`${setting} latency`, `"${raw}" is not a number of milliseconds`);
          target.latencyMs = Number(raw);
          break;
        }
        case 'passphrase': {
          const pass = percentDecode(raw, `${setting} passphrase`);
          checkUrlChars(pass, `${setting} passphrase`);
          if (pass.length < 10 || pass.length > 79) throw new UnsafeValueError(`${setting} passphrase`, 'must be 10 to 79 characters (SRT)');
          target.passphrase = pass;
          break;
        }
        case 'pbkeylen': {
          if (raw !== '16' && raw !== '24' && raw !== '32') throw new UnsafeValueError(`${setting} pbkeylen`, 'must be 16, 24 or 32');
          target.pbkeylen = Number(raw) as 16 | 24 | 32;
          break;
        }
        case 'mode': {
          if (raw !== 'caller' && raw !== 'listener') throw new UnsafeValueError(`${setting} mode`, 'must be caller or listener');
          target.mode = raw;
          break;
        }
        default:
          throw new UnsafeValueError(setting, `has an unsupported query parameter "${key.slice(0, 40)}"`);
      }
    }
  }
  if (target.mode === 'caller' && !host) throw new UnsafeValueError(setting, 'has no host (a caller needs one)');
  return target;
}

const RTMP_SEGMENT = /^[A-Za-z0-9._~-]{1,128}$/;

/** Parses an expanded `rtmp://host[:port]/app/stream[?token=…]` (or `rtmps://`). */
export function parseRtmpUrl(url: string, setting: string): RtmpTarget {
  checkUrlChars(url, setting);
  if (url.includes('#')) throw new UnsafeValueError(setting, 'contains "#"');
  const m = /^(rtmps?):\/\/([^/?]+)\/([^?]+?)(?:\?([^?]*))?$/.exec(url);
  if (!m) throw new UnsafeValueError(setting, `"${url.slice(0, 80)}" is not an rtmp://host/app/stream URL`);
  const scheme = m[1] as 'rtmp' | 'rtmps';
  const { host, port } = splitHostPort(m[2] ?? '', setting, false, scheme === 'rtmps' ? 443 : 1935);
  if (!host) throw new UnsafeValueError(setting, 'has no host');
  const path = (m[3] ?? '').split('/');
  if (path.length < 2 || !path.every((p) => RTMP_SEGMENT.test(p))) {
    throw new UnsafeValueError(setting, 'needs an application and a stream name of letters, digits and ._~-');
  }
  const query = m[4];
  if (query !== undefined && !/^[A-Za-z0-9._~%=&-]*$/.test(query)) throw new UnsafeValueError(setting, 'has an unsupported query string');
  return {
    protocol: 'rtmp',
    location: url,
    host,
    port,
    app: path.slice(0, -1).join('/'),
    stream: path[path.length - 1]!,
  };
}

/** Expands and parses a template for the given protocol. */
export function resolveMediaUrl(protocol: 'srt' | 'rtmp', template: string, ids: TemplateIds, setting: string): MediaTarget {
  const url = expandTemplate(template, ids, setting);
  return protocol === 'srt' ? parseSrtUrl(url, setting) : parseRtmpUrl(url, setting);
}

/** An RTSP camera URL (credentials allowed in the user part). */
export function checkRtspUrl(url: string, setting: string): string {
  checkUrlChars(url, setting);
  if (url.includes('#')) throw new UnsafeValueError(setting, 'contains "#"');
  const m = /^rtsps?:\/\/(?:[^@/?]*@)?([^/?@]+)(?:[/?].*)?$/.exec(url);
  if (!m) throw new UnsafeValueError(setting, 'is not an rtsp://host/path URL');
  splitHostPort(m[1] ?? '', setting, false, 554);
  if (url.length > 1024) throw new UnsafeValueError(setting, 'is longer than 1024 characters');
  return url;
}
