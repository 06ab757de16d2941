import mqtt, { type MqttClient, type IClientPublishOptions } from 'mqtt';
import { contractProblems, schemaForTopic } from './contract.js';
import { waitUntil } from './tmp.js';

export interface Reply<T = Record<string, unknown>> {
  requestId: string;
  command: string;
  ts: string;
  ok: boolean;
  result?: T;
  error?: { code: string; message: string };
}

export interface Seen {
  topic: string;
  subtopic: string;
  deviceId: string;
  payload: unknown;
  raw: string;
  retain: boolean;
  properties?: { correlationData?: Buffer };
}

/**
 * Stands in for the city platform in tests: a real MQTT client that watches every device topic,
 * validates each device → platform payload against the published contract, and sends commands
 * and timetables. `invalid` lists every payload that failed the contract; suites assert it empty.
 */
export class FakePlatform {
  readonly seen: Seen[] = [];
  readonly invalid: { topic: string; problems: string[]; raw: string }[] = [];
  private client!: MqttClient;

  constructor(
    private readonly url: string,
    private readonly protocolVersion: 4 | 5 = 5,
  ) {}

  async start(): Promise<void> {
    // A persistent session, like the real platform's: what devices send while the broker
    // restarts and this client is not yet back is queued for it, not lost.
    this.client = await mqtt.connectAsync(this.url, {
      clientId: `platform-${Math.random().toString(16).slice(2)}`,
      protocolVersion: this.protocolVersion,
      reconnectPeriod: 300,
      clean: false,
      ...(this.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    });
    this.client.on('message', (topic, payload, packet) => {
      const m = /^classroom\/v1\/([^/]+)\/(.+)$/.exec(topic);
      const raw = payload.toString('utf8');
      let value: unknown = undefined;
      try {
        value = raw ? JSON.parse(raw) : undefined;
      } catch {
        value = undefined;
      }
      const subtopic = m?.[2] ?? topic;
      const schema = schemaForTopic(subtopic);
      if (schema && raw) {
        const problems = value === undefined ? ['not JSON'] : contractProblems(schema, value);
        if (problems.length) this.invalid.push({ topic, problems, raw });
      }
      this.seen.push({ topic, subtopic, deviceId: m?.[1] ?? '', payload: value, raw, retain: packet.retain, properties: packet.properties });
    });
    await this.client.subscribeAsync({ 'classroom/v1/#': { qos: 1 }, 'platform/responses/#': { qos: 1 } });
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true);
  }

  of(subtopic: string, deviceId?: string): Seen[] {
    return this.seen.filter((s) => s.subtopic === subtopic && (!deviceId || s.deviceId === deviceId));
  }

  payloads<T>(subtopic: string, deviceId?: string): T[] {
    return this.of(subtopic, deviceId).map((s) => s.payload as T);
  }

  async waitFor<T>(subtopic: string, pred: (p: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
    return waitUntil(() => this.payloads<T>(subtopic).find(pred), what, timeoutMs);
  }

  async command(deviceId: string, name: string, body: unknown, opts: IClientPublishOptions = {}): Promise<void> {
    const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    await this.client.publishAsync(`classroom/v1/${deviceId}/cmd/${name}`, payload, { qos: 1, ...opts });
  }

  async reply<T = Record<string, unknown>>(deviceId: string, name: string, body: { requestId: string } & Record<string, unknown>, timeoutMs = 15_000): Promise<Reply<T>> {
    await this.command(deviceId, name, body);
    return this.waitFor<Reply<T>>(
      'reply',
      (r) => r.requestId === body.requestId,
      `reply to ${name} ${body.requestId}`,
      timeoutMs,
    );
  }

  async publishTimetable(deviceId: string, body: unknown): Promise<void> {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    await this.client.publishAsync(`classroom/v1/${deviceId}/timetable`, payload, { qos: 1, retain: true });
  }

  get mqtt(): MqttClient {
    return this.client;
  }
}
