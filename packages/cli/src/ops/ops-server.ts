import http from 'node:http';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/**
 * `/healthz`, `/readyz` and `/metrics` for the processes that have no API of their own
 * (capture, journal). Plain node:http: three fixed routes need no framework.
 */
export interface OpsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startOpsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Record<string, ReadinessCheck>;
}): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET')
      return send(405, 'application/json', '{"error":{"code":"BAD_REQUEST","message":"use GET"}}');
    if (route === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
    if (route === '/readyz') {
      const checks = opts.readiness();
      const ready = Object.values(checks).every((c) => c.ok);
      return send(ready ? 200 : 503, 'application/json', JSON.stringify({ ready, checks }));
    }
    if (route === '/metrics') {
      opts.registry.metrics().then(
        (text) => send(200, opts.registry.contentType, text),
        (err: unknown) => send(500, 'text/plain', `metrics failed: ${String(err)}`),
      );
      return;
    }
    send(
      404,
      'application/json',
      '{"error":{"code":"NOT_FOUND","message":"routes: /healthz, /readyz, /metrics"}}',
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
