/**
 * Structural check of a manifest's optional `sequences` (see SnapshotSequence): the
 * restore puts their names and numbers into DDL, so a malformed entry is refused with the
 * rest of the manifest. Pure.
 */
const INTEGER = /^-?\d{1,20}$/;
const SEQUENCE_TYPES = new Set(['smallint', 'integer', 'bigint']);

export function sequenceProblems(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return ['sequences is not an array'];
  const problems: string[] = [];
  value.forEach((s: unknown, i: number) => {
    const at = `sequences[${i}]`;
    if (typeof s !== 'object' || s === null) {
      problems.push(`${at} is not an object`);
      return;
    }
    const q = s as Record<string, unknown>;
    if (typeof q.schema !== 'string' || q.schema === '') problems.push(`${at}.schema is missing`);
    if (typeof q.name !== 'string' || q.name === '') problems.push(`${at}.name is missing`);
    if (typeof q.dataType !== 'string' || !SEQUENCE_TYPES.has(q.dataType))
      problems.push(`${at}.dataType is not smallint, integer or bigint`);
    for (const f of ['increment', 'minValue', 'maxValue', 'start', 'cache'] as const)
      if (typeof q[f] !== 'string' || !INTEGER.test(q[f] as string))
        problems.push(`${at}.${f} is not an integer`);
    if (q.increment === '0') problems.push(`${at}.increment is 0`);
    if (q.lastValue !== null && (typeof q.lastValue !== 'string' || !INTEGER.test(q.lastValue)))
      problems.push(`${at}.lastValue is not an integer or null`);
    if (typeof q.cycle !== 'boolean') problems.push(`${at}.cycle is missing`);
    if (q.identity !== null && q.identity !== 'always' && q.identity !== 'by default')
      problems.push(`${at}.identity is invalid`);
    const o = q.ownedBy;
    if (o !== null) {
      const owner = o as Record<string, unknown> | undefined;
      if (
        typeof owner !== 'object' ||
        typeof owner.schema !== 'string' ||
        typeof owner.table !== 'string' ||
        typeof owner.column !== 'string'
      )
        problems.push(`${at}.ownedBy is invalid`);
    }
    if (q.identity !== null && o === null) problems.push(`${at} is an identity sequence without a column`);
  });
  return problems;
}
