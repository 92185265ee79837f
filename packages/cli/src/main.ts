#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isTidemarkError, loadConfig } from '@tidemark/shared';
import { runCaptureRole } from './capture-role.js';
import { runEmbedded } from './embedded-runtime.js';
import { runJournalRole } from './journal-role.js';
import { runRestoreRole } from './restore-role.js';
import type { RunningRole } from './running-role.js';

const USAGE = `usage: tidemark <command>

commands:
  up        capture, journal and restore API in one process (embedded mode by default;
            through Kafka and S3 when TIDEMARK_KAFKA_BROKERS / TIDEMARK_S3_BUCKET are set)
  capture   the capture service: replication slot → Kafka (and the base snapshot → store)
  journal   the journal service: Kafka → segments in the object store
  restore   the restore API over the object store
  help      show this help

Configuration comes from TIDEMARK_* environment variables; see the README.`;

export const COMMANDS = ['up', 'capture', 'journal', 'restore', 'help'] as const;

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

async function main(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const command = positionals[0] ?? 'help';
  switch (command) {
    case 'up':
      return runUntilSignal(() => runEmbedded(loadConfig(process.env)));
    case 'capture':
      return runUntilSignal(() => runCaptureRole(loadConfig(process.env)));
    case 'journal':
      return runUntilSignal(() => runJournalRole(loadConfig(process.env)));
    case 'restore':
      return runUntilSignal(() => runRestoreRole(loadConfig(process.env)));
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
    if (isTidemarkError(err)) {
      process.stderr.write(`tidemark: ${err.message} [${err.code}]\n`);
    } else {
      process.stderr.write(`tidemark: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  },
);
