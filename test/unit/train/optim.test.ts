import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { adamwUpdate, createAdamWState } from '../../../engine/compute/adamw';
import { loadLatestCheckpoint, saveCheckpoint } from '../../../engine/compute/checkpoint';
import { addScaled, clipGlobalNorm, globalNorm } from '../../../engine/compute/tfjs/grads';
import { learningRate } from '../../../engine/compute/schedule';
import { Trainer } from '../../../engine/compute/tfjs/trainer';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from '../model/helpers';

before(useWasm);

test('AdamW: two steps equal a hand computation (decoupled decay, bias correction)', () => {
  const p = [new Float32Array([1, -2])];
  const st = createAdamWState([2]);
  const h = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
  const lr = 0.01;
  // hand: step 1, g = [0.5, -1]
  let want = [1, -2];
  const m = [0, 0], v = [0, 0];
  for (const [t, g] of [[1, [0.5, -1]], [2, [0.25, 2]]] as const) {
    want = want.map((w, i) => {
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
      v[i] = 0.99 * v[i]! + 0.01 * g[i]! * g[i]!;
      const mh = m[i]! / (1 - 0.9 ** t), vh = v[i]! / (1 - 0.99 ** t);
      return w * (1 - lr * 0.1) - (lr * mh) / (Math.sqrt(vh) + 1e-8);
    });
    adamwUpdate(p, [new Float32Array(g)], [true], st, lr, h);
  }
  assert.equal(st.step, 2);
  assert.ok(Math.abs(p[0]![0]! - want[0]!) < 1e-6 && Math.abs(p[0]![1]! - want[1]!) < 1e-6, `${p[0]} vs ${want}`);
  // Without decay the weight moves only by the Adam term.
  const q = [new Float32Array([1])];
  adamwUpdate(q, [new Float32Array([0])], [false], createAdamWState([1]), 1, h);
  assert.equal(q[0]![0], 1);
});

test('schedule: linear warm-up, cosine to min ratio, linear and constant shapes', () => {
  const s = { peak: 1, warmupSteps: 4, totalSteps: 14, shape: 'cosine' as const, minLrRatio: 0.1 };
  assert.equal(learningRate(0, s), 0.25);
  assert.equal(learningRate(3, s), 1);
  assert.equal(learningRate(4, s), 1);
  assert.ok(Math.abs(learningRate(9, s) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(14, s) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(100, s) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(9, { ...s, shape: 'linear' }) - 0.55) < 1e-12);
  assert.equal(learningRate(9, { ...s, shape: 'constant' }), 1);
  assert.equal(learningRate(0, { ...s, warmupSteps: 0 }), 1);
});

test('global-norm clipping scales every tensor by max/(norm+1e-6); below the limit nothing changes', () => {
  const g = [new Float32Array([3, 0]), new Float32Array([4])];
  assert.equal(globalNorm(g), 5);
  const coef = clipGlobalNorm(g, 1);
  assert.ok(Math.abs(coef - 1 / (5 + 1e-6)) < 1e-12);
  assert.ok(Math.abs(globalNorm(g) - 1) < 1e-6);
  const h = [new Float32Array([0.3])];
  assert.equal(clipGlobalNorm(h, 1), 1);
  assert.equal(h[0]![0], Math.fround(0.3));
  addScaled(h, [new Float32Array([1])], 0.5);
  assert.ok(Math.abs(h[0]![0]! - 0.8) < 1e-7);
});

function tinyTrainer(maxBadSteps = 3) {
  const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
  const b = tf.variable(tf.tensor1d([0.5, -0.5]));
  const trainer = new Trainer({
    vars: [{ name: 'w', variable: w }, { name: 'b', variable: b }],
    schedule: { peak: 0.1, warmupSteps: 0, totalSteps: 10, shape: 'constant', minLrRatio: 1 },
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 },
    gradClip: 1,
    maxBadSteps,
  });
  const loss = () => tf.sum(tf.add(tf.sum(tf.mul(w, w)), tf.sum(b))) as tf.Scalar;
  return { w, b, trainer, loss };
}

