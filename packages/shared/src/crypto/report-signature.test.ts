import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  parsePublicKey,
  publicKeyFingerprint,
  signReport,
  verifySignedReport,
} from './report-signature.js';

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, 2], e: undefined, ä: true })).toBe(
      '{"a":[{"c":null,"d":"x"},2],"b":1,"ä":true}',
    );
  });
  it('refuses values JSON cannot carry exactly', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/);
  });
});

describe('signed reports', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const report = { id: 'r1', ok: true, problems: [], counts: { segments: 3 } };

  it('verifies with the public key in every accepted form, whatever the key order', () => {
    const signed = signReport(report, privateKey);
    expect(signed.signature.publicKeyFingerprint).toBe(publicKeyFingerprint(publicKey));
    const reordered = JSON.parse(
      JSON.stringify({
        signature: signed.signature,
        report: { problems: [], counts: { segments: 3 }, ok: true, id: 'r1' },
      }),
    );
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const der = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url').toString('base64');
    for (const form of [pem, der, raw, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()])
      expect(verifySignedReport(reordered, parsePublicKey(form))).toEqual({
        ok: true,
        fingerprint: publicKeyFingerprint(publicKey),
      });
  });

  it('rejects an altered report, another key, and what is not a signed report', () => {
    const signed = signReport(report, privateKey);
    expect(verifySignedReport({ ...signed, report: { ...report, ok: false } }, publicKey)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('altered'),
    });
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifySignedReport(signed, other)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('signed by the key'),
    });
    expect(verifySignedReport({ report }, publicKey)).toMatchObject({ ok: false });
    expect(verifySignedReport('nope', publicKey)).toMatchObject({ ok: false });
  });

  it('refuses keys that are not Ed25519 public keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    expect(() => parsePublicKey(rsa)).toThrow(/not Ed25519/);
    expect(() => parsePublicKey('not a key')).toThrow(/neither a PEM/);
  });
});
