/**
 * One VISCA bus: a serial line (possibly a daisy chain of up to seven cameras), a raw TCP
 * stream or a VISCA over IP camera. Depends only on the transport interface.
 *
 * Rules it keeps:
 * - One message in flight per bus until its ACK, answer or error: only then can the next go,
 *   otherwise an ACK cannot be matched to the command it belongs to. A command then waits in
 *   its socket (1 or 2) for Completion, which the camera reports by socket number.
 * - Every promise settles: a short timeout for the ACK/answer (with retries), a long one per
 *   command for Completion, and everything is rejected when the bus closes or disconnects.
 * - Cameras are imperfect; the quirks handled are listed where they are handled.
 */
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { Backoff } from '../../agent/backoff.js';
import {
  BROADCAST,
  MAX_ADDRESS,
  MIN_ADDRESS,
  addressSet,
  cancel,
  decodePowerAnswer,
  decodeReply,
  errorText,
  hex,
  ifClear,
  isPlausibleReply,
  isReplyHeader,
  type PowerState,
  type RequestOp,
  type ViscaReply,
  type ViscaRequest,
} from './codec.js';
import { ViscaBusError, ViscaCameraError, ViscaCancelledError, ViscaError, ViscaPoweredOffError, ViscaTimeoutError } from './errors.js';
import { ViscaFramer } from './framing.js';
import { Listeners, type TransportClose, type ViscaTransport } from './transport.js';

export type BusState = 'stopped' | 'connecting' | 'open' | 'absent' | 'failed';

export interface ControllerOptions {
  transport: ViscaTransport;
  log?: Logger;
  /** Wait for an ACK, an inquiry answer or an error. Cameras answer within ~67 ms. */
  ackTimeoutMs?: number;
  /** Sends per message before giving up when no reply comes (1 = no retry). */
  tries?: number;
  /** Wait for Completion when the command has no longer default of its own. */
  completionTimeoutMs?: number;
  /** Pause before resending a command the camera refused with "buffer full". */
  bufferFullDelayMs?: number;
  /** Keep reopening a port that vanished or failed; off for one-shot CLI use. */
  reconnect?: boolean;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Run Address Set (and again on Network Change); default: when the transport carries a chain. */
  addressSet?: boolean;
  /** Reopen the port after this many requests in a row got no reply at all. */
  reopenAfterTimeouts?: number;
  /**
   * Least time between Address Sets run for Network Change: a camera that keeps announcing
   * itself must not keep the bus busy with Address Set.
   */
  networkChangeHoldoffMs?: number;
  random?: () => number;
}

export interface SendOptions {
  signal?: AbortSignal;
  ackTimeoutMs?: number;
  completionTimeoutMs?: number;
  tries?: number;
}

export interface SendResult {
  /** Commands: the socket the command ran in. */
  socket?: number;
  /** Inquiries: the data bytes of the answer. */
  data?: Uint8Array;
  /** Address Set: the address handed back after the last camera. */
  next?: number;
  /** Cancel: true when the camera cancelled something, false when the socket was empty. */
  cancelled?: boolean;
  /** Sends needed (1 = answered on the first try). */
  tries: number;
  /** From the last send to the ACK or answer. */
  replyMs: number;
  /** From the first send to the end (Completion for commands). */
  totalMs: number;
}

interface Pending {
  readonly id: number;
  /** 1–7, or 8 for broadcasts. */
  readonly address: number;
  readonly request: ViscaRequest;
  readonly ackTimeoutMs: number;
  readonly completionTimeoutMs: number;
  readonly maxTries: number;
  readonly resolve: (r: SendResult) => void;
  readonly reject: (e: Error) => void;
  settled: boolean;
  tries: number;
  bufferFullResends: number;
  firstSentAt: number;
  lastSentAt: number;
  replyMs: number;
  timer: NodeJS.Timeout | undefined;
  socket: number | undefined;
  waitingForSocket: boolean;
  cancelRequested: boolean;
  /** For cancel messages: the command they cancel. */
  target: Pending | undefined;
  detachAbort: (() => void) | undefined;
}

