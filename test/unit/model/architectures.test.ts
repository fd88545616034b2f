/**
 * Issue 18 item 3: Qwen3, Mistral, Gemma 2 and Gemma 3 (and Llama 3.1's rope_scaling) in both backends,
 * each checked against an independent float64 PyTorch forward (test/fixtures/architectures/
 * reference_forward.py) of a tiny checkpoint written here; plus the KV cache under sliding windows,
 * both attention layouts with soft-capping, and config errors that name the field, in tfjs and the worker.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeFloats, encodeInts, WorkerProcess } from '../../../engine/compute/torch/worker-process';
import {
  createKvCache, decodeStep, disposeKvCache, disposeModel, forwardLogits, initLlama, layerPlans, lmLoss, loadLlama, makeLmBatch,
  normalizeConfig, parameterShapes, type LlamaConfig,
} from '../../../engine/model/llama';
import { writeSafetensors, type TensorMap } from '../../../engine/model/safetensors';
import { BbioError } from '../../../engine/util/errors';
import { makeRng } from '../../../engine/util/rng';
import { REPO, tempDir } from '../../helpers/tmp';
import { randomArray, useWasm } from './helpers';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0
  ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
const REFERENCE = path.join(REPO, 'test/fixtures/architectures/reference_forward.py');
const ROWS = [[3, 1, 12, 7, 7, 0, 9, 4], [5, 5, 2, 11, 6, 1, 8, 10]]; // [B, T]: T = 8 > every window below

before(useWasm);

const BASE = { vocab_size: 13, hidden_size: 8, intermediate_size: 12, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, rms_norm_eps: 1e-6 };

/** Each family with the options that make its differences visible at this size (small windows and caps). */
const VARIANTS: Array<[string, Record<string, unknown>]> = [
  ['Qwen3: per-head q/k RMSNorm, head_dim ≠ hidden/heads, no bias', { ...BASE, model_type: 'qwen3', head_dim: 6, num_hidden_layers: 2, rope_theta: 10000, tie_word_embeddings: false }],
  ['Mistral: sliding window 3 on every layer', { ...BASE, model_type: 'mistral', num_hidden_layers: 2, sliding_window: 3, rope_theta: 10000 }],
  ['Gemma 2: sandwich (1+w) norms, √D, GELU, query_pre_attn_scalar, soft-caps, sliding/global alternating', {
    ...BASE, model_type: 'gemma2', num_hidden_layers: 2, head_dim: 4, query_pre_attn_scalar: 5, sliding_window: 3,
    attn_logit_softcapping: 1.5, final_logit_softcapping: 2.5, rope_theta: 10000, tie_word_embeddings: true,
  }],
  ['Gemma 3: (1+w) q/k norms, 2 sliding + 1 global, local RoPE base, linear scaling on global layers', {
    ...BASE, model_type: 'gemma3_text', num_hidden_layers: 3, head_dim: 4, query_pre_attn_scalar: 4, sliding_window: 3, sliding_window_pattern: 3,
    rope_theta: 1_000_000, rope_local_base_freq: 10, rope_scaling: { rope_type: 'linear', factor: 2 }, tie_word_embeddings: true,
  }],
  ['Llama 3.1: llama3 rope_scaling (all three frequency bands)', {
    ...BASE, model_type: 'llama', num_attention_heads: 1, num_key_value_heads: 1, num_hidden_layers: 2, rope_theta: 10,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  }],
];

/** Every tensor random, norms included (around 1, or around 0 for Gemma's (1 + w)), so a dropped or misplaced one shows. */
function randomWeights(c: LlamaConfig, seed: number): TensorMap {
  const rng = makeRng(seed);
  const gemma = c.model_type.startsWith('gemma');
  const m: TensorMap = new Map();
  for (const [name, shape] of parameterShapes(c)) {
    const isNorm = name.endsWith('norm.weight');
    const data = randomArray(rng, shape.reduce((a, b) => a * b, 1), isNorm ? 0.3 : 0.5);
    if (isNorm && !gemma) data.forEach((v, i) => (data[i] = 1 + v));
    m.set(name, { shape, data });
  }
  return m;
}

interface Case { label: string; config: LlamaConfig; dir: string; want: number[][][] }

