import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  publicKeyFingerprint,
  publicKeyPem,
  type SignedReport,
  signReport,
  TidemarkError,
} from '@tidemark/shared';

/**
 * The Ed25519 key that signs verification reports. From TIDEMARK_REPORT_SIGNING_KEY_FILE
 * (PEM, PKCS#8), or generated on first start into `<dataDir>/report-signing-key.pem`
 * (mode 0600, written durably) and kept there, so restarts sign with the same key. The
 * private key never leaves this object (not in JSON, inspect output or logs).
 */
export const GENERATED_KEY_FILE = 'report-signing-key.pem';

export class ReportSigner {
  readonly #privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly fingerprint: string;
  readonly publicKeyPem: string;

  private constructor(
    privateKey: KeyObject,
    /** where the key came from, for the log line */
    readonly origin: { readonly file: string; readonly generated: boolean },
  ) {
    this.#privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
    this.fingerprint = publicKeyFingerprint(this.publicKey);
    this.publicKeyPem = publicKeyPem(this.publicKey);
  }

  sign<R>(report: R): SignedReport<R> {
    return signReport(report, this.#privateKey);
  }

  toJSON(): object {
    return { fingerprint: this.fingerprint, origin: this.origin };
  }

  static async load(options: { keyFile?: string; dataDir: string }): Promise<ReportSigner> {
    if (options.keyFile)
      return new ReportSigner(await readKey(options.keyFile), { file: options.keyFile, generated: false });
    const file = path.join(options.dataDir, GENERATED_KEY_FILE);
    try {
      return new ReportSigner(await readKey(file), { file, generated: false });
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code !== 'ENOENT') throw err;
    }
    const { privateKey } = generateKeyPairSync('ed25519');
    await mkdir(options.dataDir, { recursive: true });
    // 'wx': two processes starting at once never overwrite each other's key
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      await handle.sync();
    } finally {
      await handle.close();
    }
    return new ReportSigner(privateKey, { file, generated: true });
  }
}

async function readKey(file: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      `the report signing key ${file} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (err) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      `the report signing key ${file} is not a PEM private key (generate one with: openssl genpkey -algorithm ed25519 -out ${path.basename(file)})`,
      { cause: err },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new TidemarkError(
      'CONFIG_INVALID',
      `the report signing key ${file} is a ${key.asymmetricKeyType} key, not Ed25519`,
    );
  return key;
}
