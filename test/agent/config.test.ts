import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, validateConfigObject, simulatedKitConfig, redactConfig } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/errors.js';
import { CLI } from '../support/agent.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir();
afterAll(() => dir.cleanup());

function problemsOf(input: unknown): string[] {
  try {
    validateConfigObject(input, 'test');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).problems];
  }
  throw new Error('expected the config to be rejected');
}

describe('config', () => {
  it('fills in the documented defaults', () => {
    const c = validateConfigObject({ deviceId: 'QZ-FZ-0101-R201', platform: { mqttUrl: 'mqtts://broker.example:8883' } }, 'test');
    expect(c.role).toBe('both');
    expect(c.timezone).toBe('Asia/Shanghai');
    expect(c.dataDir).toBe('/var/lib/lectern');
    expect(c.platform.protocolVersion).toBe(5);
    expect(c.platform.heartbeatIntervalSec).toBe(30);
    expect(c.platform.rejectUnauthorized).toBe(true);
    expect(c.outbox.window).toBe(100);
    expect(c.lessons.effectiveThresholdPct).toBe(80);
  });

  it('reports every problem at once, each with its path', () => {
    const problems = problemsOf({
      deviceId: 'x',
      role: 'teacher',
      colour: 'blue',
      platform: { mqttUrl: 'mqtt://b:1883', heartbeatIntervalSec: 2, protocolVersion: 3 },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/deviceId: /),
        expect.stringMatching(/^\/role: must be one of "lecture", "listen", "both"/),
        '/colour: is not a known field',
        expect.stringMatching(/^\/platform\/heartbeatIntervalSec: must be >= 5/),
        expect.stringMatching(/^\/platform\/protocolVersion: must be one of 4, 5/),
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });

  it('checks what a schema cannot: zone, URL, readable TLS files, both cert and key', () => {
    const problems = problemsOf({
      deviceId: 'QZ-FZ-0101-R201',
      timezone: 'Asia/Atlantis',
      platform: { mqttUrl: 'http://broker', caFile: join(dir.path, 'missing-ca.pem'), certFile: join(dir.path, 'c.pem') },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        '/timezone: "Asia/Atlantis" is not a known IANA time zone',
        expect.stringMatching(/^\/platform\/mqttUrl: scheme "http:"/),
        expect.stringMatching(/^\/platform\/caFile: cannot read/),
        expect.stringMatching(/needs both the certificate and its key/),
      ]),
    );
  });

  it('names the file and shows where a JSON syntax error is', () => {
    const file = join(dir.path, 'broken.json');
    writeFileSync(file, '{\n  "deviceId": "QZ-FZ-0101-R201",\n  "role": lecture\n}\n');
    // Node 20 shows the text around the error; later releases also give its position.
    expect(() => loadConfig({ file })).toThrow(/broken\.json is not valid JSON: .*"role": lecture/s);
  });

  it('lets command-line options override the file', () => {
    const file = join(dir.path, 'ok.json');
    writeFileSync(file, JSON.stringify({ deviceId: 'QZ-FZ-0101-R201', platform: { mqttUrl: 'mqtt://a:1883' } }));
    const c = loadConfig({ file, overrides: { deviceId: 'QZ-FZ-0101-R202', mqttUrl: 'mqtt://b:1883', dataDir: dir.path, logLevel: 'debug' } });
    expect([c.deviceId, c.platform.mqttUrl, c.dataDir, c.logLevel]).toEqual(['QZ-FZ-0101-R202', 'mqtt://b:1883', dir.path, 'debug']);
  });

  it('runs the simulated kit from embedded defaults', () => {
    const c = validateConfigObject({ ...simulatedKitConfig(), platform: { mqttUrl: 'mqtt://127.0.0.1:1883' } }, 'sim');
    expect(c.deviceId).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/);
  });

  it('never shows the password', () => {
    const c = validateConfigObject({ deviceId: 'QZ-FZ-0101-R201', platform: { mqttUrl: 'mqtt://a:1883', password: 's3cret' } }, 'x');
    expect(JSON.stringify(redactConfig(c))).not.toContain('s3cret');
  });

  it('`lectern config validate` exits 0 for a good file and 2 listing every problem for a bad one', () => {
    const good = join(dir.path, 'good.json');
    writeFileSync(good, JSON.stringify({ deviceId: 'QZ-FZ-0101-R201', platform: { mqttUrl: 'mqtts://b:8883' } }));
    const ok = spawnSync(process.execPath, [CLI, 'config', 'validate', good], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('valid');
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ deviceId: '!', platform: { mqttUrl: 'mqtt://b', keepaliveSec: 1 }, extra: 1 }));
    const r = spawnSync(process.execPath, [CLI, 'config', 'validate', bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('/deviceId');
    expect(r.stderr).toContain('/platform/keepaliveSec');
    expect(r.stderr).toContain('/extra: is not a known field');
  });
});
