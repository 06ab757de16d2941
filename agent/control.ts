import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.js';
import { CommandError } from './commands.js';
import { errorMessage } from './errors.js';
import { MAX_TIMETABLE_BYTES } from './timetable/validate.js';

export const CONTROL_SOCKET = 'control.sock';

export interface ControlHandlers {
  status(): Promise<Record<string, unknown>>;
  lessonStart(body: Record<string, unknown>): Promise<Record<string, unknown>>;
  lessonStop(body: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** A timetable file's bytes, exactly as read, for the same receiver the platform's copy goes through. */
  timetableApply(payload: Buffer): Promise<Record<string, unknown>>;
  /** The last `lines` log lines the agent kept in memory (for support bundles without journald). */
  logs?(lines: number): Promise<Record<string, unknown>>;
  uploads?(): Promise<Record<string, unknown>>;
  uploadsRetry?(): Promise<Record<string, unknown>>;
}

const MAX_BODY = 64 * 1024;

/**
 * The local control channel of the running daemon, for `lectern lesson …` and `lectern status`:
 * HTTP on a unix socket in the data dir, readable only by the agent's user and group (no
 * network exposure). Errors come back as `{ error: { code, message } }` with the contract's
 * codes, so the CLI and the platform see the same answers.
 */
export class ControlServer {
  private server: Server | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly handlers: ControlHandlers,
    private readonly log: Logger,
  ) {}

  get path(): string {
    return join(this.dataDir, CONTROL_SOCKET);
  }

  async start(): Promise<void> {
    // A socket file left by a killed agent would make listen() fail.
    if (existsSync(this.path)) unlinkSync(this.path);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.log.error({ err: e }, 'control request failed'));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o660);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      let result: Record<string, unknown>;
      if (req.method === 'POST' && req.url === '/timetable/apply') {
        // The file's bytes as they are: the receiver compares them with the applied timetable.
        result = await this.handlers.timetableApply(await readBody(req, MAX_TIMETABLE_BYTES, 'timetable'));
        send(res, 200, result);
        return;
      }
      const body = req.method === 'POST' ? await readJson(req) : {};
      if (req.method === 'GET' && req.url === '/status') result = await this.handlers.status();
      else if (req.method === 'POST' && req.url === '/lesson/start') result = await this.handlers.lessonStart(body);
      else if (req.method === 'POST' && req.url === '/lesson/stop') result = await this.handlers.lessonStop(body);
      else if (req.method === 'GET' && /^\/logs(\?lines=\d{1,4})?$/.test(req.url ?? '') && this.handlers.logs) {
        result = await this.handlers.logs(Math.min(2000, Number(/lines=(\d+)/.exec(req.url ?? '')?.[1] ?? 500)));
      }
      else if (req.method === 'GET' && req.url === '/uploads' && this.handlers.uploads) result = await this.handlers.uploads();
      else if (req.method === 'POST' && req.url === '/uploads/retry' && this.handlers.uploadsRetry) result = await this.handlers.uploadsRetry();
      else throw new CommandError('unknown-command', `no such control request: ${req.method ?? ''} ${req.url ?? ''}`);
      send(res, 200, result);
    } catch (e) {
      const code = e instanceof CommandError ? e.code : 'internal';
      const status = code === 'conflict' ? 409 : code === 'bad-request' ? 400 : code === 'unknown-command' ? 404 : code === 'device-error' ? 503 : 500;
      send(res, status, { error: { code, message: errorMessage(e) } });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new CommandError('bad-request', `${what} larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, MAX_BODY, 'request body');
  if (!raw.length) return {};
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new CommandError('bad-request', 'request body is not a JSON object');
}

/** The CLI side: one request to the running daemon. A Buffer body is sent as it is, anything else as JSON. */
export function controlRequest(
  dataDir: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const socketPath = join(dataDir, CONTROL_SOCKET);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { 'content-type': 'application/json' }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('the agent did not answer within 30 s')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new Error(`the agent is not running with data dir ${dataDir} (no control socket at ${socketPath})`)
          : e,
      );
    });
    if (body !== undefined) req.write(Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}
