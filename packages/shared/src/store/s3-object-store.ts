import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { TidemarkError } from '../core/errors.js';
import { compareKeys, validateKey } from './object-key.js';
import type { ObjectBody, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { isNotFound, isPreconditionFailed, isTransientS3Error, toStoreError } from './s3-errors.js';
import {
  DEFAULT_RETRY_POLICY,
  RetriesExhausted,
  type RetryPolicy,
  type StoreLogger,
  withRetries,
} from './s3-retry.js';

const MiB = 1024 * 1024;
/** S3's limits: parts of at least 5 MiB (except the last), at most 10,000 of them, keys of at most 1024 bytes */
const MIN_PART_BYTES = 5 * MiB;
const MAX_PARTS = 10_000;
const MAX_SINGLE_PUT_BYTES = 5 * 1024 * MiB;
const MAX_FULL_KEY_BYTES = 1024;
/** user metadata `x-amz-meta-tidemark-sha256`: hex SHA-256 of the whole object, set on single-request puts */
const SHA256_METADATA = 'tidemark-sha256';
/** uploads of one object whose read-back does not match before we give up */
const WRITE_ROUNDS = 3;
const encoder = new TextEncoder();

export type VerifyWrites = 'read-back' | 'checksum';

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** prepended to every key with a `/`; e.g. `tidemark/prod` */
  readonly prefix?: string;
  readonly region: string;
  /** for S3-compatible stores: `https://minio.example:9000`; absent for AWS S3 */
  readonly endpoint?: string;
  /** path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need */
  readonly forcePathStyle?: boolean;
  /** default: the AWS SDK's standard chain (environment, profile, SSO, web identity, container and instance roles) */
  readonly credentials?: S3ClientConfig['credentials'];
  /** bodies up to this size go in one PutObject, larger ones (and longer streams) as multipart uploads; default 16 MiB */
  readonly multipartThresholdBytes?: number;
  /** multipart part size, at least 5 MiB; at most 10,000 parts, so this bounds the object size; default 16 MiB (160 GiB) */
  readonly partSizeBytes?: number;
  /** parts uploaded at once per object (each buffered in memory); default 4 */
  readonly partConcurrency?: number;
  /** attempts per request, including the first; default 8 */
  readonly maxAttempts?: number;
  /** backoff base and cap; defaults 100 ms and 10 s */
  readonly retryBaseDelayMs?: number;
  readonly retryMaxDelayMs?: number;
  /**
   * How a put makes sure the store holds what was sent (see the class comment). Default
   * `checksum` for AWS S3 (no endpoint), which verifies Content-MD5 itself, and `read-back`
   * for S3-compatible endpoints, some of which ignore checksum headers.
   */
  readonly verifyWrites?: VerifyWrites;
  /** with `read-back`, larger objects get the size check only; default 256 MiB */
  readonly readBackMaxBytes?: number;
  /** a socket idle this long fails the request (which is then retried); default 60 s */
  readonly requestTimeoutMs?: number;
  /** retries and detected replacements are logged here */
  readonly logger?: StoreLogger;
  /**
   * S3 Object Lock mode of puts with `retainUntil` (default governance). Set, `delete`
   * first reads the object's retain-until date and refuses a locked object with
   * OBJECT_LOCKED: in a versioned (Object Lock) bucket a plain DeleteObject would succeed
   * with a delete marker, hiding an object that is still retained.
   */
  readonly objectLockMode?: 'governance' | 'compliance';
}

interface UploadResult {
  /** absent when the store's answer was lost and the object was recognised as ours */
  readonly etag: string | undefined;
  readonly size: number;
  readonly sha256: string;
}

type Verdict = { ok: true } | { ok: false; size: number; sha256: string | undefined };

/** A read that does not match what the store itself says about the object: retried, and if it persists, reported. */
class IntegrityMismatch extends Error {
  constructor(
    message: string,
    readonly facts: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'IntegrityMismatch';
  }
}

