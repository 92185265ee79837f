import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { TidemarkError } from '../core/errors.js';

/**
 * Signed verification reports: the report is serialized canonically (object keys sorted
 * at every level, no white space, JSON.stringify for every scalar), and those UTF-8 bytes
 * are signed with Ed25519. The signature is detached: the envelope carries the report as
 * a plain JSON value next to `signature`, so anyone can re-serialize it canonically and
 * check it offline with the public key alone. The fingerprint (SHA-256 of the public key's
 * DER SubjectPublicKeyInfo) says which key signed without shipping the key itself.
 */
export interface ReportSignature {
  readonly algorithm: 'Ed25519';
  /** `sha256:<64 hex>` of the signer's public key (SPKI DER) */
  readonly publicKeyFingerprint: string;
  /** base64 of the 64-byte signature over canonicalJson(report) */
  readonly value: string;
}

export interface SignedReport<R = Record<string, unknown>> {
  readonly report: R;
  readonly signature: ReportSignature;
}

/** Deterministic JSON: sorted keys, no spaces; `undefined` members are left out as JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('canonical JSON has no form for a non-finite number');
    if (typeof value === 'bigint') throw new TypeError('canonical JSON has no form for a bigint');
    return JSON.stringify(value);
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function publicKeyFingerprint(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

export function signReport<R>(report: R, privateKey: KeyObject): SignedReport<R> {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new TidemarkError('CONFIG_INVALID', 'the report signing key is not an Ed25519 key');
  const value = sign(null, Buffer.from(canonicalJson(report), 'utf8'), privateKey).toString('base64');
  return {
    report,
    signature: {
      algorithm: 'Ed25519',
      publicKeyFingerprint: publicKeyFingerprint(createPublicKey(privateKey)),
      value,
    },
  };
}

export type SignatureCheck =
  | { readonly ok: true; readonly fingerprint: string }
  | { readonly ok: false; readonly reason: string };

/** Checks an envelope against `publicKey`; never throws on a malformed envelope. */
export function verifySignedReport(envelope: unknown, publicKey: KeyObject): SignatureCheck {
  const e = envelope as Partial<SignedReport<unknown>> | null;
  if (typeof e !== 'object' || e === null || typeof e.report !== 'object' || e.report === null)
    return { ok: false, reason: 'the file is not a signed report: it has no "report" object' };
  const s = e.signature as Partial<ReportSignature> | undefined;
  if (s?.algorithm !== 'Ed25519' || typeof s.value !== 'string')
    return { ok: false, reason: 'the report has no Ed25519 "signature"' };
  const fingerprint = publicKeyFingerprint(publicKey);
  if (s.publicKeyFingerprint !== fingerprint)
    return {
      ok: false,
      reason: `the report was signed by the key ${String(s.publicKeyFingerprint)}, not by the given key ${fingerprint}`,
    };
  let good = false;
  try {
    good = verify(
      null,
      Buffer.from(canonicalJson(e.report), 'utf8'),
      publicKey,
      Buffer.from(s.value, 'base64'),
    );
  } catch {
    good = false;
  }
  return good
    ? { ok: true, fingerprint }
    : { ok: false, reason: 'the signature does not match the report: the report was altered after signing' };
}

/**
 * A public key given as PEM (SPKI), as base64 of the SPKI DER, or as base64 of the raw
 * 32-byte Ed25519 key; also accepts a private key PEM (its public half is used).
 */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  try {
    if (trimmed.includes('-----BEGIN')) {
      const key = trimmed.includes('PRIVATE KEY')
        ? createPublicKey(createPrivateKey(trimmed))
        : createPublicKey(trimmed);
      return ed25519(key);
    }
    const der = Buffer.from(trimmed, 'base64');
    if (der.length === 32) {
      // raw key: prefix the fixed SPKI header of Ed25519 (RFC 8410)
      const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), der]);
      return ed25519(createPublicKey({ key: spki, format: 'der', type: 'spki' }));
    }
    return ed25519(createPublicKey({ key: der, format: 'der', type: 'spki' }));
  } catch (err) {
    if (err instanceof TidemarkError) throw err;
    throw new TidemarkError(
      'BAD_REQUEST',
      'the public key is neither a PEM public key nor base64 of an Ed25519 key (GET /v1/reports/public-key gives it)',
      { cause: err },
    );
  }
}

function ed25519(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new TidemarkError('BAD_REQUEST', `the public key is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}
