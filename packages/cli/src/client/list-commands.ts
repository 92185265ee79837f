import { apiRequest, type ClientSettings } from './api-client.js';

/** Plain aligned columns: readable in a terminal, easy to cut in a script. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

interface SourceView {
  name: string;
  earliestRestorableTime: string | null;
  latestRestorableTime: string | null;
  latestLsn: string | null;
}

export async function runSourcesCommand(
  settings: ClientSettings,
  json: boolean,
  region?: string,
): Promise<number> {
  const route = region ? `/v1/sources?region=${encodeURIComponent(region)}` : '/v1/sources';
  const sources = await apiRequest<SourceView[]>(settings, 'GET', route);
  if (json) {
    process.stdout.write(`${JSON.stringify(sources, null, 2)}\n`);
    return 0;
  }
  const rows = [
    ['SOURCE', 'EARLIEST RESTORABLE', 'LATEST RESTORABLE', 'LATEST LSN'],
    ...sources.map((s) => [
      s.name,
      s.earliestRestorableTime ?? '-',
      s.latestRestorableTime ?? '-',
      s.latestLsn ?? '-',
    ]),
  ];
  process.stdout.write(`${renderTable(rows)}\n`);
  return 0;
}

interface RestoreView {
  id: string;
  source: string;
  state: string;
  target: unknown;
  createdAt: string;
  progress: { phase?: string };
}

export async function runRestoresCommand(settings: ClientSettings, json: boolean): Promise<number> {
  const restores = await apiRequest<RestoreView[]>(settings, 'GET', '/v1/restores');
  if (json) {
    process.stdout.write(`${JSON.stringify(restores, null, 2)}\n`);
    return 0;
  }
  const rows = [
    ['ID', 'SOURCE', 'STATE', 'PHASE', 'TARGET', 'CREATED'],
    ...restores.map((r) => [
      r.id,
      r.source,
      r.state,
      r.progress.phase ?? '-',
      JSON.stringify(r.target),
      r.createdAt,
    ]),
  ];
  process.stdout.write(`${renderTable(rows)}\n`);
  return 0;
}