/**
 * An ObjectStore on AWS S3 or an S3-compatible store, through @aws-sdk/client-s3.
 *
 * **Atomicity.** S3 makes an object visible whole when its PutObject or
 * CompleteMultipartUpload succeeds, so a put is atomic. Bodies up to
 * `multipartThresholdBytes` are buffered and sent in one PutObject; longer bodies are cut
 * into `partSizeBytes` parts and uploaded as a multipart upload, which is aborted when the
 * body or an upload fails, so nothing becomes visible. (An abort that itself fails leaves
 * invisible parts that cost storage: give the bucket a lifecycle rule
 * `AbortIncompleteMultipartUpload` of a day or so.)
 *
 * **Integrity.** Every PutObject and UploadPart carries Content-MD5, which AWS S3 verifies.
 * Single-request puts also store the SHA-256 of the object as user metadata
 * (`x-amz-meta-tidemark-sha256`), and every `get`/`getStream` checks it, so an object damaged
 * at rest or on the way is never returned as good (`get` retries, then fails; `getStream`
 * fails at the end). After a put, `verifyWrites: 'checksum'` checks with HeadObject that the
 * object has the size written; `'read-back'` reads it back and compares length and SHA-256
 * (up to `readBackMaxBytes`), because not every S3-compatible store verifies checksums, and
 * some store what they were sent rather than what was meant (s3rver 3.x keeps the SDK's
 * aws-chunked framing in the object). A read-back that differs from what was sent is
 * uploaded again (three rounds in all; a stream that was already consumed cannot be); then
 * the damaged object, if still ours, is deleted and the put fails with STORE_UNAVAILABLE,
 * not retriable. A read-back that finds another writer's ETag is last-writer-wins, not
 * damage. Requests never use aws-chunked encoding: the client is built
 * with `requestChecksumCalculation`/`responseChecksumValidation: 'WHEN_REQUIRED'` and sends
 * known-length bodies. Multipart objects carry no whole-object SHA-256 (it is known only after
 * the upload started): reads check their length; Tidemark's segments and snapshot files
 * carry their own checksums.
 *
 * **ifNoneMatch** is sent as `If-None-Match: *` (AWS S3 honours it since August 2024; 412
 * becomes OBJECT_EXISTS). Stand-ins that ignore it overwrite. Tidemark does not rely on it
 * for the journal's tip: each source has one writer (the journal instance owning the
 * source's Kafka partition, or the embedded process), and the hash chain makes segments from
 * a second writer detectable. A retried put whose first answer was lost and that then meets
 * 412 compares the stored object with its own before reporting OBJECT_EXISTS.
 *
 * **Retries.** Each request is retried by our own loop (the SDK's is off) with capped
 * exponential backoff and full jitter on throttling (429, 503 SlowDown), 5xx, timeouts and
 * connection failures; a stream cut short while reading resumes with a Range request pinned
 * to the object's ETag. What outlasts the retries is STORE_UNAVAILABLE (retriable); a missing
 * bucket, refused credentials or a wrong region are CONFIG_INVALID with what to change.
 */
