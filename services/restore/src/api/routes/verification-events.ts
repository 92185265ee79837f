import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { VerificationsPort } from '../audit-ports.js';
import { AUTH_ERRORS, errorResponses } from '../response-schemas.js';

const POLL_MS = 250;

/**
 * GET /v1/verifications/:id/events: a verification's progress as server-sent events:
 * `event: progress` now and whenever it changed (checked every 250 ms), `event: end` with
 * the final job (its `reportId`), then the stream closes. The job is read from memory,
 * so polling it costs nothing; open streams are ended when the server closes.
 */
export function registerVerificationEvents(app: FastifyInstance, verifications: VerificationsPort): void {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });
  app.get<{ Params: { id: string } }>(
    '/v1/verifications/:id/events',
    {
      config: { permission: 'verify' },
      schema: {
        tags: ['audit'],
        summary: 'Follow a verification: its progress as server-sent events',
        response: {
          200: { description: 'the event stream', type: 'string' },
          ...errorResponses(...AUTH_ERRORS, 'NOT_FOUND'),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      verifications.get(id); // NOT_FOUND before any stream exists
      const stream = new PassThrough();
      let seq = 0;
      let last = '';
      const tick = (): void => {
        const job = verifications.get(id) as { state: string };
        const text = JSON.stringify(job);
        const done = job.state !== 'running';
        if (text !== last || done)
          stream.write(`id: ${++seq}\nevent: ${done ? 'end' : 'progress'}\ndata: ${text}\n\n`);
        last = text;
        if (done) close();
      };
      const timer = setInterval(tick, POLL_MS);
      const close = (): void => {
        clearInterval(timer);
        open.delete(close);
        stream.end();
      };
      open.add(close);
      reply.raw.on('close', close);
      tick();
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );
}
