/**
 * Per-capability LoRA gradients for the multi-capability SFT stage: one loss and one host gradient per
 * capability batch, w.r.t. the LoRA variables only (base weights frozen, their dW never computed). The
 * stage then projects/combines them (PCGrad, subspace, …) and hands the result to Trainer.applyGradients.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { lmLoss, type LlamaModel, type LmBatch } from '../../model/llama';
import { loraHook, type LoraSet } from '../../model/lora';
import type { Rng } from '../../util/rng';
import { computeGradients, type HostGrads, type NamedVariable } from './grads';

export interface CapabilityBatch {
  capability: string;
  batch: LmBatch;
  /** Adapters active in this forward (default: all in the set). Per-capability adapters: [capability]. */
  adapters?: readonly string[];
}

/** The LoRA-augmented LM loss of one batch, as a closure for computeGradients. */
export function loraLoss(model: LlamaModel, set: LoraSet, batch: LmBatch, opts: { adapters?: readonly string[]; training: boolean; rng?: Rng }): () => tf.Scalar {
  const hook = loraHook(set, { active: opts.adapters, training: opts.training, rng: opts.rng });
  return () => lmLoss(model, batch, { freezeBase: true, hook });
}

/**
 * One gradient per capability w.r.t. `vars` (e.g. loraVariables(set) for a shared adapter; gradients of
 * variables a capability's forward does not touch are zeros). Dropout masks come from `rng` in order.
 */
export function capabilityGradients(
  model: LlamaModel,
  set: LoraSet,
  vars: readonly NamedVariable[],
  batches: readonly CapabilityBatch[],
  opts: { training: boolean; rng?: Rng },
): Array<{ capability: string; loss: number; grads: HostGrads }> {
  return batches.map((b) => {
    const { loss, grads } = computeGradients(vars, loraLoss(model, set, b.batch, { adapters: b.adapters, training: opts.training, rng: opts.rng }));
    return { capability: b.capability, loss, grads };
  });
}
