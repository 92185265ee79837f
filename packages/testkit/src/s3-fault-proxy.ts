import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';

/**
 * A small HTTP proxy in front of a real S3-compatible server (the stand-in from
 * `startS3Server`) that injects faults and, optionally, adds what the stand-in lacks:
 * conditional writes. Tests point an S3 client at `endpoint` instead of the server's, so the
 * SDK, the wire and the store are all real; only the faults are made up.
 */
export interface S3ProxyRequest {
  /** 1, 2, 3 ... in arrival order */
  readonly seq: number;
  readonly method: string;
  /** path without the query: `/<bucket>/<key>` (URL-encoded) */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
}

export type S3Fault =
  /** answered by the proxy with an S3 error document; the store never sees the request */
  | { readonly kind: 'status'; readonly status: number; readonly code?: string }
  /** the connection is dropped before the request is forwarded */
  | { readonly kind: 'reset' }
  /**
   * forwarded and carried out by the store; its answer is then lost: replaced by an error
   * `status`, or (without one) the connection is dropped
   */
  | { readonly kind: 'lose-response'; readonly status?: number }
  /** the answer's headers and its first `afterBytes` body bytes arrive, then the connection drops */
  | { readonly kind: 'truncate-response'; readonly afterBytes: number }
  /** the byte at offset `atByte` of the request body is altered on its way to the store */
  | { readonly kind: 'corrupt-request'; readonly atByte: number };

export interface S3ProxyLogEntry {
  readonly seq: number;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly range: string | undefined;
  fault: S3Fault['kind'] | undefined;
  /** the status the client was answered with, when it got one */
  status?: number;
}

export interface S3FaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** decides each request's fault; undefined (or returning undefined) passes requests through */
  faults: ((req: S3ProxyRequest) => S3Fault | undefined) | undefined;
  /** every request, in arrival order */
  readonly log: S3ProxyLogEntry[];
  stop(): Promise<void>;
}

export interface S3FaultProxyOptions {
  /**
   * Honour `If-None-Match: *` and `If-Match: <etag>` on PutObject and
   * CompleteMultipartUpload, as AWS S3 does, by checking the key with HeadObject under a
   * per-key lock (every write of the key passes through this proxy, so that is atomic here).
   */
  readonly conditionalWrites?: boolean;
  /**
   * Emulate S3 Object Lock retention, which s3rver ignores: remember the
   * `x-amz-object-lock-mode` / `-retain-until-date` of PutObject and CreateMultipartUpload
   * (applied when the upload completes), answer them on HeadObject and GetObject, and refuse
   * DeleteObject before the date with 403 AccessDenied, as AWS S3 does for a locked version.
   */
  readonly objectLock?: boolean;
}

