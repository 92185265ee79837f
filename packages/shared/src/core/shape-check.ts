/**
 * Small validators for decoded msgpack: untrusted bytes become typed values or a
 * ShapeError saying where (`changes[3].rel`). Callers turn ShapeError into their own
 * TidemarkError code (RECORD_CORRUPT, SEGMENT_CORRUPT ...).
 */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function array(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) throw new ShapeError(`${at} is not an array`);
  return v;
}

export function tuple(v: unknown, length: number, at: string): unknown[] {
  const a = array(v, at);
  if (a.length !== length) throw new ShapeError(`${at} has ${a.length} fields, expected ${length}`);
  return a;
}

export function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new ShapeError(`${at} is not a string`);
  return v;
}

/** a safe integer (msgpack ints decode to numbers up to 2^53) */
export function int(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ShapeError(`${at} is not an integer`);
  return v;
}

export function bool(v: unknown, at: string): boolean {
  if (typeof v !== 'boolean') throw new ShapeError(`${at} is not a boolean`);
  return v;
}

export function bytes(v: unknown, at: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new ShapeError(`${at} is not binary`);
  return v;
}

/** a plain msgpack map decoded as an object */
export function record(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new ShapeError(`${at} is not a map`);
  }
  return v as Record<string, unknown>;
}
