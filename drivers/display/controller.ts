/**
 * One classroom display (interactive flat panel) behind a channel (RS-232 with a protocol
 * codec, or HDMI-CEC). Offers what a lesson needs (power on/off, select an input, read the
 * status) and reports its health to the agent.
 *
 * Rules it keeps:
 * - One request in flight at a time: requests queue, each waits for its answer or timeout.
 * - Every request settles: a timeout per try, a few tries with backoff between them, and
 *   everything fails at once when the port goes away.
 * - The port vanishing and returning is recovered by reopening with backoff; while it is
 *   missing the display is `absent`. A display that stops answering is a `fault`; it is `ok`
 *   again with the next answer. A periodic status query keeps this current (and notices an
 *   unplugged USB serial adapter, which serialport alone may not report).
 */
import { Backoff, sleep } from '../../agent/backoff.js';
import { clampDetail, type DeviceHealth, type HealthSource } from '../../agent/devices.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import type { ChannelClose, DisplayChannel } from './channel.js';
import { DisplayArgumentError, DisplayError, DisplayPortError, DisplayRefusedError, DisplayTimeoutError } from './errors.js';
import { describeRequest, normaliseInput, type DisplayOutcome, type DisplayRequest, type PowerState } from './protocol.js';

export type DisplayState = 'stopped' | 'connecting' | 'open' | 'absent' | 'failed';

export interface DisplayOptions {
  /** The device's name in health reports (`panel` unless the config says otherwise). */
  id: string;
  channel: DisplayChannel;
  /** A model label for health reports, e.g. `Samsung MDC`. */
  model?: string;
  log?: Logger;
  /** Wait this long for each answer. Panels answer RS-232 within ~100 ms; CEC is slower. */
  timeoutMs?: number;
  /** Sends per request before giving up (1 = no retry). */
  tries?: number;
  /** Pause before a retry: grows from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Liveness: a power status query on opening and this often after (0: never). */
  pollIntervalMs?: number;
  /** Keep reopening a port that vanished or failed; off for one-shot CLI use. */
  reconnect?: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Reopen the port after this many requests in a row got no answer (serial only; 0: never). */
  reopenAfterFailures?: number;
  random?: () => number;
}

export interface DisplayStatus {
  /** `unknown` where the profile or command table cannot read it. */
  power: PowerState | 'unknown';
  /** The input's configured name (or the panel's raw code); null where it cannot be read. */
  input: string | null;
}

export type DisplayHealthListener = (now: DeviceHealth, before: DeviceHealth) => void;

export class Display implements HealthSource {
  private readonly log: Logger;
  private readonly listeners = new Set<DisplayHealthListener>();
  private current: DeviceHealth;
  private state_: DisplayState = 'stopped';
  private detail_: string | undefined;
  private running = false;
  private answered = false;
  private lastFailure: string | undefined;
  private failuresInARow = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;
  private backoff: Backoff | undefined;
  private unsubscribe: (() => void)[] = [];
  private abort = new AbortController();
  private lastPower: PowerState | undefined;
  private lastInput: string | undefined;

  constructor(private readonly options: DisplayOptions) {
    this.log = (options.log ?? silentLogger()).child({ module: 'display', display: options.id, port: options.channel.name });
    // Presumed working until the first check says otherwise (as cameras are): a display broken
    // at boot raises a fault, one that works raises nothing.
    this.current = { kind: 'display', id: options.id, status: 'ok', detail: 'not checked yet', ...(options.model ? { model: options.model } : {}) };
  }

  get id(): string {
    return this.options.id;
  }

  /** The serial path or CEC device. */
  get port(): string {
    return this.options.channel.name;
  }

  get state(): DisplayState {
    return this.state_;
  }

  /** Why the port is not open (the last open or disconnect error). */
  get stateDetail(): string | undefined {
    return this.detail_;
  }

  /** Named inputs this display can select. */
  get inputs(): readonly string[] {
    return this.options.channel.inputs;
  }

  /** What the last answer or command said, without asking the panel. */
  get lastKnown(): { power?: PowerState; input?: string } {
    return { ...(this.lastPower ? { power: this.lastPower } : {}), ...(this.lastInput ? { input: this.lastInput } : {}) };
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? (this.options.channel.kind === 'cec' ? 3000 : 1000);
  }

  // -------------------------------------------------------------------------------------------
  // HealthSource
  // -------------------------------------------------------------------------------------------

  health(): DeviceHealth {
    return { ...this.current };
  }

