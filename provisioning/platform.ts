/**
 * Checks of the platform's side for provisioning and diagnostics: the MQTT broker (reachable,
 * TLS accepted, credentials accepted, the status birth accepted and delivered), the media
 * server (TCP connect for RTMP, an SRT handshake for SRT) and the uplink's throughput.
 *
 * The checks connect with their own client id (`<deviceId>-check`) and a clean session, never the
 * device id itself: connecting as the device would take over the running agent's connection and
 * could discard the persistent session holding commands sent while it was offline.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { withTimeout } from '../agent/backoff.js';
import type { Config, PlatformConfig } from '../agent/config/schema.js';
import { isoInZone } from '../agent/contract/time.js';
import type { StatusMessage } from '../agent/contract/types.js';
import { Contract } from '../agent/contract/validate.js';
import { errorMessage } from '../agent/errors.js';
import { deviceRoot } from '../agent/link.js';
import { agentVersion } from '../agent/version.js';
import type { MediaTarget } from '../pipelines/urls.js';
import { fail, pass, warn, type FailureCode, type StepOutcome } from './steps.js';

export class BrokerCheckError extends Error {
  constructor(
    readonly code: Extract<FailureCode, 'broker-unreachable' | 'broker-credentials-rejected' | 'broker-tls-failed'>,
    message: string,
  ) {
    super(message);
  }
}

const TLS_PATTERN = /certificate|ssl|tls|alert|CERT_|self.signed|handshake/i;

/** Which failure class a connection error belongs to. */
export function classifyBrokerError(e: unknown): BrokerCheckError['code'] {
  const err = e as { code?: unknown; message?: unknown };
  const code = err?.code;
  // CONNACK refusals: MQTT 3.1.1 return codes 4/5, MQTT 5 reason codes 0x86/0x87/0x8C.
  if (code === 4 || code === 5 || code === 0x86 || code === 0x87 || code === 0x8c) return 'broker-credentials-rejected';
  const text = `${typeof code === 'string' ? code : ''} ${typeof err?.message === 'string' ? err.message : ''}`;
  if (/not authori[sz]ed|bad user ?name or password|bad username/i.test(text)) return 'broker-credentials-rejected';
  if (TLS_PATTERN.test(text)) return 'broker-tls-failed';
  return 'broker-unreachable';
}

export function brokerFix(code: BrokerCheckError['code'], url: string): string {
  switch (code) {
    case 'broker-unreachable':
      return `check the network and platform.mqttUrl (${url}): DNS, firewall, the port; ask the platform whether the broker is up`;
    case 'broker-credentials-rejected':
      return 'the broker refused the login: check platform.username / password (or the device certificate for mTLS) with the platform operator';
    case 'broker-tls-failed':
      return 'TLS failed: check platform.caFile is the platform CA, the device certificate and key, and the clock (a wrong date fails TLS)';
  }
}

/** MQTT client options from the platform settings, as the agent's link builds them. */
export function clientOptions(deviceId: string, p: PlatformConfig, clientSuffix = 'check'): IClientOptions {
  const options: IClientOptions = {
    clientId: `${deviceId}-${clientSuffix}`,
    protocolVersion: p.protocolVersion,
    clean: true,
    keepalive: p.keepaliveSec,
    connectTimeout: p.connectTimeoutSec * 1000,
    reconnectPeriod: 0,
    username: p.username,
    password: p.password,
    rejectUnauthorized: p.rejectUnauthorized,
  };
  if (p.caFile) options.ca = readFileSync(p.caFile);
  if (p.certFile) options.cert = readFileSync(p.certFile);
  if (p.keyFile) options.key = readFileSync(p.keyFile);
  return options;
}

/** Connects; rejects with a classified BrokerCheckError. */
export function connectBroker(deviceId: string, p: PlatformConfig, clientSuffix = 'check'): Promise<MqttClient> {
  let options: IClientOptions;
  try {
    options = clientOptions(deviceId, p, clientSuffix);
  } catch (e) {
    return Promise.reject(new BrokerCheckError('broker-tls-failed', `cannot read the TLS files: ${errorMessage(e)}`));
  }
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(p.mqttUrl, options);
    let settled = false;
    const done = (e?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!e) return resolve(client);
      client.end(true);
      reject(new BrokerCheckError(classifyBrokerError(e), `cannot connect to ${p.mqttUrl}: ${errorMessage(e)}`));
    };
    const timer = setTimeout(() => done(new Error(`no CONNACK within ${p.connectTimeoutSec + 2} s`)), (p.connectTimeoutSec + 2) * 1000);
    client.once('connect', () => done());
    client.once('error', (e) => done(e));
    client.once('close', () => done(new Error('connection closed before the broker accepted it')));
  });
}

export async function closeClient(client: MqttClient): Promise<void> {
  await withTimeout(client.endAsync(false), 3000).catch(() => client.end(true));
}

