import type { Command } from 'commander';
import type { SingleBar } from 'cli-progress';
import { controlRequest } from '../control.js';
import { openState } from '../state/db.js';
import { listUploads, type UploadListing } from '../recordings/uploader.js';
import { LecternError } from '../errors.js';
import { addStateOptions, dataDirFor, jsonOption, runAction, type StateOptions } from './common.js';

type Listing = UploadListing & { source: string };

/** From the running agent; when it is not running, from its state database. */
async function fetchListing(dataDir: string): Promise<Listing> {
  try {
    const r = await controlRequest(dataDir, 'GET', '/uploads');
    const err = r.body.error as { code?: string; message?: string } | undefined;
    if (r.status >= 400 || err) throw new LecternError(`${err?.code ?? 'error'}: ${err?.message ?? `status ${r.status}`}`, 'failed');
    return { source: 'agent', ...(r.body as unknown as UploadListing) };
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('the agent is not running')) throw e;
    const db = openState({ dataDir, readonly: true });
    try {
      return { source: 'state (the agent is not running)', ...listUploads(db, 'idle') };
    } finally {
      db.close();
    }
  }
}

const mb = (n: number): string => (n / 1e6).toFixed(1);

function lessonStatus(l: UploadListing['lessons'][number]): string {
  if (l.reported) return 'uploaded';
  if (l.failed) return `FAILED: ${l.lastError ?? 'unknown error'}`;
  if (l.lastError) return `retrying${l.nextAttemptAt ? ` at ${l.nextAttemptAt}` : ''}: ${l.lastError}`;
  if (!l.ended) return 'recording';
  return l.uploaded >= l.segments ? 'manifest pending' : 'pending';
}

function summary(s: Listing): string {
  return (
    `uploads: ${s.pending} segment(s), ${mb(s.bytesPending)} MB pending; uploader ${s.state}` +
    `${s.heldUntil ? ` (held until ${s.heldUntil} after a lesson)` : ''}; source: ${s.source}\n`
  );
}

function plainText(s: Listing): string {
  const lines = s.lessons.map(
    (l) => `${l.lessonId}  ${l.uploaded}/${l.segments} segments  ${mb(l.bytesUploaded)}/${mb(l.bytes)} MB  ${lessonStatus(l)}`,
  );
  return summary(s) + (lines.length ? `${lines.join('\n')}\n` : 'no recordings in the cache\n');
}

/**
 * Progress bars on a terminal, one per lesson; with `follow`, redrawn every second until nothing
 * is left to upload (Ctrl-C stops watching; the agent goes on uploading).
 */
async function bars(dataDir: string, first: Listing, follow: boolean, onlyPending: boolean): Promise<void> {
  const { MultiBar, Presets } = (await import('cli-progress')).default;
  const multi = new MultiBar(
    {
      format: '{lesson} [{bar}] {percentage}% {done}/{size} MB {status}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const made = new Map<string, SingleBar>();
  const draw = (s: Listing): void => {
    for (const l of s.lessons) {
      if (onlyPending && l.reported && !made.has(l.lessonId)) continue;
      const payload = { lesson: l.lessonId.slice(-40).padEnd(40), done: mb(l.bytesUploaded), size: mb(l.bytes), status: lessonStatus(l).slice(0, 60) };
      const total = Math.max(1, l.bytes);
      const bar = made.get(l.lessonId) ?? multi.create(total, 0, payload);
      made.set(l.lessonId, bar);
      bar.setTotal(total);
      bar.update(l.bytes === 0 ? (l.reported ? 1 : 0) : Math.min(l.bytes, l.bytesUploaded), payload);
    }
  };
  process.stdout.write(summary(first));
  draw(first);
  if (follow) {
    let stop = false;
    const onInt = (): void => {
      stop = true;
    };
    process.once('SIGINT', onInt);
    try {
      for (let s = first; !stop && s.pending > 0 && s.lessons.some((l) => !l.failed && !l.reported); ) {
        await new Promise((r) => setTimeout(r, 1000));
        s = await fetchListing(dataDir);
        draw(s);
      }
    } finally {
      process.removeListener('SIGINT', onInt);
    }
  }
  multi.stop();
}

export function registerUploadsCommands(program: Command): void {
  const uploads = program.command('uploads').description('recordings waiting for upload to the platform’s object store, and their progress');
  addStateOptions(
    uploads
      .command('list')
      .description('each cached lesson recording and how far its upload is (running agent, or its state)')
      .option('--watch', 'on a terminal: keep the progress bars moving until nothing is pending')
      .addOption(jsonOption()),
  ).action((opts: StateOptions & { json?: boolean; watch?: boolean }) =>
    runAction(async () => {
      const dataDir = dataDirFor(opts);
      const s = await fetchListing(dataDir);
      if (opts.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else if (process.stdout.isTTY) await bars(dataDir, s, opts.watch === true, false);
      else process.stdout.write(plainText(s));
      return 0;
    }),
  );
  addStateOptions(
    uploads
      .command('retry')
      .description('queue failed and waiting uploads now (skips the backoff and the spread delay); needs the running agent')
      .addOption(jsonOption()),
  ).action((opts: StateOptions & { json?: boolean }) =>
    runAction(async () => {
      const dataDir = dataDirFor(opts);
      const r = await controlRequest(dataDir, 'POST', '/uploads/retry', {});
      const err = r.body.error as { code?: string; message?: string } | undefined;
      if (r.status >= 400 || err) throw new LecternError(`${err?.code ?? 'error'}: ${err?.message ?? `status ${r.status}`}`, 'failed');
      const queued = Number(r.body.queued);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ queued })}\n`);
        return 0;
      }
      process.stdout.write(`queued ${queued} upload(s)\n`);
      if (process.stdout.isTTY && queued > 0) await bars(dataDir, await fetchListing(dataDir), true, true);
      return 0;
    }),
  );
}
