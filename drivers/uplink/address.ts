/** Host and port pairs as the emulator and its command line take them. */
import net from 'node:net';
import { ConfigError } from '../../agent/errors.js';

export interface HostPort {
  host: string;
  port: number;
}

// A DNS name: labels of letters, digits and hyphens, not starting or ending with a hyphen.
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parses `HOST:PORT` (IPv6 as `[::1]:PORT`). Port 0 is accepted (let the system pick); callers
 * that need a real port check that themselves. Throws ConfigError naming `optionName`.
 */
export function parseHostPort(text: string, optionName: string): HostPort {
  const bad = (why: string): ConfigError => new ConfigError(`${optionName}: ${why}, got ${JSON.stringify(text)}`);
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0 || trimmed[close + 1] !== ':') throw bad('expected [IPV6]:PORT');
    host = trimmed.slice(1, close);
    portText = trimmed.slice(close + 2);
    if (net.isIPv6(host) === false) throw bad(`"${host}" is not an IPv6 address`);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon < 0) throw bad('expected HOST:PORT');
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host.includes(':')) throw bad('write an IPv6 address in brackets, as [::1]:PORT');
    if (!host) throw bad('the host is missing');
    if (!net.isIPv4(host) && !HOSTNAME.test(host)) throw bad(`"${host}" is not a valid host name or IPv4 address`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad('the port must be a number 0-65535');
  const port = Number(portText);
  if (port > 65535) throw bad('the port must be a number 0-65535');
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return net.isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
