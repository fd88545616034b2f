/**
 * The two Compute backends held to each other (issue 16's Done-when): the same tiny checkpoint and PEFT
 * adapters loaded into TfjsCompute (wasm) and TorchCompute (CPU, fp32), the same batches, then
 *  - one sftStep per projection (none, pcgrad global and per matrix, subspace over three steps): the
 *    per-capability gradient norms and cosines, and the updated adapter weights, within 1e-5 relative;
 *  - grpoStep for every loss type and importance-sampling mode with β > 0: loss, gradient norm and update;
 *  - logprobs and scoreContinuations equal;
 * and, torch against torch, a checkpoint saved mid-stage and restored into a fresh worker continues exactly.
 * Nothing here draws random numbers (dropout 0; two capabilities, so PCGrad's order is moot): the
 * backends' random streams differ by design (bbio_worker/train.py).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { TfjsCompute } from '../../../engine/compute/tfjs/compute';
import { openTorchCompute, type TorchCompute } from '../../../engine/compute/torch/compute';
import type { Compute, GrpoLossSpec, TokenBatch, TrainingSpec } from '../../../engine/compute/types';
import { saveAdapterDir } from '../../../engine/model/adapters';
import { disposeModel, initLlama, makeLmBatch, saveLlama } from '../../../engine/model/llama';
import { createLoraSet, disposeLoraSet } from '../../../engine/model/lora';
import { readSafetensors } from '../../../engine/model/safetensors';
import { silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from '../model/helpers';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
/** The bar: relative agreement of gradients, projected updates and losses. */
const REL = 1e-5;

const CONFIG = tinyLlamaConfig({ vocab_size: 13, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 });
const ADAPTERS = ['domain', 'reasoning'];

/** The shared checkpoint and adapters, written once (removed in `after`). */
let root = '';
let base = '';
let adapters = '';
let torch: TorchCompute | undefined;
const tfjs = new TfjsCompute({ backend: { name: 'wasm', kind: 'wasm', reason: 'test', threads: 1, simd: true }, log: silentLogger });

before(async () => {
  if (needsTorch) return;
  await useWasm();
  root = await mkdtemp(path.join(os.tmpdir(), 'bbio-agreement-'));
  base = path.join(root, 'base');
  adapters = path.join(root, 'adapters');
  const model = initLlama(CONFIG, makeRng(31).fork('init'));
  const rng = makeRng(32);
  // norms away from 1, and B ≠ 0 so lora_A has a gradient at the first step
  for (const v of model.params.values()) if (v.rank === 1) v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', rng.int(1e9)), 0.3)));
  const set = createLoraSet(model, ADAPTERS, { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'up_proj'] }, makeRng(33));
  for (const a of set.values()) for (const p of a.modules.values()) p.B.assign(tf.randomNormal(p.B.shape, 0, 0.5, 'float32', rng.int(1e9)));
  await saveLlama(model, base);
  await saveAdapterDir(set, adapters, { baseModel: base, stage: 'sft' });
  disposeLoraSet(set);
  disposeModel(model);
  torch = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32' });
});

after(async () => {
  await torch?.dispose();
  await tfjs.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Both backends with the base model and the adapters freshly loaded into slot `sft`, training started. */
async function fresh(spec: TrainingSpec): Promise<Compute[]> {
  const both: Compute[] = [tfjs, torch!];
  for (const c of both) {
    await c.loadModel(base);
    await c.loadAdapters('sft', adapters);
    await c.startTraining(spec);
  }
  return both;
}

function spec(projection: TrainingSpec['projection']): TrainingSpec {
  return {
    params: { kind: 'adapters', slot: 'sft' },
    schedule: { peak: 0.02, warmupSteps: 0, totalSteps: 10, shape: 'cosine', minLrRatio: 0.1 },
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    decay: 'matrices',
    gradClip: 0.5,
    rng: { seed: 1, stream: 'sft' },
    ...(projection ? { projection } : {}),
  };
}

const ROWS = [[1, 5, 3, 9, 2, 7, 4], [4, 4, 0, 10, 6, 1, 8]];
/**
 * Capability 0 predicts the rows' next tokens; capability 1 reads the same inputs and predicts other tokens,
 * so the two gradients conflict (g₀ · g₁ < 0) and PCGrad has something to remove, globally and per matrix.
 */
function batches(step: number): TokenBatch[] {
  const own = makeLmBatch(ROWS.map((r) => r.map((t) => (t + step) % CONFIG.vocab_size)));
  return [own, { ...own, targets: own.targets.map((t) => (t + 6) % CONFIG.vocab_size) }];
}

/** Every adapter value of a slot, as saved by the backend (PEFT files, so the comparison reads what users get). */
async function savedAdapters(t: TestContext, c: Compute): Promise<Map<string, Float32Array>> {
  const dir = await tempDir(t);
  await c.saveAdapters('sft', dir, { baseModel: base, stage: 'sft' });
  const out = new Map<string, Float32Array>();
  for (const name of ADAPTERS) {
    for (const [k, v] of readSafetensors(path.join(dir, name, 'adapter_model.safetensors')).tensors) out.set(`${name}/${k}`, v.data);
  }
  return out;
}

/** max |a − b| / max |b| over every value of every tensor. */
function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let diff = 0;
  let scale = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(y[i]!));
    }
  }
  return diff / scale;
}

