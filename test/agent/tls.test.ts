import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { MosquittoBroker, freePort } from '../../agent/broker.js';
import type { StatusMessage } from '../../agent/contract/types.js';
import { inProcessAgent, testConfig } from '../support/agent.js';
import { makePki, type Pki } from '../support/pki.js';
import { FakePlatform } from '../support/platform.js';
import { tempDir, waitUntil } from '../support/tmp.js';

// The platform link over TLS against a real Mosquitto: a private CA, a device certificate
// (mTLS), and username/password on a second listener.
const dir = tempDir();
let pki: Pki;
let broker: MosquittoBroker;
let plainPort: number;
let tlsPort: number;
let passPort: number;
let platform: FakePlatform;

beforeAll(async () => {
  pki = makePki(dir.path);
  const pwfile = join(dir.path, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', pwfile, 'QZ-TLS-0002-R101', 'right-password']);
  plainPort = await freePort();
  tlsPort = await freePort();
  passPort = await freePort();
  broker = new MosquittoBroker({
    dir: join(dir.path, 'broker'),
    listenerLines: [
      'per_listener_settings true',
      `listener ${plainPort} 127.0.0.1`,
      'allow_anonymous true',
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.caCert}`,
      `certfile ${pki.serverCert}`,
      `keyfile ${pki.serverKey}`,
      'require_certificate true',
      'use_identity_as_username true',
      `listener ${passPort} 127.0.0.1`,
      `cafile ${pki.caCert}`,
      `certfile ${pki.serverCert}`,
      `keyfile ${pki.serverKey}`,
      'allow_anonymous false',
      `password_file ${pwfile}`,
    ],
  });
  broker.port = plainPort;
  await broker.start();
  platform = new FakePlatform(`mqtt://127.0.0.1:${plainPort}`);
  await platform.start();
});
afterAll(async () => {
  await platform.stop();
  await broker.stop(true);
  dir.cleanup();
  expect(platform.invalid).toEqual([]);
});

describe('platform link over TLS', () => {
  it('connects with the platform CA and a device certificate (mTLS)', async () => {
    const id = 'QZ-TLS-0001-R101';
    const client = pki.client(id);
    const data = tempDir();
    const { agent } = inProcessAgent(
      testConfig(data.path, `mqtts://127.0.0.1:${tlsPort}`, { deviceId: id, platform: { mqttUrl: `mqtts://127.0.0.1:${tlsPort}`, caFile: pki.caCert, certFile: client.cert, keyFile: client.key } }),
    );
    await agent.start();
    try {
      const birth = await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === id && s.online, 'birth over mTLS');
      expect(birth.bootId).toBe(agent.bootId);
    } finally {
      await agent.stop();
      data.cleanup();
    }
  });

  it('is refused without a client certificate, and says why in its log', async () => {
    const id = 'QZ-TLS-0003-R101';
    const data = tempDir();
    const { agent, ring } = inProcessAgent(
      testConfig(data.path, `mqtts://127.0.0.1:${tlsPort}`, { deviceId: id, platform: { mqttUrl: `mqtts://127.0.0.1:${tlsPort}`, caFile: pki.caCert } }),
    );
    await agent.start();
    try {
      await waitUntil(() => ring.tail(50).some((l) => l.includes('platform link error')), 'a logged link error');
      expect(agent.running!.link.connected).toBe(false);
      expect(platform.payloads<StatusMessage>('status', id)).toEqual([]);
    } finally {
      await agent.stop();
      data.cleanup();
    }
  });

  it('does not trust a broker whose certificate the configured CA did not sign', async () => {
    const id = 'QZ-TLS-0004-R101';
    const other = makePki(tempDir().path);
    const client = pki.client(id);
    const data = tempDir();
    const { agent, ring } = inProcessAgent(
      testConfig(data.path, `mqtts://127.0.0.1:${tlsPort}`, { deviceId: id, platform: { mqttUrl: `mqtts://127.0.0.1:${tlsPort}`, caFile: other.caCert, certFile: client.cert, keyFile: client.key } }),
    );
    await agent.start();
    try {
      await waitUntil(() => ring.tail(50).find((l) => /self.signed|unable to verify|certificate/i.test(l)), 'a certificate error in the log');
      expect(agent.running!.link.connected).toBe(false);
    } finally {
      await agent.stop();
      data.cleanup();
    }
  });

  it('connects with username and password over TLS; a wrong password is refused and retried', async () => {
    const id = 'QZ-TLS-0002-R101';
    const data = tempDir();
    const url = `mqtts://127.0.0.1:${passPort}`;
    const wrong = inProcessAgent(testConfig(data.path, url, { deviceId: id, platform: { mqttUrl: url, caFile: pki.caCert, username: id, password: 'wrong' } }));
    await wrong.agent.start();
    await waitUntil(() => wrong.ring.tail(50).some((l) => /Not authorized|Bad User Name or Password|bad user/i.test(l)), 'an auth error in the log');
    expect(wrong.ring.tail(200).join('\n')).not.toContain('wrong"'); // the password itself never logged
    await wrong.agent.stop();
    const right = inProcessAgent(testConfig(data.path, url, { deviceId: id, platform: { mqttUrl: url, caFile: pki.caCert, username: id, password: 'right-password' } }));
    await right.agent.start();
    try {
      await platform.waitFor<StatusMessage>('status', (s) => s.deviceId === id && s.online && s.bootId === right.agent.bootId, 'birth with password');
    } finally {
      await right.agent.stop();
      data.cleanup();
    }
  });

  it('the test CA really is required: a plain client without a certificate cannot connect', async () => {
    await expect(
      mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { ca: undefined, rejectUnauthorized: false, reconnectPeriod: 0, connectTimeout: 3000 }),
    ).rejects.toThrow();
  });
});
