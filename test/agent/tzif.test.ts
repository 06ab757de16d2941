import fc from 'fast-check';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { intlParts, isValidTimeZone, localParts, isoInZone } from '../../agent/contract/time.js';

// The tz database reader must agree with ICU (Intl) everywhere the agent could be deployed.
const ZONES = [
  'Asia/Shanghai', 'Asia/Urumqi', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Tehran',
  'Europe/Berlin', 'Europe/London', 'Europe/Moscow', 'Europe/Dublin', 'America/New_York', 'America/Santiago',
  'America/Sao_Paulo', 'America/St_Johns', 'Australia/Lord_Howe', 'Australia/Adelaide', 'Pacific/Chatham',
  'Pacific/Apia', 'Africa/Casablanca', 'Asia/Gaza', 'UTC', 'Etc/GMT-14', 'America/Godthab',
];

describe('tz database reader', () => {
  it('gives the same local time as ICU for many zones and instants, 1970 to 2099', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: 0, max: 4_102_444_800 }), (zone, seconds) => {
        const d = new Date(seconds * 1000);
        expect(localParts(d, zone), `${zone} ${d.toISOString()}`).toEqual(intlParts(d, zone));
      }),
      { numRuns: 4000 },
    );
  });

  it('agrees with ICU around every DST change of a few zones in 2026-2040', () => {
    for (const zone of ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'America/Santiago', 'Pacific/Chatham']) {
      for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2040, 0, 1); t += 30 * 60_000) {
        const d = new Date(t);
        const a = localParts(d, zone);
        const b = intlParts(d, zone);
        if (a.hour !== b.hour || a.minute !== b.minute || a.day !== b.day) expect(a, `${zone} ${d.toISOString()}`).toEqual(b);
      }
    }
  });

  it('knows every zone the system has, and refuses names that are not zones', () => {
    const root = '/usr/share/zoneinfo';
    const sample = ['Asia', 'America', 'Europe'].flatMap((area) =>
      readdirSync(join(root, area)).filter((f) => statSync(join(root, area, f)).isFile()).map((f) => `${area}/${f}`),
    );
    expect(sample.length).toBeGreaterThan(200);
    for (const zone of sample) expect(isValidTimeZone(zone), zone).toBe(true);
    for (const bad of ['Mars/Olympus', '../etc/passwd', 'Asia/../../etc/passwd', '', 'Asia/Shanghai ', 'zone.tab']) {
      expect(isValidTimeZone(bad), bad).toBe(false);
    }
  });

  it('formats contract timestamps with the right offset on both sides of a change', () => {
    expect(isoInZone(new Date('2026-03-08T06:59:59Z'), 'America/New_York')).toBe('2026-03-08T01:59:59-05:00');
    expect(isoInZone(new Date('2026-03-08T07:00:00Z'), 'America/New_York')).toBe('2026-03-08T03:00:00-04:00');
    // Chatham moves from 02:45 (+12:45) to 03:45 (+13:45) on the last Sunday of September.
    expect(isoInZone(new Date('2026-09-26T13:59:59Z'), 'Pacific/Chatham')).toBe('2026-09-27T02:44:59+12:45');
    expect(isoInZone(new Date('2026-09-26T14:00:00Z'), 'Pacific/Chatham')).toBe('2026-09-27T03:45:00+13:45');
  });
});
