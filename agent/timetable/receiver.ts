import type { Contract } from '../contract/validate.js';
import type { Timetable } from '../contract/types.js';
import type { Db } from '../state/db.js';
import type { EventPublisher } from '../events.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { TimetableStore } from './store.js';
import { MAX_TIMETABLE_BYTES, timetableProblems } from './validate.js';
import { errorMessage } from '../errors.js';

/** What became of one timetable handed to the receiver. */
export type ReceiveResult =
  | { outcome: 'applied'; version: string; previousVersion: string | null }
  | { outcome: 'unchanged'; version: string }
  | { outcome: 'rejected'; version: string | null; keptVersion: string | null; problems: string[] }
  | { outcome: 'ignored'; keptVersion: string | null };

/**
 * Takes the retained `timetable` the platform publishes (or one a technician applies with
 * `lectern timetable apply`): validates it completely, stores it durably and emits
 * `timetable.applied`, or keeps the previous one and emits `timetable.rejected` with every
 * reason. A redelivery of the applied timetable changes nothing.
 */
export class TimetableReceiver {
  constructor(
    private readonly deps: {
      db: Db;
      store: TimetableStore;
      contract: Contract;
      events: EventPublisher;
      clock: Clock;
      log: Logger;
      formatTs(date: Date): string;
      onApplied(version: string): void;
      deviceId: string;
    },
  ) {}

  handle(payload: Buffer): ReceiveResult['outcome'] {
    return this.receive(payload).outcome;
  }

  receive(payload: Buffer): ReceiveResult {
    if (payload.length === 0) {
      // An empty retained message clears the topic on the broker; it is not a timetable.
      const kept = this.deps.store.current()?.version ?? null;
      this.deps.log.warn({ kept }, 'retained timetable cleared on the broker; keeping the applied one');
      return { outcome: 'ignored', keptVersion: kept };
    }
    if (payload.length > MAX_TIMETABLE_BYTES) {
      return this.reject([`timetable of ${payload.length} bytes is larger than ${MAX_TIMETABLE_BYTES}`], undefined);
    }
    const body = payload.toString('utf8');
    if (this.deps.store.isCurrent(body)) return { outcome: 'unchanged', version: this.deps.store.current()?.version ?? '' };
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (e) {
      return this.reject([`timetable is not JSON (${errorMessage(e)})`], undefined);
    }
    const version = versionOf(value);
    const problems = timetableProblems(this.deps.contract, value, this.deps.deviceId);
    if (problems.length) return this.reject(problems, version);
    const timetable = value as Timetable;
    const now = this.deps.formatTs(this.deps.clock.now());
    const previous = this.deps.store.current()?.version ?? null;
    this.deps.db.transaction(() => {
      this.deps.store.replace(timetable, body, now);
      this.deps.events.add({
        type: 'timetable.applied',
        severity: 'info',
        message: `timetable ${timetable.version} applied (${timetable.entries.length} entries, term ${timetable.term.start} to ${timetable.term.end})`,
        details: { version: timetable.version, previousVersion: previous },
      });
    })();
    this.deps.events.send(); // committed with the timetable; send it now
    this.deps.log.info({ version: timetable.version, previous }, 'timetable applied');
    this.deps.onApplied(timetable.version);
    return { outcome: 'applied', version: timetable.version, previousVersion: previous };
  }

  private reject(problems: string[], version: string | undefined): ReceiveResult {
    const kept = this.deps.store.current()?.version ?? null;
    this.deps.log.warn({ version, problems, kept }, 'timetable rejected');
    this.deps.events.emit({
      type: 'timetable.rejected',
      severity: 'warning',
      message: `timetable${version ? ` ${version}` : ''} rejected (${problems.length} problem${problems.length === 1 ? '' : 's'}); keeping ${kept ?? 'no timetable'}`,
      details: { version: version ?? null, keptVersion: kept, reasons: problems.slice(0, 100) },
    });
    return { outcome: 'rejected', version: version ?? null, keptVersion: kept, problems };
  }
}

function versionOf(value: unknown): string | undefined {
  if (value && typeof value === 'object' && typeof (value as { version?: unknown }).version === 'string') {
    return (value as { version: string }).version.slice(0, 64);
  }
  return undefined;
}
