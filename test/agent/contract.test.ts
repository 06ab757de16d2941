import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Contract } from '../../agent/contract/validate.js';
import { isoInZone, localDate, isValidDate } from '../../agent/contract/time.js';
import { REPO } from '../support/agent.js';
import { SHARED_EXAMPLES_DIR, SHARED_SCHEMAS_DIR, contractProblems } from '../support/contract.js';

describe('platform contract', () => {
  it('the agent carries the published schemas unchanged', () => {
    const published = readdirSync(SHARED_SCHEMAS_DIR).sort();
    const vendored = readdirSync(join(REPO, 'agent/contract/schemas')).sort();
    expect(vendored).toEqual(published);
    for (const f of published) {
      expect(readFileSync(join(REPO, 'agent/contract/schemas', f), 'utf8'), f).toBe(readFileSync(join(SHARED_SCHEMAS_DIR, f), 'utf8'));
    }
  });

  it('accepts every published example and agrees with the reference validator', () => {
    const contract = new Contract();
    const map: Record<string, Parameters<Contract['validate']>[0]> = {
      'command-lessons-count.json': 'command',
      'event-readiness.json': 'event',
      'event.json': 'event',
      'heartbeat.json': 'heartbeat',
      'lesson-record.json': 'lesson-record',
      'reply-error.json': 'reply',
      'reply-lessons-count.json': 'reply',
      'status-offline.json': 'status',
      'status-online.json': 'status',
      'timetable.json': 'timetable',
    };
    for (const f of readdirSync(SHARED_EXAMPLES_DIR)) {
      const schema = map[f];
      expect(schema, `example ${f} has a schema`).toBeDefined();
      const value: unknown = JSON.parse(readFileSync(join(SHARED_EXAMPLES_DIR, f), 'utf8'));
      expect(contract.validate(schema!, value), f).toEqual({ ok: true, problems: [] });
      expect(contractProblems(schema!, value), f).toEqual([]);
    }
  });

  it('names the offending path of an invalid payload', () => {
    const contract = new Contract();
    const r = contract.validate('reply', { requestId: 'x', command: 'a', ok: true, ts: '2026-09-01T08:00:00+08:00' });
    expect(r.ok).toBe(false);
    expect(r.problems).toContain('/result: is required');
    const s = contract.validate('status', { online: true, ts: 'yesterday', deviceId: 'x', bootId: 'short' });
    expect(s.problems.some((p) => p.startsWith('/ts:'))).toBe(true);
    expect(s.problems.some((p) => p.startsWith('/deviceId:'))).toBe(true);
    expect(s.problems).toContain('/agentVersion: is required');
  });
});

describe('contract time formats', () => {
  it('formats timestamps with the zone offset the contract expects', () => {
    const t = new Date('2026-09-07T00:50:00Z');
    expect(isoInZone(t, 'Asia/Shanghai')).toBe('2026-09-07T08:50:00+08:00');
    expect(isoInZone(t, 'UTC')).toBe('2026-09-07T00:50:00+00:00');
    expect(isoInZone(new Date('2026-07-01T12:00:00Z'), 'America/New_York')).toBe('2026-07-01T08:00:00-04:00');
    expect(isoInZone(new Date('2026-01-01T12:00:00Z'), 'Asia/Kolkata')).toBe('2026-01-01T17:30:00+05:30');
    expect(contractProblems('status', { online: false, ts: isoInZone(t, 'Asia/Shanghai'), deviceId: 'ABC', bootId: '12345678', reason: 'shutdown' })).toEqual([]);
  });

  it('gives the local date in the zone, not the machine’s', () => {
    expect(localDate(new Date('2026-09-06T17:30:00Z'), 'Asia/Shanghai')).toBe('2026-09-07');
    expect(localDate(new Date('2026-09-06T17:30:00Z'), 'UTC')).toBe('2026-09-06');
  });

  it('knows real calendar dates', () => {
    expect(isValidDate('2028-02-29')).toBe(true);
    expect(isValidDate('2026-02-29')).toBe(false);
    expect(isValidDate('2026-13-01')).toBe(false);
    expect(isValidDate('2026-9-1')).toBe(false);
  });
});
