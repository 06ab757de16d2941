import { describe, expect, it } from 'vitest';
import { validateConfigObject } from '../../../agent/config/load.js';
import type { ConfigInput } from '../../../agent/config/schema.js';
import { ConfigError } from '../../../agent/errors.js';

// The `microphone` and `deviceHealth` config sections: optional, defaults filled in, every
// problem reported at once with its path.

const base: ConfigInput = {
  deviceId: 'QZ-CFG-0001-R101',
  platform: { mqttUrl: 'mqtt://127.0.0.1:1883' },
  cameras: [{ id: 'students', transport: { type: 'visca-ip', host: '127.0.0.1' } }],
};

function problems(input: ConfigInput): string[] {
  try {
    validateConfigObject(input, 'test config');
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('microphone config', () => {
  it('is optional; deviceHealth defaults to a 10 s debounce', () => {
    const c = validateConfigObject(base, 'test config');
    expect(c.microphone).toBeUndefined();
    expect(c.deviceHealth).toEqual({ debounceSec: 10 });
  });

  it('fills defaults: id, controls, voice tracking timings', () => {
    const c = validateConfigObject(
      { ...base, microphone: { match: { vid: '2886', pid: '0x0018' }, voiceTracking: { camera: 'students', zones: [{ fromDeg: 300, toDeg: 60, preset: 1 }] } } },
      'test config',
    );
    expect(c.microphone).toEqual({
      id: 'microphone',
      match: { vid: '2886', pid: '0x0018' },
      controls: {},
      voiceTracking: { camera: 'students', zones: [{ fromDeg: 300, toDeg: 60, preset: 1 }], hysteresisDeg: 10, settleSec: 0.8, holdSec: 4, idleSec: 30, pollMs: 200 },
    });
  });

  it('reports every problem with its path', () => {
    const found = problems({
      ...base,
      microphone: {
        match: { vid: '28860', model: 'respeaker-v2' },
        controls: { agc: 'yes' as unknown as boolean, agcGain: 5000 },
      },
      deviceHealth: { debounceSec: -1 },
    });
    expect(found.join('\n')).toMatch(/\/microphone\/match\/vid/);
    expect(found.join('\n')).toMatch(/\/microphone\/controls\/agc/);
    expect(found.join('\n')).toMatch(/\/microphone\/controls\/agcGain/);
    expect(found.join('\n')).toMatch(/\/deviceHealth\/debounceSec/);
  });

  it('cross-field rules: the camera exists, zones do not overlap, VID/PID agree with the model', () => {
    const found = problems({
      ...base,
      microphone: {
        match: { model: 'respeaker-v2', pid: '0019' },
        voiceTracking: {
          camera: 'blackboard',
          zones: [
            { fromDeg: 0, toDeg: 90, preset: 1 },
            { fromDeg: 80, toDeg: 180, preset: 2 },
          ],
        },
      },
    });
    expect(found).toEqual([
      '/microphone/match/pid: 0019 is not the product id of model respeaker-v2',
      '/microphone/voiceTracking/camera: "blackboard" is not a configured camera (cameras: students)',
      '/microphone/voiceTracking/zones: zones 0 and 1 overlap (for example at 80°)',
    ]);
  });

  it('an unknown model key names the known ones', () => {
    expect(problems({ ...base, microphone: { match: { model: 'jabra' } } }).join('\n')).toMatch(/\/microphone\/match\/model.*respeaker-v2/);
  });
});