/** Writes every variant's checkpoint and runs the reference once for all of them (one torch import). */
async function makeCases(t: TestContext): Promise<Case[]> {
  const root = await tempDir(t, 'bbio-arch-');
  const cases = await Promise.all(VARIANTS.map(async ([label, raw], i) => {
    const config = normalizeConfig(raw);
    const dir = path.join(root, String(i));
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    await writeSafetensors(path.join(dir, 'model.safetensors'), randomWeights(config, 40 + i));
    return { label, config, dir, want: [] as number[][][] };
  }));
  const run = spawnSync(PYTHON, [REFERENCE, JSON.stringify(ROWS), ...cases.map((c) => c.dir)], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  run.stdout.trim().split('\n').forEach((line, i) => (cases[i]!.want = JSON.parse(line)));
  return cases;
}

function worstDiff(got: ArrayLike<number>, want: number[][][]): number {
  const flat = want.flat(2);
  assert.equal(got.length, flat.length);
  let worst = 0;
  for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(got[i]! - flat[i]!));
  return worst;
}

let worker: WorkerProcess | undefined;
after(() => worker?.close());

test('tfjs and the torch worker match an independent PyTorch forward: Qwen3, Mistral, Gemma 2, Gemma 3, Llama 3.1 RoPE', { skip: needsTorch }, async (t) => {
  const cases = await makeCases(t);
  const ids = Int32Array.from(ROWS.flat());
  worker = new WorkerProcess({ python: PYTHON, timeoutMs: 60_000 });
  for (const c of cases) {
    // the reference must see what makes the variant differ: a model that ignored it would give other logits
    const model = loadLlama(c.dir);
    try {
      for (const attention of ['grouped', 'batched'] as const) {
        const got = tf.tidy(() => forwardLogits(model, ids, ROWS.length, { freezeBase: true, attention }).dataSync());
        const diff = worstDiff(got, c.want);
        assert.ok(diff < 1e-4, `tfjs ${attention}, ${c.label}: max |Δlogit| ${diff}`);
      }
    } finally {
      disposeModel(model);
    }
    await worker.request('load_model', { dir: c.dir, options: { device: 'cpu', dtype: 'float32' } });
    const { logits } = await worker.request('logits', { ids: encodeInts(ids, [ROWS.length, ROWS[0]!.length]) });
    const diff = worstDiff(decodeFloats(logits), c.want);
    assert.ok(diff < 1e-4, `torch worker, ${c.label}: max |Δlogit| ${diff}`);
  }
});

test('layer plans follow each family\'s rule: Gemma 2 alternates, Gemma 3 has one global layer per pattern, Qwen from max_window_layers', () => {
  const plan = (raw: Record<string, unknown>) => layerPlans(normalizeConfig({ ...BASE, num_hidden_layers: 6, ...raw })).map((p) => `${p.window ?? '-'}${p.rope[0]}`);
  assert.deepEqual(plan({ model_type: 'gemma2', sliding_window: 4 }), ['4g', '-g', '4g', '-g', '4g', '-g']);
  assert.deepEqual(plan({ model_type: 'gemma3_text', sliding_window: 4 }), ['4l', '4l', '4l', '4l', '4l', '-g']);
  assert.deepEqual(plan({ model_type: 'qwen3', head_dim: 2, use_sliding_window: true, sliding_window: 4, max_window_layers: 4 }), ['-g', '-g', '-g', '-g', '4g', '4g']);
  assert.deepEqual(plan({ model_type: 'qwen2', sliding_window: 4, max_window_layers: 0 }), ['-g', '-g', '-g', '-g', '-g', '-g']);
  assert.deepEqual(plan({ model_type: 'mistral', sliding_window: null }), ['-g', '-g', '-g', '-g', '-g', '-g']);
  assert.deepEqual(plan({ model_type: 'mistral', sliding_window: 4, layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'full_attention', 'full_attention', 'full_attention'] }),
    ['-g', '4g', '-g', '-g', '-g', '-g']);
});

