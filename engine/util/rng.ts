/**
 * Seeded randomness. Every random choice in the engine comes from an Rng passed in, never Math.random,
 * so a seed in the manifest reproduces a run. Generator: sfc32 seeded through splitmix32
 * (PractRand-tested, 128-bit state, serialisable for exact resume).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(items: T[]): T[];
  /** A new independent generator derived from this one's stream and a label. */
  fork(label: string): Rng;
  /** Serialisable state, for checkpoints. */
  state(): number[];
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string): number {
  // FNV-1a, 32 bit
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function makeRng(seed: number | string, restore?: number[]): Rng {
  let a: number, b: number, c: number, d: number;
  if (restore) {
    if (restore.length !== 4) throw new Error(`rng state must have 4 words, got ${restore.length}`);
    [a, b, c, d] = restore.map((x) => x >>> 0) as [number, number, number, number];
  } else {
    const sm = splitmix32(typeof seed === 'string' ? hashLabel(seed) : seed >>> 0);
    a = sm(); b = sm(); c = sm(); d = sm();
  }
  let spare: number | undefined;
  const nextU32 = (): number => {
    // sfc32
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  const rng: Rng = {
    next: () => nextU32() / 4294967296,
    int: (n) => {
      if (!(n > 0) || !Number.isInteger(n)) throw new Error(`rng.int needs a positive integer, got ${n}`);
      return Math.floor((nextU32() / 4294967296) * n);
    },
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      let u = 0;
      while (u === 0) u = rng.next();
      const v = rng.next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const tmp = items[i]!;
        items[i] = items[j]!;
        items[j] = tmp;
      }
      return items;
    },
    fork: (label) => makeRng((nextU32() ^ hashLabel(label)) >>> 0),
    state: () => [a, b, c, d],
  };
  return rng;
}
