/**
 * Chart data reduction shared by the extension host (tests) and the webview bundle: no vscode, no DOM.
 * A chart may hold 50,000+ points per series; the screen has ~1,000 pixels across, so each redraw keeps,
 * per x bucket, the indices of every series' minimum and maximum (min–max decimation: spikes survive,
 * unlike plain striding) and draws only those. All series of a chart share one x array (uPlot's aligned
 * data), so the kept indices are the union over series and every kept point is a real sample.
 */

/** Index range [lo, hi) of sorted xs that lies within [xMin, xMax], widened by one point on each side. */
export function visibleRange(xs: ArrayLike<number>, xMin: number, xMax: number): [number, number] {
  let lo = lowerBound(xs, xMin);
  let hi = upperBound(xs, xMax);
  if (lo > 0) lo--;
  if (hi < xs.length) hi++;
  return [lo, hi];
}

function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Indices to draw for xs[lo, hi) split into `buckets` equal x intervals: the first and last index, and per
 * bucket each series' argmin and argmax (null values skipped). Sorted ascending, no duplicates.
 * When the range already has at most 2·buckets points every index is kept.
 */
export function reduceMinMax(xs: ArrayLike<number>, series: readonly ArrayLike<number | null>[], lo: number, hi: number, buckets: number): number[] {
  const n = hi - lo;
  if (n <= 0) return [];
  if (n <= 2 * buckets || buckets < 1) return Array.from({ length: n }, (_, i) => lo + i);
  const x0 = xs[lo]!;
  const span = xs[hi - 1]! - x0 || 1;
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[n - 1] = 1;
  for (const ys of series) {
    let bucket = -1;
    let minI = -1;
    let maxI = -1;
    let minV = Infinity;
    let maxV = -Infinity;
    const flush = (): void => {
      if (minI >= 0) keep[minI - lo] = 1;
      if (maxI >= 0) keep[maxI - lo] = 1;
    };
    for (let i = lo; i < hi; i++) {
      const b = Math.min(buckets - 1, Math.floor(((xs[i]! - x0) / span) * buckets));
      if (b !== bucket) {
        flush();
        bucket = b;
        minI = maxI = -1;
        minV = Infinity;
        maxV = -Infinity;
      }
      const v = ys[i];
      if (v === null || v === undefined || Number.isNaN(v)) continue;
      if (v < minV) {
        minV = v;
        minI = i;
      }
      if (v > maxV) {
        maxV = v;
        maxI = i;
      }
    }
    flush();
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(lo + i);
  return out;
}

/**
 * Debiased exponential moving average (TensorBoard's smoothing slider): weight in [0, 1), 0 = raw.
 * Nulls stay null and do not advance the average.
 */
export function smoothEma(ys: ArrayLike<number | null>, weight: number): (number | null)[] {
  const out: (number | null)[] = new Array(ys.length);
  if (!(weight > 0)) {
    for (let i = 0; i < ys.length; i++) out[i] = ys[i] ?? null;
    return out;
  }
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

export interface XySeries {
  xs: readonly number[];
  ys: readonly number[];
}

/**
 * Aligns series with their own x arrays onto the sorted union of xs (uPlot's data layout); a series with
 * no sample at an x gets null there. When several samples share an x, the last one wins.
 */
export function alignSeries(series: readonly XySeries[]): { xs: number[]; ys: (number | null)[][] } {
  const sameX = series.length > 0 && series.every((s) => s.xs.length === series[0]!.xs.length && isSortedUnique(s.xs) && s.xs.every((x, i) => x === series[0]!.xs[i]));
  if (sameX) return { xs: [...series[0]!.xs], ys: series.map((s) => [...s.ys]) };
  const all = new Set<number>();
  for (const s of series) for (const x of s.xs) all.add(x);
  const xs = [...all].sort((a, b) => a - b);
  const index = new Map<number, number>();
  xs.forEach((x, i) => index.set(x, i));
  const ys = series.map((s) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < s.xs.length; i++) col[index.get(s.xs[i]!)!] = s.ys[i]!;
    return col;
  });
  return { xs, ys };
}

function isSortedUnique(xs: readonly number[]): boolean {
  for (let i = 1; i < xs.length; i++) if (!(xs[i]! > xs[i - 1]!)) return false;
  return true;
}

/** Log scale is only offered where it means something: every drawn value positive. */
export function canUseLogScale(ys: readonly ArrayLike<number | null>[]): boolean {
  let any = false;
  for (const col of ys) {
    for (let i = 0; i < col.length; i++) {
      const v = col[i];
      if (v === null || v === undefined) continue;
      if (!(v > 0)) return false;
      any = true;
    }
  }
  return any;
}