test('NaN guard: a NaN gradient rejects the step, names the tensor, and E_NAN stops after N bad steps', () => {
  const { w, b, trainer, loss } = tinyTrainer(3);
  const { grads } = trainer.computeGradients(loss);
  assert.deepEqual(Array.from(grads[0]!), [2, 4, 6, 8]);
  const ok = trainer.applyGradients(grads);
  assert.equal(ok.applied, true);
  const before = [w.dataSync().slice(), b.dataSync().slice()];
  const poisoned = [new Float32Array(4), new Float32Array([NaN, 0])];
  const r1 = trainer.applyGradients(poisoned);
  assert.deepEqual(r1, { applied: false, step: 1, badTensor: 'b', badSteps: 1 });
  assert.deepEqual(Array.from(w.dataSync()), Array.from(before[0]!));
  assert.equal(trainer.applyGradients([new Float32Array(4), new Float32Array(2)], { loss: Infinity }).applied, false);
  assert.throws(() => trainer.applyGradients(poisoned), (e: Error & { code?: string }) => e.code === 'E_NAN' && /b/.test(e.message));
  assert.deepEqual(Array.from(b.dataSync()), Array.from(before[1]!));
});

test('NaN guard: when the restored checkpoint itself is non-finite, E_NAN blames the checkpoint, not the training', () => {
  const healthy = tinyTrainer(2);
  assert.throws(() => {
    for (let i = 0; i < 2; i++) healthy.trainer.applyGradients(healthy.trainer.computeGradients(healthy.loss).grads, { loss: NaN });
  }, (e: Error & { code?: string; hint?: string }) => e.code === 'E_NAN' && /learning rate/.test(e.hint ?? ''));

  const { trainer, loss } = tinyTrainer(2);
  const snap = trainer.snapshot();
  snap.params.get('w')!.data[1] = NaN; // what a checkpoint saved from, or damaged into, NaN weights holds
  trainer.restore(snap);
  assert.throws(() => {
    for (let i = 0; i < 2; i++) {
      const { loss: l, grads } = trainer.computeGradients(loss);
      trainer.applyGradients(grads, { loss: l });
    }
  }, (e: Error & { code?: string; hint?: string }) => e.code === 'E_NAN' && /checkpoint this stage resumed from already holds non-finite values \(w\)/.test(e.message) && /checkpoint itself is damaged/.test(e.hint ?? '') && !/learning rate/.test(e.hint ?? ''));
});

test('checkpoint: atomic save, latest pointer, pruning, exact trainer restore', async (t) => {
  const dir = await tempDir(t, 'bbio-ck-');
  const a = tinyTrainer();
  for (let s = 0; s < 3; s++) {
    a.trainer.applyGradients(a.trainer.computeGradients(a.loss).grads);
    const snap = a.trainer.snapshot();
    await saveCheckpoint(dir, { step: a.trainer.step, params: snap.params, optimizer: snap.optimizer, state: { optimizerStep: snap.optimizerStep, cursor: s + 1 } });
  }
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('step-')).sort(), ['step-00000002', 'step-00000003']);
  const ck = loadLatestCheckpoint<{ optimizerStep: number; cursor: number }>(dir)!;
  assert.equal(ck.step, 3);
  assert.equal(ck.state.cursor, 3);
  const bTr = tinyTrainer();
  bTr.trainer.restore({ params: ck.params, optimizer: ck.optimizer, optimizerStep: ck.state.optimizerStep, badSteps: 0 });
  // One more step on both: bit-identical.
  a.trainer.applyGradients(a.trainer.computeGradients(a.loss).grads);
  bTr.trainer.applyGradients(bTr.trainer.computeGradients(bTr.loss).grads);
  assert.deepEqual(Array.from(bTr.w.dataSync()), Array.from(a.w.dataSync()));
  assert.equal(loadLatestCheckpoint(path.join(dir, 'nothing-here')), null);
});
