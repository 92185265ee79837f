import { apiRequest, ClientError, type ClientSettings } from './api-client.js';
import { renderTable } from './list-commands.js';

/**
 * `tidemark snapshot --source NAME`: builds a compaction snapshot now (POST
 * /v1/sources/:source/snapshots, admin role) and follows the job to its end;
 * `--detach` prints the job id and returns. `tidemark snapshots --source NAME` lists them.
 */
interface CompactionJob {
  id: string;
  source: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  result: {
    created: boolean;
    lsn: string;
    tables: number;
    rows: number;
    bytes: number;
    storedBytes: number;
    transactions: number;
    basedOn: { lsn: string } | null;
  } | null;
  error: { code: string; message: string } | null;
}

interface SnapshotRow {
  lsn: string;
  kind: string;
  time: string;
  tables: number;
  rows: number;
  bytes: number;
  storedBytes: number;
  encrypted: boolean;
  usable: boolean;
}

const POLL_MS = 500;

export async function runSnapshotCommand(
  settings: ClientSettings,
  values: { source?: string | undefined; detach?: boolean | undefined; json?: boolean | undefined },
): Promise<number> {
  const source = requireSource(values.source, 'snapshot');
  let job = await apiRequest<CompactionJob>(
    settings,
    'POST',
    `/v1/sources/${encodeURIComponent(source)}/snapshots`,
  );
  if (values.detach) {
    process.stdout.write(values.json ? `${JSON.stringify(job, null, 2)}\n` : `${job.id}\n`);
    return 0;
  }
  if (!values.json) process.stderr.write(`compaction ${job.id} of source ${source}: ${job.state}\n`);
  while (job.state === 'queued' || job.state === 'running') {
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = await apiRequest<CompactionJob>(settings, 'GET', `/v1/snapshot-jobs/${encodeURIComponent(job.id)}`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  if (job.state === 'failed') {
    if (!values.json) process.stderr.write(`compaction failed: ${job.error?.message} [${job.error?.code}]\n`);
    return 1;
  }
  const r = job.result;
  if (!values.json && r) {
    process.stdout.write(
      r.created
        ? `snapshot ${r.lsn} built from ${r.basedOn?.lsn ?? '?'} + ${r.transactions} transactions: ` +
            `${r.tables} tables, ${r.rows} rows, ${mib(r.bytes)} (${mib(r.storedBytes)} stored)\n`
        : `nothing to compact: snapshot ${r.lsn} is already at the journal tip\n`,
    );
  }
  return 0;
}

export async function runSnapshotsCommand(
  settings: ClientSettings,
  values: { source?: string | undefined; json?: boolean | undefined },
): Promise<number> {
  const source = requireSource(values.source, 'snapshots');
  const rows = await apiRequest<SnapshotRow[]>(
    settings,
    'GET',
    `/v1/sources/${encodeURIComponent(source)}/snapshots`,
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const table = [
    ['LSN', 'KIND', 'TIME', 'TABLES', 'ROWS', 'SIZE', 'STORED', 'ENCRYPTED', 'USABLE'],
    ...rows.map((s) => [
      s.lsn,
      s.kind,
      s.time,
      String(s.tables),
      String(s.rows),
      mib(s.bytes),
      mib(s.storedBytes),
      s.encrypted ? 'yes' : 'no',
      s.usable ? 'yes' : 'no',
    ]),
  ];
  process.stdout.write(`${renderTable(table)}\n`);
  return 0;
}

function requireSource(source: string | undefined, command: string): string {
  if (!source) throw new ClientError(`tidemark ${command} needs --source NAME`);
  return source;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
