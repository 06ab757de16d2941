import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/agent.js';
import type { EventMessage, StatusMessage } from '../../agent/contract/types.js';
import { openState } from '../../agent/state/db.js';
import { startBroker } from '../support/broker.js';
import { FakePlatform } from '../support/platform.js';
import { CLI, inProcessAgent, testConfig } from '../support/agent.js';
import { SHARED_EXAMPLES_DIR } from '../support/contract.js';
import { tempDir } from '../support/tmp.js';
import { fallTerm } from './timetable/fixtures.js';

// `lectern timetable validate|apply|show`, the built CLI run as its own process: on the
// contract's example, on broken files, and applied with and without a running agent (real
// Mosquitto, the fake platform checking every payload against the contract).
const EXAMPLE = join(SHARED_EXAMPLES_DIR, 'timetable.json');
const dir = tempDir();
const file = (name: string, body: unknown): string => {
  const path = join(dir.path, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return path;
};
const FALL = file('fall.json', fallTerm());
/** Every rule beyond the schema broken once. */
const BROKEN = file('broken.json', {
  ...fallTerm(),
  timezone: 'Asia/Atlantis',
  bells: [
    { period: 1, start: '08:00', end: '08:40' },
    { period: 2, start: '08:30', end: '09:10' },
    { period: 3, start: '10:00', end: '09:50' },
  ],
  entries: [
    { id: 'mon-1', weekday: 1, period: 1, subject: '数学', role: 'lecture' },
    { id: 'mon-1', weekday: 2, period: 1, subject: '语文', role: 'lecture' },
    { id: 'tue-6', weekday: 2, period: 6, subject: '阅读', role: 'listen' },
  ],
});

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function lectern(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

afterAll(() => dir.cleanup());

describe('lectern timetable validate', () => {
  it('accepts the contract example and says what it holds', async () => {
    const r = await lectern('timetable', 'validate', EXAMPLE);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid (version 2026-fall.3, 3 entries, 6 bells, 3 exceptions, term 2026-09-01 to 2027-01-22, zone Asia/Shanghai)');
  });

  it('lists every problem beyond the schema with its path, exit 1', async () => {
    const r = await lectern('timetable', 'validate', BROKEN);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    for (const p of [
      '/timezone: "Asia/Atlantis" is not a known IANA time zone',
      '/bells/1: period 2 (08:30) overlaps period 1 (until 08:40)',
      '/bells/2: period 3 ends (09:50) before it starts (10:00)',
      '/entries/1/id: "mon-1" is used by more than one entry',
      '/entries/2/period: period 6 has no bell in /bells',
    ]) {
      expect(r.err).toContain(`  - ${p}`);
    }
    expect(r.err).toMatch(/broken\.json is invalid \(5 problems\)/);
  });

  it('schema problems, a file that is not JSON, an empty one, a missing one', async () => {
    const schema = await lectern('timetable', 'validate', file('schema.json', { ...fallTerm(), term: { start: '2026-09-01' }, entries: [{ id: 'x y', weekday: 8, period: 1, subject: '数学', role: 'lecture' }] }));
    expect(schema.code).toBe(1);
    expect(schema.err).toContain('/term/end: is required');
    expect(schema.err).toContain('/entries/0/id: must match pattern');
    expect(schema.err).toContain('/entries/0/weekday: must be <= 7');
    const notJson = await lectern('timetable', 'validate', file('not.json', '{"version": "a",'));
    expect(notJson.code).toBe(1);
    expect(notJson.err).toContain('/: not JSON');
    const empty = await lectern('timetable', 'validate', file('empty.json', ''));
    expect(empty.code).toBe(1);
    expect(empty.err).toContain('/: the file is empty');
    const missing = await lectern('timetable', 'validate', join(dir.path, 'nowhere.json'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cannot read');
  });
});

interface ShownDay {
  date: string;
  weekday: number;
  inTerm: boolean;
  teachingWeek: number | null;
  parity: string | null;
  exception: { type: string; note?: string; followsWeekday?: number } | null;
  runsWeekday: number | null;
  lessons: { lessonId?: string; entryId: string; period: number; start: string; end: string; scheduledStart: string; subject: string; role: string; weeks: string }[];
}

describe('lectern timetable show FILE', () => {
  it('--json: a holiday, a 调休 Sunday running Thursday (odd week), odd and even Thursdays', async () => {
    const r = await lectern('timetable', 'show', FALL, '--from', '2026-09-17', '--days', '9', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.out) as { version: string; timezone: string; days: ShownDay[] };
    expect(shown).toMatchObject({ version: '2026-fall.4', timezone: 'Asia/Shanghai' });
    expect(shown.days.map((d) => d.date)).toEqual(['2026-09-17', '2026-09-18', '2026-09-19', '2026-09-20', '2026-09-21', '2026-09-22', '2026-09-23', '2026-09-24', '2026-09-25']);
    const day = (date: string): ShownDay => shown.days.find((d) => d.date === date)!;
    const brief = (date: string): string[][] => day(date).lessons.map((l) => [l.entryId, l.start, l.end, l.subject, l.role]);
    // Thursday of week 3 (odd): English; Thursday of week 4 (even): art.
    expect(day('2026-09-17')).toMatchObject({ weekday: 4, teachingWeek: 3, parity: 'odd', exception: null, runsWeekday: 4 });
    expect(brief('2026-09-17')).toEqual([['thu-5-english-odd', '14:30', '15:10', '英语', 'listen']]);
    expect(day('2026-09-17').lessons[0]).toMatchObject({ weeks: 'odd', scheduledStart: '2026-09-17T14:30:00+08:00' });
    expect(brief('2026-09-24')).toEqual([['thu-5-art-even', '14:30', '15:10', '美术', 'lecture']]);
    // Saturday: nothing. Sunday 09-20 is a make-up workday that runs Thursday's odd-week lessons.
    expect(brief('2026-09-19')).toEqual([]);
    expect(day('2026-09-20')).toMatchObject({ weekday: 7, teachingWeek: 3, parity: 'odd', exception: { type: 'workday', followsWeekday: 4, note: '调休' }, runsWeekday: 4 });
    expect(brief('2026-09-20')).toEqual([['thu-5-english-odd', '14:30', '15:10', '英语', 'listen']]);
    // Friday 09-25 is a holiday (中秋节): no science at 08:00.
    expect(day('2026-09-18').lessons.map((l) => l.entryId)).toEqual(['fri-1-science']);
    expect(day('2026-09-25')).toMatchObject({ weekday: 5, exception: { type: 'holiday', note: '中秋节' }, runsWeekday: null, lessons: [] });
    // Without a config there is no device id, so no lesson ids.
    expect(day('2026-09-21').lessons[0]).not.toHaveProperty('lessonId');
  });

  it('the table a technician reads, with times in the timetable’s zone rather than the machine’s', async () => {
    const ny = file('ny.json', fallTerm('America/New_York'));
    const r = await lectern('timetable', 'show', ny, '--from', '2026-09-20', '--days', '6');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('timetable 2026-fall.4 (' + ny + '); term 2026-09-01 to 2027-01-22; times in America/New_York');
    const after = (head: string): string => lines[lines.findIndex((l) => l.startsWith(head)) + 1] ?? '';
    expect(lines).toContain("2026-09-20 Sun  week 3 (odd)  MAKE-UP WORKDAY (调休): runs Thursday's lessons");
    expect(after('2026-09-20 Sun')).toMatch(/^ {2}14:30-15:10 {2}P5 +thu-5-english-odd +英语 +listen +odd weeks only; peers QZ-LC-0007-R305; grade 3$/);
    expect(after('2026-09-21 Mon')).toMatch(/^ {2}08:50-09:30 {2}P2 +mon-2-math +数学 +lecture +peers QZ-AX-0312-R101, QZ-AX-0318-R102; preset 1; grade 3 3\(2\)班 陈老师$/);
    expect(after('2026-09-22 Tue')).toBe('  no lessons'); // week 4 is even: the odd-week reading does not run
    expect(lines).toContain('2026-09-25 Fri  week 4 (even)  HOLIDAY 中秋节: no lessons');
    // Columns line up by display width: CJK subjects take two columns each.
    const rows = lines.filter((l) => /^ {2}\d\d:\d\d-/.test(l));
    const roleColumn = new Set(rows.map((l) => l.replace(/[\u4e00-\u9fff]/g, 'xx').search(/(lecture|listen)/)));
    expect(roleColumn.size).toBe(1);
  });

  it('refuses bad options and a broken file', async () => {
    const bad = await lectern('timetable', 'show', FALL, '--from', '2026-13-01', '--days', '0');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--from: "2026-13-01" is not a date');
    expect(bad.err).toContain('--days: "0" is not a whole number from 1 to 400');
    const broken = await lectern('timetable', 'show', BROKEN, '--from', '2026-09-01');
    expect(broken.code).toBe(1);
    expect(broken.err).toContain('/timezone: "Asia/Atlantis" is not a known IANA time zone');
    const none = await lectern('timetable', 'show', '--data-dir', join(dir.path, 'empty-data'));
    expect(none.code).toBe(1);
    expect(none.err).toContain('no state database');
  });
});

describe('lectern timetable apply', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let platform: FakePlatform;
  beforeAll(async () => {
    broker = await startBroker();
    platform = new FakePlatform(broker.url);
    await platform.start();
  });
  afterAll(async () => {
    await platform.stop();
    await broker.cleanup();
    expect(platform.invalid).toEqual([]);
  });

  function storedVersion(dataDir: string): string | undefined {
    const db = openState({ dataDir, readonly: true });
    try {
      return db.prepare('SELECT version FROM timetable WHERE id = 1').pluck().get() as string | undefined;
    } finally {
      db.close();
    }
  }

  it('with the agent stopped: into the state; a bad file changes nothing; the agent reports it when it starts', async () => {
    const DEVICE = 'QZ-TTA-0001-R101';
    const dataDir = join(dir.path, 'stopped');
    const input = testConfig(dataDir, broker.url, { deviceId: DEVICE });
    const cfg = file('stopped-config.json', input);

    const noConfig = await lectern('timetable', 'apply', FALL, '--data-dir', dataDir);
    expect(noConfig.code).toBe(2);
    expect(noConfig.err).toContain('needs the device config for its device id (--config FILE)');

    const applied = await lectern('timetable', 'apply', FALL, '--config', cfg);
    expect(applied.err).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.out).toBe('applied timetable 2026-fall.4 in the state database (the agent is not running; it uses it when it starts); previous: none\n');
    expect(storedVersion(dataDir)).toBe('2026-fall.4');

    const again = await lectern('timetable', 'apply', FALL, '--config', cfg);
    expect(again.code).toBe(0);
    expect(again.out).toBe('timetable 2026-fall.4 is already applied; nothing changed\n');

    const bad = await lectern('timetable', 'apply', BROKEN, '--config', cfg);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('/entries/2/period: period 6 has no bell in /bells');
    expect(storedVersion(dataDir)).toBe('2026-fall.4');

    // show reads the applied timetable, with lesson ids for this device.
    const shown = await lectern('timetable', 'show', '--config', cfg, '--from', '2026-10-10', '--days', '1', '--json');
    expect(shown.code).toBe(0);
    const days = (JSON.parse(shown.out) as { days: ShownDay[] }).days;
    expect(days[0]).toMatchObject({ date: '2026-10-10', weekday: 6, teachingWeek: 6, parity: 'even', exception: { type: 'workday', followsWeekday: 5 } });
    expect(days[0]!.lessons.map((l) => [l.lessonId, l.start])).toEqual([
      [`${DEVICE}:fri-1-science:2026-10-10`, '08:00'],
      [`${DEVICE}:fri-6-music-even:2026-10-10`, '15:20'],
    ]);

    // The agent started later sends the queued `timetable.applied` and reports the version.
    const { agent } = inProcessAgent(input);
    await agent.start();
    try {
      const ev = await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied' && (e.details as { version?: string }).version === '2026-fall.4', 'queued timetable.applied');
      expect(ev.details).toMatchObject({ previousVersion: null });
      await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === DEVICE && s.online && s.timetableVersion === '2026-fall.4', 'birth with the version');
      expect(agent.running!.timetables.current()?.version).toBe('2026-fall.4');
    } finally {
      await agent.stop();
    }
  });

  it('with the agent running: through its receiver (event, new status); a bad file is rejected and the old one kept', async () => {
    const DEVICE = 'QZ-TTA-0002-R101';
    const dataDir = join(dir.path, 'running');
    const cfg = file('running-config.json', testConfig(dataDir, broker.url, { deviceId: DEVICE }));
    let agent: Agent | undefined;
    try {
      agent = inProcessAgent(testConfig(dataDir, broker.url, { deviceId: DEVICE })).agent;
      await agent.start();
      await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === DEVICE && s.online, 'first birth');

      const applied = await lectern('timetable', 'apply', EXAMPLE, '--config', cfg);
      expect(applied.err).toBe('');
      expect(applied.code).toBe(0);
      expect(applied.out).toBe('applied timetable 2026-fall.3 by the running agent; previous: none\n');
      expect(agent.running!.timetables.current()?.version).toBe('2026-fall.3');
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'timetable.applied' && (e.details as { version?: string }).version === '2026-fall.3', 'timetable.applied');
      await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === DEVICE && s.timetableVersion === '2026-fall.3', 'birth republished');

      // The second one: --data-dir is enough to reach the agent; --json for scripts.
      const next = file('next.json', { ...fallTerm(), version: '2026-fall.5' });
      const second = await lectern('timetable', 'apply', next, '--data-dir', dataDir, '--json');
      expect(second.code).toBe(0);
      expect(JSON.parse(second.out)).toEqual({ outcome: 'applied', version: '2026-fall.5', previousVersion: '2026-fall.3', via: 'agent' });

      const bad = await lectern('timetable', 'apply', BROKEN, '--config', cfg);
      expect(bad.code).toBe(1);
      expect(bad.err).toContain('/timezone: "Asia/Atlantis" is not a known IANA time zone');
      expect(agent.running!.timetables.current()?.version).toBe('2026-fall.5');
    } finally {
      await agent?.stop();
    }
  });
});
