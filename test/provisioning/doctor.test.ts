import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../agent/broker.js';
import type { ConfigInput } from '../../agent/config/schema.js';
import type { DoctorReport } from '../../provisioning/doctor.js';
import { startBroker } from '../support/broker.js';
import { kitRoots, runCli, startSimKit, type SimKit } from '../support/kit.js';
import { makePki } from '../support/pki.js';
import { tempDir } from '../support/tmp.js';

// `lectern doctor` on an installed (simulated) kit: one healthy run, then each failure class on
// its own, each with a non-zero exit code, its code in --json and its message and fix in text.
let broker: Awaited<ReturnType<typeof startBroker>>;
let kit: SimKit;
const dir = tempDir('lectern-doctor-');
let n = 0;

beforeAll(async () => {
  broker = await startBroker();
  kit = await startSimKit(join(dir.path, 'kit'));
});
afterAll(async () => {
  await kit.close();
  await broker.cleanup();
  dir.cleanup();
});

function config(extra: Partial<ConfigInput> = {}): ConfigInput {
  return {
    deviceId: 'QZ-DR-0001-R101',
    role: 'lecture',
    dataDir: join(dir.path, 'data'),
    platform: { mqttUrl: broker.url, connectTimeoutSec: 3 },
    cameras: [
      { id: 'teacher', address: 1, transport: { type: 'serial', path: kit.cameraPort } },
      { id: 'students', address: 2, transport: { type: 'serial', path: kit.cameraPort } },
    ],
    media: { video: { type: 'test' }, audio: { type: 'test' }, encoder: { preference: ['x264enc'] } },
    ...extra,
  };
}

async function doctor(input: ConfigInput, ...args: string[]): Promise<{ code: number | null; report: DoctorReport; text: string }> {
  const file = join(dir.path, `config-${++n}.json`);
  writeFileSync(file, JSON.stringify(input));
  const json = await runCli(['doctor', '--config', file, '--json', ...kitRoots(kit), ...args]);
  const text = await runCli(['doctor', '--config', file, ...kitRoots(kit), ...args]);
  expect(text.code).toBe(json.code);
  return { code: json.code, report: JSON.parse(json.stdout) as DoctorReport, text: text.stdout };
}

const failures = (r: DoctorReport) => r.results.filter((x) => x.status === 'fail');

