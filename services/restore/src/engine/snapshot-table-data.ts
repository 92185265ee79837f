import {
  createSha256,
  type KeyProvider,
  openTableData,
  type SnapshotTable,
  TidemarkError,
  tableEncodingOf,
} from '@tidemark/shared';

/**
 * The COPY text of a snapshot table from its stored bytes: plain 'copy-text' objects pass
 * through; 'tmblock-v1' objects are opened (each block's xxh64 checked, then decrypted and
 * decompressed) and the COPY text's SHA-256 is checked against `contentSha256` at the end.
 * The caller checks the stored bytes' SHA-256 (`sha256`) and commits only when both held,
 * so nothing from a damaged object is kept.
 */
export function decodedTableData(
  stored: AsyncIterable<Uint8Array>,
  table: SnapshotTable,
  keys: KeyProvider | undefined,
): AsyncIterable<Uint8Array> {
  if (tableEncodingOf(table) === 'copy-text') return stored;
  return checkedContent(openTableData(stored, { objectKey: table.dataKey as string, keys }), table);
}

async function* checkedContent(
  plain: AsyncIterable<Uint8Array>,
  table: SnapshotTable,
): AsyncGenerator<Uint8Array> {
  const hash = createSha256();
  for await (const chunk of plain) {
    hash.update(chunk);
    yield chunk;
  }
  const digest = hash.digestHex();
  if (digest !== table.contentSha256)
    throw new TidemarkError(
      'SNAPSHOT_CORRUPT',
      `snapshot data ${table.dataKey} of table ${table.schema}.${table.table} decodes to COPY text with SHA-256 ${digest}, the manifest says ${table.contentSha256}; nothing of it was kept`,
      { details: { key: table.dataKey, kind: 'content-checksum' } },
    );
}
