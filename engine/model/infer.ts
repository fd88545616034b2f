/**
 * Token-by-token generation from a checkpoint with the KV cache: the prompt is fed once, then one token
 * per step, greedy or sampled with a temperature. `balancedbio infer` (engine/cli/commands/infer.ts)
 * prints what it generates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/rng';
import { createKvCache, decodeStep, disposeKvCache, forwardLogits, type LlamaModel } from './llama';

/** The logits of every prompt position, [T·V] row-major, base weights frozen (no tensors left behind). */
export function promptLogits(model: LlamaModel, ids: readonly number[]): Float32Array {
  return tf.tidy(() => forwardLogits(model, Int32Array.from(ids), 1, { freezeBase: true }).dataSync()) as Float32Array;
}

/** log-softmax of one row, in float64. */
export function logSoftmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - max);
  const lz = max + Math.log(z);
  return Array.from(row, (v) => v - lz);
}

/** Greedy argmax, or a sample from softmax(logits / temperature). */
export function pickToken(logits: ArrayLike<number>, temperature: number, rng: Rng): number {
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const lp = logSoftmax(Array.from(logits, (v) => v / temperature));
  let u = rng.next();
  for (let i = 0; i < lp.length; i++) {
    u -= Math.exp(lp[i]!);
    if (u <= 0) return i;
  }
  return lp.length - 1;
}

/**
 * Incremental generation with a KV cache for one prompt. Stops at `eosId` (not included) or after
 * maxNewTokens. Returns the new token ids.
 */
export function generate(
  model: LlamaModel,
  promptIds: number[],
  opts: { maxNewTokens: number; temperature?: number; rng: Rng; eosId?: number },
): number[] {
  const cache = createKvCache(model);
  const out: number[] = [];
  try {
    const room = model.config.max_position_embeddings - promptIds.length;
    const limit = Math.min(opts.maxNewTokens, Math.max(0, room));
    let logits = decodeStep(model, Int32Array.from(promptIds), 1, cache); // [V]
    for (let i = 0; i < limit; i++) {
      const next = pickToken(logits, opts.temperature ?? 0, opts.rng);
      if (next === opts.eosId) break;
      out.push(next);
      if (i + 1 < limit) logits = decodeStep(model, Int32Array.of(next), 1, cache);
    }
    return out;
  } finally {
    disposeKvCache(cache);
  }
}
