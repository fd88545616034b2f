/** Text helpers shared by the generators (the training-text template is engine/core/chat.ts). */
import type { Rng } from '../util/rng';

/** "a", "a and b", "a, b and c". */
export function joinAnd(items: readonly string[], conj = 'and'): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} ${conj} ${items.at(-1)}`;
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** k distinct items in random order (all of them when k ≥ length). */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  return rng.shuffle([...items]).slice(0, k);
}

/** `template` cycles through a table of phrasings; negative or large indices wrap. */
export function variant<T>(table: readonly T[], index: number): T {
  return table[((index % table.length) + table.length) % table.length]!;
}

/** FNV-1a 32-bit of a string: stable ids and split hashes. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A hash of (seed, key) mixed to a uniform number in [0, 1). */
export function unitHash(seed: number, key: string): number {
  let z = (fnv1a(key) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
