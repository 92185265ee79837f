import { apiRequest, ClientError, type ClientSettings } from './api-client.js';
import { ProgressLine } from './progress-line.js';

export interface VerifyFlags {
  source?: string;
  from?: string;
  to?: string;
  region?: string;
  json?: boolean;
}

interface JobView {
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  progress: {
    phase: string;
    segmentsDone: number;
    segmentsTotal: number;
    bytesDone: number;
    bytesTotal: number;
    problems: number;
  };
  reportId?: string;
  error?: { code?: string; message?: string };
}

interface Envelope {
  report: {
    id: string;
    ok: boolean;
    summary: string;
    problems: { kind: string; key: string; offset?: number; message: string }[];
  };
  signature: { publicKeyFingerprint: string };
}

/**
 * `tidemark verify --source NAME [--from X] [--to Y] [--region R] [--json]`: starts a
 * verification, shows a progress line, then prints the signed report's summary and every
 * problem (or, with --json, the signed report itself, ready for `tidemark verify-report`).
 * Exit 0: no problems; 1: problems found or the verification failed.
 */
export async function runVerifyCommand(settings: ClientSettings, flags: VerifyFlags): Promise<number> {
  if (!flags.source) throw new ClientError('--source is required (the source name, see `tidemark sources`)');
  const body = {
    source: flags.source,
    ...(flags.from ? { from: flags.from } : {}),
    ...(flags.to ? { to: flags.to } : {}),
    ...(flags.region ? { region: flags.region } : {}),
  };
  let job = await apiRequest<JobView>(settings, 'POST', '/v1/verifications', body);
  const line = new ProgressLine();
  while (job.state === 'running') {
    const p = job.progress;
    const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : undefined;
    line.update(
      `verifying ${p.phase}`,
      p.phase === 'segments' ? fraction : undefined,
      `${p.segmentsDone}/${p.segmentsTotal} segments, ${mib(p.bytesDone)} read, ${p.problems} problem(s)`,
    );
    await new Promise((r) => setTimeout(r, 300));
    job = await apiRequest<JobView>(settings, 'GET', `/v1/verifications/${job.id}`);
  }
  line.done();
  if (job.state === 'failed' || !job.reportId) {
    process.stderr.write(
      `verification failed: ${job.error?.message ?? 'no detail'}${job.error?.code ? ` [${job.error.code}]` : ''}\n`,
    );
    return 1;
  }
  const signed = await apiRequest<Envelope>(settings, 'GET', `/v1/reports/${job.reportId}`);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(signed, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderReport(signed)}\n`);
  }
  return signed.report.ok ? 0 : 1;
}

export function renderReport(signed: Envelope): string {
  const r = signed.report;
  const lines = [r.summary, `report ${r.id}, signed by ${signed.signature.publicKeyFingerprint}`];
  for (const p of r.problems)
    lines.push(
      `  ${p.kind.padEnd(18)} ${p.key}${p.offset === undefined ? '' : ` @${p.offset}`}: ${p.message}`,
    );
  return lines.join('\n');
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
