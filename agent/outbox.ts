import type { Db } from './state/db.js';
import type { Logger } from './log.js';

/** What the outbox needs from the MQTT link. */
export interface Publisher {
  readonly connected: boolean;
  /** Resolves when the broker acknowledged the message (PUBACK for QoS 1); rejects otherwise. */
  publish(topic: string, payload: string, opts: PublishOptions): Promise<void>;
  /** How many QoS 1 messages the broker accepts in flight (MQTT 5 Receive Maximum). */
  inflightLimit(): number;
}

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
  /** MQTT 5 publish properties (for replies on a response topic). */
  properties?: { correlationData?: Buffer };
}

export type OutboxKind = 'lesson' | 'event' | 'reply';

export interface OutboxMessage {
  topic: string;
  payload: string;
  kind: OutboxKind;
  /** lessonId, eventId or requestId, for logs and look-ups. */
  key?: string;
  retain?: boolean;
  correlationData?: Buffer;
}

interface Row {
  id: number;
  topic: string;
  payload: string;
  qos: number;
  retain: number;
  properties: string | null;
  kind: string;
}

/**
 * The persistent outbox: lesson records, events and command replies, delivered at least once.
 * A message is written to SQLite before anything is sent and deleted only after the broker's
 * PUBACK, so it survives reconnects, restarts and power loss. While connected it keeps a window
 * of messages in flight (not one per round trip) in id order, which keeps order per topic on
 * the one connection; after a reconnect it resends everything not yet acknowledged, oldest
 * first.
 */
export class Outbox {
  private publisher: Publisher | undefined;
  /** Messages sent on the current connection and not yet acknowledged. */
  private readonly inflight = new Set<number>();
  /** Highest id sent on the current connection; the next batch starts after it. */
  private cursor = 0;
  /** Bumped on every (dis)connect so late acknowledgements of an old connection are ignored. */
  private generation = 0;
  private readonly acked: number[] = [];
  private flushScheduled = false;
  private pumping = false;
  private droppedEvents = 0;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  private readonly stmts: {
    insert: import('better-sqlite3').Statement<[string, string, number, number, string | null, string, string | null, string]>;
    next: import('better-sqlite3').Statement<[number, number], Row>;
    del: import('better-sqlite3').Statement<[number]>;
    count: import('better-sqlite3').Statement<[], { n: number; oldest: string | null }>;
    countEvents: import('better-sqlite3').Statement<[], { n: number }>;
    dropOldestEvents: import('better-sqlite3').Statement<[number]>;
  };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly opts: { window: number; maxPendingEvents: number },
  ) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO outbox (topic, payload, qos, retain, properties, kind, key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      next: db.prepare('SELECT id, topic, payload, qos, retain, properties, kind FROM outbox WHERE id > ? ORDER BY id LIMIT ?'),
      del: db.prepare('DELETE FROM outbox WHERE id = ?'),
      count: db.prepare('SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox'),
      countEvents: db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE kind = 'event'"),
      dropOldestEvents: db.prepare(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = 'event' ORDER BY id LIMIT ?)",
      ),
    };
  }

  /**
   * Stores a message durably. Synchronous, so a caller can put it in the same SQLite
   * transaction as the state it reports (a lesson record and its ledger row commit together).
   * Call `kick()` after the transaction commits.
   */
  add(msg: OutboxMessage, createdAt: string): number {
    if (msg.kind === 'event') this.boundEvents();
    const props = msg.correlationData ? JSON.stringify({ correlationData: msg.correlationData.toString('base64') }) : null;
    const info = this.stmts.insert.run(msg.topic, msg.payload, 1, msg.retain ? 1 : 0, props, msg.kind, msg.key ?? null, createdAt);
    return Number(info.lastInsertRowid);
  }

  /** Stores and, when connected, starts sending. */
  enqueue(msg: OutboxMessage, createdAt: string): number {
    const id = this.add(msg, createdAt);
    this.kick();
    return id;
  }

  stats(): { pending: number; oldestTs: string | null; droppedEvents: number } {
    const row = this.stmts.count.get();
    return { pending: row?.n ?? 0, oldestTs: row?.oldest ?? null, droppedEvents: this.droppedEvents };
  }

  /** The link is up: send everything pending, oldest first. */
  connected(publisher: Publisher): void {
    this.flushAcks();
    this.publisher = publisher;
    this.generation++;
    this.inflight.clear();
    this.cursor = 0;
    this.kick();
  }

  /** The link went down: nothing in flight will be acknowledged on that connection. */
  disconnected(): void {
    this.generation++;
    this.inflight.clear();
    this.cursor = 0;
    this.publisher = undefined;
  }

  kick(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      this.pump();
    } finally {
      this.pumping = false;
    }
  }

  /** Writes pending acknowledgements and stops sending. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.flushAcks();
  }

  private pump(): void {
    const publisher = this.publisher;
    if (!publisher?.connected) return;
    const window = Math.max(1, Math.min(this.opts.window, publisher.inflightLimit()));
    const room = window - this.inflight.size;
    if (room <= 0) return;
    const rows = this.stmts.next.all(this.cursor, room);
    const generation = this.generation;
    for (const row of rows) {
      this.cursor = row.id;
      this.inflight.add(row.id);
      const props = row.properties ? (JSON.parse(row.properties) as { correlationData?: string }) : undefined;
      publisher
        .publish(row.topic, row.payload, {
          qos: 1,
          retain: row.retain === 1,
          properties: props?.correlationData ? { correlationData: Buffer.from(props.correlationData, 'base64') } : undefined,
        })
        .then(
          () => this.onAck(row.id, generation),
          (e: unknown) => this.onFail(row, generation, e),
        );
    }
  }

  private onAck(id: number, generation: number): void {
    // An ack is an ack whichever connection it came on: the broker has the message.
    this.acked.push(id);
    this.scheduleFlush();
    if (generation !== this.generation) return;
    this.inflight.delete(id);
    this.kick();
  }

  private onFail(row: Row, generation: number, e: unknown): void {
    if (generation !== this.generation) return; // the connection dropped; resent on the next one
    this.inflight.delete(row.id);
    // The broker refused this message (for example an MQTT 5 PUBACK with an error reason):
    // keep it and try again from the oldest pending a little later, rather than spinning.
    this.log.warn({ err: e, id: row.id, topic: row.topic, kind: row.kind }, 'outbox message not accepted; will retry');
    if (!this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.publisher) this.connected(this.publisher);
      }, 5000);
      this.retryTimer.unref();
    }
  }

  private scheduleFlush(): void {
    if (this.acked.length >= 512) {
      this.flushAcks();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushAcks();
    });
  }

  /** Deletes acknowledged messages in one transaction (one fsync for many acks). */
  private flushAcks(): void {
    if (!this.acked.length) return;
    const ids = this.acked.splice(0);
    this.db.transaction(() => {
      for (const id of ids) this.stmts.del.run(id);
    })();
  }

  /** Events are bounded (lesson records and replies never are): drop the oldest, and say so. */
  private boundEvents(): void {
    const n = this.stmts.countEvents.get()?.n ?? 0;
    if (n < this.opts.maxPendingEvents) return;
    const drop = n - this.opts.maxPendingEvents + 1;
    this.stmts.dropOldestEvents.run(drop);
    this.droppedEvents += drop;
    this.log.warn({ dropped: drop, droppedTotal: this.droppedEvents }, 'outbox full of events: dropped the oldest');
  }
}
