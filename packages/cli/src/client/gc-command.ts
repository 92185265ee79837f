import { apiRequest, ClientError, type ClientSettings } from './api-client.js';

/**
 * `tidemark gc --source NAME [--region NAME] [--dry-run] [--json]`: garbage-collects a source
 * now (POST /v1/sources/:source/gc, admin role), in the primary store or a replica region's,
 * and prints what went (or, with --dry-run, what would).
 */
interface GcReport {
  retention: string | null;
  keptSnapshot: { lsn: string; time: string } | null;
  snapshots: number;
  segments: number;
  objects: number;
  bytes: number;
  locked: { key: string; retainUntil: string | null }[];
  heldBy: string[];
  notes: string[];
}

export async function runGcCommand(
  settings: ClientSettings,
  values: {
    source?: string | undefined;
    region?: string | undefined;
    'dry-run'?: boolean | undefined;
    json?: boolean | undefined;
  },
): Promise<number> {
  if (!values.source) throw new ClientError('tidemark gc needs --source NAME');
  const dryRun = values['dry-run'] === true;
  const query = new URLSearchParams();
  if (dryRun) query.set('dryRun', 'true');
  if (values.region) query.set('region', values.region);
  const report = await apiRequest<GcReport>(
    settings,
    'POST',
    `/v1/sources/${encodeURIComponent(values.source)}/gc${query.size > 0 ? `?${query}` : ''}`,
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `${dryRun ? 'would delete' : 'deleted'} ${report.snapshots} snapshot(s), ${report.segments} segment(s): ` +
      `${report.objects} objects, ${(report.bytes / 1024 / 1024).toFixed(1)} MiB (retention ${report.retention ?? 'off'})`,
  ];
  if (report.keptSnapshot)
    lines.push(`earliest restorable: ${report.keptSnapshot.time} (snapshot ${report.keptSnapshot.lsn})`);
  if (report.locked.length > 0)
    lines.push(`${report.locked.length} object(s) still under Object Lock, left for later`);
  if (report.heldBy.length > 0) lines.push(`kept for running restores: ${report.heldBy.join(', ')}`);
  for (const note of report.notes) lines.push(note);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
