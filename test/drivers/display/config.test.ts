/** The `display` config section: optional, validated with every problem named by its path. */
import { describe, expect, it } from 'vitest';
import { validateConfigObject } from '../../../agent/config/load.js';
import type { ConfigInput } from '../../../agent/config/schema.js';
import { ConfigError } from '../../../agent/errors.js';
import { createDisplay, displayInputs } from '../../../drivers/display/config.js';

function config(display: unknown): ConfigInput {
  return { deviceId: 'QZ-TEST-0001-R201', role: 'lecture', dataDir: '/tmp/lectern-display-config', platform: { mqttUrl: 'mqtt://127.0.0.1:1883' }, display } as ConfigInput;
}

function problems(display: unknown): readonly string[] {
  try {
    validateConfigObject(config(display), 'test config');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('display config', () => {
  it('is optional', () => {
    const c = validateConfigObject({ deviceId: 'QZ-TEST-0001-R201', platform: { mqttUrl: 'mqtt://127.0.0.1:1883' } }, 'test config');
    expect(c.display).toBeUndefined();
  });

  it('fills in defaults and accepts a serial panel with extra inputs', () => {
    const c = validateConfigObject(config({ transport: 'serial', port: '/dev/ttyUSB0', profile: 'samsung-mdc', id: 0, inputs: { ops: '0x60' }, lessonInput: 'ops' }), 'test config');
    expect(c.display).toEqual({ name: 'panel', transport: 'serial', port: '/dev/ttyUSB0', profile: 'samsung-mdc', id: 0, inputs: { ops: '0x60' }, lessonInput: 'ops', powerOffAfterLastLesson: false });
    expect(displayInputs(c.display!)).toEqual({ hdmi1: '21', hdmi2: '23', dp: '25', ops: '0x60' });
    expect(createDisplay(c.display!).health()).toMatchObject({ kind: 'display', id: 'panel', model: 'Samsung MDC display', status: 'ok' });
  });

  it('a serial display needs a port and a profile; custom needs commands', () => {
    expect(problems({ transport: 'serial', powerOffAfterLastLesson: true })).toEqual(expect.arrayContaining(['/display/port: is required', '/display/profile: is required']));
    expect(problems({ transport: 'serial', port: '/dev/ttyS0', profile: 'custom' })).toContain('/display/commands: is required');
    expect(problems({ transport: 'hdmi' })).toEqual(expect.arrayContaining([expect.stringMatching(/^\/display\/transport: /)]));
  });

  it('reports every cross-field problem with its path', () => {
    expect(
      problems({ transport: 'serial', port: '/dev/ttyS0', profile: 'benq', id: 99, inputs: { hdmi1: '1', ops: 'abc' }, inputCommand: 'kb', lessonInput: 'hdmi9' }),
    ).toEqual([
      '/display/inputCommand: applies to profile "lg" only',
      '/display/inputs/hdmi1: "1" is not three digits like 001',
      '/display/inputs/ops: "abc" is not three digits like 001',
      '/display/id: a BenQ ID must be 1–98, got 99',
      '/display/lessonInput: "hdmi9" is not an input of this display; known: vga, hdmi1, hdmi2, dvi, dp, media, ops',
    ]);
    expect(problems({ transport: 'cec', profile: 'lg', baudRate: 9600, inputs: { hdmi1: '1.0.0' } })).toEqual([
      '/display/profile: applies to transport "serial" only, not "cec"',
      '/display/baudRate: applies to transport "serial" only, not "cec"',
      '/display/inputs/hdmi1: "1.0.0" is not a physical address like 1.0.0.0',
    ]);
  });

  it('checks a command table: hex, regular expressions, the lesson input among its inputs', () => {
    expect(
      problems({
        transport: 'serial',
        port: '/dev/ttyS0',
        profile: 'custom',
        lessonInput: 'hdmi1',
        commands: { format: 'ascii', powerOn: { send: 'PON\r', expect: 'OK(' }, powerOff: { send: 'POF\r' }, inputs: { ops: { send: 'S1\r' } } },
      }),
    ).toEqual([
      expect.stringMatching(/^\/display\/commands\/powerOn\/expect: not a valid regular expression: /),
      '/display/lessonInput: "hdmi1" is not an input of this display; known: ops',
    ]);
    expect(problems({ transport: 'serial', port: '/dev/ttyS0', profile: 'custom', commands: { format: 'hex', powerOn: { send: 'AA 1' }, powerOff: { send: 'AA 11' }, extra: 1 } })).toEqual(
      ['/display/commands/extra: is not a known field'],
    );
  });
});