/** Completion takes seconds for moves; these are the defaults per kind of command. */
const COMPLETION_MS: Partial<Record<RequestOp, number>> = {
  'power.on': 20_000,
  'power.standby': 10_000,
  'pan-tilt.absolute': 15_000,
  'pan-tilt.relative': 15_000,
  'pan-tilt.home': 15_000,
  'pan-tilt.reset': 30_000,
  'preset.recall': 15_000,
  'zoom.direct': 10_000,
};

interface ControllerEvents {
  state: { state: BusState; detail?: string };
  'network-change': number;
  chain: number;
}

export class ViscaController {
  private readonly log: Logger;
  private readonly events: Listeners<ControllerEvents>;
  private readonly framer = new ViscaFramer({ isHeader: isReplyHeader, accept: isPlausibleReply });
  private queue: Pending[] = [];
  private inFlight: Pending | undefined;
  /** address → socket → the command executing there. */
  private readonly sockets = new Map<number, Map<number, Pending>>();
  /** `address:socket` ACKed when nothing was waiting (a late ACK after a retry). */
  private readonly orphans = new Set<string>();
  private readonly power = new Map<number, PowerState>();
  private readonly users = new Set<object>();
  private state_: BusState = 'stopped';
  private detail_: string | undefined;
  private chainLength_: number | undefined;
  private running = false;
  private nextId = 1;
  private consecutiveTimeouts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoff: Backoff | undefined;
  private unsubscribe: (() => void)[] = [];
  private connecting: Promise<void> | undefined;
  private lastAddressSetAt = -Infinity;
  private addressSetTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ControllerOptions) {
    this.log = (options.log ?? silentLogger()).child({ module: 'visca', port: options.transport.name });
    this.events = new Listeners<ControllerEvents>((e) => this.log.error({ err: e }, 'VISCA bus listener failed'));
  }

  /** The path or host:port of the bus. */
  get name(): string {
    return this.options.transport.name;
  }

  get transportKind(): string {
    return this.options.transport.kind;
  }

  get state(): BusState {
    return this.state_;
  }

  /** Why the bus is not open (the last open or disconnect error). */
  get stateDetail(): string | undefined {
    return this.detail_;
  }

  /** Cameras found by the last Address Set, if one was answered. */
  get chainLength(): number | undefined {
    return this.chainLength_;
  }

  /** Messages not yet settled: queued, in flight and executing (for diagnostics and tests). */
  get pending(): number {
    let executing = 0;
    for (const m of this.sockets.values()) executing += m.size;
    return this.queue.filter((p) => !p.settled).length + (this.inFlight ? 1 : 0) + executing;
  }

  /** What the controller last learned about a camera's power (answers and power commands). */
  powerState(address: number): PowerState | 'unknown' {
    return this.power.get(address) ?? 'unknown';
  }

  private get ackTimeoutMs(): number {
    return this.options.ackTimeoutMs ?? 500;
  }

  private get maxTries(): number {
    return Math.max(1, this.options.tries ?? 3);
  }

  private get addressSetEnabled(): boolean {
    return this.options.addressSet ?? this.options.transport.supportsAddressSet;
  }

  onState(listener: (state: BusState, detail: string | undefined) => void): () => void {
    return this.events.on('state', (e) => listener(e.state, e.detail));
  }

  /** A camera announced itself (`z0 38 FF`, sent on power-up). */
  onNetworkChange(listener: (address: number) => void): () => void {
    return this.events.on('network-change', listener);
  }

  /** Address Set answered: the number of cameras on the chain. */
  onChain(listener: (cameras: number) => void): () => void {
    return this.events.on('chain', listener);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  /**
   * Open the port, run Address Set and IF_Clear. With reconnect (the default) a port that is
   * missing or fails does not reject: the bus reports `absent`/`failed` and keeps trying.
   */
  async start(): Promise<void> {
    if (this.running) return this.connecting;
    this.running = true;
    this.backoff = new Backoff({
      minMs: this.options.reconnectMinMs ?? 500,
      maxMs: this.options.reconnectMaxMs ?? 30_000,
      ...(this.options.random ? { random: this.options.random } : {}),
    });
    const t = this.options.transport;
    this.unsubscribe = [
      t.on('data', (bytes) => this.onData(bytes)),
      t.on('close', (e) => this.onTransportClose(e)),
      t.on('error', (err) => this.log.warn({ err }, 'VISCA transport error')),
    ];
    this.connecting = this.connect();
    await this.connecting;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    clearTimeout(this.addressSetTimer);
    this.addressSetTimer = undefined;
    this.failAll(new ViscaBusError(`VISCA bus ${this.name} closed`, this.name, false));
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.options.transport.close();
    this.setState('stopped');
  }

  /** Shared buses: each camera attaches; the first starts the bus, the last stops it. */
  async attach(user: object): Promise<void> {
    this.users.add(user);
    await this.start();
  }

  async detach(user: object): Promise<void> {
    if (!this.users.delete(user)) return;
    if (this.users.size === 0) await this.stop();
  }

  private async connect(): Promise<void> {
    this.setState('connecting');
    try {
      await this.options.transport.open();
    } catch (e) {
      if (!this.running) return;
      const absent = e instanceof ViscaBusError && e.absent;
      const message = e instanceof Error ? e.message : String(e);
      this.failAll(new ViscaBusError(message, this.name, absent, { cause: e }));
      this.setState(absent ? 'absent' : 'failed', message);
      if (this.options.reconnect === false) {
        this.running = false;
        for (const u of this.unsubscribe) u();
        this.unsubscribe = [];
        throw e instanceof ViscaError ? e : new ViscaBusError(message, this.name, absent, { cause: e });
      }
      this.scheduleReconnect();
      return;
    }
    if (!this.running) {
      await this.options.transport.close();
      return;
    }
    this.framer.reset();
    this.consecutiveTimeouts = 0;
    // Queued ahead of anything a camera sends when it sees the bus open.
    const init: Promise<unknown>[] = [];
    // Each goes to the front of the queue: Address Set first, then IF_Clear.
    if (this.options.transport.supportsAddressSet) {
      init.push(this.submit(BROADCAST, ifClear(), {}, true));
      if (this.addressSetEnabled) init.push(this.submit(BROADCAST, addressSet(1), {}, true));
    } else {
      // VISCA over IP: one camera, always address 1.
      init.push(this.submit(1, ifClear(1), {}, true));
    }
    this.setState('open');
    this.pump();
    const results = await Promise.allSettled(init);
    for (const r of results) {
      if (r.status === 'rejected') this.log.warn({ err: r.reason as unknown }, 'VISCA bus initialisation message not answered');
    }
    if (results.some((r) => r.status === 'fulfilled')) this.backoff?.reset();
  }

  private scheduleReconnect(delayMs?: number): void {
    if (!this.running || this.reconnectTimer) return;
    const delay = delayMs ?? this.backoff?.next() ?? 1000;
    this.log.debug({ delay }, 'VISCA bus reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.running) return;
      this.connecting = this.connect();
      this.connecting.catch((e: unknown) => this.log.error({ err: e }, 'VISCA reconnect failed'));
    }, delay);
  }

  private onTransportClose(e: TransportClose): void {
    if (!this.running) return;
    const why = e.error ? `: ${e.error.message}` : '';
    const message = `VISCA bus ${this.name} ${e.disconnected ? 'disconnected' : 'closed'}${why}`;
    this.log.warn(message);
    this.failAll(new ViscaBusError(message, this.name, false));
    if (this.options.reconnect === false) {
      this.setState('failed', message);
      return;
    }
    // Reopen at once: a vanished port then reports `absent`, one that is still there simply
    // comes back, and a flaky one backs off from here.
    this.setState('connecting', message);
    this.scheduleReconnect(0);
  }

  /** Close and reopen the port (after many requests without any reply: a vanished adapter). */
  private reopen(reason: string): void {
    if (!this.running || this.state_ !== 'open' || this.options.reconnect === false) return;
    this.log.warn({ reason }, 'VISCA bus reopening');
    this.failAll(new ViscaBusError(`VISCA bus ${this.name} reopened: ${reason}`, this.name, false));
    this.setState('connecting', reason);
    this.options.transport
      .close()
      .catch((e: unknown) => this.log.warn({ err: e }, 'VISCA close before reopen failed'))
      .finally(() => this.scheduleReconnect(this.backoff?.next() ?? 500));
  }

  private setState(state: BusState, detail?: string): void {
    if (state === this.state_ && detail === this.detail_) return;
    this.state_ = state;
    this.detail_ = detail;
    this.events.emit('state', { state, ...(detail !== undefined ? { detail } : {}) });
  }

  // -------------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------------

  /**
   * Send a command, inquiry or interface message to camera `address` (1–7; 8 for broadcasts).
   * Commands resolve on Completion, inquiries with the answer's data bytes.
   */
  send(address: number, request: ViscaRequest, options: SendOptions = {}): Promise<SendResult> {
    return this.submit(address, request, options, false);
  }

  /** Address Set: resolves with the number of cameras that took an address. */
  async addressSet(): Promise<number> {
    const r = await this.submit(BROADCAST, addressSet(1), {}, true);
    return Math.max(0, (r.next ?? 1) - 1);
  }

  /** Cancel whatever runs in a socket; resolves true when the camera cancelled something. */
  async cancelSocket(address: number, socket: number): Promise<boolean> {
    const r = await this.send(address, cancel(address, socket));
    return r.cancelled === true;
  }

  private submit(address: number, request: ViscaRequest, options: SendOptions, front: boolean, target?: Pending): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      const broadcast = request.type === 'address-set' || (request.type === 'if-clear' && address === BROADCAST);
      if (!broadcast && (!Number.isInteger(address) || address < MIN_ADDRESS || address > MAX_ADDRESS)) {
        reject(new ViscaError(`VISCA camera address must be 1–7, got ${address}`, this.name, address));
        return;
      }
      if (this.state_ !== 'open' && this.state_ !== 'connecting') {
        const detail = this.detail_ ? `: ${this.detail_}` : '';
        reject(new ViscaBusError(`${request.name} not sent to camera ${address}: VISCA bus ${this.name} is ${this.state_}${detail}`, this.name, this.state_ === 'absent'));
        return;
      }
      const refused = this.refuseInStandby(address, request);
      if (refused) {
        reject(refused);
        return;
      }
      if (options.signal?.aborted) {
        reject(new ViscaCancelledError(`${request.name} to camera ${address} on ${this.name} cancelled before it was sent`, this.name, address));
        return;
      }
      const p: Pending = {
        id: this.nextId++,
        address,
        request,
        ackTimeoutMs: options.ackTimeoutMs ?? this.ackTimeoutMs,
        completionTimeoutMs: options.completionTimeoutMs ?? COMPLETION_MS[request.op] ?? this.options.completionTimeoutMs ?? 5000,
        maxTries: request.idempotent ? Math.max(1, options.tries ?? this.maxTries) : 1,
        resolve,
        reject,
        settled: false,
        tries: 0,
        bufferFullResends: 0,
        firstSentAt: 0,
        lastSentAt: 0,
        replyMs: 0,
        timer: undefined,
        socket: undefined,
        waitingForSocket: false,
        cancelRequested: false,
        target,
        detachAbort: undefined,
      };
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => this.onAbort(p);
        signal.addEventListener('abort', onAbort, { once: true });
        p.detachAbort = () => signal.removeEventListener('abort', onAbort);
      }
      if (front) this.queue.unshift(p);
      else this.queue.push(p);
      this.pump();
    });
  }

  private refuseInStandby(address: number, request: ViscaRequest): ViscaPoweredOffError | undefined {
    if (request.allowedInStandby || this.power.get(address) !== 'standby') return undefined;
    return new ViscaPoweredOffError(
      `camera ${address} on ${this.name} is in standby: ${request.name} not sent (only power and inquiry commands are accepted while powered off)`,
      this.name,
      address,
    );
  }

  private pump(): void {
    while (!this.inFlight && this.state_ === 'open' && this.options.transport.isOpen) {
      const p = this.queue.shift();
      if (!p) return;
      if (p.settled) continue;
      // Power may have changed while it waited.
      const refused = this.refuseInStandby(p.address, p.request);
      if (refused) {
        this.fail(p, refused);
        continue;
      }
      this.transmit(p, 'first');
    }
  }

  private transmit(p: Pending, why: 'first' | 'retry' | 'resend'): void {
    const now = performance.now();
    if (why !== 'resend') p.tries++;
    if (why === 'first') p.firstSentAt = now;
    p.lastSentAt = now;
    p.waitingForSocket = false;
    this.inFlight = p;
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.onReplyTimeout(p), p.ackTimeoutMs);
    this.log.trace({ address: p.address, bytes: hex(p.request.bytes), why }, 'VISCA send');
    this.options.transport.write(p.request.bytes, { retry: why === 'retry' }).catch((e: unknown) => {
      if (p.settled) return;
      const message = e instanceof Error ? e.message : String(e);
      this.fail(p, new ViscaBusError(`${p.request.name} to camera ${p.address}: ${message}`, this.name, false, { cause: e }));
      this.release(p);
    });
  }

  /** The in-flight message is done with the wire: let the next one go. */
  private release(p: Pending): void {
    if (this.inFlight === p) {
      this.inFlight = undefined;
      this.pump();
    }
  }

  private onReplyTimeout(p: Pending): void {
    if (p.settled || this.inFlight !== p) return;
    if (p.tries < p.maxTries) {
      this.log.debug({ address: p.address, request: p.request.name, tries: p.tries }, 'VISCA reply timeout, retrying');
      this.transmit(p, 'retry');
      return;
    }
    const what = p.request.type === 'inquiry' ? `VISCA ${p.request.name}` : p.request.name;
    const target = p.address === BROADCAST ? 'the chain' : `camera ${p.address}`;
    const tries = p.tries === 1 ? '1 try' : `${p.tries} tries`;
    const note = p.request.idempotent ? '' : ' (not resent: it is not safe to run twice)';
    this.fail(
      p,
      new ViscaTimeoutError(`no reply to ${what} from ${target} on ${this.name} after ${tries}${note}`, this.name, p.address === BROADCAST ? undefined : p.address, 'reply', p.tries),
    );
    this.consecutiveTimeouts++;
    this.release(p);
    const limit = this.options.reopenAfterTimeouts ?? 3;
    if (limit > 0 && this.consecutiveTimeouts >= limit) {
      this.consecutiveTimeouts = 0;
      this.reopen(`${limit} messages in a row got no reply`);
    }
  }

  private onCompletionTimeout(p: Pending): void {
    if (p.settled) return;
    this.freeSocket(p);
    this.fail(
      p,
      new ViscaTimeoutError(
        `${p.request.name} on camera ${p.address} (${this.name}) not completed within ${p.completionTimeoutMs} ms`,
        this.name,
        p.address,
        'completion',
        p.tries,
      ),
    );
  }

  private onAbort(p: Pending): void {
    if (p.settled) return;
    const queued = this.queue.indexOf(p);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.fail(p, new ViscaCancelledError(`${p.request.name} to camera ${p.address} on ${this.name} cancelled before it was sent`, this.name, p.address));
      return;
    }
    if (this.inFlight === p) {
      if (p.waitingForSocket) {
        // Refused with buffer full: the camera holds nothing of it.
        this.fail(p, new ViscaCancelledError(`${p.request.name} to camera ${p.address} on ${this.name} cancelled while the camera's buffer was full`, this.name, p.address));
        this.release(p);
        return;
      }
      // Its socket is known only with the ACK; the cancel goes out then.
      p.cancelRequested = true;
      return;
    }
    if (p.socket !== undefined) this.sendCancel(p);
  }

  private sendCancel(target: Pending): void {
    if (target.socket === undefined) return;
    this.submit(target.address, cancel(target.address, target.socket), {}, true, target).then(
      (r) => {
        if (!target.settled && r.cancelled === false) {
          this.freeSocket(target);
          this.fail(target, new ViscaCancelledError(`${target.request.name} on camera ${target.address} (${this.name}) cancelled; the camera had nothing to cancel in socket ${target.socket}`, this.name, target.address));
        }
      },
      (e: unknown) => {
        if (target.settled) return;
        this.freeSocket(target);
        const why = e instanceof Error ? e.message : String(e);
        this.fail(target, new ViscaCancelledError(`${target.request.name} on camera ${target.address} (${this.name}) cancelled, but the camera did not confirm: ${why}`, this.name, target.address));
      },
    );
  }

  private onBufferFull(p: Pending): void {
    const now = performance.now();
    const delay = this.options.bufferFullDelayMs ?? 200;
    p.bufferFullResends++;
    if (now + delay > p.firstSentAt + p.completionTimeoutMs) {
      this.fail(
        p,
        new ViscaCameraError(
          `${p.request.name} on camera ${p.address} (${this.name}) failed: ${errorText(0x03)}, still after ${p.bufferFullResends} resends`,
          this.name,
          p.address,
          0x03,
        ),
      );
      this.release(p);
      return;
    }
    // Stay in flight (later commands would meet the same full buffer) and resend when a
    // socket frees or after a pause, whichever comes first.
    clearTimeout(p.timer);
    p.waitingForSocket = true;
    p.timer = setTimeout(() => {
      if (!p.settled && this.inFlight === p && p.waitingForSocket) this.transmit(p, 'resend');
    }, delay);
  }

  private onSocketFreed(address: number): void {
    const f = this.inFlight;
    if (f && f.waitingForSocket && f.address === address && !f.settled) this.transmit(f, 'resend');
  }

  // -------------------------------------------------------------------------------------------
  // Replies
  // -------------------------------------------------------------------------------------------

  private onData(bytes: Uint8Array): void {
    for (const event of this.framer.push(bytes)) {
      if (event.type === 'discard') {
        this.log.debug({ reason: event.reason, count: event.count }, 'VISCA bytes discarded');
        continue;
      }
      let reply: ViscaReply;
      try {
        reply = decodeReply(event.bytes);
        this.onReply(reply, event.bytes);
      } catch (e) {
        // A bug here must not take the bus down with it.
        this.log.error({ err: e, bytes: hex(event.bytes) }, 'VISCA reply handling failed');
      }
    }
  }

  private socketsOf(address: number): Map<number, Pending> {
    let m = this.sockets.get(address);
    if (!m) {
      m = new Map();
      this.sockets.set(address, m);
    }
    return m;
  }

  private freeSocket(p: Pending): void {
    if (p.socket === undefined) return;
    const m = this.sockets.get(p.address);
    if (m?.get(p.socket) === p) m.delete(p.socket);
  }

  private onReply(reply: ViscaReply, bytes: Uint8Array): void {
    this.log.trace({ bytes: hex(bytes), kind: reply.kind }, 'VISCA receive');
    if (reply.kind !== 'malformed' && reply.kind !== 'unknown') this.consecutiveTimeouts = 0;
    const f = this.inFlight;
    const now = performance.now();
    switch (reply.kind) {
      case 'ack': {
        if (!f || f.address !== reply.address || f.request.type !== 'command' || f.waitingForSocket) {
          this.orphans.add(`${reply.address}:${reply.socket}`);
          this.log.debug({ address: reply.address, socket: reply.socket }, 'VISCA ACK with no command waiting');
          return;
        }
        const sockets = this.socketsOf(reply.address);
        const previous = sockets.get(reply.socket);
        if (previous && previous !== f) {
          // Quirk: the camera reused a socket whose command never completed. It frees a
          // socket only when that command ended, so the Completion was lost; settle it now.
          this.log.debug({ address: reply.address, socket: reply.socket, request: previous.request.name }, 'VISCA socket reused; earlier command taken as done');
          this.complete(previous, now);
        }
        clearTimeout(f.timer);
        f.socket = reply.socket;
        f.replyMs = now - f.lastSentAt;
        sockets.set(reply.socket, f);
        f.timer = setTimeout(() => this.onCompletionTimeout(f), f.completionTimeoutMs);
        // The cancel is queued first so it goes out before anything else waiting.
        if (f.cancelRequested) this.sendCancel(f);
        this.release(f);
        return;
      }
      case 'completion': {
        const executing = this.sockets.get(reply.address)?.get(reply.socket);
        if (executing) {
          this.complete(executing, now);
          this.onSocketFreed(reply.address);
          return;
        }
        if (this.orphans.delete(`${reply.address}:${reply.socket}`)) return;
        if (f && f.address === reply.address && f.request.type === 'command' && !f.waitingForSocket) {
          // Quirk: Completion without an ACK first (fast commands on some cameras).
          f.socket = reply.socket;
          f.replyMs = now - f.lastSentAt;
          this.complete(f, now);
          this.release(f);
          return;
        }
        this.log.debug({ address: reply.address, socket: reply.socket }, 'VISCA Completion with no command waiting');
        return;
      }
      case 'error':
        this.onErrorReply(reply.address, reply.socket, reply.code, now);
        return;
      case 'answer': {
        if (!f || f.address !== reply.address || f.request.type !== 'inquiry') {
          this.log.debug({ address: reply.address }, 'VISCA answer with no inquiry waiting');
          return;
        }
        // A wrong-sized answer is a stray packet or noise that looked like one: keep waiting.
        if (f.request.answerLength !== undefined && reply.data.length !== f.request.answerLength) {
          this.log.debug({ address: reply.address, length: reply.data.length }, 'VISCA answer of the wrong size ignored');
          return;
        }
        if (f.request.op === 'inquiry.power') {
          const power = decodePowerAnswer(reply.data);
          if (power.ok) this.power.set(f.address, power.value);
        }
        f.replyMs = now - f.lastSentAt;
        this.finish(f, { data: reply.data, tries: f.tries, replyMs: f.replyMs, totalMs: now - f.firstSentAt });
        this.release(f);
        return;
      }
      case 'if-clear': {
        const matches = f?.request.type === 'if-clear' && (reply.address === 'broadcast' ? f.address === BROADCAST : f.address === reply.address);
        if (!f || !matches) return;
        f.replyMs = now - f.lastSentAt;
        if (reply.address === 'broadcast') this.clearAllSockets();
        this.finish(f, { tries: f.tries, replyMs: f.replyMs, totalMs: now - f.firstSentAt });
        this.release(f);
        return;
      }
      case 'address-set': {
        const cameras = Math.max(0, reply.next - 1);
        if (this.chainLength_ !== cameras) this.log.info({ cameras }, 'VISCA Address Set answered');
        this.chainLength_ = cameras;
        this.events.emit('chain', cameras);
        if (f?.request.type !== 'address-set') return;
        f.replyMs = now - f.lastSentAt;
        this.finish(f, { next: reply.next, tries: f.tries, replyMs: f.replyMs, totalMs: now - f.firstSentAt });
        this.release(f);
        return;
      }
      case 'network-change': {
        this.log.info({ address: reply.address }, 'VISCA Network Change');
        // Powered up, or a stray announcement: either way, ask again rather than assume.
        this.power.delete(reply.address);
        this.events.emit('network-change', reply.address);
        if (this.addressSetEnabled) this.queueAddressSet();
        return;
      }
      case 'unknown':
      case 'malformed':
        this.log.debug({ bytes: hex(bytes), kind: reply.kind }, 'VISCA packet ignored');
        return;
    }
  }

  private onErrorReply(address: number, socket: number, code: number, now: number): void {
    const f = this.inFlight;
    const flightHere = f !== undefined && f.address === address && !f.waitingForSocket;
    const executing = socket !== 0 ? this.sockets.get(address)?.get(socket) : undefined;
    const cameraError = (p: Pending): ViscaCameraError =>
      new ViscaCameraError(`${p.request.name} on camera ${address} (${this.name}) failed: ${errorText(code)}`, this.name, address, code);

    if (code === 0x04 || code === 0x05) {
      // Replies to a cancel: 04 cancelled the command in that socket, 05 found nothing there.
      if (executing && code === 0x04) {
        this.freeSocket(executing);
        this.fail(executing, new ViscaCancelledError(`${executing.request.name} on camera ${address} (${this.name}) cancelled`, this.name, address));
        this.onSocketFreed(address);
      }
      if (f && flightHere && f.request.type === 'cancel') {
        f.replyMs = now - f.lastSentAt;
        this.finish(f, { cancelled: code === 0x04, tries: f.tries, replyMs: f.replyMs, totalMs: now - f.firstSentAt });
        this.release(f);
        return;
      }
      if (!executing && f && flightHere) {
        this.fail(f, cameraError(f));
        this.release(f);
      }
      return;
    }
    if (code === 0x03 && f && flightHere && f.request.type === 'command') {
      this.onBufferFull(f);
      return;
    }
    // Length, syntax, not executable. Quirk: error 41 may name a socket that was never ACKed;
    // an error arriving while a message is in flight to that camera belongs to that message.
    if (f && flightHere) {
      if (f.request.type === 'cancel') {
        // The camera could not cancel; the command runs on and will complete or fail itself.
        f.replyMs = now - f.lastSentAt;
        this.finish(f, { cancelled: false, tries: f.tries, replyMs: f.replyMs, totalMs: now - f.firstSentAt });
      } else {
        this.fail(f, cameraError(f));
      }
      this.release(f);
      return;
    }
    if (executing) {
      this.freeSocket(executing);
      this.fail(executing, cameraError(executing));
      this.onSocketFreed(address);
      return;
    }
    this.log.debug({ address, socket, code }, 'VISCA error with no message waiting');
  }

  private complete(p: Pending, now: number): void {
    this.freeSocket(p);
    if (p.request.op === 'power.on') this.power.set(p.address, 'on');
    if (p.request.op === 'power.standby') this.power.set(p.address, 'standby');
    this.finish(p, { ...(p.socket !== undefined ? { socket: p.socket } : {}), tries: p.tries, replyMs: p.replyMs, totalMs: now - p.firstSentAt });
  }

  private queueAddressSet(): void {
    const pending = [this.inFlight, ...this.queue].some((p) => p?.request.type === 'address-set' && !p.settled);
    if (pending || this.addressSetTimer || this.state_ !== 'open') return;
    const wait = this.lastAddressSetAt + (this.options.networkChangeHoldoffMs ?? 1000) - performance.now();
    if (wait > 0) {
      // Not dropped: a real power-up right after the last Address Set still needs one.
      this.addressSetTimer = setTimeout(() => {
        this.addressSetTimer = undefined;
        this.queueAddressSet();
      }, wait);
      return;
    }
    this.lastAddressSetAt = performance.now();
    this.submit(BROADCAST, addressSet(1), {}, true).catch((e: unknown) => this.log.warn({ err: e }, 'VISCA Address Set after Network Change not answered'));
  }

  /** Broadcast IF_Clear empties every camera's sockets; what ran there will not complete. */
  private clearAllSockets(): void {
    for (const [address, m] of this.sockets) {
      for (const p of [...m.values()]) {
        this.freeSocket(p);
        this.fail(p, new ViscaCancelledError(`${p.request.name} on camera ${address} (${this.name}) cleared by IF_Clear`, this.name, address));
      }
    }
  }

  private finish(p: Pending, result: SendResult): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    p.detachAbort?.();
    p.resolve(result);
  }

  private fail(p: Pending, error: Error): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    p.detachAbort?.();
    this.freeSocket(p);
    p.reject(error);
  }

  /** Reject everything: queued, in flight and executing. */
  private failAll(error: ViscaError): void {
    const all = [...this.queue, ...(this.inFlight ? [this.inFlight] : []), ...[...this.sockets.values()].flatMap((m) => [...m.values()])];
    this.queue = [];
    this.inFlight = undefined;
    this.sockets.clear();
    this.orphans.clear();
    this.power.clear();
    for (const p of all) this.fail(p, error);
  }
}