function assertClose(got: readonly number[], want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, what);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= REL * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: torch ${g} vs tfjs ${want[i]}`));
}

const PROJECTIONS: Array<[string, NonNullable<TrainingSpec['projection']>, number]> = [
  ['none', { method: 'none', scope: 'global', capabilities: 2 }, 1],
  ['pcgrad global', { method: 'pcgrad', scope: 'global', capabilities: 2 }, 1],
  ['pcgrad per matrix', { method: 'pcgrad', scope: 'per_matrix', capabilities: 2 }, 1],
  // step 1 is never projected (no bases yet): three steps reach a refreshed basis
  ['subspace', { method: 'subspace', scope: 'per_matrix', capabilities: 2, subspace: { energy: 0.9, window: 3, refreshEvery: 2, maxRank: 2 } }, 3],
];

for (const [name, projection, steps] of PROJECTIONS) {
  test(`torch agreement: sftStep with projection ${name} gives the tfjs gradients, projection and update`, { skip: needsTorch }, async (t) => {
    const [a, b] = await fresh(spec(projection));
    for (let s = 0; s < steps; s++) {
      // per-capability adapters on the last step, so `trainable` is exercised too
      const input = { capabilities: batches(s).map((bs, c) => ({ batches: [bs], ...(s === steps - 1 && name === 'none' ? { trainable: [ADAPTERS[c]!] } : {}) })), weights: [0.6, 0.4], oloraLambda: 0.05 };
      const [ra, rb] = [await a!.sftStep(input), await b!.sftStep(input)];
      assert.ok(ra.outcome.applied && rb.outcome.applied);
      assertClose(rb.losses, ra.losses, `losses step ${s}`);
      assertClose(rb.projection.normsRaw, ra.projection.normsRaw, `gradient norms step ${s}`);
      assertClose(rb.projection.normsProjected, ra.projection.normsProjected, `projected norms step ${s}`);
      assertClose(rb.projection.pairs.map((p) => p.cosineProjected), ra.projection.pairs.map((p) => p.cosineProjected), `projected cosines step ${s}`);
      assertClose([rb.oloraPenalty!], [ra.oloraPenalty!], 'O-LoRA penalty');
      if (rb.outcome.applied && ra.outcome.applied) assertClose([rb.outcome.gradNorm, rb.outcome.clipCoef], [ra.outcome.gradNorm, ra.outcome.clipCoef], 'clipped norm');
      if (name === 'subspace') assert.deepEqual(rb.projection.subspaceDims, ra.projection.subspaceDims);
      if (s === 0 && projection.method === 'pcgrad') assert.ok(ra.projection.pairs[0]!.conflict && rb.projection.pairs[0]!.conflict, 'the capabilities conflict, so the projection acts');
    }
    const diff = relDiff(await savedAdapters(t, b!), await savedAdapters(t, a!));
    assert.ok(diff < REL, `adapters after ${steps} step(s): relative difference ${diff}`);
  });
}

const LOSSES: GrpoLossSpec[] = [
  { lossType: 'grpo', epsLow: 0.2, epsHigh: 0.2, beta: 0.04, importanceSampling: 'token' },
  { lossType: 'dapo', epsLow: 0.2, epsHigh: 0.28, beta: 0.04, importanceSampling: 'token' },
  { lossType: 'dr_grpo', epsLow: 0.2, epsHigh: 0.2, beta: 0.1, importanceSampling: 'sequence' },
];

test('torch agreement: grpoStep for every loss type gives the tfjs loss, gradient and update; logprobs and scores are equal', { skip: needsTorch }, async (t) => {
  const groups = [
    { prompt: [1, 5, 3], completions: [[2, 7, 4], [9], [6, 6, 1, 2]] },
    { prompt: [12, 2], completions: [[8, 1], [3, 9, 6]] },
  ];
  const maxLen = 5;
  for (const loss of LOSSES) {
    const [a, b] = await fresh(spec({ method: 'pcgrad', scope: 'global', capabilities: 2 }));
    const opts = { temperature: 0.8, adapters: 'sft' };
    const [la, lb] = [await a!.logprobs(groups, opts), await b!.logprobs(groups, opts)];
    assertClose(lb.flat(2), la.flat(2), 'logprobs');
    // π_old a little off π_θ, so ratios leave 1 and the clip can bind; π_ref = the base model
    const old = la.map((g) => g.map((c) => c.map((x, i) => x + 0.3 * Math.sin(3 * i + c.length))));
    const ref = await a!.logprobs(groups, { temperature: 0.8 });
    const input = {
      groups, advantages: [[1, -0.5, -0.5], [0.7, -0.7]], oldLogps: old, refLogps: ref, include: [[true, true, false], [true, true]],
      capabilityOf: [0, 1], weights: [0.5, 0.5], loss, temperature: 0.8, maxLen, withStats: true,
    };
    const [ra, rb] = [await a!.grpoStep(input), await b!.grpoStep(input)];
    assertClose(rb.losses, ra.losses, `${loss.lossType} losses`);
    assertClose(rb.projection.normsRaw, ra.projection.normsRaw, `${loss.lossType} gradient norms`);
    assertClose([rb.stats!.kl, rb.stats!.clipLow, rb.stats!.clipHigh], [ra.stats!.kl, ra.stats!.clipLow, ra.stats!.clipHigh], `${loss.lossType} stats`);
    const diff = relDiff(await savedAdapters(t, b!), await savedAdapters(t, a!));
    assert.ok(diff < REL, `${loss.lossType}: adapters after one step: relative difference ${diff}`);
  }
  const [sa, sb] = [await tfjs.scoreContinuations([1, 5, 3, 9], [[2, 7], [4], [10, 0, 1]], { adapters: 'sft' }), await torch!.scoreContinuations([1, 5, 3, 9], [[2, 7], [4], [10, 0, 1]], { adapters: 'sft' })];
  assertClose(sb.map((r) => r.logprob), sa.map((r) => r.logprob), 'scoreContinuations');
  assert.deepEqual(sb.map((r) => r.greedy), sa.map((r) => r.greedy));
  assertClose([await torch!.entropy(groups, { temperature: 0.8, adapters: 'sft' })], [await tfjs.entropy(groups, { temperature: 0.8, adapters: 'sft' })], 'entropy');
});

test('torch agreement: a checkpoint saved mid-stage and restored into a fresh worker continues exactly (with dropout and subspace)', { skip: needsTorch }, async (t) => {
  const trainingSpec = spec({ method: 'subspace', scope: 'per_matrix', capabilities: 2, subspace: { energy: 0.9, window: 3, refreshEvery: 2, maxRank: 2 } });
  const input = (s: number) => ({ capabilities: batches(s).map((bs) => ({ batches: [bs] })), weights: [0.5, 0.5] });
  const start = async (c: TorchCompute): Promise<void> => {
    await c.loadModel(base);
    // dropout draws from the worker's training stream: a resume must restore it
    await c.createAdapters('sft', ADAPTERS, { rank: 2, alpha: 4, dropout: 0.2, targetModules: ['q_proj', 'v_proj'] }, 5);
    await c.startTraining(trainingSpec);
  };
  const straight = torch!;
  await start(straight);
  for (let s = 0; s < 4; s++) await straight.sftStep(input(s));
  const want = await savedAdapters(t, straight);

  const ckpt = await tempDir(t);
  const first = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32' });
  t.after(() => first.dispose());
  await start(first);
  for (let s = 0; s < 2; s++) await first.sftStep(input(s));
  await first.saveCheckpoint(ckpt, { cursor: 2 });
  await first.sftStep(input(2)); // a step the checkpoint does not hold
  const second = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32' });
  t.after(() => second.dispose());
  await start(second);
  const restored = await second.loadCheckpoint<{ cursor: number }>(ckpt);
  assert.equal(restored?.state.cursor, 2);
  assert.equal(second.step, 2);
  for (let s = 2; s < 4; s++) await second.sftStep(input(s));
  assert.equal(relDiff(await savedAdapters(t, second), want), 0, 'bit-identical after resume');
});