export async function startS3FaultProxy(
  target: string,
  options: S3FaultProxyOptions = {},
): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const locks = new Map<string, Promise<void>>();
  const log: S3ProxyLogEntry[] = [];
  let seq = 0;
  /** object lock by path (emulation), and by upload id until a multipart upload completes */
  const retention = new Map<string, { mode: string; until: string }>();
  const pendingRetention = new Map<string, { mode: string; until: string }>();

  const proxy: S3FaultProxy = {
    endpoint: '',
    faults: undefined,
    log,
    stop: async () => {},
  };

  const forward = (
    req: IncomingMessage,
    headers: IncomingHttpHeaders,
    body: NodeJS.ReadableStream | undefined,
  ): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers,
          agent,
        },
        resolve,
      );
      out.on('error', reject);
      if (body === undefined) out.end();
      else body.pipe(out);
    });

  /** HeadObject of the same key, with the client's own credentials (the stand-in does not check signatures) */
  const headStatus = async (
    req: IncomingMessage,
    path: string,
  ): Promise<{ status: number; etag?: string }> => {
    const headers = { ...req.headers };
    for (const h of [
      'content-length',
      'content-md5',
      'content-type',
      'transfer-encoding',
      'if-none-match',
      'if-match',
    ])
      delete headers[h];
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: 'HEAD', path, headers, agent },
        resolve,
      );
      out.on('error', reject);
      out.end();
    });
    res.resume();
    const etag = res.headers.etag;
    return { status: res.statusCode ?? 0, ...(etag === undefined ? {} : { etag }) };
  };

  const withLock = async <T>(key: string, f: () => Promise<T>): Promise<T> => {
    const before = locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const chained = before.then(() => mine);
    locks.set(key, chained);
    await before;
    try {
      return await f();
    } finally {
      release();
      if (locks.get(key) === chained) locks.delete(key);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const entry: S3ProxyLogEntry = {
      seq: ++seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      range: req.headers.range,
      fault: undefined,
    };
    log.push(entry);
    const fault = proxy.faults?.({
      seq: entry.seq,
      method: entry.method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
    });
    entry.fault = fault?.kind;
    const answer = (status: number, code: string, message: string) => {
      entry.status = status;
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>proxy-${entry.seq}</RequestId></Error>`;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      res.end(xml);
    };
    if (fault?.kind === 'status') {
      req.resume();
      answer(fault.status, fault.code ?? defaultCode(fault.status), 'injected by the test proxy');
      return;
    }
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }

    const headers = { ...req.headers };
    let body: NodeJS.ReadableStream | undefined =
      req.method === 'GET' || req.method === 'HEAD' ? undefined : req;
    if (fault?.kind === 'corrupt-request' && body !== undefined) body = req.pipe(corruptAt(fault.atByte));

    const isObjectWrite =
      (req.method === 'PUT' &&
        !url.searchParams.has('partNumber') &&
        headers['x-amz-copy-source'] === undefined) ||
      (req.method === 'POST' && url.searchParams.has('uploadId'));
    const ifNoneMatch = headers['if-none-match'];
    const ifMatch = headers['if-match'];
    const conditional =
      options.conditionalWrites === true &&
      isObjectWrite &&
      (ifNoneMatch !== undefined || ifMatch !== undefined);
    delete headers['if-none-match'];
    if (isObjectWrite) delete headers['if-match'];

    const lockOf = (h: IncomingHttpHeaders) => {
      const mode = h['x-amz-object-lock-mode'];
      const until = h['x-amz-object-lock-retain-until-date'];
      return typeof mode === 'string' && typeof until === 'string' ? { mode, until } : undefined;
    };
    const lock = options.objectLock === true ? lockOf(req.headers) : undefined;
    const held = options.objectLock === true ? retention.get(url.pathname) : undefined;
    const isCreateUpload = req.method === 'POST' && url.searchParams.has('uploads');
    const uploadId = url.searchParams.get('uploadId');
    const run = async (): Promise<void> => {
      if (req.method === 'DELETE' && uploadId === null && held && Date.parse(held.until) > Date.now()) {
        req.resume();
        answer(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
        return;
      }
      if (conditional) {
        const current = await headStatus(req, url.pathname);
        const fails =
          (ifNoneMatch === '*' && current.status === 200) ||
          (ifMatch !== undefined && (current.status !== 200 || current.etag !== ifMatch));
        if (fails) {
          req.resume();
          answer(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          return;
        }
      }
      const ures = await forward(req, headers, body);
      await new Promise<void>((resolve) => {
        ures.once('end', resolve);
        ures.once('error', () => resolve());
        ures.once('close', () => resolve());
        if (fault?.kind === 'lose-response') {
          ures.resume();
          ures.once('end', () => {
            if (fault.status === undefined) res.socket?.destroy();
            else
              answer(
                fault.status,
                defaultCode(fault.status),
                'the answer was lost (injected by the test proxy)',
              );
          });
          return;
        }
        entry.status = ures.statusCode;
        const ok = (ures.statusCode ?? 500) < 300;
        if (options.objectLock === true && ok) {
          if (isObjectWrite && req.method === 'PUT' && lock) retention.set(url.pathname, lock);
          if (isObjectWrite && req.method === 'POST' && uploadId !== null) {
            const pending = pendingRetention.get(uploadId);
            pendingRetention.delete(uploadId);
            if (pending) retention.set(url.pathname, pending);
          }
          if (req.method === 'DELETE' && uploadId === null) retention.delete(url.pathname);
        }
        const headersOut = { ...ures.headers };
        if (held && ok && (req.method === 'HEAD' || req.method === 'GET')) {
          headersOut['x-amz-object-lock-mode'] = held.mode;
          headersOut['x-amz-object-lock-retain-until-date'] = held.until;
        }
        if (isCreateUpload && lock && ok) {
          // the upload id is in the XML answer: read it, then pass the answer on unchanged
          const chunks: Buffer[] = [];
          ures.on('data', (c: Buffer) => chunks.push(c));
          ures.once('end', () => {
            const body = Buffer.concat(chunks);
            const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString('utf8'))?.[1];
            if (id !== undefined) pendingRetention.set(id, lock);
            res.writeHead(ures.statusCode ?? 502, headersOut);
            res.end(body);
          });
          return;
        }
        res.writeHead(ures.statusCode ?? 502, headersOut);
        if (fault?.kind === 'truncate-response') {
          let sent = 0;
          ures.on('data', (chunk: Buffer) => {
            if (sent >= fault.afterBytes) return;
            const room = fault.afterBytes - sent;
            const piece = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
            sent += piece.byteLength;
            res.write(piece);
            if (sent >= fault.afterBytes) {
              // let the bytes leave before the connection drops
              setTimeout(() => res.socket?.destroy(), 20);
              ures.resume();
            }
          });
          ures.once('end', () => {
            if (sent < fault.afterBytes) res.end();
          });
          return;
        }
        ures.pipe(res);
      });
    };
    if (conditional) await withLock(url.pathname, run);
    else await run();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy error: ${String(err)}`);
      } else res.socket?.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  Object.assign(proxy, {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  });
  return proxy;
}

function defaultCode(status: number): string {
  if (status === 503) return 'SlowDown';
  if (status === 500) return 'InternalError';
  if (status === 429) return 'TooManyRequests';
  if (status === 403) return 'AccessDenied';
  if (status === 404) return 'NoSuchKey';
  return `Http${status}`;
}

function corruptAt(atByte: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (atByte >= seen && atByte < seen + chunk.byteLength) {
        const copy = Buffer.from(chunk);
        copy[atByte - seen] = (copy[atByte - seen] ?? 0) ^ 0xff;
        seen += chunk.byteLength;
        callback(null, copy);
        return;
      }
      seen += chunk.byteLength;
      callback(null, chunk);
    },
  });
}
