/**
 * What the lesson loop does with the display: at pre-roll, power it on and show the lesson
 * input; after the last lesson of the day, power it off (when configured). Failures are
 * logged, never thrown: a lesson goes on without its display (the display's health already
 * reports what is wrong).
 *
 * The loop calls `preRoll(lessonId)` when it prepares a lesson (once per lesson; repeated calls
 * do nothing) and `lessonEnded(lessonId, end)` when it has finished one.
 */
import { localDate } from '../../agent/contract/time.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { sleep } from '../../agent/backoff.js';
import { DisplayRefusedError } from './errors.js';

/** The part of a Display the hooks use. */
export interface DisplayControl {
  readonly id: string;
  powerOn(): Promise<void>;
  powerOff(): Promise<void>;
  selectInput(name: string): Promise<void>;
}

export interface DisplayLessonHooksOptions {
  display: DisplayControl;
  /** The input to show during lessons; none: power on only. */
  lessonInput?: string;
  powerOffAfterLastLesson: boolean;
  /** When the next lesson of this room starts after `after` (timetable or manual), if any. */
  nextLessonStart(after: Date): Date | undefined;
  timeZone(): string;
  log?: Logger;
  /**
   * Panels refuse an input change while they boot after power-on: tries of the input select,
   * with a pause between, before giving up (default 5 tries, 3 s apart).
   */
  inputAttempts?: number;
  inputRetryMs?: number;
}

export type PreRollResult = { poweredOn: boolean; input: string | null; error?: string };

/** True when no further lesson starts on the local date (in `timeZone`) that `end` falls on. */
export function isLastLessonOfDay(end: Date, next: Date | undefined, timeZone: string): boolean {
  if (!next) return true;
  return localDate(next, timeZone) !== localDate(end, timeZone);
}

export class DisplayLessonHooks {
  private readonly log: Logger;
  private readonly prepared = new Map<string, Promise<PreRollResult>>();
  private readonly ended = new Set<string>();
  private readonly abort = new AbortController();

  constructor(private readonly options: DisplayLessonHooksOptions) {
    this.log = (options.log ?? silentLogger()).child({ module: 'display-hooks', display: options.display.id });
  }

  /** Power on and select the lesson input; once per lesson (a second call returns the first's result). */
  preRoll(lessonId: string): Promise<PreRollResult> {
    let p = this.prepared.get(lessonId);
    if (!p) {
      p = this.runPreRoll(lessonId);
      this.prepared.set(lessonId, p);
      // Only recent lessons matter; keep the map small over months of uptime.
      if (this.prepared.size > 64) this.prepared.delete(this.prepared.keys().next().value as string);
    }
    return p;
  }

  private async runPreRoll(lessonId: string): Promise<PreRollResult> {
    const d = this.options.display;
    try {
      await d.powerOn();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log.warn({ err: e, lessonId }, 'display not powered on for the lesson');
      return { poweredOn: false, input: null, error };
    }
    const input = this.options.lessonInput;
    if (!input) return { poweredOn: true, input: null };
    const attempts = Math.max(1, this.options.inputAttempts ?? 5);
    for (let i = 1; ; i++) {
      try {
        await d.selectInput(input);
        this.log.info({ lessonId, input }, 'display on, lesson input selected');
        return { poweredOn: true, input };
      } catch (e) {
        // A refusal right after power-on is the panel still booting: wait and ask again.
        if (e instanceof DisplayRefusedError && i < attempts && !this.abort.signal.aborted) {
          await sleep(this.options.inputRetryMs ?? 3000, this.abort.signal);
          continue;
        }
        const error = e instanceof Error ? e.message : String(e);
        this.log.warn({ err: e, lessonId, input }, 'display lesson input not selected');
        return { poweredOn: true, input: null, error };
      }
    }
  }

  /**
   * After a lesson has ended: power the display off when so configured and no other lesson
   * follows today. Returns whether it was powered off.
   */
  async lessonEnded(lessonId: string, end: Date): Promise<boolean> {
    if (!this.options.powerOffAfterLastLesson || this.ended.has(lessonId)) return false;
    this.ended.add(lessonId);
    if (this.ended.size > 64) this.ended.delete(this.ended.values().next().value as string);
    const next = this.options.nextLessonStart(end);
    if (!isLastLessonOfDay(end, next, this.options.timeZone())) return false;
    try {
      await this.options.display.powerOff();
      this.log.info({ lessonId }, 'display powered off after the last lesson of the day');
      return true;
    } catch (e) {
      this.log.warn({ err: e, lessonId }, 'display not powered off after the last lesson');
      return false;
    }
  }

  /** Stop waiting between input retries (agent shutdown). */
  close(): void {
    this.abort.abort();
  }
}