/** The broker accepts the connection with these settings (CONNACK success). */
export async function checkBrokerLogin(config: Config): Promise<StepOutcome> {
  try {
    const client = await connectBroker(config.deviceId, config.platform);
    await closeClient(client);
    return pass(`connected to ${config.platform.mqttUrl}${config.platform.username ? ` as ${config.platform.username}` : ''}${config.platform.certFile ? ' with the device certificate' : ''}`);
  } catch (e) {
    const code = e instanceof BrokerCheckError ? e.code : 'broker-unreachable';
    return fail(code, errorMessage(e), brokerFix(code, config.platform.mqttUrl));
  }
}

/** The status birth a provisioned device would send, with the capabilities found. */
export function provisioningBirth(config: Config, bootId: string, capabilities: StatusMessage['capabilities'] = {}): StatusMessage {
  const status: StatusMessage = {
    online: true,
    ts: isoInZone(new Date(), config.timezone),
    deviceId: config.deviceId,
    bootId,
    agentVersion: agentVersion(),
    role: config.role,
    timetableVersion: null,
    capabilities: { cameras: config.cameras.map((c) => c.id), ...capabilities },
  };
  if (config.school) status.school = config.school;
  if (config.room) status.room = config.room;
  return status;
}

/**
 * Connects with the real settings, publishes the status birth (QoS 1, retained, as the agent
 * does) and checks that it comes back through a subscription to the device's status topic.
 * Where the broker does not permit the subscription, a PUBACK is the evidence. Afterwards the
 * retained status says `online: false, reason: "shutdown"` (the agent is not running yet); the
 * agent's own birth replaces it when it starts.
 */
export async function checkPlatformBirth(config: Config, capabilities: StatusMessage['capabilities'] = {}): Promise<StepOutcome> {
  let client: MqttClient;
  try {
    client = await connectBroker(config.deviceId, config.platform, 'provision');
  } catch (e) {
    const code = e instanceof BrokerCheckError ? e.code : 'broker-unreachable';
    return fail(code, errorMessage(e), brokerFix(code, config.platform.mqttUrl));
  }
  const topic = `${deviceRoot(config.deviceId)}status`;
  const bootId = `provision-${randomBytes(4).toString('hex')}`;
  const birth = provisioningBirth(config, bootId, capabilities);
  const contract = new Contract();
  const checked = contract.validate('status', birth);
  if (!checked.ok) {
    await closeClient(client);
    return fail('config-invalid', `the status birth would not pass the platform's schema: ${checked.problems.join('; ')}`, 'check school and room (at most 128 characters) and the device id');
  }
  try {
    let echoed: (() => void) | undefined;
    const arrived = new Promise<void>((resolve) => (echoed = resolve));
    client.on('message', (t, payload) => {
      if (t !== topic) return;
      try {
        if ((JSON.parse(payload.toString()) as { bootId?: string }).bootId === bootId) echoed?.();
      } catch {
        // another publisher's malformed status: not ours
      }
    });
    const granted = await withTimeout(client.subscribeAsync(topic, { qos: 1 }), 10_000).catch(() => []);
    const subscribed = granted.length > 0 && granted.every((g) => g.qos < 128);
    await withTimeout(client.publishAsync(topic, JSON.stringify(birth), { qos: 1, retain: true }), 10_000);
    let how: string;
    if (subscribed) {
      const back = await withTimeout(arrived, 10_000).then(
        () => true,
        () => false,
      );
      if (!back) {
        return fail('broker-publish-refused', `the broker acknowledged the status birth on ${topic} but did not deliver it back`, 'ask the platform operator whether this device may publish to its status topic (ACL)');
      }
      how = 'delivered back through a subscription';
    } else {
      how = 'acknowledged (PUBACK); the broker does not let this device subscribe to its own status, so delivery was not seen';
    }
    const death: StatusMessage = { online: false, ts: isoInZone(new Date(), config.timezone), deviceId: config.deviceId, bootId, reason: 'shutdown' };
    await withTimeout(client.publishAsync(topic, JSON.stringify(death), { qos: 1, retain: true }), 10_000);
    return pass(`status birth ${how}`, { topic, bootId, subscribed });
  } catch (e) {
    return fail('broker-publish-refused', `publishing the status birth failed: ${errorMessage(e)}`, 'ask the platform operator whether this device may publish to its status topic (ACL)');
  } finally {
    await closeClient(client);
  }
}

export interface UplinkMeasure {
  bytes: number;
  ms: number;
  kbps: number;
  complete: boolean;
}

/**
 * Uplink throughput to the broker: `totalBytes` in 64 KiB QoS 1 messages to
 * `classroom/v1/{id}/diag/uplink-test` (not retained), timed from the first byte handed to the
 * socket to the last PUBACK. A PUBACK means the broker received the whole message, so the
 * figure is what actually crossed the link end to end, including TCP's ramp-up and the
 * broker's own handling: a lower bound for the uplink on that path (the media server may be
 * elsewhere). Stops after `maxMs` and reports what was acknowledged by then.
 */
