// The object store behind a small interface: the uploader never speaks S3 itself. The S3
// implementation loads the AWS SDK on first use only, so an agent with nothing to upload does
// not carry it in memory.
import type { Readable } from 'node:stream';
import { LecternError } from '../errors.js';

export interface StoredObject {
  size: number;
  etag: string | undefined;
  metadata: Record<string, string>;
}

export interface ObjectStore {
  /** Starts a multipart upload; returns its upload id. */
  createUpload(key: string, metadata: Record<string, string>, signal: AbortSignal): Promise<string>;
  /** Sends one part (`body` of `size` bytes, its MD5 in base64 for the store to check); returns the part's ETag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer | Readable, size: number, md5Base64: string, signal: AbortSignal): Promise<string>;
  completeUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[], signal: AbortSignal): Promise<string | undefined>;
  /** A single PUT (the manifest; the benchmark's comparison). Returns the ETag. */
  putObject(key: string, body: Buffer | Readable, size: number, contentType: string, metadata: Record<string, string>, signal: AbortSignal): Promise<string | undefined>;
  /** The object's size, ETag and metadata; undefined when there is none. */
  head(key: string, signal: AbortSignal): Promise<StoredObject | undefined>;
  close(): void;
}

/** What went wrong talking to the store, sorted by what the uploader does about it. */
export class StoreError extends LecternError {
  constructor(
    message: string,
    /** transient: retry with backoff; permanent: the request itself is refused (credentials,
     *  bucket, policy), retried only slowly; gone-upload: the store no longer knows the upload id. */
    readonly kind: 'transient' | 'permanent' | 'gone-upload',
    options?: { cause?: unknown },
  ) {
    super(message, 'store', options);
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}

export interface S3Settings {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  requestTimeoutSec: number;
}

type S3Module = typeof import('@aws-sdk/client-s3');

/** An S3-compatible store (AWS, MinIO, Ceph, the platform's own) through the AWS SDK v3. */
export class S3ObjectStore implements ObjectStore {
  private sdk: Promise<{ mod: S3Module; client: import('@aws-sdk/client-s3').S3Client }> | undefined;

  constructor(private readonly s: S3Settings) {}

  private load(): Promise<{ mod: S3Module; client: import('@aws-sdk/client-s3').S3Client }> {
    this.sdk ??= import('@aws-sdk/client-s3').then((mod) => ({
      mod,
      client: new mod.S3Client({
        endpoint: this.s.endpoint,
        region: this.s.region,
        forcePathStyle: this.s.forcePathStyle,
        ...(this.s.accessKeyId && this.s.secretAccessKey
          ? { credentials: { accessKeyId: this.s.accessKeyId, secretAccessKey: this.s.secretAccessKey } }
          : {}),
        // Retries are the uploader's (with its own backoff and persisted progress).
        maxAttempts: 1,
        // Integrity is checked with Content-MD5 per part and the ETags; the SDK's default
        // trailing checksums use aws-chunked bodies that many S3-compatible stores refuse.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: { connectionTimeout: 10_000, socketTimeout: this.s.requestTimeoutSec * 1000 },
      }),
    }));
    return this.sdk;
  }

  async createUpload(key: string, metadata: Record<string, string>, signal: AbortSignal): Promise<string> {
    const { mod, client } = await this.load();
    const r = await call(() =>
      client.send(new mod.CreateMultipartUploadCommand({ Bucket: this.s.bucket, Key: key, ContentType: 'video/mp2t', Metadata: metadata }), { abortSignal: signal }),
    );
    if (!r.UploadId) throw new StoreError(`the store started an upload of ${key} without an upload id`, 'transient');
    return r.UploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer | Readable, size: number, md5Base64: string, signal: AbortSignal): Promise<string> {
    const { mod, client } = await this.load();
    const command = new mod.UploadPartCommand({ Bucket: this.s.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: size, ContentMD5: md5Base64 });
    // The part's bytes are already bound to the request by its Content-MD5, a signed header that
    // the store checks, so the SDK need not take a sha256 of the whole body only to sign it (a
    // stream body, as under a bandwidth cap, is sent this way anyway).
    command.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        return next(args);
      },
      { step: 'build', name: 'lecternUnsignedPartPayload' },
    );
    const r = await call(() => client.send(command, { abortSignal: signal }));
    if (!r.ETag) throw new StoreError(`the store accepted part ${partNumber} of ${key} without an ETag`, 'transient');
    return r.ETag;
  }

  async completeUpload(key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[], signal: AbortSignal): Promise<string | undefined> {
    const { mod, client } = await this.load();
    const r = await call(() =>
      client.send(
        new mod.CompleteMultipartUploadCommand({
          Bucket: this.s.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
        { abortSignal: signal },
      ),
    );
    return r.ETag;
  }

  async putObject(key: string, body: Buffer | Readable, size: number, contentType: string, metadata: Record<string, string>, signal: AbortSignal): Promise<string | undefined> {
    const { mod, client } = await this.load();
    const r = await call(() =>
      client.send(new mod.PutObjectCommand({ Bucket: this.s.bucket, Key: key, Body: body, ContentLength: size, ContentType: contentType, Metadata: metadata }), {
        abortSignal: signal,
      }),
    );
    return r.ETag;
  }

  async head(key: string, signal: AbortSignal): Promise<StoredObject | undefined> {
    const { mod, client } = await this.load();
    try {
      const r = await client.send(new mod.HeadObjectCommand({ Bucket: this.s.bucket, Key: key }), { abortSignal: signal });
      return { size: r.ContentLength ?? 0, etag: r.ETag, metadata: r.Metadata ?? {} };
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (e as { name?: string }).name === 'NotFound') return undefined;
      throw classify(e);
    }
  }

  close(): void {
    void this.sdk?.then(({ client }) => client.destroy()).catch(() => undefined);
    this.sdk = undefined;
  }
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw classify(e);
  }
}

/** SDK and network errors as StoreErrors. */
export function classify(e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  const what = `${err.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err.message ?? String(e)}`;
  if (err.name === 'NoSuchUpload') return new StoreError(what, 'gone-upload', { cause: e });
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new StoreError(what, 'permanent', { cause: e });
  }
  return new StoreError(what, 'transient', { cause: e });
}
