/**
 * Per-token log-probabilities of sampled completions under a policy, the tensors the GRPO loss consumes.
 * A group shares its prompt, so its completion positions are one contiguous slice of the sequence (no
 * gather, whose gradient the wasm backend lacks); token log-probs are picked with a one-hot product.
 * Logits are divided by the sampling temperature first, as TRL does, so π_θ, π_old and π_ref are the
 * distributions the completions were actually drawn from.
 */
import * as tf from '@tensorflow/tfjs-core';
import { forwardLogits, type ForwardOptions, type LlamaModel } from '../../model/llama';

export interface GroupRollout {
  prompt: readonly number[];
  completions: readonly (readonly number[])[];
}

/**
 * The GRPO loss mask of a group's completions, one row per completion, `maxLen` wide: 1 on every completion
 * token (its terminating EOS / end-of-turn tokens included, so the policy learns to stop) when the
 * completion enters the loss, 0 on padding and on an excluded completion (e.g. a masked truncated one).
 */
export function completionMask(completions: readonly (readonly number[])[], include: readonly boolean[], maxLen: number): number[][] {
  return completions.map((c, j) => {
    const row = new Array<number>(maxLen).fill(0);
    if (include[j]) row.fill(1, 0, Math.min(c.length, maxLen));
    return row;
  });
}

/** Row-major inputs of a group (prompt ++ completion, right-padded) and its completion targets. */
function groupInputs(group: GroupRollout, padId: number): { G: number; P: number; Lc: number; T: number; ids: Int32Array; targets: Int32Array; mask: Float32Array } {
  const G = group.completions.length;
  const P = group.prompt.length;
  const Lc = Math.max(1, ...group.completions.map((c) => c.length));
  const T = P + Lc - 1;
  const ids = new Int32Array(G * T).fill(padId);
  const targets = new Int32Array(G * Lc).fill(padId);
  const mask = new Float32Array(G * Lc);
  group.completions.forEach((c, g) => {
    ids.set([...group.prompt, ...c].slice(0, T), g * T);
    targets.set(c.slice(0, Lc), g * Lc);
    for (let t = 0; t < c.length; t++) mask[g * Lc + t] = 1;
  });
  return { G, P, Lc, T, ids, targets, mask };
}

/** Temperature-scaled log-softmax at the completion positions of a group: [G, Lc, V]. */
function completionLogSoftmax(model: LlamaModel, x: ReturnType<typeof groupInputs>, temperature: number, forward: ForwardOptions): tf.Tensor3D {
  const V = model.config.vocab_size;
  const logits = tf.reshape(forwardLogits(model, x.ids, x.G, forward), [x.G, x.T, V]); // [G, T, V]
  const comp = tf.slice(logits, [0, x.P - 1, 0], [x.G, x.Lc, V]); // [G, Lc, V]
  return tf.logSoftmax(tf.div(comp, temperature)) as tf.Tensor3D; // [G, Lc, V]
}

/** [G, Lmax] log π(o_it | q, o_i<t) for one group, zero beyond each completion; differentiable. */
export function groupTokenLogps(model: LlamaModel, group: GroupRollout, opts: { temperature: number; maxLen: number; padId: number; forward: ForwardOptions }): tf.Tensor2D {
  const x = groupInputs(group, opts.padId);
  const { G, Lc } = x;
  const V = model.config.vocab_size;
  const targets = x.targets;
  const logp = completionLogSoftmax(model, x, opts.temperature, opts.forward); // [G, Lc, V]
  const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor2d(targets, [G, Lc], 'int32'), V)), 2); // [G, Lc]
  return tf.pad(picked, [[0, 0], [0, opts.maxLen - Lc]]) as tf.Tensor2D; // [G, Lmax]
}

/** Mean token entropy (nats) of the policy over the completion tokens of a group (no gradient). */
export function groupEntropy(model: LlamaModel, group: GroupRollout, opts: { temperature: number; padId: number; forward: ForwardOptions }): number {
  return tf.tidy(() => {
    const x = groupInputs(group, opts.padId);
    const { G, Lc, mask } = x;
    const logp = completionLogSoftmax(model, x, opts.temperature, { ...opts.forward, freezeBase: true }); // [G, Lc, V]
    const h = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 2)); // [G, Lc]
    const n = mask.reduce((a, b) => a + b, 0);
    return n ? tf.sum(tf.mul(h, tf.tensor2d(mask, [G, Lc]))).dataSync()[0]! / n : 0;
  });
}