describe('lectern doctor', () => {
  it('passes a healthy kit (exit 0): cameras answer, elements installed, broker accepts, uplink measured', async () => {
    const { code, report, text } = await doctor(config(), '--bandwidth-mb', '1');
    expect(failures(report)).toEqual([]);
    expect(code).toBe(0);
    const ids = report.results.filter((r) => r.status === 'pass').map((r) => r.id);
    for (const id of ['config', 'cameras', 'encoders', 'gst-plugins', 'disk', 'broker', 'uplink']) expect(ids).toContain(id);
    expect(report.results.filter((r) => r.id === 'cameras').map((r) => r.detail)).toEqual([
      expect.stringMatching(/^teacher: VISCA 0x0001\/0x0519 .* #1, power on$/),
      expect.stringMatching(/^students: VISCA .* #2/),
    ]);
    expect((report.results.find((r) => r.id === 'uplink')!.data as { bytes: number }).bytes).toBe(1048576);
    expect(text).toContain('this kit can run a lesson');
  });

  it('a missing camera', async () => {
    const gone = join(dir.path, 'unplugged/ttyUSB7');
    const { code, report, text } = await doctor(config({ cameras: [{ id: 'teacher', transport: { type: 'serial', path: gone } }] }), '--bandwidth-mb', '0');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['camera-missing']);
    expect(text).toContain(`[FAIL] cameras: teacher: ${gone} address 1`);
    expect(text).toContain('fix: plug the camera’s USB-serial adapter back in');
    expect(text).toContain('this kit can NOT run a lesson');
  });

  it('a camera that does not answer (wrong address)', async () => {
    const { code, report } = await doctor(config({ cameras: [{ id: 'board', address: 5, transport: { type: 'serial', path: kit.cameraPort } }] }), '--bandwidth-mb', '0');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['camera-not-answering']);
  });

  it('the display answers its status query (exit 0)', async () => {
    const { code, report } = await doctor(config({ display: { transport: 'serial', port: kit.displayPort, profile: 'samsung-mdc', id: 1, lessonInput: 'hdmi1' } }), '--bandwidth-mb', '0');
    expect(failures(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.results.find((r) => r.id === 'display')).toMatchObject({ status: 'pass', detail: `panel: Samsung MDC display on ${kit.displayPort}: power off, input hdmi2` });
  });

  it('a missing display', async () => {
    const gone = join(kit.dev, 'serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller_GONE-if00-port0');
    const { code, report, text } = await doctor(config({ display: { transport: 'serial', port: gone, profile: 'samsung-mdc' } }), '--bandwidth-mb', '0');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['display-missing']);
    expect(text).toContain(`[FAIL] display: panel: Samsung MDC display on ${gone}: serial port ${gone} is missing`);
    expect(text).toContain('fix: plug the display’s USB-serial adapter back in');
  });

  it('a display that does not answer', async () => {
    kit.display!.setFaults({ silent: true });
    try {
      const { code, report, text } = await doctor(config({ display: { transport: 'serial', port: kit.displayPort, profile: 'samsung-mdc', id: 1 } }), '--bandwidth-mb', '0');
      expect(code).toBe(1);
      expect(failures(report).map((f) => f.code)).toEqual(['display-not-answering']);
      expect(text).toMatch(/\[FAIL\] display: panel: Samsung MDC display on .*: no reply to power status from display panel .* after 2 tries/);
      expect(text).toContain('fix: check the panel has mains power, its RS-232 (or HDMI) cable');
    } finally {
      kit.display!.setFaults({});
    }
  });

  it('a microphone configured on a host where it is not on USB', async () => {
    // The CLI sees this tree's /sys, which has no USB bus: the microphone cannot be there.
    const { code, report, text } = await doctor(config({ microphone: { id: 'array', match: { model: 'respeaker-v2' } } }), '--bandwidth-mb', '0');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['microphone-missing']);
    expect(text).toMatch(/\[FAIL\] microphone: array: USB devices cannot be listed: no USB devices can be seen on this host/);
    expect(text).toContain('fix: plug the USB microphone back in');
  });

  it('the broker unreachable', async () => {
    const port = await freePort();
    const { code, report, text } = await doctor(config({ platform: { mqttUrl: `mqtt://127.0.0.1:${port}`, connectTimeoutSec: 3 } }), '--bandwidth-mb', '1');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['broker-unreachable']);
    expect(text).toMatch(/\[FAIL\] platform broker: cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    expect(text).toContain('fix: check the network and platform.mqttUrl');
    // Without a broker the uplink cannot be measured: said so, not counted as a second failure.
    expect(report.results.find((r) => r.id === 'uplink')?.status).toBe('skip');
  });

  it('bad certificates: unreadable CA, device certificate not matching its key, one about to expire', async () => {
    mkdirSync(join(dir.path, 'pki'));
    const pki = makePki(join(dir.path, 'pki'));
    const a = pki.client('device-a');
    const b = pki.client('device-b');
    const garbage = join(dir.path, 'pki/garbage.pem');
    writeFileSync(garbage, 'this is not a certificate\n');
    const mismatched = await doctor(config({ platform: { mqttUrl: broker.url, connectTimeoutSec: 3, caFile: pki.caCert, certFile: a.cert, keyFile: b.key } }), '--bandwidth-mb', '0');
    expect(mismatched.code).toBe(1);
    expect(failures(mismatched.report).map((f) => f.code)).toContain('certificate-key-mismatch');
    expect(mismatched.text).toContain(`[FAIL] TLS certificates: device certificate (platform.certFile) "device-a" does not belong to the key ${b.key}`);
    // The test CA is valid for two days: inside the 30-day warning, a warning and not a failure.
    expect(mismatched.report.results.find((r) => r.id === 'certificates' && r.detail.startsWith('platform CA'))).toMatchObject({ status: 'warn' });

    const invalid = await doctor(config({ platform: { mqttUrl: broker.url, connectTimeoutSec: 3, caFile: garbage } }), '--bandwidth-mb', '0');
    expect(invalid.code).toBe(1);
    expect(failures(invalid.report).map((f) => f.code)).toEqual(['certificate-invalid']);
    expect(invalid.text).toContain(`platform CA (platform.caFile) ${garbage}: no PEM certificate in the file`);
  });

  it('a full disk', async () => {
    const { code, report, text } = await doctor(config(), '--bandwidth-mb', '0', '--min-free', '1P');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['disk-full']);
    expect(text).toMatch(/\[FAIL\] disk space for a lesson: [\d.]+ GB free in .*, a 45-minute lesson needs about 1125899\.91 GB/);
  });

  it('a missing GStreamer plugin', async () => {
    const { code, report, text } = await doctor(config(), '--bandwidth-mb', '0', '--require-element', 'lecternnosuchelement');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['gst-plugin-missing']);
    expect(text).toMatch(/\[FAIL\] GStreamer elements: missing: lecternnosuchelement \(of \d+ used\)/);
  });

  it('an invalid config, every problem listed', async () => {
    const { code, report } = await doctor({ deviceId: 'x', platform: { mqttUrl: 'ftp://nowhere' } }, '--bandwidth-mb', '0');
    expect(code).toBe(1);
    expect(failures(report).map((f) => f.code)).toEqual(['config-invalid']);
    expect(failures(report)[0]!.detail).toContain('/deviceId');
  });
});
