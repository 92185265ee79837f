/**
 * PostgreSQL log sequence numbers. An LSN is a 64-bit position in the WAL; it is always a
 * bigint here (a JS number silently loses precision above 2^53).
 */
export type Lsn = bigint;

export const LSN_ZERO: Lsn = 0n;
const MAX_LSN = (1n << 64n) - 1n;
const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const LSN_HEX16 = /^[0-9A-Fa-f]{16}$/;

/** Parses `16/B374D848` (and the zero-padded `00000016/B374D848`) or 16 hex digits. */
export function parseLsn(text: string): Lsn {
  const m = LSN_TEXT.exec(text);
  if (m) return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
  if (LSN_HEX16.test(text)) return BigInt(`0x${text}`);
  throw new RangeError(`not an LSN: ${JSON.stringify(text)} (expected the form 16/B374D848)`);
}

export function isLsnText(text: string): boolean {
  return LSN_TEXT.test(text) || LSN_HEX16.test(text);
}

/** Formats as PostgreSQL does: `16/B374D848`. */
export function formatLsn(lsn: Lsn): string {
  checkRange(lsn);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** 16 upper-case hex digits, so that lexical order of names is LSN order. */
export function lsnToHex16(lsn: Lsn): string {
  checkRange(lsn);
  return lsn.toString(16).toUpperCase().padStart(16, '0');
}

export function compareLsn(a: Lsn, b: Lsn): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Bytes of WAL from `from` to `to` (negative when `to` is before `from`). */
export function lsnDiff(to: Lsn, from: Lsn): bigint {
  return to - from;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

function checkRange(lsn: Lsn): void {
  if (lsn < 0n || lsn > MAX_LSN) throw new RangeError(`LSN out of range: ${lsn}`);
}
