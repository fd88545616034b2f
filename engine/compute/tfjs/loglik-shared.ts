/**
 * Log-likelihood of several continuations of one shared context (the options of a multiple-choice
 * question) with the context computed once: a prefill of the context fills the KV cache, the cache is
 * tiled to one row per option, and the options are fed together as right-padded rows (causal attention
 * makes the padding invisible to earlier positions). Same numbers as scoring each (context, option) pair
 * on its own, log P(c | ctx) = Σ_t log p(c_t | ctx, c_<t) (lm-evaluation-harness's loglikelihood), with the
 * context's cost paid once instead of once per option.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createKvCache, disposeKvCache, forwardHidden, lmHead, type ForwardOptions, type LlamaModel } from '../../model/llama';
import type { LoglikResult } from './loglik';

/** log p(tok) and whether tok is the argmax, from one logits row. */
function tokenLogprob(row: Float32Array, off: number, V: number, tok: number): { lp: number; greedy: boolean } {
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < V; i++) if (row[off + i]! > max) { max = row[off + i]!; arg = i; }
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp(row[off + i]! - max);
  return { lp: row[off + tok]! - max - Math.log(z), greedy: arg === tok };
}

/**
 * Scores `continuations` given `context` (token ids). The context is cut from the left so context plus the
 * longest continuation fit the window; an empty context scores from the second continuation token on.
 */
export function scoreSharedContext(model: LlamaModel, context: readonly number[], continuations: readonly (readonly number[])[], opts: { padId: number; forward?: ForwardOptions }): LoglikResult[] {
  const maxLen = model.config.max_position_embeddings;
  const V = model.config.vocab_size;
  const D = model.config.hidden_size;
  const conts = continuations.map((c) => c.slice(-maxLen + 1));
  const Tc = Math.max(1, ...conts.map((c) => c.length));
  const ctx = context.slice(Math.max(0, context.length - (maxLen - Tc)));
  const n = conts.length;
  const fwd: ForwardOptions = { ...opts.forward, freezeBase: true };
  const cache = createKvCache(model);
  try {
    return tf.tidy(() => {
      // prefill: the last context position predicts every continuation's first token
      let firstRow: Float32Array | undefined;
      if (ctx.length) {
        const h = forwardHidden(model, Int32Array.from(ctx), 1, { ...fwd, cache }); // [Lc, D]
        const last = tf.slice(h, [ctx.length - 1, 0], [1, D]); // [1, D]
        firstRow = lmHead(model, last, fwd).dataSync() as Float32Array; // [1, V]
        for (let l = 0; l < cache.k.length; l++) {
          const [k, v] = [cache.k[l]!, cache.v[l]!]; // [1, KV, Lc, hd]
          cache.k[l] = tf.keep(tf.tile(k, [n, 1, 1, 1])); // [n, KV, Lc, hd]
          cache.v[l] = tf.keep(tf.tile(v, [n, 1, 1, 1])); // [n, KV, Lc, hd]
          k.dispose();
          v.dispose();
        }
      }
      // continuations as right-padded rows; position j's logits predict token j + 1
      const ids = new Int32Array(n * Tc).fill(opts.padId);
      conts.forEach((c, i) => ids.set(c, i * Tc));
      const logits = lmHead(model, forwardHidden(model, ids, n, ctx.length ? { ...fwd, cache } : fwd), fwd).dataSync() as Float32Array; // [n·Tc, V]
      return conts.map((c, i) => {
        let logprob = 0;
        let greedy = true;
        c.forEach((tok, j) => {
          const r = j === 0 ? (firstRow ? tokenLogprob(firstRow, 0, V, tok) : undefined) : tokenLogprob(logits, (i * Tc + j - 1) * V, V, tok);
          if (!r) return; // no context: the first token has no prediction (lm-eval adds a BOS)
          logprob += r.lp;
          if (!r.greedy) greedy = false;
        });
        return { logprob, greedy };
      });
    });
  } finally {
    disposeKvCache(cache);
  }
}