  onHealthChange(listener: DisplayHealthListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private setHealth(status: DeviceHealth['status'], detail?: string): void {
    const model = this.options.model;
    const next: DeviceHealth = { kind: 'display', id: this.options.id, status, ...(model ? { model } : {}), ...(detail ? { detail: clampDetail(detail) } : {}) };
    const before = this.current;
    this.current = next;
    // Listeners hear about status changes; a new wording of the same state is not an event.
    if (before.status === next.status) return;
    this.log.info({ from: before.status, to: next.status, detail: next.detail }, 'display health changed');
    for (const l of [...this.listeners]) {
      try {
        l({ ...next }, { ...before });
      } catch (e) {
        this.log.error({ err: e }, 'display health listener failed');
      }
    }
  }

  private refreshHealth(): void {
    if (!this.running) return;
    if (this.state_ === 'absent') return this.setHealth('absent', this.detail_ ?? `${this.port} is missing`);
    if (this.state_ === 'failed') return this.setHealth('fault', this.detail_ ?? `${this.port} failed`);
    if (this.lastFailure) return this.setHealth('fault', this.lastFailure);
    if (this.state_ !== 'open' || !this.answered) return;
    if (!this.options.channel.supports({ op: 'power?' })) return this.setHealth('ok', 'no status query for this display: only its port is watched');
    this.setHealth('ok');
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  /**
   * Open the port and start the liveness poll. With reconnect (the default) a port that is
   * missing or fails does not reject: the display reports `absent`/`fault` and keeps trying.
   */
  async start(): Promise<void> {
    if (this.running) return this.connecting;
    this.running = true;
    this.abort = new AbortController();
    this.backoff = new Backoff({
      minMs: this.options.reconnectMinMs ?? 500,
      maxMs: this.options.reconnectMaxMs ?? 30_000,
      ...(this.options.random ? { random: this.options.random } : {}),
    });
    this.unsubscribe = [this.options.channel.onClose((e) => this.onChannelClose(e))];
    this.connecting = this.connect();
    await this.connecting;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.options.channel.close();
    await this.probing?.catch(() => undefined);
    await this.queue.catch(() => undefined);
    this.setState('stopped');
  }

  private setState(state: DisplayState, detail?: string): void {
    this.state_ = state;
    this.detail_ = detail;
    if (state !== 'open') this.answered = false;
    // A fault survives a mere reopen (a silent panel must stay a fault through that), but not
    // a missing or failed port, which says more.
    if (state === 'absent' || state === 'failed' || state === 'stopped') this.lastFailure = undefined;
    this.refreshHealth();
  }

  private async connect(): Promise<void> {
    this.setState('connecting', this.detail_);
    try {
      await this.options.channel.open();
    } catch (e) {
      if (!this.running) return;
      const absent = e instanceof DisplayPortError && e.absent;
      const message = e instanceof Error ? e.message : String(e);
      this.setState(absent ? 'absent' : 'failed', message);
      if (this.options.reconnect === false) {
        this.running = false;
        for (const u of this.unsubscribe) u();
        this.unsubscribe = [];
        throw e instanceof DisplayError ? e : new DisplayPortError(message, this.port, absent, { cause: e });
      }
      this.log.debug({ err: e }, 'display port not open');
      this.scheduleReconnect();
      return;
    }
    if (!this.running) {
      await this.options.channel.close();
      return;
    }
    this.failuresInARow = 0;
    this.setState('open');
    if (!this.options.channel.supports({ op: 'power?' })) {
      // Nothing to ask: an open port is all that can be known.
      this.answered = true;
      this.backoff?.reset();
      this.refreshHealth();
    }
    this.probeSoon(0);
  }

  private scheduleReconnect(delayMs?: number): void {
    if (!this.running || this.reconnectTimer || this.options.reconnect === false) return;
    const delay = delayMs ?? this.backoff?.next() ?? 1000;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.running) return;
      this.connecting = this.connect();
      this.connecting.catch((e: unknown) => this.log.error({ err: e }, 'display reconnect failed'));
    }, delay);
  }

  private onChannelClose(e: ChannelClose): void {
    if (!this.running) return;
    const why = e.error ? `: ${e.error.message}` : '';
    const message = `${this.port} ${e.disconnected ? 'disconnected' : 'closed'}${why}`;
    this.log.warn(message);
    if (this.options.reconnect === false) {
      this.setState('failed', message);
      return;
    }
    // Reopen at once: a vanished port then reports `absent`, one that is still there comes
    // back, and a flaky one backs off from there.
    this.setState('connecting', message);
    this.scheduleReconnect(0);
  }

  /** Close and reopen the port (requests get no answer at all: possibly a vanished adapter). */
  private reopen(reason: string): void {
    if (!this.running || this.state_ !== 'open' || this.options.reconnect === false) return;
    this.log.warn({ reason }, 'display port reopening');
    this.setState('connecting', reason);
    this.options.channel
      .close()
      .catch((e: unknown) => this.log.warn({ err: e }, 'display close before reopen failed'))
      .finally(() => this.scheduleReconnect(this.backoff?.next() ?? 500));
  }

  private probeSoon(delayMs: number): void {
    if (!this.running) return;
    clearTimeout(this.pollTimer);
    const interval = this.options.pollIntervalMs ?? 10_000;
    // No poll (one-shot CLI use): not even the first query.
    if (interval <= 0) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.probing) return;
      this.probing = this.probe().finally(() => {
        this.probing = undefined;
        if (interval > 0) this.probeSoon(interval);
      });
    }, delayMs);
  }

  private async probe(): Promise<void> {
    if (this.state_ !== 'open' || !this.options.channel.supports({ op: 'power?' })) return;
    try {
      await this.exec({ op: 'power?' });
    } catch (e) {
      this.log.debug({ err: e }, 'display status query failed');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------------

  /** Queue work on the port: one at a time, in order. */
  private serialise<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private exec(request: DisplayRequest): Promise<DisplayOutcome> {
    return this.serialise(() => this.send(request));
  }

  private where(): string {
    return `display ${this.options.id} on ${this.port}`;
  }

  private async send(request: DisplayRequest): Promise<DisplayOutcome> {
    const what = describeRequest(request);
    if (!this.options.channel.supports(request)) {
      const detail =
        request.op === 'input' ? `unknown input "${request.input}"; known: ${this.inputs.join(', ') || 'none'}` : `this display cannot do ${what}`;
      throw new DisplayArgumentError(`${this.where()}: ${detail}`, this.port);
    }
    if (this.state_ !== 'open') {
      const why = this.detail_ ? `: ${this.detail_}` : '';
      throw new DisplayPortError(`${what} not sent to ${this.where()}: the port is ${this.state_ === 'connecting' ? 'reopening' : this.state_}${why}`, this.port, this.state_ === 'absent');
    }
    const tries = Math.max(1, this.options.tries ?? 3);
    const retry = new Backoff({ minMs: this.options.retryMinMs ?? 100, maxMs: this.options.retryMaxMs ?? 1000, ...(this.options.random ? { random: this.options.random } : {}) });
    for (let attempt = 1; ; attempt++) {
      let outcome: DisplayOutcome;
      try {
        outcome = await this.options.channel.exchange(request, this.timeoutMs);
      } catch (e) {
        if (!(e instanceof DisplayTimeoutError)) throw e;
        if (attempt < tries && this.running && this.options.channel.isOpen) {
          this.log.debug({ request: what, attempt }, 'display did not answer; retrying');
          await sleep(retry.next(), this.abort.signal);
          if (!this.running) throw new DisplayPortError(`${what} to ${this.where()} abandoned: the display was stopped`, this.port, false);
          continue;
        }
        const garbage = e.garbage ? `; it sent only bytes that are not a reply (${e.garbage})` : '';
        const message = `no reply to ${what} from ${this.where()} after ${attempt === 1 ? '1 try' : `${attempt} tries`}${garbage}`;
        this.noAnswer(message);
        throw new DisplayTimeoutError(message, this.port, attempt, e.garbage);
      }
      this.onAnswer(outcome);
      if (outcome.kind === 'refused') throw new DisplayRefusedError(`${this.where()} refused ${what}: ${outcome.reason}`, this.port, outcome.reason);
      return outcome;
    }
  }

  private onAnswer(outcome: DisplayOutcome): void {
    this.answered = true;
    this.lastFailure = undefined;
    this.failuresInARow = 0;
    this.backoff?.reset();
    if (outcome.kind === 'ok') {
      if (outcome.power) this.lastPower = outcome.power;
      if (outcome.input) this.lastInput = outcome.input;
    }
    this.refreshHealth();
  }

  private noAnswer(message: string): void {
    this.lastFailure = message;
    this.failuresInARow++;
    this.refreshHealth();
    const limit = this.options.reopenAfterFailures ?? 2;
    if (this.options.channel.kind === 'serial' && limit > 0 && this.failuresInARow >= limit) {
      this.failuresInARow = 0;
      this.reopen(`${limit} requests in a row got no answer`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Operations
  // -------------------------------------------------------------------------------------------

  async powerOn(): Promise<void> {
    await this.exec({ op: 'power', on: true });
  }

  async powerOff(): Promise<void> {
    await this.exec({ op: 'power', on: false });
  }

  /** Show the named input (`hdmi1`, or a name from the config's input table). */
  async selectInput(name: string): Promise<void> {
    await this.exec({ op: 'input', input: normaliseInput(name) });
  }

  /**
   * Power (and input, where the panel can tell) as the panel reports them now. Both queries
   * run back to back, so no other request comes between them.
   */
  async status(): Promise<DisplayStatus> {
    const channel = this.options.channel;
    const canPower = channel.supports({ op: 'power?' });
    const canInput = channel.supports({ op: 'input?' });
    return this.serialise(async () => {
      if (!canPower && !canInput && this.state_ !== 'open') {
        throw new DisplayPortError(`status of ${this.where()} unknown: the port is ${this.state_}${this.detail_ ? `: ${this.detail_}` : ''}`, this.port, this.state_ === 'absent');
      }
      let power: DisplayStatus['power'] = 'unknown';
      let input: string | null = null;
      if (canPower) {
        const r = await this.send({ op: 'power?' });
        if (r.kind === 'ok' && r.power) power = r.power;
      }
      if (canInput) {
        const r = await this.send({ op: 'input?' });
        if (r.kind === 'ok' && r.input) input = r.input;
      }
      return { power, input };
    });
  }
}
