/**
 * "Did you mean" suggestions for misspelt keys and enum values. Optimal string alignment distance
 * (Levenshtein plus adjacent transposition, Damerau 1964) so `projecton` → `projection` and
 * `pcrgad` → `pcgrad` both count as one or two edits.
 */
export function editDistance(a: string, b: string, max = Infinity): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    let rowMin = Infinity;
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > max) return max + 1;
  }
  return d[rows - 1]![cols - 1]!;
}

/** The closest candidate within a length-dependent budget (≤ 1/3 of the word, at least 2), or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const budget = Math.max(2, Math.floor(w.length / 3));
  let best: string | undefined;
  let bestD = budget + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase(), budget);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
