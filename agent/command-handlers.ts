import type { CommandDispatcher } from './commands.js';
import { CommandError } from './commands.js';
import type { HealthCollector } from './health.js';
import type { Ledger, GroupBy } from './ledger.js';
import type { TimetableStore } from './timetable/store.js';
import type { LogRing } from './logring.js';
import { isValidDate } from './contract/time.js';
import type { Camera } from '../drivers/visca/camera.js';
import type { LessonLoop } from './lessons/loop.js';

const DATE = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' };
const NONE = { type: 'object', additionalProperties: false, properties: {} };
const DEVICE_ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$' };

export interface CommandContext {
  health: HealthCollector;
  cameras: ReadonlyMap<string, Camera>;
  lessons: LessonLoop;
  ledger: Ledger;
  timetables: TimetableStore;
  logRing?: LogRing;
  /** The uploader; absent when no object store is configured. */
  uploads?: { retryNow(): { queued: number } };
  timeZone(): string;
  formatTs(d: Date): string;
}

function dateRange(args: Record<string, unknown>): { from: string; to: string } {
  const from = String(args.from);
  const to = String(args.to);
  if (!isValidDate(from)) throw new CommandError('bad-request', `/args/from: "${from}" is not a calendar date`);
  if (!isValidDate(to)) throw new CommandError('bad-request', `/args/to: "${to}" is not a calendar date`);
  if (from > to) throw new CommandError('bad-request', `/args/from: ${from} is after /args/to ${to}`);
  return { from, to };
}

/** Every command of the platform contract, with its argument schema. */
export function registerCommands(d: CommandDispatcher, ctx: CommandContext): void {
  d.register('health.get', {
    args: NONE,
    run: async () => ({ ...(await ctx.health.measure()) }),
  });
  d.register('lessons.count', {
    args: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to'],
      properties: { from: DATE, to: DATE, groupBy: { enum: ['subject', 'day', 'peer', 'status'] } },
    },
    run: async (args) => {
      const { from, to } = dateRange(args);
      return { ...ctx.ledger.count(from, to, args.groupBy as GroupBy | undefined) };
    },
  });
  d.register('lessons.list', {
    args: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to'],
      properties: { from: DATE, to: DATE, limit: { type: 'integer', minimum: 1, maximum: 500 } },
    },
    run: async (args) => {
      const { from, to } = dateRange(args);
      return { lessons: ctx.ledger.list(from, to, typeof args.limit === 'number' ? args.limit : 500) };
    },
  });
  d.register('timetable.get', {
    args: NONE,
    run: async () => {
      const t = ctx.timetables.current();
      return { version: t?.version ?? null, appliedAt: t?.appliedAt ?? null };
    },
  });
  d.register('logs.tail', {
    args: { type: 'object', additionalProperties: false, properties: { lines: { type: 'integer', minimum: 1, maximum: 500 } } },
    run: async (args) => ({ lines: ctx.logRing?.tail(typeof args.lines === 'number' ? args.lines : 100) ?? [] }),
  });
  d.register('lesson.start', {
    args: {
      type: 'object',
      additionalProperties: false,
      required: ['subject'],
      properties: {
        subject: { type: 'string', minLength: 1, maxLength: 64 },
        durationMin: { type: 'integer', minimum: 1, maximum: 240 },
        peerRoomIds: { type: 'array', items: DEVICE_ID, maxItems: 16 },
        preset: { type: 'integer', minimum: 0, maximum: 254 },
      },
    },
    run: async (args) => ({
      ...ctx.lessons.startNow(
        {
          subject: String(args.subject),
          durationMin: args.durationMin as number | undefined,
          peerRoomIds: args.peerRoomIds as string[] | undefined,
          preset: args.preset as number | undefined,
        },
        'platform',
      ),
    }),
  });
  d.register('lesson.stop', {
    args: { type: 'object', additionalProperties: false, properties: { lessonId: { type: 'string', minLength: 1, maxLength: 128 } } },
    run: async (args) => ({ ...(await ctx.lessons.stopLesson(args.lessonId as string | undefined)) }),
  });
  const presetArgs = {
    type: 'object',
    additionalProperties: false,
    required: ['camera', 'preset'],
    properties: { camera: { type: 'string', minLength: 1, maxLength: 64 }, preset: { type: 'integer', minimum: 0, maximum: 254 } },
  };
  const camera = (args: Record<string, unknown>): Camera => {
    const id = String(args.camera);
    const cam = ctx.cameras.get(id);
    if (!cam) {
      const known = [...ctx.cameras.keys()];
      throw new CommandError('bad-request', `/args/camera: no camera "${id}" on this device (${known.length ? `it has ${known.join(', ')}` : 'it has none configured'})`);
    }
    return cam;
  };
  d.register('camera.preset.recall', {
    args: presetArgs,
    // Answered when the camera has arrived at the preset (a move takes seconds).
    timeoutMs: 30_000,
    run: async (args) => {
      await camera(args).presetRecall(Number(args.preset));
      return {};
    },
  });
  d.register('camera.preset.save', {
    args: presetArgs,
    run: async (args) => {
      await camera(args).presetSave(Number(args.preset));
      return {};
    },
  });
  d.register('uploads.retry', {
    args: NONE,
    run: async () => {
      if (!ctx.uploads) {
        throw new CommandError('device-error', 'no object store is configured on this device (uploads.endpoint, uploads.bucket); recordings stay in its cache');
      }
      return { ...ctx.uploads.retryNow() };
    },
  });
}
