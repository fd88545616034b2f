import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, embedding, linear, linearFrozen, rmsNorm, rope, ropeTables, silu } from '../../../engine/model/ops';
import { makeRng } from '../../../engine/util/rng';
import { directionalGradError, randomArray, useWasm } from './helpers';

before(useWasm);
const TOL = 1e-2;

/** A fixed random linear functional turns any output into a scalar: Σ y ⊙ R. */
function probe(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomArray(makeRng(seed), shape.reduce((a, b) => a * b, 1)), shape);
}

test('linear: y = x·Wᵀ and both gradients match finite differences', () => {
  const rng = makeRng(1);
  const x = tf.tensor2d(randomArray(rng, 5 * 3), [5, 3]);
  const w = tf.tensor2d(randomArray(rng, 4 * 3), [4, 3]);
  const y = linear(x, w).arraySync() as number[][];
  const xa = x.arraySync() as number[][];
  const wa = w.arraySync() as number[][];
  for (let n = 0; n < 5; n++)
    for (let o = 0; o < 4; o++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s += xa[n]![i]! * wa[o]![i]!;
      assert.ok(Math.abs(y[n]![o]! - s) < 1e-5);
    }
  const r = probe([5, 4], 2);
  const err = directionalGradError((a, b) => tf.sum(tf.mul(linear(a as tf.Tensor2D, b as tf.Tensor2D), r)), [x, w]);
  assert.ok(err < TOL, `relative error ${err}`);
  const errFrozen = directionalGradError((a) => tf.sum(tf.mul(linearFrozen(a as tf.Tensor2D, w), r)), [x]);
  assert.ok(errFrozen < TOL, `frozen relative error ${errFrozen}`);
});

test('embedding: gather forward, scatter-add gradient (repeated ids accumulate)', () => {
  const rng = makeRng(3);
  const table = tf.tensor2d(randomArray(rng, 6 * 4), [6, 4]);
  const ids = new Int32Array([1, 3, 1, 5, 0]);
  const r = probe([5, 4], 4);
  const err = directionalGradError((e) => tf.sum(tf.mul(embedding(ids, e as tf.Tensor2D), r)), [table]);
  assert.ok(err < TOL, `relative error ${err}`);
  const g = tf.grad((e) => tf.sum(tf.mul(embedding(ids, e as tf.Tensor2D), r)))(table).arraySync() as number[][];
  const ra = r.arraySync() as number[][];
  assert.ok(Math.abs(g[1]![2]! - (ra[0]![2]! + ra[2]![2]!)) < 1e-6, 'row 1 gets both occurrences');
  assert.deepEqual(g[2], [0, 0, 0, 0]);
  assert.throws(() => embedding(new Int32Array([6]), table), /outside the vocabulary/);
});

