/**
 * BPE merge learning (Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with Subword
 * Units", Algorithm 1) over UTF-8 bytes (the byte-level variant of Radford et al. 2019).
 *
 * Instead of recounting every pair after each merge (O(corpus) per merge) we keep pair counts and, per
 * pair, the words it occurs in; a merge touches only those words and only the pairs next to the merged
 * positions. The best pair comes from a max-heap with lazy invalidation: an entry whose count is stale is
 * re-pushed with its current count when it surfaces.
 *
 * Tie-breaking is total and corpus-order independent: highest count first, then the smaller (left, right)
 * id pair, where ids are bytes (0..255) and then merge order. Same corpus ⇒ same merges, byte for byte.
 */

/** Pair ids pack as left * 2^16 + right; internal ids stay below 2^16 because vocabSize ≤ 65,536. */
const PAIR_BASE = 65536;

/** Max-heap over (count, key): higher count first, then lower key. Parallel arrays for speed. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top; returns [count, key]. Caller checks size first. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastCount = this.counts.pop()!;
    const lastKey = this.keys.pop()!;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.above(l, best)) best = l;
        if (r < n && this.above(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

export interface LearnOptions {
  /** How many new tokens to add to the 256 byte tokens. */
  newTokens: number;
  /** Pairs seen fewer times than this are never merged. */
  minFrequency: number;
  /** Merged strings (byte-level form) that must not become tokens, e.g. special-token spellings. */
  forbidden: ReadonlySet<string>;
  /** Byte-level string of a byte; the merged token's string is the concatenation. */
  byteChars: readonly string[];
}

export interface LearnedBpe {
  /** Internal id → byte-level string; ids 0..255 are the bytes, then one per new token. */
  tokens: string[];
  /** In rank order: [left, right] internal ids. The result's id is tokens.indexOf(left+right). */
  merges: Array<[number, number]>;
}

/**
 * Learns merges from pre-token counts. `words` are the pre-tokens as UTF-8 bytes, `freqs` their counts.
 * The merged string of a pair may already exist (e.g. "ab"+"c" and "a"+"bc"); then the merge is
 * recorded (it changes how words segment) but the vocab does not grow, as in HF's trainer.
 */
export function learnMerges(words: Uint8Array[], freqs: number[], opts: LearnOptions): LearnedBpe {
  const tokens = opts.byteChars.slice(0, 256);
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: Array<[number, number]> = [];
  // symbols per word, mutable; Int32Array views with a live length keep memory flat
  const syms: Int32Array[] = words.map((w) => Int32Array.from(w));
  const lens: number[] = words.map((w) => w.length);

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addWord = (key: number, w: number): void => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < syms.length; w++) {
    const s = syms[w]!;
    const f = freqs[w]!;
    for (let i = 0; i + 1 < lens[w]!; i++) {
      const key = s[i]! * PAIR_BASE + s[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      addWord(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push(count, key);

  const seen = new Int32Array(syms.length).fill(-1); // last merge index that visited the word
  const bump = (key: number, delta: number): void => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + delta);
  };
  const minCount = Math.max(1, opts.minFrequency);
  let added = 0;

  while (added < opts.newTokens && heap.size > 0) {
    const [count, key] = heap.pop();
    const current = pairCount.get(key) ?? 0;
    if (current !== count) {
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (count < minCount) break; // a valid top entry is the true maximum
    const a = Math.floor(key / PAIR_BASE);
    const b = key % PAIR_BASE;
    const merged = tokens[a]! + tokens[b]!;
    if (opts.forbidden.has(merged)) {
      pairCount.set(key, 0); // never surfaces again
      continue;
    }
    let id = idOf.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      idOf.set(merged, id);
      added++;
    }
    const mergeIndex = merges.length;
    merges.push([a, b]);

    const fresh = new Set<number>(); // pairs containing the new symbol, pushed once at the end
    for (const w of pairWords.get(key) ?? []) {
      if (seen[w] === mergeIndex) continue;
      seen[w] = mergeIndex;
      const s = syms[w]!;
      const n = lens[w]!;
      const f = freqs[w]!;
      // Pass 1: old pairs next to each occurrence lose this word's count. Positions j of pair (j, j+1)
      // with j ∈ {i-1, i, i+1} for each merged start i; `lastJ` dedups overlaps (a a a → a+a at 0 only).
      let lastJ = -1;
      let found = false;
      for (let i = 0; i + 1 < n; i++) {
        if (s[i] !== a || s[i + 1] !== b) continue;
        found = true;
        for (let j = Math.max(i - 1, lastJ + 1); j <= i + 1 && j + 1 < n; j++) {
          bump(s[j]! * PAIR_BASE + s[j + 1]!, -f);
          lastJ = j;
        }
        i++; // non-overlapping, left to right
      }
      if (!found) continue; // stale entry: the pair left this word in an earlier merge
      // Pass 2: rewrite in place, remembering where the new symbol landed.
      let out = 0;
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          at.push(out);
          s[out++] = id;
          i++;
        } else {
          s[out++] = s[i]!;
        }
      }
      lens[w] = out;
      // Pass 3: pairs touching a new symbol gain this word's count.
      lastJ = -1;
      for (const k of at) {
        for (let j = Math.max(k - 1, lastJ + 1); j <= k && j + 1 < out; j++) {
          const pk = s[j]! * PAIR_BASE + s[j + 1]!;
          bump(pk, f);
          addWord(pk, w);
          fresh.add(pk);
          lastJ = j;
        }
      }
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const pk of fresh) {
      const c = pairCount.get(pk) ?? 0;
      if (c > 0) heap.push(c, pk);
    }
  }
  return { tokens, merges };
}
