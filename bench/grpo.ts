/**
 * GRPO rollout benchmark: new tokens/s of group sampling with the KV cache (G = 8) and the time of one
 * full GRPO step's pieces (rollouts, π_old/π_ref log-probs, per-capability gradient) on a bio-tiny-sized
 * model with random weights, plus peak RSS. Random weights sample long completions, a worst case.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../engine/model/backend';
import { bioTinyConfig, disposeModel, initLlama } from '../engine/model/llama';
import { createLoraSet, loraHook, loraVariables } from '../engine/model/lora';
import { grpoLoss } from '../engine/compute/tfjs/grpo-loss';
import { groupTokenLogps } from '../engine/compute/tfjs/policy';
import { decodePrompts, samplingPicker } from '../engine/model/decode';
import { computeGradients } from '../engine/compute/tfjs/grads';
import { silentLogger } from '../engine/util/log';
import { makeRng } from '../engine/util/rng';

export async function benchGrpo(opts: { group?: number; newTokens?: number; repeats?: number } = {}): Promise<Record<string, number | string>> {
  const G = opts.group ?? 8;
  const newTokens = opts.newTokens ?? 64;
  const repeats = opts.repeats ?? 3;
  const backend = await selectBackend('auto', { log: silentLogger });
  const config = bioTinyConfig({ vocab_size: 1024, hidden_size: 128, layers: 4, heads: 4, kv_heads: 2, intermediate_size: 352, context_length: 256, tie_embeddings: true, rope_theta: 10000 }, { bosId: 0, eosId: 1, padId: 2 });
  const model = initLlama(config, makeRng(1));
  const set = createLoraSet(model, ['default'], { rank: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj', 'o_proj', 'up_proj', 'down_proj'] }, makeRng(2));
  const hook = loraHook(set, { training: false });
  const prompt = Array.from({ length: 64 }, (_, i) => 3 + (i % 200));
  const rollMs: number[] = [];
  const trainMs: number[] = [];
  let tokens = 0;
  let peakRss = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const comps = decodePrompts(model, [prompt], { n: G, maxNewTokens: newTokens, pick: samplingPicker({ temperature: 1, topP: 1, rng: makeRng(r) }), detokenize: (ids) => ids.join(' '), forward: { freezeBase: true, hook } })[0]!;
    rollMs.push(performance.now() - t0);
    tokens += comps.reduce((s, c) => s + c.ids.length, 0);
    const t1 = performance.now();
    const group = { prompt, completions: comps.map((c) => c.ids) };
    const fwd = { temperature: 1, maxLen: newTokens, padId: 2, forward: { freezeBase: true, hook } };
    const old = tf.keep(tf.tidy(() => groupTokenLogps(model, group, fwd)));
    const mask = tf.ones([G, newTokens]) as tf.Tensor2D;
    computeGradients(loraVariables(set), () => grpoLoss({ logp: groupTokenLogps(model, group, fwd), oldLogp: old, refLogp: old, advantages: tf.randomNormal([G]) as tf.Tensor1D, mask }, { lossType: 'grpo', epsLow: 0.2, epsHigh: 0.2, beta: 0.04, importanceSampling: 'token' }));
    tf.dispose([old, mask]);
    trainMs.push(performance.now() - t1);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  disposeModel(model);
  const totalRoll = rollMs.reduce((a, b) => a + b, 0);
  return {
    backend: backend.name,
    group_size: G,
    rollout_new_tokens_per_s: (tokens / totalRoll) * 1000,
    rollout_ms_per_group: totalRoll / repeats,
    logps_and_gradient_ms_per_group: trainMs.reduce((a, b) => a + b, 0) / repeats,
    peak_rss_mb: peakRss / 1048576,
  };
}

if (require.main === module) {
  benchGrpo().then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'), (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exitCode = 1;
  });
}
