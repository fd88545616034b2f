/**
 * What a projection guarantees once AdamW applies it (issue 17 item 7). PCGrad (Yu et al. 2020) makes a
 * conflicting capability's projected gradient g̃_a Euclidean-orthogonal to the other's gradient g_b, so an
 * SGD step along g̃_a leaves L_b unchanged to first order (⟨g̃_a, g_b⟩ = 0). AdamW (Loshchilov & Hutter
 * 2019) divides every coordinate by its own √v̂ + ε, and a diagonal rescaling does not preserve inner
 * products, so capability a's share of the update, u_a, need not stay orthogonal to g_b. The test asserts
 * what is guaranteed (the projected cosines are 0, the update splits exactly into per-capability shares)
 * and prints the measured cosines of the AdamW shares, which are the figures the hover text refers to:
 * cos(u_d, g_r) > 0 means domain's share of the update raises reasoning's loss to first order, and
 * cos(−D g̃_d, g_r) isolates the per-coordinate scaling D = diag(1/(√v̂ + ε)) from momentum.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { adamwUpdate, createAdamWState, type AdamWHyper } from '../../../engine/compute/adamw';
import { pcgrad } from '../../../engine/compute/projection/pcgrad';
import { cosine, weightedSum, type GradVec } from '../../../engine/compute/projection/vectors';
import { capabilityGradients } from '../../../engine/compute/tfjs/lora-grads';
import { initLlama, makeLmBatch } from '../../../engine/model/llama';
import { createLoraSet, loraVariables } from '../../../engine/model/lora';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from '../model/helpers';

before(useWasm);

const ADAM: AdamWHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
const LR = 0.05;
const STEPS = 12;

test('pcgrad: projected gradients are orthogonal to the other capability; their AdamW update shares are measured, not assumed', () => {
  const model = initLlama(tinyLlamaConfig(), makeRng(1));
  // One shared adapter, as with lora.adapters: shared (the setting in which the projection matters).
  const set = createLoraSet(model, ['shared'], { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'o_proj'] }, makeRng(2));
  const vars = loraVariables(set);
  // Same context, different next tokens: the two capabilities pull the shared weights apart, so they conflict.
  const batches = [
    { capability: 'domain', batch: makeLmBatch([[1, 2, 3, 4, 5]]), adapters: ['shared'] },
    { capability: 'reasoning', batch: makeLmBatch([[1, 2, 3, 9, 7]]), adapters: ['shared'] },
  ];
  const weights = [0.5, 0.5];
  const sizes = vars.map((v) => v.variable.size);
  const state = createAdamWState(sizes);
  const params = vars.map((v) => Float32Array.from(v.variable.dataSync()));
  // m_c: capability c's part of Adam's first moment. m is linear in the gradients, so m = Σ_c m_c exactly.
  const mShare = weights.map(() => sizes.map((n) => new Float32Array(n)));
  const rows: { step: number; conflict: boolean; cosProjVsOther: number; cosUpdateVsOther: number; cosScaledVsOther: number; cosProj: number; cosUpdates: number }[] = [];
  for (let step = 1; step <= STEPS; step++) {
    const raw: GradVec[] = capabilityGradients(model, set, vars, batches, { training: false }).map((r) => r.grads);
    const { projected, conflicts } = pcgrad(raw, makeRng(step));
    const combined = weightedSum(projected, weights);
    const before = params.map((p) => Float32Array.from(p));
    adamwUpdate(params, combined, sizes.map(() => false), state, LR, ADAM);
    vars.forEach((v, i) => {
      const t = tf.tensor(params[i]!, v.variable.shape);
      v.variable.assign(t);
      t.dispose();
    });
    const update = params.map((p, i) => p.map((x, j) => x - before[i]![j]!));
    // u_c = −lr · (m_c / (1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε): capability c's share of this update under the shared
    // per-coordinate denominator (Loshchilov & Hutter 2019, Algorithm 2 with λ = 0).
    const bc1 = 1 - ADAM.beta1 ** state.step;
    const bc2 = 1 - ADAM.beta2 ** state.step;
    const shares = weights.map((w, c) =>
      sizes.map((_, i) => {
        const m = mShare[c]![i]!;
        const g = projected[c]![i]!;
        const v = state.v[i]!;
        return m.map((mj, j) => {
          const next = ADAM.beta1 * mj + (1 - ADAM.beta1) * w * g[j]!;
          m[j] = next;
          return (-LR * (next / bc1)) / (Math.sqrt(v[j]! / bc2) + ADAM.eps);
        });
      }),
    );
    // Adam's per-coordinate scaling alone, without momentum: −D g̃_domain with D = diag(1 / (√v̂ + ε)) of this step
    const scaled = projected[0]!.map((g, i) => g.map((gj, j) => -gj / (Math.sqrt(state.v[i]![j]! / bc2) + ADAM.eps)));
    // the shares add up to the update AdamW applied (float32 rounding only)
    const sum = weightedSum(shares, [1, 1]);
    sum.forEach((s, i) => s.forEach((x, j) => assert.ok(Math.abs(x - update[i]![j]!) <= 1e-6 + 1e-4 * Math.abs(update[i]![j]!), `share sum ${x} ≠ update ${update[i]![j]}`)));
    rows.push({
      step,
      conflict: conflicts[0]![1]!,
      cosProjVsOther: cosine(projected[0]!, raw[1]!),
      cosUpdateVsOther: cosine(shares[0]!, raw[1]!),
      cosScaledVsOther: cosine(scaled, raw[1]!),
      cosProj: cosine(projected[0]!, projected[1]!),
      cosUpdates: cosine(shares[0]!, shares[1]!),
    });
  }
  const conflicted = rows.filter((r) => r.conflict);
  assert.ok(conflicted.length > 0, 'the fixture must make the two capabilities conflict at least once');
  for (const r of conflicted) {
    // PCGrad's guarantee for two tasks: a conflicting g̃_a is orthogonal to g_b (and vice versa)
    assert.ok(Math.abs(r.cosProjVsOther) < 1e-5, `step ${r.step}: cos(g̃_domain, g_reasoning) = ${r.cosProjVsOther}`);
  }
  const fmt = (x: number) => x.toFixed(4).padStart(8);
  const table = rows.map((r) => `step ${String(r.step).padStart(2)} conflict ${r.conflict ? 'y' : 'n'} | cos(g̃_d, g_r) ${fmt(r.cosProjVsOther)} | cos(u_d, g_r) ${fmt(r.cosUpdateVsOther)} | cos(−Dg̃_d, g_r) ${fmt(r.cosScaledVsOther)} | cos(g̃_d, g̃_r) ${fmt(r.cosProj)} | cos(u_d, u_r) ${fmt(r.cosUpdates)}`);
  process.stderr.write(`PCGrad + AdamW, shared LoRA adapter on a tiny Llama (measured):\n${table.join('\n')}\n`);
});
