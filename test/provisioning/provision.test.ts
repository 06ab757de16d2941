import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.js';
import { Contract } from '../../agent/contract/validate.js';
import type { ProvisionReport } from '../../provisioning/provision.js';
import { CLI } from '../support/agent.js';
import { startBroker } from '../support/broker.js';
import { kitRoots, runCli, startSimKit, type SimKit } from '../support/kit.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// Provisioning a simulated kit end to end: two VISCA cameras on a pty (named like an FTDI
// adapter under /dev/serial/by-id), a Samsung MDC panel on another, a test-pattern video and
// tone, the real x264enc and gst-discoverer-1.0, and a real Mosquitto as the platform. The CLI
// sees no USB bus here (the microphone tests, with a fake USB bus, are in probes.test.ts).
let broker: Awaited<ReturnType<typeof startBroker>>;
let kit: SimKit;
const dir = tempDir('lectern-provision-');

beforeAll(async () => {
  broker = await startBroker();
  kit = await startSimKit(join(dir.path, 'kit'));
});
afterAll(async () => {
  await kit.close();
  await broker.cleanup();
  dir.cleanup();
});

async function retainedStatus(deviceId: string): Promise<Record<string, unknown>> {
  const client = await mqtt.connectAsync(broker.url, { clientId: `t-${Math.random().toString(16).slice(2)}` });
  try {
    const got = new Promise<Record<string, unknown>>((resolve) => client.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)));
    await client.subscribeAsync(`classroom/v1/${deviceId}/status`, { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

describe('lectern provision (non-interactive)', () => {
  it('finds the cameras and the panel, tests them and the platform, and writes a valid config (0600) with a JSON report', async () => {
    const out = join(dir.path, 'etc/config.json');
    const answers = join(dir.path, 'answers.json');
    writeFileSync(
      answers,
      JSON.stringify({
        deviceId: 'QZ-PV-0001-R101',
        school: '丰泽实验小学',
        room: 'R101 专递课堂',
        role: 'lecture',
        mqttUrl: broker.url,
        username: 'qz-pv-0001',
        password: 's3cret-pass-word',
        video: 'test',
        audio: 'test',
        cameraNames: ['teacher', 'board'],
      }),
    );
    const r = await runCli(['provision', '--json', '--answers', answers, '--out', out, '--owner', 'root', '--data-dir', join(dir.path, 'data'), '--clip-file', join(dir.path, 'clip.ts'), ...kitRoots(kit)]);
    expect(r.stderr).toContain('[17/17] config file: ok');
    const report = JSON.parse(r.stdout) as ProvisionReport;
    expect(report.results.filter((x) => x.status === 'fail')).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.configFile).toBe(out);
    expect(report.found.serialPorts.map((p) => p.path)).toEqual([kit.cameraPort, kit.displayPort]);
    expect(report.found.cameras.map((c) => c.address)).toEqual([1, 2]);
    // The panel was looked for only where no camera answered, and recognised by its reply.
    expect(report.found.displays).toEqual([{ port: kit.displayPort, profile: 'samsung-mdc', id: 1, baudRate: 9600, power: 'off', input: 'hdmi2', model: 'Samsung MDC display' }]);
    expect(report.found.encoders).toContain('x264enc');
    const byId = (id: string) => report.results.filter((x) => x.id === id);
    expect(byId('camera-move').map((x) => x.status)).toEqual(['pass', 'pass']);
    // Switched on, showing the input it showed before (no displayInput answer), and left on.
    expect(byId('display-test')[0]!.status).toBe('pass');
    expect(byId('display-test')[0]!.detail).toContain('switched on and showing hdmi2 (was off on hdmi2); left on');
    expect([kit.display!.power, kit.display!.input]).toEqual(['on', 'hdmi2']);
    // No USB bus in this tree: said so, not a failure; the level has no microphone to hear.
    expect(byId('microphone')[0]!.status).toBe('warn');
    expect(byId('microphone')[0]!.detail).toContain('USB devices cannot be listed');
    expect(byId('microphone-level')[0]!.status).toBe('skip');
    expect(byId('test-clip')[0]!.status).toBe('pass');
    expect((byId('test-clip')[0]!.data as { durationSec: number }).durationSec).toBeGreaterThan(2.5);
    expect(byId('platform')[0]!.detail).toContain('delivered back through a subscription');
    // Detection read the kit's tree: the USB microphone first, by its stable ALSA name.
    expect(report.found.video).toEqual([{ path: kit.videoDevice, name: 'HD USB Camera', index: 0 }]);
    expect(report.found.audio.map((a) => [a.alsaDevice, a.usb])).toEqual([
      ['plughw:CARD=Array,DEV=0', true],
      ['plughw:CARD=PCH,DEV=0', false],
    ]);
    // The report never carries the password.
    expect(r.stdout).not.toContain('s3cret-pass-word');

    // The file: private, and what the agent's own loader accepts.
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const config = loadConfig({ file: out });
    expect(config.deviceId).toBe('QZ-PV-0001-R101');
    expect(config.platform.password).toBe('s3cret-pass-word');
    expect(config.cameras).toEqual([
      { id: 'teacher', address: 1, transport: { type: 'serial', path: kit.cameraPort, baudRate: 9600 } },
      { id: 'board', address: 2, transport: { type: 'serial', path: kit.cameraPort, baudRate: 9600 } },
    ]);
    expect(config.media?.encoder?.preference).toContain('x264enc');
    expect(config.display).toMatchObject({ transport: 'serial', port: kit.displayPort, profile: 'samsung-mdc', id: 1, lessonInput: 'hdmi2', powerOffAfterLastLesson: false });
    expect(config.microphone).toBeUndefined();

    // The platform saw the birth; what stays retained is the shutdown status of that boot id,
    // valid by the contract, until the agent's own birth replaces it.
    const bootId = (byId('platform')[0]!.data as { bootId: string }).bootId;
    const status = await retainedStatus('QZ-PV-0001-R101');
    expect(status).toMatchObject({ online: false, reason: 'shutdown', bootId });
    expect(new Contract().validate('status', status).problems).toEqual([]);
  });

  it('reports every missing answer at once, writes nothing and exits 1', async () => {
    const out = join(dir.path, 'missing/config.json');
    const r = await runCli(['provision', '--non-interactive', '--out', out, '--skip-camera-move', '--skip-clip', '--video', 'test', '--audio', 'test', ...kitRoots(kit)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\[FAIL\] settings: .*\/deviceId.*required/);
    expect(r.stdout).toMatch(/\/platform\/mqttUrl.*required/);
    expect(r.stdout).toContain('fix: give the missing or wrong answers');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an answers file with unknown or wrong keys (exit 2, each named)', async () => {
    const answers = join(dir.path, 'bad-answers.json');
    writeFileSync(answers, JSON.stringify({ deviceId: 5, colour: 'blue', role: 'teacher' }));
    const r = await runCli(['provision', '--answers', answers, '--non-interactive', ...kitRoots(kit)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/deviceId');
    expect(r.stderr).toContain('colour');
    expect(r.stderr).toContain('/role');
  });
});

// The interactive flow through a real terminal: tmux runs the command in a pty, the test reads
// the screen and types the answers.
const haveTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!haveTmux)('lectern provision on a terminal', () => {
  const session = `lectern-prov-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
  const screen = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session).stdout;

  afterAll(() => {
    tmux('kill-server');
  });

  it('asks each question with its default, tests, and writes the config', async () => {
    const out = join(dir.path, 'tty/config.json');
    const doneFile = join(dir.path, 'tty/exit-code');
    const cmd = [
      process.execPath,
      CLI,
      'provision',
      '--out',
      out,
      '--owner',
      'root',
      '--data-dir',
      join(dir.path, 'tty/data'),
      '--skip-clip',
      '--school',
      '实验小学',
      ...kitRoots(kit),
    ]
      .map((w) => `'${w}'`)
      .join(' ');
    spawnSync('mkdir', ['-p', join(dir.path, 'tty')]);
    const started = tmux('new-session', '-d', '-s', session, '-x', '220', '-y', '60', `${cmd}; echo $? > '${doneFile}'; sleep 600`);
    expect(started.status).toBe(0);
    const answer = async (prompt: RegExp, keys: string) => {
      await waitUntil(() => prompt.test(screen()), `prompt ${prompt}`, 60_000);
      tmux('send-keys', '-t', session, '-l', keys);
      tmux('send-keys', '-t', session, 'Enter');
    };
    await answer(/Device id \(from the platform[^\n]*: *$/m, 'bad id!');
    await waitUntil(() => screen().includes('3–64 letters'), 'the device id refused');
    await answer(/Device id[^\n]*: *$/m, 'QZ-TTY-0001-R102');
    // The school was given as a flag: it is the default, Enter keeps it.
    await answer(/School \[实验小学\]: *$/m, '');
    await answer(/Room: *$/m, 'R102');
    await answer(/Role of this room \(lecture\/listen\/both\) \[both\]: *$/m, '');
    await answer(/Name for camera 1 \([^\n]*\) \[teacher\]: *$/m, '');
    await answer(/Name for camera 2 \([^\n]*\) \[students\]: *$/m, 'board');
    // The panel found is offered its inputs, the one it shows now as the default.
    await answer(/Display input for lessons \(Samsung MDC display: hdmi1, hdmi2, dp\) \[hdmi2\]: *$/m, 'dp');
    // What detection found is offered first; this kit's camera and microphone are only
    // names in a tree, so the test sources are chosen.
    await answer(new RegExp(`Video source \\(${kit.videoDevice}, test\\) \\[${kit.videoDevice}\\]: *$`, 'm'), 'test');
    await answer(/Microphone \(plughw:CARD=Array,DEV=0, plughw:CARD=PCH,DEV=0, test\) \[plughw:CARD=Array,DEV=0\]: *$/m, 'test');
    await answer(/Stream target[^\n]*: *$/m, '');
    await answer(/Platform broker URL[^\n]*: *$/m, broker.url);
    await answer(/Broker user name[^\n]*: *$/m, 'room102');
    await answer(/Broker password \[none\]: *$/m, 'typed-secret-99');
    await answer(/Platform CA file[^\n]*: *$/m, '');
    await answer(/Device certificate file[^\n]*: *$/m, '');
    await waitUntil(() => existsSync(doneFile) && readFileSync(doneFile, 'utf8').trim() !== '', 'provision to finish', 90_000);
    const text = screen();
    expect(readFileSync(doneFile, 'utf8').trim(), text).toBe('0');
    // A progress line per step, then the checklist.
    expect(text).toMatch(/\[9\/17\] camera moves and returns: ok/);
    expect(text).toContain('[ ok ] display switches on and shows the lesson input');
    expect(text).toContain('[ ok ] platform connection and status birth');
    expect(text).toContain('all checks passed');
    // The password was not echoed.
    expect(text).not.toContain('typed-secret-99');
    const config = loadConfig({ file: out });
    expect(config).toMatchObject({ deviceId: 'QZ-TTY-0001-R102', school: '实验小学', room: 'R102', role: 'both' });
    expect(config.platform).toMatchObject({ mqttUrl: broker.url, username: 'room102', password: 'typed-secret-99' });
    expect(config.cameras.map((c) => c.id)).toEqual(['teacher', 'board']);
    expect(config.display?.lessonInput).toBe('dp');
    expect(kit.display!.input).toBe('dp');
  });
});
