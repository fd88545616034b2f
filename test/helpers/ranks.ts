/**
 * The data-parallel training both rank tests run (test/unit/compute/torch-ranks.test.ts through TorchCompute,
 * test/integration/slurm.test.ts through srun): a tiny model, two LoRA adapters with dropout, PCGrad,
 * and three rows per capability so two ranks split every batch unevenly (rows 0, 2 and row 1).
 */
import { openTorchCompute, type TorchCompute } from '../../engine/compute/torch/compute';
import type { SftStepInput, TrainingSpec } from '../../engine/compute/types';
import { makeLmBatch } from '../../engine/model/llama';
import { silentLogger } from '../../engine/util/log';
import { tinyLlamaConfig } from './tiny-llama';

export const PYTHON = '/usr/bin/python3';
export const CONFIG = tinyLlamaConfig({ vocab_size: 13, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 });

export const SPEC: TrainingSpec = {
  params: { kind: 'adapters', slot: 'sft' },
  schedule: { peak: 0.05, warmupSteps: 0, totalSteps: 10, shape: 'cosine', minLrRatio: 0.1 },
  adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  decay: 'matrices',
  gradClip: 1,
  rng: { seed: 7, stream: 'sft' },
  projection: { method: 'pcgrad', scope: 'global', capabilities: 2 },
};

/** Step n's batches: capability 1 predicts other tokens from the same inputs, so the gradients conflict. */
export function sftInput(n: number): SftStepInput {
  const rows = [[1, 5, 3, 9, 2, 7], [4, 4, 0, 10, 6, 1], [2, 8, 8, 1, 3, 3]].map((r) => r.map((t) => (t + n) % CONFIG.vocab_size));
  const own = makeLmBatch(rows);
  return { capabilities: [{ batches: [own] }, { batches: [{ ...own, targets: own.targets.map((t) => (t + 6) % CONFIG.vocab_size) }] }], weights: [0.6, 0.4] };
}

/** A torch compute with `devices` CPU ranks, the model and adapters made and training started. */
export async function openForSft(devices: number, env: NodeJS.ProcessEnv = process.env): Promise<TorchCompute> {
  const c = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32', devices, env });
  await c.initModel(CONFIG, 3);
  await c.createAdapters('sft', ['domain', 'reasoning'], { rank: 2, alpha: 4, dropout: 0.1, targetModules: ['q_proj', 'v_proj'] }, 5);
  await c.startTraining(SPEC);
  return c;
}
