import { isLsnText, parseSegmentKey, TidemarkError, type TipDocument } from '@tidemark/shared';

/**
 * Parses and checks `<source>/tip`. The tip bounds what is journal, so a damaged tip is an
 * integrity failure (CHAIN_BROKEN), never "no journal". Pure.
 */
export function parseTipDocument(bytes: Uint8Array, key: string, source: string): TipDocument {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw broken(key, 'it is not valid JSON', err);
  }
  if (typeof value !== 'object' || value === null) throw broken(key, 'it is not a JSON object');
  const t = value as Record<string, unknown>;
  if (t.formatVersion !== 1) throw broken(key, `formatVersion ${JSON.stringify(t.formatVersion)} is not 1`);
  if (t.source !== source) throw broken(key, `it names source ${JSON.stringify(t.source)}`);
  for (const f of ['firstLsn', 'lastLsn', 'snapshotLsn'] as const) {
    if (typeof t[f] !== 'string' || !isLsnText(t[f])) throw broken(key, `${f} is not an LSN`);
  }
  if (typeof t.lastCommitTime !== 'string' || !/^\d+$/.test(t.lastCommitTime))
    throw broken(key, 'lastCommitTime is not a decimal µs timestamp');
  if (typeof t.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(t.sha256))
    throw broken(key, 'sha256 is not a hex SHA-256');
  if (typeof t.segmentKey !== 'string' || parseSegmentKey(t.segmentKey)?.source !== source)
    throw broken(key, `segmentKey ${JSON.stringify(t.segmentKey)} is not a segment of ${source}`);
  return value as TipDocument;
}

function broken(key: string, why: string, cause?: unknown): TidemarkError {
  return new TidemarkError('CHAIN_BROKEN', `journal tip ${key} is unreadable: ${why}`, {
    cause,
    details: { key, kind: 'tip-invalid' },
  });
}