test('rmsNorm (Zhang & Sennrich 2019): value and gradients', () => {
  const rng = makeRng(5);
  const x = tf.tensor2d(randomArray(rng, 3 * 6), [3, 6]);
  const w = tf.tensor1d(randomArray(rng, 6));
  const y = rmsNorm(x, w, 1e-5).arraySync() as number[][];
  const xa = x.arraySync() as number[][];
  const wa = w.arraySync() as number[];
  for (let n = 0; n < 3; n++) {
    const ms = xa[n]!.reduce((s, v) => s + v * v, 0) / 6;
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(y[n]![i]! - (wa[i]! * xa[n]![i]!) / Math.sqrt(ms + 1e-5)) < 1e-5);
  }
  const r = probe([3, 6], 6);
  const err = directionalGradError((a, b) => tf.sum(tf.mul(rmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, 1e-5), r)), [x, w]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('rope (Su et al. 2021): rotate-half values and gradient', () => {
  const rng = makeRng(8);
  const T = 3, H = 2, hd = 4;
  const { cos, sin } = ropeTables(T, hd, 10000);
  const c = tf.tensor3d(cos, [T, 1, hd]);
  const s = tf.tensor3d(sin, [T, 1, hd]);
  const x = tf.tensor4d(randomArray(rng, 2 * T * H * hd), [2, T, H, hd]);
  const y = rope(x, c, s).arraySync() as number[][][][];
  const xa = x.arraySync() as number[][][][];
  // position 2, head 1, pair (0, 2): a 2-D rotation by angle 2·theta^0 = 2
  const [a, b] = [xa[1]![2]![1]![0]!, xa[1]![2]![1]![2]!];
  assert.ok(Math.abs(y[1]![2]![1]![0]! - (a * Math.cos(2) - b * Math.sin(2))) < 1e-5);
  assert.ok(Math.abs(y[1]![2]![1]![2]! - (b * Math.cos(2) + a * Math.sin(2))) < 1e-5);
  const r = probe([2, T, H, hd], 9);
  const err = directionalGradError((z) => tf.sum(tf.mul(rope(z as tf.Tensor4D, c, s), r)), [x]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('crossEntropy: weighted mean NLL and softmax−onehot gradient', () => {
  const rng = makeRng(10);
  const z = tf.tensor2d(randomArray(rng, 4 * 7), [4, 7]);
  const targets = new Int32Array([0, 6, 3, 3]);
  const weights = new Float32Array([0.25, 0.25, 0.5, 0]);
  const za = z.arraySync() as number[][];
  let want = 0;
  for (let n = 0; n < 4; n++) {
    const m = Math.max(...za[n]!);
    const lse = m + Math.log(za[n]!.reduce((s, v) => s + Math.exp(v - m), 0));
    want += weights[n]! * (lse - za[n]![targets[n]!]!);
  }
  assert.ok(Math.abs(crossEntropy(z, targets, weights).dataSync()[0]! - want) < 1e-5);
  const err = directionalGradError((a) => crossEntropy(a as tf.Tensor2D, targets, weights), [z]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('silu / SwiGLU gate: gradient', () => {
  const rng = makeRng(11);
  const g = tf.tensor2d(randomArray(rng, 12), [3, 4]);
  const u = tf.tensor2d(randomArray(rng, 12), [3, 4]);
  const r = probe([3, 4], 12);
  const err = directionalGradError((a, b) => tf.sum(tf.mul(tf.mul(silu(a!), b!), r)), [g, u]);
  assert.ok(err < TOL, `relative error ${err}`);
});

test('attentionCore (grouped 2-D matmuls, hand backward) equals the batched formulation and matches finite differences', async () => {
  const { attentionCore, groupMatMul } = await import('../../../engine/model/ops');
  const rng = makeRng(13);
  const G = 3, Tq = 4, Tk = 4, hd = 2;
  const q = tf.tensor3d(randomArray(rng, G * Tq * hd), [G, Tq, hd]);
  const k = tf.tensor3d(randomArray(rng, G * Tk * hd), [G, Tk, hd]);
  const v = tf.tensor3d(randomArray(rng, G * Tk * hd), [G, Tk, hd]);
  const m = new Float32Array(Tq * Tk);
  for (let i = 0; i < Tq; i++) for (let j = i + 1; j < Tk; j++) m[i * Tk + j] = -1e9;
  const mask = tf.tensor2d(m, [Tq, Tk]);
  const want = tf.matMul(tf.softmax(tf.add(tf.matMul(q, k, false, true), mask)), v).dataSync();
  const got = attentionCore(q, k, v, mask).dataSync();
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6);
  assert.deepEqual(Array.from(groupMatMul(q, tf.transpose(k, [0, 2, 1]) as tf.Tensor3D).dataSync()).map((x) => +x.toFixed(5)),
    Array.from(tf.matMul(q, k, false, true).dataSync()).map((x) => +x.toFixed(5)));
  const r = probe([G, Tq, hd], 14);
  const err = directionalGradError((a, b, c) => tf.sum(tf.mul(attentionCore(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, mask), r)), [q, k, v]);
  assert.ok(err < TOL, `relative error ${err}`);
});