export async function measureUplink(client: MqttClient, deviceId: string, totalBytes: number, maxMs = 20_000): Promise<UplinkMeasure> {
  const chunk = 64 * 1024;
  const topic = `${deviceRoot(deviceId)}diag/uplink-test`;
  const payload = randomBytes(chunk);
  const count = Math.max(1, Math.ceil(totalBytes / chunk));
  let acked = 0;
  const t0 = performance.now();
  const all = Promise.all(
    Array.from({ length: count }, () =>
      client.publishAsync(topic, payload, { qos: 1, retain: false }).then(() => {
        acked += chunk;
      }),
    ),
  );
  const complete = await withTimeout(all, maxMs).then(
    () => true,
    () => false,
  );
  const ms = Math.max(1, performance.now() - t0);
  return { bytes: acked, ms: Math.round(ms), kbps: Math.round((acked * 8) / ms), complete };
}

/** The uplink check: fails below `floorKbps` (the stream's lowest bitrate), warns below `wantKbps`. */
export async function checkUplink(config: Config, totalBytes: number, floorKbps: number, wantKbps: number): Promise<StepOutcome> {
  let client: MqttClient;
  try {
    client = await connectBroker(config.deviceId, config.platform, 'uplink');
  } catch (e) {
    return { status: 'skip', detail: `not measured: ${errorMessage(e)}` };
  }
  try {
    const m = await measureUplink(client, config.deviceId, totalBytes);
    const what = `${(m.bytes / 1048576).toFixed(1)} MiB in ${(m.ms / 1000).toFixed(1)} s: ${m.kbps} kbit/s to the broker${m.complete ? '' : ' (stopped early)'}`;
    if (m.bytes === 0) return fail('uplink-too-slow', `nothing was acknowledged within ${(m.ms / 1000).toFixed(0)} s`, 'the uplink is not carrying data: check the 5G router and its signal', m);
    if (m.kbps < floorKbps) return fail('uplink-too-slow', what, `the stream needs at least ${floorKbps} kbit/s: move the 5G router or antenna for a better signal, or lower media.uplink.bitrate`, m);
    if (m.kbps < wantKbps) return warn(what, `below the stream's starting bitrate ${wantKbps} kbit/s: lessons will stream at reduced quality`, m);
    return pass(what, m);
  } catch (e) {
    return fail('uplink-too-slow', `measuring failed: ${errorMessage(e)}`, 'check the uplink and the broker');
  } finally {
    await closeClient(client);
  }
}

/** A TCP connection to host:port opens within `timeoutMs`. */
export function tcpReachable(host: string, port: number, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
  });
}

/**
 * An SRT caller handshake with srt-live-transmit (the SRT library's own tool): it prints
 * "SRT target connected" once the listener accepted the connection, stream id and passphrase
 * included. Nothing is sent; it is stopped after the handshake.
 */
export function srtHandshake(target: { host: string; port: number; streamId?: string; passphrase?: string; pbkeylen?: number }, timeoutMs = 8000): Promise<string | undefined> {
  const query = [
    'mode=caller',
    ...(target.streamId ? [`streamid=${encodeURIComponent(target.streamId)}`] : []),
    ...(target.passphrase ? [`passphrase=${encodeURIComponent(target.passphrase)}`] : []),
    ...(target.pbkeylen ? [`pbkeylen=${target.pbkeylen}`] : []),
  ].join('&');
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return new Promise((resolve) => {
    // Input from a pipe that stays open: srt-live-transmit needs a readable source to start.
    const proc = spawn('srt-live-transmit', ['-v', `-t:${Math.ceil(timeoutMs / 1000)}`, 'file://con', `srt://${host}:${target.port}?${query}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    let done = false;
    const finish = (why: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      resolve(why);
    };
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (text.includes('SRT target connected')) finish(undefined);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.stdin.on('error', () => undefined);
    const timer = setTimeout(() => finish(`no SRT handshake within ${timeoutMs} ms`), timeoutMs + 2000);
    proc.once('error', (e) => finish(`cannot run srt-live-transmit (provisioning/bootstrap.sh installs srt-tools): ${e.message}`));
    proc.once('close', () => {
      const reason = /(Connection setup failure[^\n]*|connection rejected[^\n]*|ERROR[^\n]*)/i.exec(text)?.[1];
      finish(reason ? reason.trim() : 'the SRT listener did not accept the connection');
    });
  });
}

/** Whether the media server for a target answers: TCP for RTMP, an SRT handshake for SRT callers. */
export async function checkMediaServer(target: MediaTarget): Promise<StepOutcome> {
  if (target.protocol === 'rtmp') {
    const why = await tcpReachable(target.host, target.port);
    return why
      ? fail('media-server-unreachable', `RTMP server ${target.host}:${target.port}: ${why}`, 'check media.uplink.urlTemplate and that the firewall lets TCP out to that port; ask the platform whether the media server is up')
      : pass(`RTMP server ${target.host}:${target.port} accepts TCP connections`);
  }
  if (target.mode === 'listener') return { status: 'skip', detail: 'SRT in listener mode: the media server connects to this kit' };
  const why = await srtHandshake(target);
  return why
    ? fail('media-server-unreachable', `SRT server ${target.host}:${target.port}: ${why}`, 'check media.uplink.urlTemplate (host, port, streamid, passphrase) and that the firewall lets UDP out to that port')
    : pass(`SRT server ${target.host}:${target.port} completed a handshake`);
}
