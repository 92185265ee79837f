#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isTidemarkError, loadConfig } from '@tidemark/shared';
import { runCaptureRole } from './capture-role.js';
import { ClientError, resolveClientSettings } from './client/api-client.js';
import { runGcCommand } from './client/gc-command.js';
import { runRestoresCommand, runSourcesCommand } from './client/list-commands.js';
import { runRestoreCommand } from './client/restore-command.js';
import { runSnapshotCommand, runSnapshotsCommand } from './client/snapshot-command.js';
import { runVerifyCommand } from './client/verify-command.js';
import { runVerifyReportCommand } from './client/verify-report-command.js';
import { runEmbedded } from './embedded-runtime.js';
import { runInstallCommand } from './install-command.js';
import { runJournalRole } from './journal-role.js';
import { runReplicateRole } from './replicate-role.js';
import { runRestoreRole } from './restore-role.js';
import type { RunningRole } from './running-role.js';

const USAGE = `usage: tidemark <command> [options]

client commands (talk to the API: --api URL or TIDEMARK_API_URL, default http://127.0.0.1:8080;
--token or TIDEMARK_API_TOKEN, default the token \`tidemark up\` keeps in .tidemark/admin-token):
  sources [--region NAME] [--json]      sources and their restorable window (in a replica region)
  restores [--json]                     restores and their state
  restore --source NAME --into URL      restore, with a live progress line and a summary, to one of
          --to "2026-11-23 10:41:07.123456+00" | --lsn X/Y | --xid N [--exclusive]
          | --restore-point NAME | --latest
          [--tables schema.table,...] [--schema NAME] [--region NAME] [--detach]
  snapshot --source NAME [--detach]     build a compaction snapshot now (admin role) and wait for it
  snapshots --source NAME [--json]      the snapshots of a source (base and compacted)
  gc --source NAME [--dry-run] [--json] garbage-collect what the retention window no longer needs
                                        (admin role); --dry-run lists it, deleting nothing;
                                        --region NAME: in that replica region's store
  verify --source NAME [--from X] [--to Y] [--region NAME] [--json]
                                        verify the journal (checksums, hash chain, snapshots, tip,
                                        window) with a progress line; prints the signed report's
                                        summary (--json: the signed report); exit 1 on problems
  verify-report FILE --public-key KEY   check a signed report offline (KEY: file, PEM or base64)

service commands:
  up        capture, journal and restore API in one process (embedded mode by default;
            through Kafka and S3 when TIDEMARK_KAFKA_BROKERS / TIDEMARK_S3_BUCKET are set)
  capture   the capture service: replication slot → Kafka (and the base snapshot → store)
  journal   the journal service: Kafka → segments in the object store
  restore   the restore API over the object store (without client options)
  replicate copy the journal to the replica regions of TIDEMARK_REPLICAS (journal and up do it too)
  install --source-url URL
            install the event triggers that capture schema changes (DDL) into the source
            database; needs a superuser (default URL: TIDEMARK_SOURCE_URL)
  help      show this help

Configuration comes from TIDEMARK_* environment variables; see the README.`;

export const COMMANDS = [
  'up',
  'capture',
  'journal',
  'restore',
  'replicate',
  'install',
  'sources',
  'restores',
  'snapshot',
  'snapshots',
  'gc',
  'verify',
  'verify-report',
  'help',
] as const;

const CLIENT_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  source: { type: 'string' },
  to: { type: 'string' },
  lsn: { type: 'string' },
  xid: { type: 'string' },
  exclusive: { type: 'boolean' },
  'restore-point': { type: 'string' },
  latest: { type: 'boolean' },
  tables: { type: 'string' },
  into: { type: 'string' },
  schema: { type: 'string' },
  detach: { type: 'boolean' },
  'source-url': { type: 'string' },
  from: { type: 'string' },
  region: { type: 'string' },
  'public-key': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

async function runUntilSignal(start: () => Promise<RunningRole>): Promise<number> {
  const role = await start();
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      role.stop().then(resolve, (err: unknown) => {
        process.stderr.write(`error while stopping: ${String(err)}\n`);
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return 0;
}

type ParsedValues = ReturnType<
  typeof parseArgs<{ options: typeof CLIENT_OPTIONS; allowPositionals: true }>
>['values'];

async function main(argv: string[]): Promise<number> {
  let parsed: { positionals: string[]; values: ParsedValues };
  try {
    parsed = parseArgs({ args: argv, options: CLIENT_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`tidemark: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  const { positionals, values } = parsed;
  const command = positionals[0] ?? 'help';
  const client = () => resolveClientSettings(values);
  switch (command) {
    case 'up':
      return runUntilSignal(() => runEmbedded(loadConfig(process.env)));
    case 'capture':
      return runUntilSignal(() => runCaptureRole(loadConfig(process.env)));
    case 'journal':
      return runUntilSignal(() => runJournalRole(loadConfig(process.env)));
    case 'replicate':
      return runUntilSignal(() => runReplicateRole(loadConfig(process.env)));
    case 'restore':
      // with a target or a destination it is the client; bare, it is the service
      if (
        values.source ||
        values.into ||
        values.to ||
        values.lsn ||
        values.xid ||
        values['restore-point'] ||
        values.latest ||
        values.tables ||
        values.schema
      ) {
        return runRestoreCommand(await client(), values);
      }
      return runUntilSignal(() => runRestoreRole(loadConfig(process.env)));
    case 'sources':
      return runSourcesCommand(await client(), values.json === true, values.region);
    case 'verify':
      return runVerifyCommand(await client(), values);
    case 'verify-report':
      return runVerifyReportCommand(positionals[1], values['public-key']);
    case 'restores':
      return runRestoresCommand(await client(), values.json === true);
    case 'snapshot':
      return runSnapshotCommand(await client(), values);
    case 'snapshots':
      return runSnapshotsCommand(await client(), values);
    case 'gc':
      return runGcCommand(await client(), values);
    case 'install':
      return runInstallCommand(values['source-url'] ?? process.env.TIDEMARK_SOURCE_URL);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`tidemark: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ClientError) {
      process.stderr.write(`tidemark: ${err.message}\n`);
    } else if (isTidemarkError(err)) {
      process.stderr.write(`tidemark: ${err.message} [${err.code}]\n`);
    } else {
      process.stderr.write(`tidemark: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  },
);
