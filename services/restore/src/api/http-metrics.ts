import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

export const HTTP_DURATION_METRIC = 'tidemark_http_request_duration_seconds';
export const HTTP_REQUESTS_METRIC = 'tidemark_http_requests_total';

const LABELS = ['method', 'route', 'status_code'] as const;

/**
 * Request count and duration per route pattern (`/v1/restores/:id`, never the concrete
 * path, which would make one series per id) and status. Unmatched paths share the route
 * label `unmatched`.
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const duration = reuse<Histogram<(typeof LABELS)[number]>>(registry, HTTP_DURATION_METRIC, () => {
    return new Histogram({
      name: HTTP_DURATION_METRIC,
      help: 'Time to answer an HTTP request of the restore API, by route and status',
      labelNames: LABELS,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  });
  const count = reuse<Counter<(typeof LABELS)[number]>>(registry, HTTP_REQUESTS_METRIC, () => {
    return new Counter({
      name: HTTP_REQUESTS_METRIC,
      help: 'HTTP requests answered by the restore API, by route and status',
      labelNames: LABELS,
      registers: [registry],
    });
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'),
      status_code: String(reply.statusCode),
    };
    duration.observe(labels, reply.elapsedTime / 1000);
    count.inc(labels);
  });
}

/** A registry can serve several API instances (tests, restarts in-process): register once. */
function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
