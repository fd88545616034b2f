/**
 * Curation: exact and near-duplicate removal, the entity split, and a seed order that balances
 * specialties and oversamples focus neighbourhoods.
 *
 * Near duplicates: word 3-gram Jaccard ≥ threshold, found with MinHash (Broder, 1997) and LSH banding
 * (Indyk & Motwani, 1998) so each new text is compared only with texts that share a band, then
 * confirmed with the exact Jaccard of the shingle sets — no false positives, O(n) expected.
 */
import type { Rng } from '../util/rng';
import { makeRng } from '../util/rng';
import type { Split, SynthExample } from '../core/example';
import type { SynthConfig } from './types';
import { fnv1a, unitHash } from './text';

export function normaliseText(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

/** Sorted unique hashes of word 3-grams (the whole text as one shingle when it has < 3 words). */
export function shingles(normalised: string): Uint32Array {
  const w = normalised.split(' ').filter(Boolean).map(fnv1a);
  if (w.length < 3) return Uint32Array.of(fnv1a(normalised));
  // combine word hashes rather than hashing joined strings: no string allocation per 3-gram
  const out = new Uint32Array(w.length - 2);
  for (let i = 0; i + 2 < w.length; i++) out[i] = fmix((Math.imul(w[i]!, 0x9e3779b1) ^ Math.imul(w[i + 1]!, 0x85ebca77) ^ w[i + 2]!) >>> 0);
  out.sort();
  let n = 0;
  for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[i - 1]) out[n++] = out[i]!;
  return out.slice(0, n);
}

export function jaccard(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      inter++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) i++;
    else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 1 : inter / union;
}

const NUM_HASHES = 32;

/** murmur3 fmix32: a cheap, well-mixed hash of one 32-bit word. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Rows per band for a threshold t: the most rows (fewest candidates) that still makes a pair at
 * Jaccard t a candidate with probability ≥ 0.99: P = 1 − (1 − t^r)^(32/r).
 */
export function bandRows(threshold: number): number {
  const ok = [16, 8, 4, 2, 1].filter((r) => 1 - (1 - threshold ** r) ** (NUM_HASHES / r) >= 0.99);
  return ok[0] ?? 1;
}

export interface Deduper {
  /** 'duplicate' / 'near_duplicate' when the text repeats an admitted one; otherwise admits it. */
  admit(text: string): 'duplicate' | 'near_duplicate' | undefined;
  readonly size: number;
}

export function createDeduper(threshold: number): Deduper {
  const rows = bandRows(threshold);
  const bands = NUM_HASHES / rows;
  const exact = new Set<string>();
  const docs: Uint32Array[] = [];
  const buckets = new Map<number, number[]>();
  // k-th MinHash from two base hashes, h_k = h1 + k·h2 (Kirsch & Mitzenmacher, 2006): 2 mixes per shingle, not 32
  const signature = (sh: Uint32Array): Uint32Array => {
    const sig = new Uint32Array(NUM_HASHES).fill(0xffffffff);
    for (const h of sh) {
      const h1 = fmix(h ^ 0x5bd1e995);
      const h2 = fmix(h ^ 0x27d4eb2f) | 1;
      for (let k = 0; k < NUM_HASHES; k++) {
        const v = (h1 + Math.imul(k, h2)) >>> 0;
        if (v < sig[k]!) sig[k] = v;
      }
    }
    return sig;
  };
  /** One number per band (band index mixed in); a collision only adds a candidate, which is verified. */
  const bandKey = (sig: Uint32Array, b: number): number => {
    let h = Math.imul(b + 1, 0x9e3779b1);
    for (let i = b * rows; i < (b + 1) * rows; i++) h = fmix(h ^ sig[i]!);
    return h;
  };
  return {
    get size() {
      return docs.length;
    },
    admit(text) {
      const norm = normaliseText(text);
      if (exact.has(norm)) return 'duplicate';
      const sh = shingles(norm);
      const sig = signature(sh);
      const keys = new Array<number>(bands);
      const checked = new Set<number>();
      for (let b = 0; b < bands; b++) {
        keys[b] = bandKey(sig, b);
        for (const other of buckets.get(keys[b]!) ?? []) {
          if (checked.has(other)) continue;
          checked.add(other);
          if (jaccard(sh, docs[other]!) >= threshold) return 'near_duplicate';
        }
      }
      const id = docs.length;
      docs.push(sh);
      exact.add(norm);
      for (const k of keys) {
        const list = buckets.get(k);
        if (list) list.push(id);
        else buckets.set(k, [id]);
      }
      return undefined;
    },
  };
}

/** Split of one unit (entity id or example key) by a seeded hash, with the configured fractions. */
export function splitOf(seed: number, key: string, split: SynthConfig['split']): Split {
  const u = unitHash(seed, key);
  if (u < split.test) return 'test';
  if (u < split.test + split.val) return 'val';
  return 'train';
}

export function assignEntitySplits(seed: number, ids: Iterable<string>, split: SynthConfig['split']): Map<string, Split> {
  const out = new Map<string, Split>();
  for (const id of ids) out.set(id, splitOf(seed, `entity:${id}`, split));
  return out;
}

/**
 * Which entities an example in `split` may mention: entities that are not split units, units of its
 * own split, and training units (a test question may use a training disease as a distractor; no
 * held-out entity may ever appear in a training example, nor a test entity in validation).
 */
export function allowedIn(entitySplits: ReadonlyMap<string, Split>, split: Split): (id: string) => boolean {
  return (id) => {
    const s = entitySplits.get(id);
    return s === undefined || s === split || s === 'train';
  };
}

/** Entities of the example that its split may not contain (empty: no leak). */
export function leakedEntities(ex: SynthExample, entitySplits: ReadonlyMap<string, Split>): string[] {
  const ok = allowedIn(entitySplits, ex.split);
  return ex.provenance.entities.filter((id) => !ok(id));
}

/**
 * Weighted random order without replacement (Efraimidis & Spirakis, 2006): key = −ln(u)/w, ascending.
 * Ties (equal keys) keep input order, so the order is a pure function of the rng state.
 */
export function weightedOrder<T>(items: readonly T[], weight: (item: T) => number, rng: Rng): T[] {
  const keyed = items.map((item, i) => ({ item, i, k: -Math.log(1 - rng.next()) / Math.max(weight(item), 1e-9) }));
  keyed.sort((a, b) => a.k - b.k || a.i - b.i);
  return keyed.map((x) => x.item);
}

/** Per-item weight that gives every group (specialty) the same expected share. */
export function balanceWeights<T>(items: readonly T[], group: (item: T) => string): (item: T) => number {
  const counts = new Map<string, number>();
  for (const it of items) counts.set(group(it), (counts.get(group(it)) ?? 0) + 1);
  return (it) => 1 / counts.get(group(it))!;
}

/** A deterministic permutation of template indices for one seed. */
export function templateOrder(seed: number, key: string, count: number): number[] {
  return makeRng(`${seed}:templates:${key}`).shuffle(Array.from({ length: count }, (_, i) => i));
}
