import { TidemarkError } from '../core/errors.js';

/**
 * Object keys are `/`-separated relative paths. The rules are the intersection of what
 * S3 and a POSIX directory can hold without surprises, so a journal written to one backend
 * can be copied to another.
 */
const MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
// control characters: NUL cannot be in a file name, the others break logs and listings
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const encoder = new TextEncoder();
const SURROGATE = /[\uD800-\uDFFF]/;

/** Throws BAD_REQUEST saying what is wrong with the key. */
export function validateKey(key: string): void {
  const why = keyProblem(key);
  if (why !== undefined) {
    throw new TidemarkError('BAD_REQUEST', `invalid object key ${JSON.stringify(key)}: ${why}`, {
      details: { key },
    });
  }
}

function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (key.startsWith('/')) return 'it must not start with "/"';
  if (key.includes('\\')) return 'it must not contain a backslash';
  if (CONTROL.test(key)) return 'it must not contain control characters';
  if (encoder.encode(key).length > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  for (const segment of key.split('/')) {
    if (segment === '') return 'it must not contain an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'it must not contain "." or ".." segments';
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES)
      return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

/**
 * Byte-lexical order of the UTF-8 encodings, which is what S3 lists in. JS string
 * comparison orders UTF-16 code units and differs for characters above U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  // without surrogates, UTF-16 order is code point order, which is UTF-8 byte order
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  const ea = encoder.encode(a);
  const eb = encoder.encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) {
    if (ea[i] !== eb[i]) return ea[i]! - eb[i]!;
  }
  return ea.length - eb.length;
}
