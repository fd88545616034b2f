/**
 * Applying learned merges to one pre-token (encode side of BPE, Sennrich et al. 2016): repeatedly merge
 * the adjacent pair with the lowest merge rank, leftmost first, one occurrence at a time. That is the
 * Hugging Face `tokenizers` order; it equals "merge every occurrence of the best pair" only when merges
 * are rank-monotone (always true for trained files, not guaranteed for hand-edited ones).
 *
 * Two implementations of the same function: a linear scan per merge, O(n²) but allocation-light and the
 * fastest for ordinary words, and a heap over (rank, position) with a linked list, O(n log n), for long
 * pre-tokens (a 20 kB run of letters must not take seconds). `applyMerges` picks by length.
 */

/** `ranks`: pair key (left * pairBase + right) → rank; `mergedIds[rank]`: the id the pair becomes. */
export interface MergeTable {
  ranks: Map<number, number>;
  mergedIds: Int32Array;
  pairBase: number;
}

/** Pre-tokens at most this long use the scan; measured crossover is flat between ~32 and ~128. */
const SCAN_MAX = 64;

export function applyMerges(syms: number[], table: MergeTable): number[] {
  if (syms.length < 2) return syms;
  return syms.length <= SCAN_MAX ? applyMergesScan(syms, table) : applyMergesHeap(syms, table);
}

/** In place on `syms`; returns it. */
export function applyMergesScan(syms: number[], { ranks, mergedIds, pairBase }: MergeTable): number[] {
  if (syms.length < 2) return syms;
  const rankAt: number[] = new Array(syms.length - 1); // rank of pair (i, i+1); Infinity if none
  for (let i = 0; i + 1 < syms.length; i++) rankAt[i] = ranks.get(syms[i]! * pairBase + syms[i + 1]!) ?? Infinity;
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i < rankAt.length; i++) {
      if (rankAt[i]! < best) {
        best = rankAt[i]!;
        at = i;
      }
    }
    if (at < 0) return syms;
    syms[at] = mergedIds[best]!;
    syms.splice(at + 1, 1);
    rankAt.splice(at, 1);
    if (at < rankAt.length) rankAt[at] = ranks.get(syms[at]! * pairBase + syms[at + 1]!) ?? Infinity;
    if (at > 0) rankAt[at - 1] = ranks.get(syms[at - 1]! * pairBase + syms[at]!) ?? Infinity;
  }
}

/** Min-heap of numbers (keys pack rank * 2^32 + position, so ties go to the leftmost position). */
function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]! <= v) break;
    h[i] = h[p]!;
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): number {
  const top = h[0]!;
  const last = h.pop()!;
  const n = h.length;
  if (n > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && h[l + 1]! < h[l]! ? l + 1 : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
  return top;
}

const POS_BASE = 4294967296; // 2^32: rank < 2^21 keeps rank * 2^32 + pos below 2^53

export function applyMergesHeap(syms: number[], { ranks, mergedIds, pairBase }: MergeTable): number[] {
  const n = syms.length;
  if (n < 2) return syms;
  const id = Int32Array.from(syms);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap: number[] = [];
  const rankOf = (i: number): number | undefined => (next[i]! < 0 ? undefined : ranks.get(id[i]! * pairBase + id[next[i]!]!));
  const offer = (i: number): void => {
    const r = rankOf(i);
    if (r !== undefined) heapPush(heap, r * POS_BASE + i);
  };
  for (let i = 0; i + 1 < n; i++) offer(i);
  while (heap.length > 0) {
    const key = heapPop(heap);
    const rank = Math.floor(key / POS_BASE);
    const i = key - rank * POS_BASE;
    // stale if the left symbol died or the pair at i changed (ranks are unique per pair)
    if (!alive[i] || rankOf(i) !== rank) continue;
    const j = next[i]!;
    id[i] = mergedIds[rank]!;
    alive[j] = 0;
    next[i] = next[j]!;
    if (next[j]! >= 0) prev[next[j]!] = i;
    if (prev[i]! >= 0) offer(prev[i]!);
    offer(i);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(id[i]!);
  return out;
}
