// A real S3-compatible server for tests: s3rver (from npm) as its own process on a free loopback
// port, its data in a temporary dir, so a test can kill it mid-upload (like a store going down)
// and start it again on the same port and data.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { S3Client, ListObjectsV2Command, GetObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { freePort } from '../../agent/broker.js';
import { REPO } from './agent.js';
import { waitUntil } from './tmp.js';

export const S3_KEY = 'S3RVER';
export const S3_SECRET = 'S3RVER';

export class S3Server {
  private proc: ChildProcess | undefined;
  output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly bucket: string,
  ) {}

  static async start(dir: string, bucket = 'lessons'): Promise<S3Server> {
    const s = new S3Server(dir, await freePort(), bucket);
    await s.run();
    // s3rver's --configure-bucket needs files; make the bucket through the API instead.
    const c = s.client();
    await c.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: unknown) => {
      if ((e as { name?: string }).name !== 'BucketAlreadyOwnedByYou' && (e as { name?: string }).name !== 'BucketAlreadyExists') throw e;
    });
    c.destroy();
    return s;
  }

  /** The server process's id while it runs (the benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async run(): Promise<void> {
    this.output = '';
    const bin = join(REPO, 'node_modules/s3rver/bin/s3rver.js');
    const proc = spawn(process.execPath, [bin, '-d', this.dir, '-a', '127.0.0.1', '-p', String(this.port), '--silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc = proc;
    await waitUntil(
      () => {
        if (proc.exitCode !== null) throw new Error(`s3rver exited (${proc.exitCode}): ${this.output}`);
        return new Promise<boolean>((resolve) => {
          const sock = createConnection({ host: '127.0.0.1', port: this.port }, () => {
            sock.destroy();
            resolve(true);
          });
          sock.on('error', () => resolve(false));
        });
      },
      `s3rver on port ${this.port}`,
      20_000,
    );
  }

  /** Kills the server at once (connections in flight are cut, like a store going down). */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
  }

  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async keys(prefix = ''): Promise<string[]> {
    const c = this.client();
    try {
      const r = await c.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }));
      return (r.Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      c.destroy();
    }
  }

  async get(key: string): Promise<Buffer> {
    const c = this.client();
    try {
      const r = await c.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } finally {
      c.destroy();
    }
  }
}

/**
 * Real MPEG-TS segments from GStreamer (test video, H.264), `count` files of `seconds` each named
 * as the recorder names them (`seg-00001.ts`…): `small` ones of about 100 KB a second, `large`
 * ones (noise at a high bitrate) of about 1.5 MB a second. One gst-launch-1.0 per file (its
 * splitmuxsink now and then does not finish at end of stream here).
 */
export function recordTestSegments(dir: string, opts: { seconds: number; count: number; size?: 'small' | 'large'; first?: number }): void {
  const large = opts.size === 'large';
  for (let i = 0; i < opts.count; i++) {
    const file = join(dir, `seg-${String((opts.first ?? 1) + i).padStart(5, '0')}.ts`);
    const r = spawnSync(
      'gst-launch-1.0',
      [
        '-q',
        'videotestsrc',
        `num-buffers=${opts.seconds * 25}`,
        `pattern=${large ? 'snow' : 'smpte'}`,
        '!',
        `video/x-raw,width=${large ? 640 : 320},height=${large ? 360 : 240},framerate=25/1`,
        '!',
        'x264enc',
        `bitrate=${large ? 12000 : 800}`,
        'key-int-max=25',
        'speed-preset=ultrafast',
        '!',
        'h264parse',
        '!',
        'mpegtsmux',
        '!',
        'filesink',
        `location=${file}`,
      ],
      { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (r.status !== 0) throw new Error(`gst-launch-1.0 failed (${r.status ?? r.signal}): ${r.stderr}`);
  }
}
