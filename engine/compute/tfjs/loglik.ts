/**
 * Log-likelihood scoring of continuations (multiple-choice options) given a context, as
 * lm-evaluation-harness does for `acc`/`acc_norm`: log P(continuation | context) = Σ_t log p(c_t | …).
 * Batched: all options of many questions share one forward pass as right-padded rows (causal attention
 * makes right padding invisible to earlier positions), and only the continuation positions are
 * soft-maxed on the host. One pass per batch instead of one per option is the speed-up the issue asks for.
 */
import * as tf from '@tensorflow/tfjs-core';
import { forwardHidden, lmHead, type ForwardOptions, type LlamaModel } from '../../model/llama';

export interface LoglikRequest {
  context: readonly number[];
  continuation: readonly number[];
}

export interface LoglikResult {
  /** Σ log p over the continuation tokens (nats). */
  logprob: number;
  /** Whether every continuation token was the argmax (lm-eval's is_greedy). */
  greedy: boolean;
}

/** log Σ exp over one row (float64). */
function logSumExp(row: Float32Array, from: number, to: number): { lse: number; argmax: number } {
  let max = -Infinity;
  let argmax = from;
  for (let i = from; i < to; i++) if (row[i]! > max) { max = row[i]!; argmax = i; }
  let z = 0;
  for (let i = from; i < to; i++) z += Math.exp(row[i]! - max);
  return { lse: max + Math.log(z), argmax: argmax - from };
}

/** Scores requests in batches of `batchRows` rows; contexts are cut from the left to fit the model. */
export function scoreLoglik(model: LlamaModel, requests: readonly LoglikRequest[], opts: { batchRows: number; padId: number; forward?: ForwardOptions }): LoglikResult[] {
  const maxLen = model.config.max_position_embeddings;
  const V = model.config.vocab_size;
  const out: LoglikResult[] = [];
  for (let start = 0; start < requests.length; start += opts.batchRows) {
    const batch = requests.slice(start, start + opts.batchRows).map((r) => {
      const cont = r.continuation.slice(-maxLen);
      const ctx = r.context.slice(Math.max(0, r.context.length - (maxLen + 1 - cont.length)));
      // input = (ctx ++ cont)[:-1]; the prediction for cont[j] is at input position ctx.length − 1 + j
      return { input: [...ctx, ...cont].slice(0, -1), cont, first: ctx.length - 1 };
    });
    const T = Math.max(...batch.map((b) => b.input.length));
    const ids = new Int32Array(batch.length * T).fill(opts.padId);
    batch.forEach((b, i) => ids.set(b.input, i * T));
    // Only the continuation positions go through the output projection: [B·T, V] logits for every
    // position would cost more than the trunk for short options and long contexts.
    const rows: number[] = [];
    const rowOf = batch.map((b, i) => b.cont.map((_, j) => (b.first + j < 0 ? -1 : rows.push(i * T + b.first + j) - 1)));
    const fwd: ForwardOptions = { ...opts.forward, freezeBase: true };
    const logits = rows.length
      ? tf.tidy(() => {
          const hidden = forwardHidden(model, ids, batch.length, fwd); // [B·T, D]
          const picked = tf.gather(hidden, Int32Array.from(rows)) as tf.Tensor2D; // [P, D]
          return lmHead(model, picked, fwd).dataSync() as Float32Array; // [P, V]
        })
      : new Float32Array(0);
    batch.forEach((b, i) => {
      let logprob = 0;
      let greedy = true;
      b.cont.forEach((tok, j) => {
        const r = rowOf[i]![j]!;
        if (r < 0) return; // an empty context cannot predict its first token; lm-eval adds a BOS here
        const off = r * V;
        const { lse, argmax } = logSumExp(logits, off, off + V);
        logprob += logits[off + tok]! - lse;
        if (argmax !== tok) greedy = false;
      });
      out.push({ logprob, greedy });
    });
  }
  return out;
}

export interface McScore {
  /** Index of the option with the highest log-likelihood. */
  pick: number;
  /** Index with the highest log-likelihood per byte of option text (acc_norm). */
  pickNorm: number;
}

/** lm-eval's acc and acc_norm decisions from option log-likelihoods and option texts. */
export function decideMc(results: readonly LoglikResult[], optionTexts: readonly string[]): McScore {
  let pick = 0;
  let pickNorm = 0;
  const norm = results.map((r, i) => r.logprob / Math.max(1, Buffer.byteLength(optionTexts[i]!, 'utf8')));
  results.forEach((r, i) => {
    if (r.logprob > results[pick]!.logprob) pick = i;
    if (norm[i]! > norm[pickNorm]!) pickNorm = i;
  });
  return { pick, pickNorm };
}
