import { readFile, stat } from 'node:fs/promises';
import { parsePublicKey, verifySignedReport } from '@tidemark/shared';
import { ClientError } from './api-client.js';
import { renderReport } from './verify-command.js';

/**
 * `tidemark verify-report FILE --public-key KEY`: checks a signed report offline (no server):
 * KEY is a file holding the public key, or the key itself (PEM, or base64 as GET
 * /v1/reports/public-key gives it). Prints the report's summary. Exit 0: the signature is
 * valid; 1: it is not (the report was altered, or another key signed it).
 */
export async function runVerifyReportCommand(
  file: string | undefined,
  publicKey: string | undefined,
): Promise<number> {
  if (!file)
    throw new ClientError('usage: tidemark verify-report FILE --public-key KEY (a file, PEM or base64)');
  if (!publicKey)
    throw new ClientError(
      '--public-key is required: a file with the key, or the key (GET /v1/reports/public-key)',
    );
  const keyText = (await isFile(publicKey)) ? await readFile(publicKey, 'utf8') : publicKey;
  let key: ReturnType<typeof parsePublicKey>;
  try {
    key = parsePublicKey(keyText);
  } catch (err) {
    throw new ClientError((err as Error).message);
  }
  let envelope: unknown;
  try {
    envelope = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ClientError(`cannot read the report ${file}: ${(err as Error).message}`);
  }
  const check = verifySignedReport(envelope, key);
  if (!check.ok) {
    process.stderr.write(`BAD SIGNATURE: ${check.reason}\n`);
    return 1;
  }
  process.stdout.write(`signature valid (key ${check.fingerprint})\n${renderReport(envelope as never)}\n`);
  return 0;
}

async function isFile(p: string): Promise<boolean> {
  if (p.includes('\n') || p.length > 4096) return false;
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
