/**
 * Named link conditions for the uplink emulator. Delays are one-way (an RTT of 60 ms is 30 ms
 * each way); jitter is ± per direction; the rate caps model the CPE's uplink, which is what
 * limits a classroom's outgoing stream, while the downlink is far wider.
 */
import { ConfigError } from '../../agent/errors.js';
import { NO_IMPAIRMENT, type Impairment } from './impairment.js';

export interface UplinkProfile {
  /** One line for a technician: what situation this stands for. */
  description: string;
  up: Impairment;
  down: Impairment;
  /** The link starts down (blackhole) and stays down until another profile is applied or the outage is ended. */
  outage?: 'blackhole';
}

const kbit = 1000;
const mbit = 1000 * kbit;

function imp(patch: Partial<Impairment>): Impairment {
  return { ...NO_IMPAIRMENT, ...patch };
}

const PROFILES = {
  // No impairment at all: a baseline to compare the others against.
  perfect: {
    description: 'no impairment: loopback as it is',
    up: imp({}),
    down: imp({}),
  },
  // A CPE with good signal near the cell: 20 ms RTT, no loss, 20 Mbit/s up, 100 Mbit/s down.
  'good-5g': {
    description: 'good 5G signal: 20 ms RTT, no loss, 20 Mbit/s up, 100 Mbit/s down',
    up: imp({ delayMs: 10, rateBps: 20 * mbit, queueBytes: 256 * 1024 }),
    down: imp({ delayMs: 10, rateBps: 100 * mbit, queueBytes: 1024 * 1024 }),
  },
  // A CPE at the cell edge or behind thick walls: 60 ms RTT ± 20 ms, 1% loss, 3 Mbit/s up.
  'weak-5g': {
    description: 'weak 5G signal: 60 ms RTT ± 20 ms jitter, 1% loss, 3 Mbit/s up, 20 Mbit/s down',
    up: imp({ delayMs: 30, jitterMs: 10, loss: 0.01, rateBps: 3 * mbit, queueBytes: 64 * 1024 }),
    down: imp({ delayMs: 30, jitterMs: 10, loss: 0.01, rateBps: 20 * mbit, queueBytes: 256 * 1024 }),
  },
  // The cell at a school bell, when every phone in the building is online: 80 ms RTT, 2% loss,
  // 1.5 Mbit/s up, and a deep modem queue that adds delay when the stream fills it.
  'congested-bell': {
    description: 'congested cell at the bell: 80 ms RTT, 2% loss, 1.5 Mbit/s up, 10 Mbit/s down',
    up: imp({ delayMs: 40, loss: 0.02, rateBps: 1.5 * mbit, queueBytes: 48 * 1024 }),
    down: imp({ delayMs: 40, loss: 0.02, rateBps: 10 * mbit, queueBytes: 128 * 1024 }),
  },
  // No coverage (modem rebooting, lift shaft, cell down): nothing gets through until changed.
  outage: {
    description: 'link down: everything blackholed until another profile is applied or the outage is ended',
    up: imp({}),
    down: imp({}),
    outage: 'blackhole',
  },
} as const satisfies Record<string, UplinkProfile>;

export type ProfileName = keyof typeof PROFILES;

export const PROFILE_NAMES = Object.freeze(Object.keys(PROFILES) as ProfileName[]);

export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}

/** A copy of the named profile (callers may change it freely). */
export function getProfile(name: ProfileName): UplinkProfile {
  const p: UplinkProfile = PROFILES[name];
  return { ...p, up: { ...p.up }, down: { ...p.down } };
}

/** The named profile, or a ConfigError naming `optionName` and listing the valid names. */
export function profileByName(name: string, optionName = 'profile'): UplinkProfile {
  if (!isProfileName(name)) {
    throw new ConfigError(`${optionName}: unknown profile ${JSON.stringify(name)} (valid: ${PROFILE_NAMES.join(', ')})`);
  }
  return getProfile(name);
}
