/** What the TCP and UDP proxies share with the emulator that owns them. */
import type { Logger } from '../../agent/log.js';
import type { HostPort } from './address.js';
import type { LinkDirection } from './link.js';
import type { OutageMode } from './outage.js';

export interface ProxyContext {
  up: LinkDirection;
  down: LinkDirection;
  /** The outage in effect now, if any. */
  outage: () => OutageMode | null;
  log: Logger;
}

export interface ConnectionCounts {
  /** Open now: TCP connections, or UDP client sessions. */
  current: number;
  /** Accepted since start: TCP connections, or UDP client sessions created. */
  total: number;
  /** Connections reset by an outage (existing ones, or new ones reset on accept); UDP sessions forgotten. */
  reset: number;
}

export interface Proxy {
  /** Binds the listen address; resolves with the address actually bound. */
  start(): Promise<HostPort>;
  connectionCounts(): ConnectionCounts;
  /** Told on every change of the effective outage mode. */
  outageChanged(next: OutageMode | null, prev: OutageMode | null): void;
  close(): Promise<void>;
}