export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly region: string;
  private readonly prefix: string;
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly policy: RetryPolicy;
  private readonly verifyWrites: VerifyWrites;
  private readonly readBackMaxBytes: number;
  private readonly logger: StoreLogger | undefined;
  private readonly objectLockMode: 'governance' | 'compliance' | undefined;

  constructor(options: S3ObjectStoreOptions) {
    const invalid = (message: string) => new TidemarkError('CONFIG_INVALID', `S3 object store: ${message}`);
    if (options.bucket === '') throw invalid('bucket must not be empty');
    const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix !== '') {
      try {
        validateKey(prefix);
      } catch (err) {
        throw invalid(`prefix ${JSON.stringify(options.prefix)} is not usable: ${(err as Error).message}`);
      }
    }
    this.bucket = options.bucket;
    this.region = options.region;
    this.prefix = prefix === '' ? '' : `${prefix}/`;
    this.partSize = options.partSizeBytes ?? 16 * MiB;
    this.threshold = options.multipartThresholdBytes ?? 16 * MiB;
    this.partConcurrency = options.partConcurrency ?? 4;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_BYTES)
      throw invalid(`partSizeBytes must be an integer of at least ${MIN_PART_BYTES} (5 MiB, S3's minimum)`);
    if (!Number.isSafeInteger(this.threshold) || this.threshold < 0 || this.threshold > MAX_SINGLE_PUT_BYTES)
      throw invalid('multipartThresholdBytes must be an integer between 0 and 5 GiB');
    if (!Number.isSafeInteger(this.partConcurrency) || this.partConcurrency < 1)
      throw invalid('partConcurrency must be a positive integer');
    this.policy = {
      maxAttempts: options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
      baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.retryMaxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    };
    if (!Number.isSafeInteger(this.policy.maxAttempts) || this.policy.maxAttempts < 1)
      throw invalid('maxAttempts must be a positive integer');
    this.verifyWrites = options.verifyWrites ?? (options.endpoint === undefined ? 'checksum' : 'read-back');
    this.readBackMaxBytes = options.readBackMaxBytes ?? 256 * MiB;
    this.logger = options.logger;
    this.objectLockMode = options.objectLockMode;
    this.description =
      `s3://${this.bucket}/${this.prefix}` +
      (options.endpoint === undefined ? '' : ` at ${options.endpoint}`);
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: options.requestTimeoutMs ?? 60_000 },
    });
  }

  /** Closes the client's idle connections. */
  destroy(): void {
    this.client.destroy();
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<void> {
    const full = this.fullKey(key);
    const ifNoneMatch = options.ifNoneMatch === true;
    let source: Source;
    if (body instanceof Uint8Array) {
      source = { whole: body };
    } else {
      source = await bufferUpTo(body, this.threshold);
    }
    // after a read-back mismatch, replace exactly our own damaged object: If-Match its ETag
    let condition: Condition = ifNoneMatch ? { kind: 'if-none-match' } : { kind: 'none' };
    const lock = lockHeaders(options.retainUntil, this.objectLockMode);
    for (let round = 1; ; round++) {
      const written: UploadResult =
        'whole' in source && source.whole.byteLength <= this.threshold
          ? await this.putSingle(full, key, source.whole, condition, lock)
          : await this.putMultipart(full, key, partsOf(source, this.partSize), condition, lock);
      const verdict = await this.verifyWrite(full, key, written);
      if (verdict.ok) return;
      const facts = {
        key,
        store: this.description,
        round,
        written: { size: written.size, sha256: written.sha256 },
        stored: { size: verdict.size, sha256: verdict.sha256 },
      };
      const etag: string | undefined = written.etag ?? (await this.headRaw(full, key))?.ETag;
      if (round >= WRITE_ROUNDS || !('whole' in source)) {
        // a failed put leaves nothing: remove the damaged object if it is still the one we wrote
        const removed = etag !== undefined && (await this.headRaw(full, key))?.ETag === etag;
        if (removed) await this.delete(key);
        throw new TidemarkError(
          'STORE_UNAVAILABLE',
          `put ${key} in ${this.description}: the store does not hold what was written ` +
            `(${written.size} bytes, SHA-256 ${written.sha256}; read back ${verdict.size} bytes, ` +
            `SHA-256 ${verdict.sha256 ?? 'not computed'}); ${removed ? 'the damaged object was removed' : 'the object must not be trusted'}. ` +
            'The store, or something between us and it, changes object data: check the endpoint (a proxy, or a ' +
            "store that keeps the SDK's aws-chunked framing) before writing again",
          { retriable: false, details: { ...facts, removed } },
        );
      }
      this.logger?.warn(facts, 'object store returned other bytes than were written, writing again');
      // replace exactly our own damaged object; a conditional put stays conditional
      condition =
        ifNoneMatch && etag !== undefined
          ? { kind: 'if-match', etag }
          : ifNoneMatch
            ? condition
            : { kind: 'none' };
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const full = this.fullKey(key);
    return this.call('get', key, async () => {
      const response = await this.send(key, () =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: full })),
      );
      const chunks: Uint8Array[] = [];
      const hash = createHash('sha256');
      for await (const chunk of bodyOf(response)) {
        chunks.push(chunk);
        hash.update(chunk);
      }
      const b = Buffer.concat(chunks);
      this.checkRead(key, response, b.byteLength, hash.digest('hex'));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    });
  }

  /**
   * Opens the object at once (so a missing key fails here); iterate the result promptly, or
   * break out of it: an opened but unread response holds a connection until the idle timeout.
   */
  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const full = this.fullKey(key);
    const first = await this.call('get', key, () =>
      this.send(key, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: full }))),
    );
    return this.readStream(full, key, first);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const full = this.fullKey(key);
    const h = await this.headRaw(full, key);
    if (h === undefined) return undefined;
    return { key, size: h.ContentLength ?? 0, modified: h.LastModified ?? new Date(0) };
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    const dirPrefix = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (dirPrefix !== '') validateKey(dirPrefix.slice(0, -1));
    const startAfter =
      options.startAfter === undefined || options.startAfter === ''
        ? undefined
        : this.prefix + options.startAfter;
    let token: string | undefined;
    let previous: string | undefined;
    do {
      const page = await this.call('list', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(token === undefined ? (startAfter === undefined ? {} : { StartAfter: startAfter }) : {}),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.prefix)) continue;
        const key = o.Key.slice(this.prefix.length);
        // callers rely on S3's byte order (the journal's keys sort in chain order): never pass on a store's disorder
        if (previous !== undefined && compareKeys(previous, key) >= 0) {
          throw new TidemarkError(
            'STORE_UNAVAILABLE',
            `list ${prefix} in ${this.description}: the store listed ${JSON.stringify(key)} after ` +
              `${JSON.stringify(previous)}, out of byte order; Tidemark needs S3's ordered listings`,
            { retriable: false, details: { prefix, previous, key } },
          );
        }
        previous = key;
        yield { key, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      if (page.IsTruncated === true && token === undefined) {
        throw new TidemarkError(
          'STORE_UNAVAILABLE',
          `list ${prefix} in ${this.description}: the store said the listing continues but gave no continuation token`,
          { retriable: false, details: { prefix } },
        );
      }
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    const full = this.fullKey(key);
    if (this.objectLockMode !== undefined) {
      const until = (await this.headRaw(full, key))?.ObjectLockRetainUntilDate;
      if (until !== undefined && until.getTime() > Date.now())
        throw new TidemarkError(
          'OBJECT_LOCKED',
          `cannot delete ${key} in ${this.description}: S3 Object Lock retains it until ${until.toISOString()}; it can be deleted after that`,
          { details: { key, retainUntil: until.toISOString() } },
        );
    }
    await this.call('delete', key, async () => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: full }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    });
  }

  // ---- writing -----------------------------------------------------------------------------

  private async putSingle(
    full: string,
    key: string,
    bytes: Uint8Array,
    condition: Condition,
    lock: LockHeaders,
  ): Promise<UploadResult> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const md5 = createHash('md5').update(bytes).digest('base64');
    const etag = await this.call('put', key, async (attempt) => {
      try {
        const r = await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: full,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentMD5: md5,
            ContentType: 'application/octet-stream',
            Metadata: { [SHA256_METADATA]: sha256 },
            ...conditionHeaders(condition),
            ...lock,
          }),
        );
        return r.ETag;
      } catch (err) {
        if (!isPreconditionFailed(err)) throw err;
        // an earlier attempt may have stored the object and lost only its answer
        if (attempt > 1 && (await this.storedSha256(full, key)) === sha256) return undefined;
        throw this.exists(key, condition);
      }
    });
    return { etag, size: bytes.byteLength, sha256 };
  }

  private async putMultipart(
    full: string,
    key: string,
    parts: AsyncIterable<Uint8Array>,
    condition: Condition,
    lock: LockHeaders,
  ): Promise<UploadResult> {
    const created = await this.call('put', key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: full,
          ContentType: 'application/octet-stream',
          ...lock,
        }),
      ),
    );
    const uploadId = created.UploadId;
    if (uploadId === undefined) {
      throw new TidemarkError(
        'STORE_UNAVAILABLE',
        `put ${key} in ${this.description}: no multipart upload id`,
        {
          retriable: true,
        },
      );
    }
    const hash = createHash('sha256');
    let size = 0;
    const completed: { PartNumber: number; ETag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { err: unknown } | undefined;
    try {
      let partNumber = 0;
      for await (const part of parts) {
        if (failure) break;
        partNumber++;
        if (partNumber > MAX_PARTS) {
          throw new TidemarkError(
            'BAD_REQUEST',
            `put ${key} in ${this.description}: the object is larger than ${MAX_PARTS} parts of ` +
              `${this.partSize} bytes; configure a larger partSizeBytes`,
            { details: { key } },
          );
        }
        hash.update(part);
        size += part.byteLength;
        const n = partNumber;
        const task = this.uploadPart(full, key, uploadId, n, part).then(
          (etag) => {
            completed.push({ PartNumber: n, ETag: etag });
          },
          (err: unknown) => {
            failure ??= { err };
          },
        );
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
        if (inFlight.size >= this.partConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure) throw failure.err;
      completed.sort((a, b) => a.PartNumber - b.PartNumber);
      const sha256 = hash.digest('hex');
      const etag = await this.completeUpload(full, key, uploadId, completed, condition, sha256);
      return { etag, size, sha256 };
    } catch (err) {
      // let running part uploads end first: a part stored after the abort would linger
      await Promise.all(inFlight);
      await this.abortUpload(full, key, uploadId);
      throw err;
    }
  }

  private uploadPart(
    full: string,
    key: string,
    uploadId: string,
    n: number,
    part: Uint8Array,
  ): Promise<string> {
    const md5 = createHash('md5').update(part).digest('base64');
    return this.call('put', key, async () => {
      const r = await this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: full,
          UploadId: uploadId,
          PartNumber: n,
          Body: part,
          ContentLength: part.byteLength,
          ContentMD5: md5,
        }),
      );
      if (r.ETag === undefined) throw new Error(`the store answered part ${n} without an ETag`);
      return r.ETag;
    });
  }

  private async completeUpload(
    full: string,
    key: string,
    uploadId: string,
    parts: { PartNumber: number; ETag: string }[],
    condition: Condition,
    sha256: string,
  ): Promise<string | undefined> {
    return this.call('put', key, async (attempt) => {
      try {
        const r = await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: full,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
            ...conditionHeaders(condition),
          }),
        );
        return r.ETag;
      } catch (err) {
        const code = (err as { name?: unknown }).name;
        // an earlier attempt completed the upload and lost only its answer: the upload is gone
        if (attempt > 1 && (code === 'NoSuchUpload' || isPreconditionFailed(err))) {
          if ((await this.storedSha256(full, key)) === sha256) return undefined;
        }
        if (isPreconditionFailed(err)) throw this.exists(key, condition);
        throw err;
      }
    });
  }

  private async abortUpload(full: string, key: string, uploadId: string): Promise<void> {
    try {
      await this.call('abort-upload', key, async () => {
        try {
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: full, UploadId: uploadId }),
          );
        } catch (err) {
          if (!isNotFound(err)) throw err; // NoSuchUpload: already gone
        }
      });
    } catch (err) {
      // the put fails anyway; the parts are invisible and a lifecycle rule removes them
      this.logger?.warn(
        { key, store: this.description, uploadId, err: (err as Error).message },
        'could not abort a failed multipart upload; its parts stay until the bucket lifecycle rule removes them',
      );
    }
  }

  /** Checks the object just written: size by HeadObject, or length and SHA-256 by reading it back. */
  private async verifyWrite(full: string, key: string, written: UploadResult): Promise<Verdict> {
    const replaced = (etag: string | undefined) => {
      if (written.etag === undefined || etag === undefined || etag === written.etag) return false;
      // another writer put the key after us (last writer wins): our write was whole, theirs is now current
      this.logger?.warn(
        { key, store: this.description, ours: written.etag, current: etag },
        'object was replaced by another writer before it could be verified',
      );
      return true;
    };
    if (this.verifyWrites === 'checksum' || written.size > this.readBackMaxBytes) {
      const h = await this.headRaw(full, key);
      if (h === undefined) return { ok: false, size: 0, sha256: undefined };
      if (replaced(h.ETag)) return { ok: true };
      return h.ContentLength === written.size
        ? { ok: true }
        : { ok: false, size: h.ContentLength ?? 0, sha256: undefined };
    }
    return this.call('put', key, async () => {
      let response: GetObjectCommandOutput;
      try {
        response = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: full,
            ...(written.etag === undefined ? {} : { IfMatch: written.etag }),
          }),
        );
      } catch (err) {
        if (isPreconditionFailed(err)) return { ok: true } as const; // replaced meanwhile, see above
        if (isNotFound(err)) return { ok: false, size: 0, sha256: undefined } as const;
        throw err;
      }
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of bodyOf(response)) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
      if (response.ContentLength !== undefined && size !== response.ContentLength) {
        throw new IntegrityMismatch('read-back cut short', { expected: response.ContentLength, got: size });
      }
      const sha256 = hash.digest('hex');
      if (size === written.size && sha256 === written.sha256) return { ok: true } as const;
      if (replaced(response.ETag)) return { ok: true } as const;
      return { ok: false, size, sha256 } as const;
    });
  }

  /** SHA-256 of the stored object, or undefined if absent. */
  private async storedSha256(full: string, key: string): Promise<string | undefined> {
    return this.call('put', key, async () => {
      let response: GetObjectCommandOutput;
      try {
        response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: full }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      const hash = createHash('sha256');
      for await (const chunk of bodyOf(response)) hash.update(chunk);
      return hash.digest('hex');
    });
  }

  // ---- reading -----------------------------------------------------------------------------

  private async *readStream(
    full: string,
    key: string,
    first: GetObjectCommandOutput,
  ): AsyncGenerator<Uint8Array> {
    const total = first.ContentLength;
    const etag = first.ETag;
    const hash = createHash('sha256');
    let offset = 0;
    let response = first;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const chunk of bodyOf(response)) {
          hash.update(chunk);
          offset += chunk.byteLength;
          yield chunk;
        }
        if (total === undefined || offset === total) break;
        throw new IntegrityMismatch('response body cut short', { expected: total, got: offset });
      } catch (err) {
        if (total !== undefined && offset === total) break; // everything arrived before the connection broke
        if (!(err instanceof IntegrityMismatch || isTransientS3Error(err)))
          throw toStoreError(err, this.ctx('get', key));
        if (attempt >= this.policy.maxAttempts) {
          throw toStoreError(err, { ...this.ctx('get', key), attempts: attempt });
        }
        this.logger?.warn(
          { op: 'get', key, store: this.description, offset, attempt, err: (err as Error).message },
          'object read broke off, resuming',
        );
        // the rest of the same object version: a replaced object answers 412 and the read fails whole
        response = await this.call('get', key, async () => {
          try {
            return await this.client.send(
              new GetObjectCommand({
                Bucket: this.bucket,
                Key: full,
                Range: `bytes=${offset}-`,
                ...(etag === undefined ? {} : { IfMatch: etag }),
              }),
            );
          } catch (e) {
            if (!isPreconditionFailed(e) && !isNotFound(e)) throw e;
            throw new TidemarkError(
              'STORE_UNAVAILABLE',
              `get ${key} in ${this.description}: the object was replaced or deleted while it was read; read it again`,
              { cause: e, details: { key, offset } },
            );
          }
        });
      }
    }
    this.checkRead(key, first, offset, hash.digest('hex'), false);
  }

  /** Throws if what arrived is not the object the store describes in the response headers. */
  private checkRead(
    key: string,
    response: GetObjectCommandOutput,
    size: number,
    sha256: string,
    retriable = true,
  ): void {
    const expectedSha = response.Metadata?.[SHA256_METADATA];
    const sizeOk = response.ContentLength === undefined || response.ContentLength === size;
    if (sizeOk && (expectedSha === undefined || expectedSha === sha256)) return;
    const facts = {
      key,
      store: this.description,
      expectedSize: response.ContentLength,
      size,
      expectedSha256: expectedSha,
      sha256,
    };
    if (retriable) throw new IntegrityMismatch('read does not match the stored checksum', facts);
    throw this.corrupt(key, facts);
  }

  private corrupt(key: string, facts: Record<string, unknown>): TidemarkError {
    return new TidemarkError(
      'STORE_UNAVAILABLE',
      `get ${key} in ${this.description}: the object read does not match the checksum stored with it ` +
        `(${facts.size} bytes with SHA-256 ${facts.sha256}; written as ${facts.expectedSize} bytes with SHA-256 ` +
        `${facts.expectedSha256}). It was damaged in the store or on the way, or changed behind Tidemark's back; ` +
        'it is not used',
      { retriable: false, details: facts },
    );
  }

  private async headRaw(full: string, key: string) {
    return this.call('head', key, async () => {
      try {
        return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: full }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  // ---- plumbing ----------------------------------------------------------------------------

  /** Runs one request with retries, mapping what finally fails to a TidemarkError. */
  private async call<T>(op: string, key: string, attempt: (n: number) => Promise<T>): Promise<T> {
    try {
      return await withRetries(
        {
          policy: this.policy,
          logger: this.logger,
          fields: { op, key, store: this.description },
          isTransient: (err) => err instanceof IntegrityMismatch || isTransientS3Error(err),
          describe: describeForLog,
        },
        attempt,
      );
    } catch (err) {
      if (err instanceof RetriesExhausted) {
        if (err.last instanceof IntegrityMismatch) throw this.corrupt(key, err.last.facts);
        throw toStoreError(err.last, { ...this.ctx(op, key), attempts: err.attempts });
      }
      throw toStoreError(err, this.ctx(op, key));
    }
  }

  /** A GetObject that fails with NoSuchKey is OBJECT_NOT_FOUND at once, not retried. */
  private async send<T>(key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (isNotFound(err)) throw this.notFound(key);
      throw err;
    }
  }

  private ctx(op: string, key: string) {
    return { op, key, store: this.description, bucket: this.bucket, region: this.region };
  }

  private fullKey(key: string): string {
    validateKey(key);
    const full = this.prefix + key;
    if (encoder.encode(full).length > MAX_FULL_KEY_BYTES) {
      throw new TidemarkError(
        'BAD_REQUEST',
        `invalid object key ${JSON.stringify(key)}: with the store prefix it is longer than ${MAX_FULL_KEY_BYTES} bytes`,
        { details: { key } },
      );
    }
    return full;
  }

  private notFound(key: string): TidemarkError {
    return new TidemarkError('OBJECT_NOT_FOUND', `object ${key} does not exist in ${this.description}`, {
      details: { key },
    });
  }

  private exists(key: string, condition: Condition): TidemarkError {
    const why =
      condition.kind === 'if-match'
        ? 'it was replaced by another writer while being rewritten'
        : 'it was left unchanged';
    return new TidemarkError('OBJECT_EXISTS', `object ${key} already exists in ${this.description}; ${why}`, {
      details: { key },
    });
  }
}

// ---- bodies ------------------------------------------------------------------------------

type Condition =
  | { readonly kind: 'none' }
  | { readonly kind: 'if-none-match' }
  | { readonly kind: 'if-match'; readonly etag: string };

type LockHeaders =
  | { readonly ObjectLockMode: 'GOVERNANCE' | 'COMPLIANCE'; readonly ObjectLockRetainUntilDate: Date }
  | Record<string, never>;

/** Object Lock parameters of a put (S3 requires Content-MD5 with them, which every put sends). */
function lockHeaders(until: Date | undefined, mode: 'governance' | 'compliance' | undefined): LockHeaders {
  if (until === undefined) return {};
  return {
    ObjectLockMode: mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    ObjectLockRetainUntilDate: until,
  };
}

function conditionHeaders(condition: Condition): { IfNoneMatch?: string; IfMatch?: string } {
  if (condition.kind === 'if-none-match') return { IfNoneMatch: '*' };
  if (condition.kind === 'if-match') return { IfMatch: condition.etag };
  return {};
}

/** A body either whole in memory, or its first chunks plus the rest of the stream. */
type Source =
  | { whole: Uint8Array }
  | { head: Uint8Array[]; headBytes: number; rest: AsyncIterator<Uint8Array> };

/** Reads up to `limit` bytes: the whole body if it is no longer, else what was read and the iterator. */
async function bufferUpTo(body: AsyncIterable<Uint8Array>, limit: number): Promise<Source> {
  const it = body[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  for (;;) {
    const next = await it.next();
    if (next.done === true) {
      const b = Buffer.concat(head);
      return { whole: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
    }
    head.push(next.value);
    headBytes += next.value.byteLength;
    if (headBytes > limit) return { head, headBytes, rest: it };
  }
}

/** Cuts a source into parts of exactly `partSize` bytes (the last may be shorter), copying stream chunks. */
async function* partsOf(source: Source, partSize: number): AsyncGenerator<Uint8Array> {
  if ('whole' in source) {
    for (let at = 0; at < source.whole.byteLength; at += partSize) {
      yield source.whole.subarray(at, Math.min(at + partSize, source.whole.byteLength));
    }
    return;
  }
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const take = function* (chunk: Uint8Array): Generator<Uint8Array> {
    let c = chunk;
    while (pendingBytes + c.byteLength >= partSize) {
      const need = partSize - pendingBytes;
      pending.push(c.subarray(0, need));
      yield Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      c = c.subarray(need);
    }
    if (c.byteLength > 0) {
      pending.push(Uint8Array.from(c));
      pendingBytes += c.byteLength;
    }
  };
  let finished = false;
  try {
    for (const chunk of source.head) yield* take(chunk);
    for (;;) {
      const next = await source.rest.next();
      if (next.done === true) break;
      yield* take(next.value);
    }
    finished = true;
  } finally {
    // stopped early (an upload failed): let the caller's stream release what it holds
    if (!finished) await source.rest.return?.();
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

function bodyOf(response: GetObjectCommandOutput): AsyncIterable<Uint8Array> {
  const body = response.Body as AsyncIterable<Uint8Array> | undefined;
  return body ?? (async function* () {})();
}

function describeForLog(err: unknown): Record<string, unknown> {
  if (err instanceof IntegrityMismatch) return { error: err.message, ...err.facts };
  const e = err as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  return { error: `${String(e.name)}: ${String(e.message)}`, status: e.$metadata?.httpStatusCode };
}
