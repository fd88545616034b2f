import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initLlama, makeLmBatch, type LmBatch } from '../../../engine/model/llama';
import { createLoraSet, loraVariables } from '../../../engine/model/lora';
import { computeGradients, type HostGrads } from '../../../engine/compute/tfjs/grads';
import { loraLoss } from '../../../engine/compute/tfjs/lora-grads';
import { dot } from '../../../engine/compute/projection/vectors';
import { firstOrderInterference } from '../../../engine/compute/tfjs/interference';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from '../model/helpers';

before(useWasm);

/** A tiny model with one LoRA adapter whose B is non-zero, so every LoRA value has a gradient. */
function setup(): { lossOf: (b: LmBatch) => number; gradOf: (b: LmBatch) => HostGrads; step: (g: HostGrads, eta: number) => () => void } {
  const model = initLlama(tinyLlamaConfig(), makeRng(1));
  const set = createLoraSet(model, ['default'], { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] }, makeRng(2));
  const vars = loraVariables(set);
  const rng = makeRng(5);
  for (const v of vars) v.variable.assign(tf.tensor(Float32Array.from({ length: v.variable.size }, () => 0.3 * rng.normal()), v.variable.shape));
  const loss = (b: LmBatch): (() => tf.Scalar) => loraLoss(model, set, b, { adapters: ['default'], training: false });
  return {
    lossOf: (b) => tf.tidy(() => loss(b)().dataSync()[0]!),
    gradOf: (b) => computeGradients(vars, loss(b)).grads,
    // θ ← θ − η·g; returns the undo
    step: (g, eta) => {
      const saved = vars.map((v) => (v.variable.dataSync() as Float32Array).slice());
      vars.forEach((v, k) => v.variable.assign(tf.tensor(saved[k]!.map((x, j) => x - eta * g[k]![j]!), v.variable.shape)));
      return () => vars.forEach((v, k) => v.variable.assign(tf.tensor(saved[k]!, v.variable.shape)));
    },
  };
}

test('first-order interference matches the finite-difference loss change for a small step', () => {
  const m = setup();
  const update = m.gradOf(makeLmBatch([[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]));
  const probes = [makeLmBatch([[3, 4, 5, 6, 7]]), makeLmBatch([[1, 3, 5, 7, 9]]), makeLmBatch([[6, 5, 4, 3, 2]])];
  const probeGrads = probes.map((b) => m.gradOf(b));
  // η so that the predicted change is ~1e-4: far above float32 noise in the loss, small enough for first order
  const eta = 2e-4 / Math.sqrt(dot(update, update) * dot(probeGrads[0]!, probeGrads[0]!));
  const est = firstOrderInterference([update], [probeGrads], eta);
  const before = probes.map((b) => m.lossOf(b));
  const undo = m.step(update, eta);
  const after = probes.map((b) => m.lossOf(b));
  undo();
  const actual = after.reduce((s, a, i) => s + a - before[i]!, 0) / probes.length;
  assert.ok(Math.abs(est.mean[0]![0]!) > 1e-5, `a measurable effect: ${est.mean[0]![0]}`);
  assert.ok(Math.abs(est.mean[0]![0]! - actual) < 0.05 * Math.abs(actual) + 2e-6, `estimate ${est.mean[0]![0]} vs actual ${actual}`);
  assert.equal(est.batches[0], 3);
  assert.ok(est.ci95[0]![0]! > 0 && Number.isFinite(est.ci95[0]![0]!), 'an interval from 3 mini-batches');
  // the interval is the t-interval of the per-batch estimates
  const xs = probeGrads.map((p) => -eta * dot(update, p));
  const mean = xs.reduce((a, b) => a + b, 0) / 3;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
  assert.ok(Math.abs(est.ci95[0]![0]! - (4.303 * sd) / Math.sqrt(3)) < 1e-12);
});

test('conflicting capabilities: a step on one raises the other\'s loss and lowers its own', () => {
  const m = setup();
  // the same context continues differently: capability A says 1 → 2, capability B says 1 → 7
  const a = (n: number): LmBatch => makeLmBatch(Array.from({ length: n }, () => [1, 2, 1, 2, 1, 2]));
  const b = (n: number): LmBatch => makeLmBatch(Array.from({ length: n }, () => [1, 7, 1, 7, 1, 7]));
  const updates = [m.gradOf(a(2)), m.gradOf(b(2))];
  const probeGrads = [[m.gradOf(a(1)), m.gradOf(a(3))], [m.gradOf(b(1)), m.gradOf(b(3))]];
  const est = firstOrderInterference(updates, probeGrads, 0.01);
  assert.ok(est.mean[0]![0]! < 0 && est.mean[1]![1]! < 0, `a step on a capability helps it: ${JSON.stringify(est.mean)}`);
  assert.ok(est.mean[0]![1]! > 0 && est.mean[1]![0]! > 0, `and hurts the conflicting one: ${JSON.stringify(est.mean)}`);
  const empty = firstOrderInterference(updates, [[], probeGrads[1]!], 0.01);
  assert.ok(Number.isNaN(empty.mean[0]![0]!), 'no probe data: no estimate');
});
