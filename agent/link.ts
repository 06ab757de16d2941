import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { Backoff, withTimeout } from './backoff.js';
import type { Logger } from './log.js';
import type { PlatformConfig } from './config/schema.js';
import type { Publisher, PublishOptions } from './outbox.js';
import type { StatusMessage } from './contract/types.js';
import { errorMessage } from './errors.js';

export const TOPIC_ROOT = 'classroom/v1';

export function deviceRoot(deviceId: string): string {
  return `${TOPIC_ROOT}/${deviceId}/`;
}

/** An incoming message on the device's root, with what a reply needs. */
export interface IncomingMessage {
  /** The topic below the device root (`cmd/health.get`, `timetable`). */
  subtopic: string;
  payload: Buffer;
  retained: boolean;
  responseTopic?: string;
  correlationData?: Buffer;
}

export interface LinkHandlers {
  /** Called on every successful connect, after the birth is published and topics subscribed. */
  onConnect(publisher: Publisher): void;
  onDisconnect(): void;
  onMessage(msg: IncomingMessage): void;
}

export interface LinkOptions {
  deviceId: string;
  platform: PlatformConfig;
  /** The status payload to publish as birth; called at each connect (it carries fresh figures). */
  birth: () => StatusMessage;
  /** The Last Will and the clean-shutdown status, both `online: false`. */
  death: (reason: 'connection-lost' | 'shutdown') => StatusMessage;
  log: Logger;
  handlers: LinkHandlers;
  /** A connection that lasted this long resets the reconnect backoff (no storm on flapping). */
  stableAfterMs?: number;
}

/**
 * The platform link over MQTT (5, or 3.1.1 for older city brokers): status birth with a Last
 * Will, subscriptions to commands and the retained timetable, and reconnects with jittered
 * exponential backoff. Each connection attempt uses a fresh client, so nothing a dropped
 * connection had in flight is replayed behind the outbox's back: the outbox decides what is
 * resent, in windows, from its own durable store.
 */
export class PlatformLink implements Publisher {
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private isConnected = false;
  private connectCount = 0;
  private lastError: string | undefined;
  private connectedSince: Date | undefined;
  private brokerReceiveMaximum = 65535;

