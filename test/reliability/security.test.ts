import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { MosquittoBroker, freePort } from '../../agent/broker.js';
import type { EventMessage, StatusMessage } from '../../agent/contract/types.js';
import { AgentProcess, CLI, testConfig } from '../support/agent.js';
import { makePki, type Pki } from '../support/pki.js';
import { FakePlatform, type Reply } from '../support/platform.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The broker as a city platform would run it: Mosquitto with TLS from a private CA, a client
// certificate required from every device, the certificate's CN as the user name, and an ACL
// pattern that confines each device to its own root (`classroom/v1/%u/#`, the contract's rule).
// The platform itself is on a second, loopback-only listener. Then the command rules (replayed
// requestId, expired commands) and secrets (password, key) kept out of logs and `config show`.
const A = 'QZ-SEC-000A-R201';
const B = 'QZ-SEC-000B-R202';
const PASSWORD = 'pw-Hunter2-only-in-config';
const execFileAsync = promisify(execFile);

const dir = tempDir('lectern-security-');
let pki: Pki;
let otherPki: Pki;
let broker: MosquittoBroker;
let platform: FakePlatform;
let tlsPort: number;
let passPort: number;
const clients: MqttClient[] = [];

beforeAll(async () => {
  pki = makePki(dir.path);
  mkdirSync(join(dir.path, 'other'));
  otherPki = makePki(join(dir.path, 'other'));
  const acl = join(dir.path, 'acl');
  // Each device reads and writes its own root only; nothing else is granted on this listener.
  writeFileSync(acl, 'pattern readwrite classroom/v1/%u/#\n');
  const pwfile = join(dir.path, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', pwfile, A, PASSWORD]);
  const platformPort = await freePort();
  tlsPort = await freePort();
  passPort = await freePort();
  broker = new MosquittoBroker({
    dir: join(dir.path, 'broker'),
    listenerLines: [
      'per_listener_settings true',
      `listener ${platformPort} 127.0.0.1`,
      'allow_anonymous true',
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.caCert}`,
      `certfile ${pki.serverCert}`,
      `keyfile ${pki.serverKey}`,
      'require_certificate true',
      'use_identity_as_username true',
      `acl_file ${acl}`,
      `listener ${passPort} 127.0.0.1`,
      `cafile ${pki.caCert}`,
      `certfile ${pki.serverCert}`,
      `keyfile ${pki.serverKey}`,
      'allow_anonymous false',
      `password_file ${pwfile}`,
      `acl_file ${acl}`,
    ],
  });
  broker.port = platformPort;
  await broker.start();
  platform = new FakePlatform(`mqtt://127.0.0.1:${platformPort}`);
  await platform.start();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await platform.stop();
  await broker.stop(true);
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

/** An MQTT 5 client on the TLS listener with a device certificate (or none, or a foreign one). */
async function tlsClient(cert: { cert: string; key: string } | undefined, ca = pki.caCert, clientId = `probe-${Math.random().toString(16).slice(2, 8)}`): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: readFileSync(ca),
    ...(cert && { cert: readFileSync(cert.cert), key: readFileSync(cert.key) }),
  });
  clients.push(c);
  return c;
}

describe('a broker that confines each device to its own root', () => {
  it("device A's agent works under its own root with its certificate", async () => {
    const certA = pki.client(A);
    const { agentDir, proc } = agentWith(A, {
      mqttUrl: `mqtts://127.0.0.1:${tlsPort}`,
      caFile: pki.caCert,
      certFile: certA.cert,
      keyFile: certA.key,
    });
    proc.start();
    try {
      await waitUntil(() => platform.payloads<StatusMessage>('status', A).find((s) => s.online), 'A online', 30_000);
      const r = await platform.reply(A, 'timetable.get', { requestId: 'sec-a-1' });
      expect(r.ok).toBe(true);
    } finally {
      await proc.stop();
    }
    expect(agentDir).toBeTruthy();
  }, 60_000);

  it("a client with A's certificate can neither publish to nor subscribe under B's root", async () => {
    const certA = pki.client(A);
    const certB = pki.client(B);
    const evil = await tlsClient(certA);
    const honestB = await tlsClient(certB);
    // Publishing: B's own publish reaches the platform (the control); A's into B's root does not.
    // The PUBACK's reason code: 0 accepted; mqtt.js turns an error code into a rejection.
    const pubackCode = (p: Promise<unknown>): Promise<number> =>
      p.then(
        (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
        (e: unknown) => (e as { code?: number }).code ?? -1,
      );
    const denied = await pubackCode(evil.publishAsync(`classroom/v1/${B}/status`, JSON.stringify({ forged: true }), { qos: 1, retain: true }));
    const deniedEvent = await pubackCode(evil.publishAsync(`classroom/v1/${B}/lessons`, JSON.stringify({ forged: true }), { qos: 1 }));
    const ownA = await pubackCode(evil.publishAsync(`classroom/v1/${A}/probe`, 'a-own', { qos: 1 }));
    await honestB.publishAsync(`classroom/v1/${B}/probe`, 'b-own', { qos: 1 });
    await waitUntil(() => platform.of('probe', B).length === 1 && platform.of('probe', A).length === 1, 'both own-root probes at the platform', 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(platform.seen.filter((s) => s.deviceId === B && (s.subtopic === 'status' || s.subtopic === 'lessons'))).toEqual([]);
    // Mosquitto answers an ACL-denied MQTT 5 publish with reason code 0x87 (not authorised).
    const codes = { forgedStatus: denied, forgedLesson: deniedEvent, own: ownA };
    console.log(`security: PUBACK reason codes ${JSON.stringify(codes)}`);
    expect(codes).toEqual({ forgedStatus: 0x87, forgedLesson: 0x87, own: 0 });

    // Subscribing. Something retained under B's root first (it must not be handed out either).
    await honestB.publishAsync(`classroom/v1/${B}/probe-retained`, 'b', { qos: 1, retain: true });
    const gotByEvil: string[] = [];
    evil.on('message', (t) => gotByEvil.push(t));
    const granted = await evil.subscribeAsync({ [`classroom/v1/${A}/cmd/+`]: { qos: 1 }, [`classroom/v1/${B}/#`]: { qos: 1 }, 'classroom/v1/+/cmd/+': { qos: 1 }, '#': { qos: 1 } });
    const byTopic = Object.fromEntries(granted.map((g) => [g.topic, g.qos]));
    // Mosquitto 2.0 may grant a wildcard subscription and apply the ACL to each message it would
    // deliver (read access); a broker that checks at subscribe time answers 0x87. Either way, what
    // is under B's root must never reach A.
    console.log(`security: SUBACK ${JSON.stringify(byTopic)}`);
    expect(byTopic[`classroom/v1/${A}/cmd/+`]).toBe(1);
    for (const t of [`classroom/v1/${B}/#`, 'classroom/v1/+/cmd/+', '#']) expect([1, 0x87]).toContain(byTopic[t]);
    const gotByB: string[] = [];
    await honestB.subscribeAsync(`classroom/v1/${B}/cmd/+`, { qos: 1 });
    honestB.on('message', (t) => gotByB.push(t));
    await platform.command(B, 'health.get', { requestId: 'for-b-only' });
    await honestB.publishAsync(`classroom/v1/${B}/probe`, 'b-again', { qos: 1 });
    await platform.command(A, 'health.get', { requestId: 'for-a' });
    await waitUntil(() => gotByB.includes(`classroom/v1/${B}/cmd/health.get`) && gotByEvil.includes(`classroom/v1/${A}/cmd/health.get`), 'each command at its own device', 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(gotByEvil.filter((t) => !t.startsWith(`classroom/v1/${A}/`))).toEqual([]);
    expect(gotByEvil).toContain(`classroom/v1/${A}/cmd/health.get`);
  }, 60_000);

  it('a certificate from another CA, or none, is refused at the TLS handshake', async () => {
    const foreign = otherPki.client(A); // right name, wrong issuer
    await expect(tlsClient(foreign)).rejects.toThrow();
    await expect(tlsClient(undefined)).rejects.toThrow();
    // The device side too: an agent given a CA that did not sign the broker's certificate does
    // not connect (and says why in its log).
    const certA = pki.client(A);
    const { proc } = agentWith(A, { mqttUrl: `mqtts://127.0.0.1:${tlsPort}`, caFile: otherPki.caCert, certFile: certA.cert, keyFile: certA.key }, 'wrong-ca');
    const before = platform.payloads<StatusMessage>('status', A).length;
    proc.start();
    try {
      await waitUntil(() => /certificate|self.signed|unable to verify/i.test(proc.output), 'a TLS error in the log', 20_000);
      expect(platform.payloads<StatusMessage>('status', A).length).toBe(before);
    } finally {
      await proc.stop();
    }
  }, 60_000);
});

describe('command rules and secrets', () => {
  it('a replayed requestId runs once; an expired command is not run; no secret in logs, logs.tail or config show', async () => {
    const certA = pki.client(A);
    const { proc, configFile } = agentWith(
      A,
      { mqttUrl: `mqtts://127.0.0.1:${passPort}`, caFile: pki.caCert, certFile: certA.cert, keyFile: certA.key, username: A, password: PASSWORD },
      'secrets',
      'debug',
    );
    proc.start();
    try {
      const birth = await waitUntil(() => platform.payloads<StatusMessage>('status', A).find((s) => s.online && proc.output.includes(s.bootId)), 'A online with a password', 30_000);
      // Expired: answered `expired`, nothing started.
      const expired = await platform.reply(A, 'lesson.start', { requestId: 'sec-exp', expiresAt: new Date(Date.now() - 60_000).toISOString(), args: { subject: '数学' } });
      expect(expired.error?.code).toBe('expired');
      // The same request twice (a redelivery): the same answer, one lesson.
      const body = { requestId: 'sec-replay', args: { subject: '语文', durationMin: 5 } };
      const first = await platform.reply<{ lessonId: string }>(A, 'lesson.start', body);
      expect(first.ok).toBe(true);
      await platform.command(A, 'lesson.start', body);
      await waitUntil(() => platform.payloads<Reply>('reply', A).filter((r) => r.requestId === 'sec-replay').length === 2, 'the second answer', 15_000);
      const answers = platform.of('reply', A).filter((s) => (s.payload as Reply).requestId === 'sec-replay');
      expect(answers[1]!.raw).toBe(answers[0]!.raw);
      await platform.waitFor<EventMessage>('events', (e) => e.type === 'lesson.started' && e.lessonId === first.result!.lessonId, 'lesson.started', 15_000);
      await new Promise((r) => setTimeout(r, 2000));
      const starts = platform.payloads<EventMessage>('events', A).filter((e) => e.type === 'lesson.started' && e.details && (e.details as { subject?: string }).subject === '语文');
      expect(starts).toHaveLength(1);
      // A different request while it runs is a conflict, not a second lesson.
      const again = await platform.reply(A, 'lesson.start', { requestId: 'sec-replay-2', args: { subject: '语文' } });
      expect(again.error?.code).toBe('conflict');
      await platform.reply(A, 'lesson.stop', { requestId: 'sec-stop' });

      const tail = await platform.reply<{ lines: string[] }>(A, 'logs.tail', { requestId: 'sec-logs', args: { lines: 500 } });
      expect(tail.ok).toBe(true);
      expect(birth.bootId).toBeTruthy();
      const shown = (await execFileAsync(process.execPath, [CLI, 'config', 'show', '--config', configFile])).stdout;
      const key = readFileSync(certA.key, 'utf8');
      // The body of the private key, line by line: no line of it may show anywhere.
      const keyLines = key.split('\n').filter((l) => l && !l.startsWith('-----'));
      for (const [what, text] of [
        ['agent log (debug)', proc.output],
        ['logs.tail', tail.result!.lines.join('\n')],
        ['config show', shown],
      ] as const) {
        expect(text.includes(PASSWORD), `${what} contains the password`).toBe(false);
        expect(keyLines.some((l) => text.includes(l)), `${what} contains the key`).toBe(false);
      }
      expect(shown).toContain('[hidden]');
      expect(proc.output.length).toBeGreaterThan(1000); // debug logging was on
    } finally {
      await proc.stop();
    }
  }, 90_000);
});

describe('credentials in the broker URL', () => {
  it('are refused, naming the setting (the URL is logged and shown; the password setting is not)', async () => {
    const file = join(dir.path, 'url-secret.json');
    writeFileSync(file, JSON.stringify(testConfig(join(dir.path, 'x'), `mqtts://${A}:${PASSWORD}@127.0.0.1:${tlsPort}`, { deviceId: A })));
    const r = await execFileAsync(process.execPath, [CLI, 'config', 'validate', file]).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/\/platform\/mqttUrl: must not contain a user name or password/);
    expect(r.out.includes(PASSWORD)).toBe(false);
  });
});

function agentWith(deviceId: string, platformSettings: Record<string, unknown>, name = deviceId, logLevel = 'info'): { agentDir: string; proc: AgentProcess; configFile: string } {
  const agentDir = join(dir.path, `agent-${name}`);
  mkdirSync(agentDir, { recursive: true });
  const config = testConfig(join(agentDir, 'data'), String(platformSettings.mqttUrl), { deviceId, logLevel: logLevel as 'info', platform: platformSettings });
  const proc = AgentProcess.withConfig(agentDir, config);
  return { agentDir, proc, configFile: join(agentDir, 'config.json') };
}
