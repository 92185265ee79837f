import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { RestoreJobView, RestoresPort } from '../api-ports.js';
import { AUTH_ERRORS, described, errorResponses } from '../response-schemas.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const KEEPALIVE_MS = 15_000;

/**
 * GET /v1/restores/:id/events: the job view as server-sent events. The current view
 * first (`event: progress`), then one on each change, at most one per `minIntervalMs`
 * (the newest view wins), and, when the restore ends, the final view (`event: end`), after
 * which the stream closes. A comment line every 15 s keeps proxies from timing out an
 * idle stream. Streams still open when the server closes are ended first.
 */
export function registerRestoreEvents(
  app: FastifyInstance,
  restores: RestoresPort,
  view: (job: RestoreJobView) => RestoreJobView,
  params: object,
  minIntervalMs: number,
): void {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });

  app.get<{ Params: { id: string } }>(
    '/v1/restores/:id/events',
    {
      config: { permission: 'restores:read' },
      schema: {
        tags: ['restores'],
        summary: 'Follow a restore: its progress as server-sent events',
        description:
          'A `text/event-stream`: `event: progress` with the restore (as GET /v1/restores/{id} answers it) now ' +
          'and on every change (at most a few per second), then `event: end` with the final state, and the ' +
          'stream closes. Each event has an `id:` counting from 1 and a JSON `data:` line. A restore that has ' +
          'already ended answers its `end` event at once.',
        params,
        response: {
          200: described('the event stream', {
            content: {
              'text/event-stream': {
                schema: {
                  type: 'string',
                  example:
                    'id: 1\nevent: progress\ndata: {"id":"r_...","state":"running","progress":{...}}\n\n' +
                    'id: 2\nevent: end\ndata: {"id":"r_...","state":"succeeded",...}\n\n',
                },
              },
            },
          }),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_RESTORE'),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const first = restores.get(id); // UNKNOWN_RESTORE answers 404 before any stream exists
      const stream = new PassThrough();
      let seq = 0;
      let closed = false;
      let lastSent = 0;
      let latest: RestoreJobView | undefined;
      let timer: NodeJS.Timeout | undefined;
      let unsubscribe = (): void => {};
      const write = (event: 'progress' | 'end', job: RestoreJobView): void => {
        stream.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(view(job))}\n\n`);
      };
      const close = (): void => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearTimeout(timer);
        clearInterval(keepalive);
        open.delete(close);
        stream.end();
      };
      const flush = (): void => {
        timer = undefined;
        if (closed || !latest) return;
        write('progress', latest);
        latest = undefined;
        lastSent = Date.now();
      };
      const onChange = (job: RestoreJobView): void => {
        if (closed) return;
        if (TERMINAL.has(job.state)) {
          write('end', job);
          close();
          return;
        }
        latest = job;
        const wait = minIntervalMs - (Date.now() - lastSent);
        if (wait <= 0) flush();
        else timer ??= setTimeout(flush, wait);
      };
      const keepalive = setInterval(() => {
        if (!closed) stream.write(': keep-alive\n\n');
      }, KEEPALIVE_MS);
      keepalive.unref();
      open.add(close);
      reply.raw.on('close', close);

      if (TERMINAL.has(first.state)) {
        write('end', first);
        close();
      } else {
        write('progress', first);
        lastSent = Date.now();
        unsubscribe = restores.watch(id, onChange);
      }
      request.log.info({ principal: request.principal?.name, restoreId: id }, 'restore events followed');
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );
}