  constructor(private readonly opts: LinkOptions) {
    this.backoff = new Backoff({
      minMs: opts.platform.reconnectMinSec * 1000,
      maxMs: opts.platform.reconnectMaxSec * 1000,
    });
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get root(): string {
    return deviceRoot(this.opts.deviceId);
  }

  /** Connection facts for `lectern status` and the uplink's health. */
  state(): { connected: boolean; since: Date | undefined; connects: number; lastError: string | undefined } {
    return { connected: this.isConnected, since: this.connectedSince, connects: this.connectCount, lastError: this.lastError };
  }

  start(): void {
    this.stopping = false;
    this.connect();
  }

  /** Publishes the clean-shutdown status and disconnects; bounded by `timeoutMs`. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.stableTimer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // client.connected, not isConnected: a stop right after the birth, before the subscriptions
    // are confirmed, must still leave the shutdown status rather than the stale birth.
    if (client.connected) {
      const death = JSON.stringify(this.opts.death('shutdown'));
      await withTimeout(client.publishAsync(`${this.root}status`, death, { qos: 1, retain: true }), timeoutMs).catch(
        (e: unknown) => this.opts.log.warn({ err: e }, 'could not publish shutdown status'),
      );
    }
    this.markDown();
    // A clean DISCONNECT: the broker discards the Last Will, the retained shutdown status stands.
    await withTimeout(client.endAsync(false), timeoutMs).catch(() => client.end(true));
  }

  inflightLimit(): number {
    return this.brokerReceiveMaximum;
  }

  publish(topic: string, payload: string, opts: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client || !this.isConnected) return Promise.reject(new Error('not connected to the platform broker'));
    return new Promise((resolve, reject) => {
      const properties =
        this.opts.platform.protocolVersion === 5 && opts.properties?.correlationData
          ? { correlationData: opts.properties.correlationData }
          : undefined;
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false, properties }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  /** Publishes under the device root now, or not at all (status, heartbeats: never queued). */
  publishNow(subtopic: string, payload: unknown, qos: 0 | 1, retain = false): Promise<void> {
    return this.publish(this.root + subtopic, JSON.stringify(payload), { qos, retain });
  }

  private connect(): void {
    if (this.stopping) return;
    const p = this.opts.platform;
    const will = this.opts.death('connection-lost');
    const options: IClientOptions = {
      clientId: this.opts.deviceId,
      protocolVersion: p.protocolVersion,
      clean: false,
      keepalive: p.keepaliveSec,
      connectTimeout: p.connectTimeoutSec * 1000,
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
      username: p.username,
      password: p.password,
      rejectUnauthorized: p.rejectUnauthorized,
      will: { topic: `${this.root}status`, payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
      properties: p.protocolVersion === 5 ? { sessionExpiryInterval: p.sessionExpirySec } : undefined,
    };
    try {
      if (p.caFile) options.ca = readFileSync(p.caFile);
      if (p.certFile) options.cert = readFileSync(p.certFile);
      if (p.keyFile) options.key = readFileSync(p.keyFile);
    } catch (e) {
      this.lastError = `cannot read TLS files: ${errorMessage(e)}`;
      this.opts.log.error({ err: e }, 'cannot read TLS files; will retry');
      this.scheduleReconnect();
      return;
    }
    const client = mqtt.connect(p.mqttUrl, options);
    this.client = client;
    client.handleMessage = (packet, done) => {
      this.onPacket(packet);
      done();
    };
    client.on('connect', (connack) => {
      if (client !== this.client) return;
      const max = connack.properties?.receiveMaximum;
      this.brokerReceiveMaximum = typeof max === 'number' && max > 0 ? max : 65535;
      this.onConnected(client).catch((e: unknown) => {
        this.opts.log.error({ err: e }, 'connection set-up failed; reconnecting');
        client.end(true);
      });
    });
    client.on('error', (e) => {
      this.lastError = errorMessage(e);
      this.opts.log.warn({ err: e, url: p.mqttUrl }, 'platform link error');
    });
    client.on('close', () => {
      if (client !== this.client) return;
      const wasUp = this.isConnected;
      this.markDown();
      client.end(true);
      if (wasUp) this.opts.log.warn('disconnected from the platform broker');
      this.scheduleReconnect();
    });
  }

  private async onConnected(client: MqttClient): Promise<void> {
    this.connectCount++;
    // Birth first: the platform sees `online` before any other message of this connection.
    await client.publishAsync(`${this.root}status`, JSON.stringify(this.opts.birth()), { qos: 1, retain: true });
    await client.subscribeAsync(
      { [`${this.root}cmd/+`]: { qos: 1 }, [`${this.root}timetable`]: { qos: 1 } },
    );
    if (client !== this.client) return;
    this.isConnected = true;
    this.connectedSince = new Date();
    this.lastError = undefined;
    this.opts.log.info({ url: this.opts.platform.mqttUrl, connects: this.connectCount }, 'connected to the platform broker');
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.opts.stableAfterMs ?? 30_000);
    this.stableTimer.unref();
    this.opts.handlers.onConnect(this);
  }

  /** Republishes the birth (for example when the timetable version changed). */
  async republishBirth(): Promise<void> {
    if (!this.isConnected) return;
    await this.publishNow('status', this.opts.birth(), 1, true);
  }

  private markDown(): void {
    clearTimeout(this.stableTimer);
    const was = this.isConnected;
    this.isConnected = false;
    this.connectedSince = undefined;
    if (was) this.opts.handlers.onDisconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.opts.log.info({ delayMs: delay, attempt: this.backoff.attempts }, 'reconnecting to the platform broker');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  private onPacket(packet: IPublishPacket): void {
    const topic = packet.topic;
    if (!topic.startsWith(this.root)) return;
    const props = packet.properties;
    try {
      this.opts.handlers.onMessage({
        subtopic: topic.slice(this.root.length),
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        retained: packet.retain,
        responseTopic: props?.responseTopic,
        correlationData: props?.correlationData,
      });
    } catch (e) {
      this.opts.log.error({ err: e, topic }, 'message handler failed');
    }
  }
}
