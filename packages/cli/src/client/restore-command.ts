import { formatTimestampMicros, parseTimestampMicros } from '@tidemark/shared';
import { apiRequest, ClientError, type ClientSettings } from './api-client.js';
import { ProgressLine } from './progress-line.js';

export interface RestoreFlags {
  source?: string;
  to?: string;
  lsn?: string;
  xid?: string;
  exclusive?: boolean;
  'restore-point'?: string;
  latest?: boolean;
  tables?: string;
  into?: string;
  schema?: string;
  /** a replica region to restore from (the body's `from`) */
  region?: string;
  detach?: boolean;
}

interface JobView {
  id: string;
  state: string;
  into?: { database?: string; schema?: string };
  tables?: string[];
  progress: Record<string, unknown> & { phase?: string };
  error?: { code?: string; message?: string };
  startedAt?: string;
  finishedAt?: string;
}

/** PostgreSQL's own form (`2026-11-23 10:41:07.123456+00`) is accepted and sent as RFC 3339. */
function normalizeTime(text: string): string {
  try {
    return formatTimestampMicros(parseTimestampMicros(text));
  } catch {
    throw new ClientError(
      `--to ${JSON.stringify(text)} is not a time: use RFC 3339 or PostgreSQL's form, e.g. "2026-11-23 10:41:07.123456+00"`,
    );
  }
}

/** The request body the flags describe; a ClientError names what is missing or conflicting. */
export function restoreBody(flags: RestoreFlags): Record<string, unknown> {
  if (!flags.source) throw new ClientError('--source is required (the source name, see `tidemark sources`)');
  if (!flags.into)
    throw new ClientError('--into is required (postgres://user:password@host:5432/new_database)');
  const candidates: (Record<string, unknown> | false | undefined)[] = [
    flags.to !== undefined && { time: normalizeTime(flags.to) },
    flags.lsn !== undefined && { lsn: flags.lsn },
    flags.xid !== undefined && { xid: flags.xid, inclusive: !flags.exclusive },
    flags['restore-point'] !== undefined && { restorePoint: flags['restore-point'] },
    flags.latest && { latest: true },
  ];
  const targets = candidates.filter((t): t is Record<string, unknown> => Boolean(t));
  if (targets.length !== 1) {
    throw new ClientError(
      'give exactly one target: --to <time>, --lsn X/Y, --xid N [--exclusive], --restore-point NAME or --latest',
    );
  }
  const body: Record<string, unknown> = {
    source: flags.source,
    ...(flags.region ? { from: flags.region } : {}),
    target: targets[0],
    into: { url: flags.into, ...(flags.schema ? { schema: flags.schema } : {}) },
  };
  if (flags.schema && !flags.tables)
    throw new ClientError(
      '--schema needs --tables: a restore into a schema of an existing database is for a list of tables',
    );
  if (flags.tables !== undefined) {
    body.tables = flags.tables
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if ((body.tables as string[]).length === 0)
      throw new ClientError(
        '--tables needs at least one schema.table (comma-separated: public.orders,public.items)',
      );
  }
  return body;
}

/** `tidemark restore --source ... --to ... --into ...`: submits, follows progress, summarises. */
export async function runRestoreCommand(settings: ClientSettings, flags: RestoreFlags): Promise<number> {
  const job = await apiRequest<JobView>(settings, 'POST', '/v1/restores', restoreBody(flags));
  process.stderr.write(`restore ${job.id} accepted\n`);
  if (flags.detach) {
    process.stdout.write(`${job.id}\n`);
    return 0;
  }
  const line = new ProgressLine();
  let view = job;
  while (!['succeeded', 'failed', 'cancelled'].includes(view.state)) {
    await new Promise((r) => setTimeout(r, 500));
    view = await apiRequest<JobView>(settings, 'GET', `/v1/restores/${job.id}`);
    const p = view.progress;
    const fraction = progressFraction(p);
    const detail = [
      p.restoredTime ? `at ${String(p.restoredTime)}` : '',
      typeof p.transactionsApplied === 'number' ? `${p.transactionsApplied} transactions` : '',
      typeof p.etaSeconds === 'number' ? `ETA ${Math.ceil(p.etaSeconds)} s` : '',
    ]
      .filter(Boolean)
      .join(', ');
    line.update(String(p.phase ?? view.state), fraction, detail);
  }
  line.done();
  const p = view.progress;
  const took =
    view.startedAt && view.finishedAt
      ? ((Date.parse(view.finishedAt) - Date.parse(view.startedAt)) / 1000).toFixed(1)
      : '?';
  if (view.state === 'succeeded') {
    process.stdout.write(
      `restore ${view.id} succeeded in ${took} s: ${String(p.tablesLoaded ?? 0)} tables loaded, ` +
        `${String(p.transactionsApplied ?? 0)} transactions (${String(p.changesApplied ?? 0)} changes) replayed, ` +
        `restored to ${String(p.restoredTime ?? p.restoredLsn ?? 'the snapshot')}${p.restoredLsn ? ` (LSN ${String(p.restoredLsn)})` : ''}\n`,
    );
    if (view.tables) process.stdout.write(`${scopeSummary(view)}\n`);
    return 0;
  }
  process.stderr.write(
    `restore ${view.id} ${view.state}: ${view.error?.message ?? 'no detail'}${view.error?.code ? ` [${view.error.code}]` : ''}\n`,
  );
  return 1;
}

/** Which tables went where, for a table restore's summary. */
export function scopeSummary(view: Pick<JobView, 'tables' | 'into'>): string {
  const tables = (view.tables ?? []).join(', ');
  const database = view.into?.database ?? '?';
  return view.into?.schema
    ? `tables ${tables} restored into schema ${view.into.schema} of database ${database} (nothing else there was touched)`
    : `tables ${tables} restored into database ${database}`;
}

function progressFraction(p: Record<string, unknown>): number | undefined {
  const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
  if (p.phase === 'loading-snapshot') {
    const total = num('tablesTotal');
    return total ? (num('tablesLoaded') ?? 0) / total : undefined;
  }
  const total = num('segmentsTotal');
  return total ? (num('segmentsRead') ?? 0) / total : undefined;
}