test('KV-cache decoding under sliding windows and soft-capping gives the full forward\'s logits (Mistral, Gemma 2, Gemma 3)', () => {
  for (const [label, raw] of VARIANTS.filter(([, r]) => r.sliding_window != null)) {
    const c = normalizeConfig(raw);
    const model = initLlama({ ...c, initializer_range: 0.5 }, makeRng(9));
    try {
      const ids = ROWS[0]!;
      const full = tf.tidy(() => forwardLogits(model, Int32Array.from(ids), 1).arraySync() as number[][]);
      const cache = createKvCache(model);
      const first = decodeStep(model, Int32Array.from(ids.slice(0, 2)), 1, cache);
      let worst = Math.max(...Array.from(first, (v, i) => Math.abs(v - full[1]![i]!)));
      for (let p = 2; p < ids.length; p++) {
        const step = decodeStep(model, new Int32Array([ids[p]!]), 1, cache);
        worst = Math.max(worst, ...Array.from(step, (v, i) => Math.abs(v - full[p]![i]!)));
      }
      disposeKvCache(cache);
      assert.ok(worst < 1e-5, `${label}: max |Δ| = ${worst}`);
    } finally {
      disposeModel(model);
    }
  }
});

test('Gemma 2: grouped and batched attention give the same loss and gradients with soft-capping and windows', () => {
  const model = initLlama({ ...normalizeConfig(VARIANTS[2]![1]), initializer_range: 0.5 }, makeRng(12));
  try {
    const batch = makeLmBatch(ROWS.map((r) => [...r, 1]));
    const vars = [...model.params.values()];
    const run = (attention: 'grouped' | 'batched') => tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => lmLoss(model, batch, { attention }), vars);
      return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync()) };
    });
    const a = run('grouped');
    const b = run('batched');
    assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
    a.grads.forEach((g, i) => g.forEach((x, j) => assert.ok(Math.abs(x - b.grads[i]![j]!) < 1e-5, `grad ${i}[${j}]: ${x} vs ${b.grads[i]![j]}`)));
  } finally {
    disposeModel(model);
  }
});

/** Configs the engine must refuse, and the field each error has to name. */
const REFUSED: Array<[Record<string, unknown>, RegExp]> = [
  [{ model_type: 'gpt2' }, /model_type "gpt2" is not supported \(llama, qwen2, qwen3, mistral, gemma2, gemma3_text\)/],
  [{ model_type: 'gemma3' }, /model_type "gemma3".*gemma3_text/],
  [{ model_type: 'gemma2', hidden_activation: 'relu' }, /hidden_activation "relu" is not supported/],
  [{ model_type: 'llama', hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
  [{ model_type: 'llama', final_logit_softcapping: 30 }, /final_logit_softcapping is not supported for model_type llama/],
  [{ model_type: 'mistral', sliding_window: 0 }, /sliding_window must be a positive integer/],
  [{ model_type: 'mistral', layer_types: ['full_attention'] }, /layer_types must list/],
  [{ model_type: 'llama', rope_scaling: { rope_type: 'yarn', factor: 2 } }, /rope_scaling type "yarn" is not supported/],
];

test('unknown model_type and unsupported features are E_CHECKPOINT errors naming the field (tfjs)', () => {
  for (const [raw, message] of REFUSED) {
    assert.throws(() => normalizeConfig({ ...BASE, num_hidden_layers: 2, ...raw }, 'm/config.json'),
      (e: unknown) => e instanceof BbioError && e.code === 'E_CHECKPOINT' && message.test(e.message) && e.message.startsWith('m/config.json: '),
      JSON.stringify(raw));
  }
});

test('unknown model_type and unsupported features are E_CHECKPOINT errors naming the field (torch worker)', { skip: needsTorch }, async (t) => {
  const root = await tempDir(t, 'bbio-arch-bad-');
  worker ??= new WorkerProcess({ python: PYTHON, timeoutMs: 60_000 });
  for (const [i, [raw, message]] of REFUSED.entries()) {
    const dir = path.join(root, String(i));
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...BASE, num_hidden_layers: 2, ...raw }));
    await assert.rejects(worker.request('load_model', { dir, options: { device: 'cpu', dtype: 'float32' } }),
      (e: unknown) => e instanceof BbioError && e.code === 'E_CHECKPOINT' && message.test(e.message), JSON.stringify(raw));
  }
});
