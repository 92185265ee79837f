/**
 * Names close to a mistyped one, for "did you mean" hints: the same name in another
 * case, the same table in another schema, or a few typos away. Pure.
 */
export function nearMatches(wanted: string, candidates: readonly string[], limit = 3): string[] {
  const w = wanted.toLowerCase();
  const wTable = w.slice(w.lastIndexOf('.') + 1);
  const scored: { name: string; score: number }[] = [];
  for (const name of candidates) {
    const n = name.toLowerCase();
    let score: number;
    if (n === w) score = 0;
    else if (n.slice(n.lastIndexOf('.') + 1) === wTable) score = 1;
    else {
      const limit = w.length >= 12 ? 3 : 2;
      const d = editDistance(w, n, limit);
      if (d > limit) continue;
      score = 1 + d;
    }
    scored.push({ name, score });
  }
  return scored
    .sort((a, b) => a.score - b.score || (a.name < b.name ? -1 : 1))
    .slice(0, limit)
    .map((s) => s.name);
}

/** Levenshtein distance, given up (answers max + 1) once it exceeds `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      cur.push(v);
      if (v < best) best = v;
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length] ?? max + 1;
}
