/**
 * Sampling completions for GRPO rollouts: G completions of one prompt decoded together as a batch of G
 * rows (they share the prompt, so no padding is needed), with the KV cache: the prompt is fed once, then
 * one token per row per step. Temperature and nucleus (top-p, Holtzman et al. 2020) sampling; a row stops
 * at EOS, at a stop string (cut before it), or at maxNewTokens (then marked truncated).
 */
import { createKvCache, decodeStep, disposeKvCache, type ForwardOptions, type LlamaModel } from '../../model/llama';
import type { Rng } from '../../util/rng';

export interface SampleOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  eosId?: number;
  /** Stop strings, checked on the decoded text of each row. */
  stop: readonly string[];
  decode: (ids: number[]) => string;
  rng: Rng;
  /** LoRA hook etc. */
  forward?: ForwardOptions;
}

export interface Completion {
  ids: number[];
  text: string;
  /** Cut by maxNewTokens rather than ended by EOS or a stop string. */
  truncated: boolean;
}

/** Draws one token from logits (row) with temperature and top-p; temperature 0 is greedy. */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  const V = logits.length;
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[i]!);
  const p = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) z += p[i] = Math.exp((logits[i]! - max) / temperature);
  if (topP < 1) {
    // keep the smallest set of most likely tokens whose mass reaches topP
    const order = [...Array(V).keys()].sort((a, b) => p[b]! - p[a]!);
    let mass = 0;
    let keep = 0;
    while (keep < V && mass < topP * z) mass += p[order[keep++]!]!;
    for (let k = keep; k < V; k++) p[order[k]!] = 0;
    z = mass;
  }
  let u = rng.next() * z;
  for (let i = 0; i < V; i++) {
    u -= p[i]!;
    if (u <= 0 && p[i]! > 0) return i;
  }
  for (let i = V - 1; i >= 0; i--) if (p[i]! > 0) return i;
  return 0;
}

export function sampleGroup(model: LlamaModel, promptIds: readonly number[], group: number, o: SampleOptions): Completion[] {
  const room = model.config.max_position_embeddings - promptIds.length;
  const limit = Math.max(0, Math.min(o.maxNewTokens, room));
  const rows: number[][] = Array.from({ length: group }, () => []);
  const done: boolean[] = new Array<boolean>(group).fill(false);
  const cut: (number | undefined)[] = new Array<number | undefined>(group).fill(undefined);
  const V = model.config.vocab_size;
  const cache = createKvCache(model);
  try {
    const prompt = new Int32Array(group * promptIds.length);
    for (let g = 0; g < group; g++) prompt.set(promptIds, g * promptIds.length);
    let logits = decodeStep(model, prompt, group, cache, o.forward); // [G, V]
    for (let step = 0; step < limit; step++) {
      const next = new Int32Array(group);
      for (let g = 0; g < group; g++) {
        // finished rows keep decoding a filler token so the batch stays rectangular; it is discarded
        const tok = sampleToken(logits.subarray(g * V, (g + 1) * V), o.temperature, o.topP, o.rng);
        next[g] = done[g] ? (o.eosId ?? tok) : tok;
        if (done[g]) continue;
        if (tok === o.eosId) {
          done[g] = true;
          continue;
        }
        rows[g]!.push(tok);
        if (o.stop.length) {
          const text = o.decode(rows[g]!);
          const hit = o.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
          if (hit.length) {
            done[g] = true;
            cut[g] = Math.min(...hit);
          }
        }
      }
      if (done.every(Boolean) || step + 1 >= limit) break;
      logits = decodeStep(model, next, group, cache, o.forward);
    }
  } finally {
    disposeKvCache(cache);
  }
  return rows.map((ids, g) => {
    const full = o.decode(ids);
    const c = cut[g];
    if (c === undefined) return { ids, text: full, truncated: !done[g] };
    // trim tokens past the stop string so ids and text agree
    let keep = ids.length;
    while (keep > 0 && o.decode(ids.slice(0, keep)).length > c) keep--;
    return { ids: ids.slice(0, keep), text: full.slice(0, c), truncated: false };
  });
}
