#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isTidemarkError, loadConfig } from '@tidemark/shared';
import { runEmbedded } from './embedded-runtime.js';

const USAGE = `usage: tidemark <command>

commands:
  up        run capture, journal and restore API in one process (embedded mode)
  help      show this help

Configuration comes from TIDEMARK_* environment variables; see the README.`;

async function main(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const command = positionals[0] ?? 'help';
  switch (command) {
    case 'up': {
      const config = loadConfig(process.env);
      const runtime = await runEmbedded(config);
      await new Promise<void>((resolve) => {
        const onSignal = () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          runtime.stop().then(resolve, (err) => {
            process.stderr.write(`error while stopping: ${String(err)}\n`);
            resolve();
          });
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      return 0;
    }
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
