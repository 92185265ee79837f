import { TidemarkError } from '../core/errors.js';

/** What an error thrown by an S3 request tells us, whatever its shape (SDK service error, socket error, timeout). */
export interface S3Failure {
  /** HTTP status, absent when no response arrived */
  readonly status: number | undefined;
  /** S3 error code (`NoSuchKey`, `SlowDown` ...), a socket error code, or the error's name */
  readonly code: string;
  readonly message: string;
  readonly requestId: string | undefined;
  /** from the response header, when S3 says the bucket lives elsewhere */
  readonly bucketRegion: string | undefined;
}

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { headers?: Record<string, string | undefined> };
  cause?: unknown;
}

export function s3Failure(err: unknown): S3Failure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const codeOf = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const code = codeOf(e.Code) ?? codeOf(e.code) ?? codeOf(e.name) ?? 'Error';
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  return {
    status,
    code: code === 'Unknown' || code === 'UnknownError' || code === 'Error' ? `HTTP ${status ?? '-'}` : code,
    message,
    requestId: e.$metadata?.requestId,
    bucketRegion: e.$response?.headers?.['x-amz-bucket-region'],
  };
}

/** Server-side trouble that goes away: throttling and overload. */
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout', // 400: the socket was idle too long while sending the body
  'RequestTimeTooSkewed', // 403: the SDK corrects its clock offset from the answer
  'OperationAborted', // 409: a conflicting operation on the same object is in progress
  'ConditionalRequestConflict', // 409: a concurrent conditional write on the same key
  'TimeoutError',
]);

/** Client-side faults that are ours or our configuration's, never network trouble. */
const PERMANENT_LOCAL = new Set(['CredentialsProviderError', 'TypeError', 'RangeError', 'SyntaxError']);

/** Whether retrying the same request can succeed. */
export function isTransientS3Error(err: unknown): boolean {
  if (err instanceof TidemarkError) return err.retriable;
  const f = s3Failure(err);
  if (TRANSIENT_CODES.has(f.code)) return true;
  if (f.status === undefined) {
    // no HTTP answer: connection refused or reset, timeout, a body cut short
    const name = (err as { name?: unknown } | null)?.name;
    return !(typeof name === 'string' && PERMANENT_LOCAL.has(name));
  }
  // 2xx with an error: the answer could not be read (cut short or garbled on the way)
  return f.status === 429 || f.status >= 500 || (f.status >= 200 && f.status < 300);
}

export function isNotFound(err: unknown): boolean {
  const f = s3Failure(err);
  return f.code === 'NoSuchKey' || f.code === 'NotFound' || (f.status === 404 && f.code !== 'NoSuchBucket');
}

export function isPreconditionFailed(err: unknown): boolean {
  const f = s3Failure(err);
  return f.status === 412 || f.code === 'PreconditionFailed';
}

const ACCESS_CODES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'InvalidSecurity',
]);
const REGION_CODES = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);

export interface StoreErrorContext {
  /** `put`, `get`, `list` ... */
  readonly op: string;
  /** the key as the caller named it */
  readonly key: string;
  /** `s3://bucket/prefix at endpoint` */
  readonly store: string;
  readonly bucket: string;
  readonly region: string;
  /** attempts made, when the request was retried */
  readonly attempts?: number;
}

/**
 * The TidemarkError for a failed S3 request, with a message an operator can act on:
 * configuration problems (missing bucket, refused credentials, wrong region) say what to
 * change; transient trouble that outlasted the retries is STORE_UNAVAILABLE and retriable.
 */
export function toStoreError(err: unknown, ctx: StoreErrorContext): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const f = s3Failure(err);
  const what = `${ctx.op}${ctx.key === '' ? '' : ` ${ctx.key}`} in ${ctx.store}`;
  const details = {
    key: ctx.key,
    op: ctx.op,
    status: f.status,
    s3Code: f.code,
    requestId: f.requestId,
    ...(ctx.attempts === undefined ? {} : { attempts: ctx.attempts }),
  };
  // not the SDK's error itself: it carries the whole HTTP response, which would flood logs
  const cause = Object.assign(new Error(f.message), { name: f.code });
  const options = { cause, details };
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'CredentialsProviderError') {
    return new TidemarkError(
      'CONFIG_INVALID',
      `${what} failed: no AWS credentials were found (${f.message}). Configure credentials for the S3 store ` +
        '(an IAM role, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or pass them explicitly',
      options,
    );
  }
  if (f.code === 'NoSuchBucket') {
    return new TidemarkError(
      'CONFIG_INVALID',
      `${what} failed: bucket ${ctx.bucket} does not exist. Create it (for example ` +
        `\`aws s3 mb s3://${ctx.bucket} --region ${ctx.region}\`) or fix the configured bucket name`,
      options,
    );
  }
  if (ACCESS_CODES.has(f.code) || f.status === 403) {
    const credentials =
      f.code === 'InvalidAccessKeyId' || f.code === 'SignatureDoesNotMatch'
        ? 'the access key id or secret is wrong; check the configured credentials'
        : f.code === 'ExpiredToken' || f.code === 'InvalidToken' || f.code === 'TokenRefreshRequired'
          ? 'the session token has expired or is invalid; refresh the credentials'
          : `the credentials in use are not allowed to do this. Grant s3:ListBucket on arn:aws:s3:::${ctx.bucket} ` +
            `and s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload on arn:aws:s3:::${ctx.bucket}/* ` +
            '(or the configured prefix) to the user or role Tidemark runs as, and check bucket policies and KMS key grants';
    return new TidemarkError('CONFIG_INVALID', `${what} was refused (${f.code}): ${credentials}`, options);
  }
  if (f.code === 'InvalidRequest' && /object lock/i.test(f.message)) {
    return new TidemarkError(
      'CONFIG_INVALID',
      `${what} was refused: ${f.message}. TIDEMARK_S3_OBJECT_LOCK needs a bucket created with Object Lock enabled ` +
        '(versioning on); create one, or unset TIDEMARK_S3_OBJECT_LOCK',
      options,
    );
  }
  if (REGION_CODES.has(f.code) || f.status === 301) {
    const where = f.bucketRegion === undefined ? 'another region' : `region ${f.bucketRegion}`;
    return new TidemarkError(
      'CONFIG_INVALID',
      `${what} failed: bucket ${ctx.bucket} is in ${where}, not ${ctx.region}; set the store's region to match (${f.code})`,
      options,
    );
  }
  if (ctx.attempts !== undefined || isTransientS3Error(err)) {
    const tries = ctx.attempts === undefined ? '' : ` after ${ctx.attempts} attempts`;
    return new TidemarkError(
      'STORE_UNAVAILABLE',
      `${what} failed${tries}: ${f.code}: ${f.message}. The store is unreachable, overloaded or failing; it may recover`,
      { ...options, retriable: true },
    );
  }
  return new TidemarkError('STORE_UNAVAILABLE', `${what} was rejected: ${f.code}: ${f.message}`, {
    ...options,
    retriable: false,
  });
}
