/**
 * The torch worker against the tfjs engine on the same tiny checkpoints (issue 16's agreement, first
 * part: logits and loss, checkpoints both ways), and the worker process's failures (no torch, a crash,
 * a hang) as E_BACKEND errors naming the cause instead of a hung stage.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeFloats, decodeInts, encodeFloats, encodeInts, WorkerProcess } from '../../../engine/compute/torch/worker-process';
import { disposeModel, forwardLogits, initLlama, lmLoss, loadLlama, makeLmBatch, saveLlama, type LlamaConfig } from '../../../engine/model/llama';
import { BbioError } from '../../../engine/util/errors';
import { makeRng } from '../../../engine/util/rng';
import { decodePrompts, greedyPicker } from '../../../engine/model/decode';
import { loadAdapterDir, saveAdapterDir } from '../../../engine/model/adapters';
import { createLoraSet, disposeLoraSet, loraHook, type LoraSet } from '../../../engine/model/lora';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from '../model/helpers';

/** Debian's torch lives in /usr/bin/python3 only (ENVIRONMENT.md); scripts/test-worker.sh installs it. */
const PYTHON = '/usr/bin/python3';
const torchMissing = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0;
const needsTorch = torchMissing ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
/** Loading a tiny model takes ~1 s with torch's import; 60 s only bounds a broken worker. */
const TIMEOUT_MS = 60_000;
const OPTIONS = { device: 'cpu', dtype: 'float32' } as const;

before(useWasm);

/** One worker for the tests that need torch: importing torch takes seconds on a loaded 2-core machine. */
let shared: WorkerProcess | undefined;
function torchWorker(): WorkerProcess {
  shared ??= new WorkerProcess({ python: PYTHON, timeoutMs: TIMEOUT_MS });
  return shared;
}
after(() => shared?.close());

function startWorker(t: TestContext, opts: { python?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): WorkerProcess {
  const w = new WorkerProcess({ python: opts.python ?? PYTHON, timeoutMs: opts.timeoutMs ?? TIMEOUT_MS, ...(opts.env ? { env: opts.env } : {}) });
  t.after(() => w.close());
  return w;
}

const ROWS = [[1, 5, 3, 9, 2, 7, 4], [4, 4, 0, 10, 6, 1, 8]]; // [B, T+1]

function tfjsLogits(dir: string, ids: Int32Array, batch: number): Float32Array {
  const model = loadLlama(dir);
  try {
    return tf.tidy(() => forwardLogits(model, ids, batch, { freezeBase: true }).dataSync() as Float32Array);
  } finally {
    disposeModel(model);
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const CONFIGS: Array<[string, LlamaConfig]> = [
  ['llama, GQA, untied', tinyLlamaConfig({ num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 })],
  ['qwen2 (q/k/v bias), tied', tinyLlamaConfig({ model_type: 'qwen2', tie_word_embeddings: true, num_hidden_layers: 2 })],
];

for (const [name, config] of CONFIGS) {
  test(`torch worker: logits and loss of a tfjs checkpoint agree within 1e-5 (${name})`, { skip: needsTorch }, async (t) => {
    const dir = await tempDir(t);
    const model = initLlama(config, makeRng(7).fork('init'));
    t.after(() => disposeModel(model));
    // Biases start at 0 and norms at 1: move them so a q/k/v bias or norm the worker drops would show.
    const rng = makeRng(8);
    for (const v of model.params.values()) {
      if (v.rank === 1) v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', rng.int(1e9)), 0.3)));
    }
    await saveLlama(model, dir);
    const batch = makeLmBatch(ROWS);
    const T = ROWS[0]!.length - 1;
    const want = tf.tidy(() => forwardLogits(model, batch.inputs, batch.batch, { freezeBase: true }).dataSync() as Float32Array);
    const wantLoss = tf.tidy(() => lmLoss(model, batch, { freezeBase: true }).dataSync()[0]!);

    const w = torchWorker();
    const loaded = await w.request('load_model', { dir, options: OPTIONS });
    assert.equal(loaded.dtype, 'float32');
    const { logits } = await w.request('logits', { ids: encodeInts(batch.inputs, [batch.batch, T]) });
    assert.deepEqual(logits.shape, [batch.batch, T, config.vocab_size]);
    const diff = maxAbsDiff(decodeFloats(logits), want);
    assert.ok(diff < 1e-5, `max |Δlogit| ${diff}`);
    const { loss } = await w.request('loss', {
      inputs: encodeInts(batch.inputs, [batch.batch, T]), targets: encodeInts(batch.targets, [batch.batch, T]), weights: encodeFloats(batch.weights, [batch.batch, T]),
    });
    assert.ok(Math.abs(loss - wantLoss) < 1e-5, `loss ${loss} vs ${wantLoss}`);
  });
}

test('torch worker: a model saved by the worker loads in tfjs with the same logits', { skip: needsTorch }, async (t) => {
  const dir = await tempDir(t);
  const config = tinyLlamaConfig({ model_type: 'qwen2', num_hidden_layers: 2 });
  const w = torchWorker();
  await w.request('init_model', { config, seed: 3, options: OPTIONS });
  await w.request('save_model', { dir });
  const ids = new Int32Array([3, 1, 4, 1, 5, 9]);
  const { logits } = await w.request('logits', { ids: encodeInts(ids, [1, 6]) });
  const diff = maxAbsDiff(decodeFloats(logits), tfjsLogits(dir, ids, 1));
  assert.ok(diff < 1e-5, `max |Δlogit| ${diff}`);
});

test('torch worker: PEFT adapters move between the backends with the same logits', { skip: needsTorch }, async (t) => {
  const base = await tempDir(t);
  const fromTfjs = await tempDir(t);
  const fromTorch = await tempDir(t);
  const model = initLlama(tinyLlamaConfig({ num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 }), makeRng(11).fork('init'));
  t.after(() => disposeModel(model));
  const spec = { rank: 2, alpha: 6, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] as const };
  const set = createLoraSet(model, ['default', 'knowledge'], { ...spec, targetModules: [...spec.targetModules] }, makeRng(12));
  t.after(() => disposeLoraSet(set));
  // B starts at 0 (no delta): give it values so an adapter the worker drops or misreads would show
  const rng = makeRng(13);
  for (const a of set.values()) for (const p of a.modules.values()) p.B.assign(tf.randomNormal(p.B.shape, 0, 1, 'float32', rng.int(1e9)));
  await saveLlama(model, base);
  await saveAdapterDir(set, fromTfjs, { baseModel: base, stage: 'sft' });
  const ids = new Int32Array([3, 1, 4, 1, 5, 9, 2, 6]);
  const tfjsWith = (s: LoraSet): Float32Array =>
    tf.tidy(() => forwardLogits(model, ids, 1, { freezeBase: true, hook: loraHook(s, { training: false }) }).dataSync() as Float32Array);
  const want = tfjsWith(set);
  assert.ok(maxAbsDiff(want, tfjsLogits(base, ids, 1)) > 1e-3, 'the adapters change the logits');

  const w = torchWorker();
  await w.request('load_model', { dir: base, options: OPTIONS });
  assert.deepEqual((await w.request('load_adapters', { slot: 'sft', dir: fromTfjs })).names, ['default', 'knowledge']);
  const { logits } = await w.request('logits', { ids: encodeInts(ids, [1, ids.length]), adapters: 'sft' });
  const diff = maxAbsDiff(decodeFloats(logits), want);
  assert.ok(diff < 1e-5, `tfjs adapters on torch: max |Δlogit| ${diff}`);

  await w.request('save_adapters', { slot: 'sft', dir: fromTorch, baseModel: base, stage: 'sft' });
  const back = loadAdapterDir(model, fromTorch);
  t.after(() => disposeLoraSet(back));
  const diffBack = maxAbsDiff(tfjsWith(back), want);
  assert.ok(diffBack < 1e-5, `torch-written adapters on tfjs: max |Δlogit| ${diffBack}`);
});

test('torch worker: greedy generations are the tfjs engine\'s, token for token', { skip: needsTorch }, async (t) => {
  const dir = await tempDir(t);
  // a wider model than the logits tests so that argmax ties (which would make the test depend on rounding) do not occur
  const config = tinyLlamaConfig({ vocab_size: 37, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 24 });
  const model = initLlama(config, makeRng(21).fork('init'));
  t.after(() => disposeModel(model));
  const rng = makeRng(22);
  for (const v of model.params.values()) if (v.rank === 2) v.assign(tf.mul(v, 20)); // sharper distributions: varied argmaxes
  for (const v of model.params.values()) if (v.rank === 1) v.assign(tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', rng.int(1e9)), 0.3)));
  await saveLlama(model, dir);
  const prompts = [[1, 5, 3], [4, 4, 0, 10, 6, 1, 8, 2], [30]];
  const greedy = (eosIds: number[]) => decodePrompts(model, prompts, { maxNewTokens: 10, pick: greedyPicker(), eosIds, batchRows: 2 }).map(([row]) => ({ ids: row!.ids, truncated: row!.finishReason === 'length' }));
  // EOS: a token the second prompt's free-running completion emits, so one completion ends on it (EOS kept as its last id)
  const eosId = greedy([])[1]!.ids[3]!;
  const want = greedy([eosId]);
  assert.ok(want.some((c) => !c.truncated && c.ids.at(-1) === eosId) && want.some((c) => c.truncated && c.ids.length === 10), 'completions ended both ways');

  const w = torchWorker();
  await w.request('load_model', { dir, options: OPTIONS });
  const { completions } = await w.request('generate', {
    prompts: prompts.map((p) => encodeInts(Int32Array.from(p), [p.length])), n: 1, temperature: 0, topP: 1, maxNewTokens: 10, endIds: [eosId], seed: 0,
  });
  assert.deepEqual(
    completions.map(([c]) => ({ ids: [...decodeInts(c!.ids)], truncated: c!.truncated })),
    want.map((c) => ({ ids: c.ids, truncated: c.truncated })),
  );
});

test('torch worker: a bad checkpoint is an E_CHECKPOINT error naming the file, and the worker keeps serving', { skip: needsTorch }, async (t) => {
  const dir = await tempDir(t);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...tinyLlamaConfig(), model_type: 'gpt2' }));
  const w = torchWorker();
  await assert.rejects(w.request('load_model', { dir, options: OPTIONS }), (e: unknown) => e instanceof BbioError && e.code === 'E_CHECKPOINT' && /gpt2/.test(e.message));
  assert.match((await w.request('hello')).torch, /^\d+\.\d+/);
});

test('torch worker: a Python without torch is an E_BACKEND error naming the ImportError', async (t) => {
  const fake = await tempDir(t);
  fs.mkdirSync(path.join(fake, 'torch'));
  fs.writeFileSync(path.join(fake, 'torch', '__init__.py'), 'raise ImportError("no torch in this interpreter")\n');
  const w = startWorker(t, { env: { ...process.env, PYTHONPATH: fake } });
  await assert.rejects(w.request('hello'), (e: unknown) => e instanceof BbioError && e.code === 'E_BACKEND' && /cannot import torch/.test(e.message) && /no torch in this interpreter/.test(e.message) && /import torch/.test(e.hint ?? ''));
});

test('torch worker: a worker that dies rejects with its exit status and last stderr lines', async (t) => {
  const fake = path.join(await tempDir(t), 'python');
  fs.writeFileSync(fake, '#!/bin/sh\necho "Fatal Python error: Segmentation fault" >&2\nexit 139\n', { mode: 0o755 });
  const w = startWorker(t, { python: fake });
  await assert.rejects(w.request('hello'), (e: unknown) => e instanceof BbioError && e.code === 'E_BACKEND' && /status 139/.test(e.message) && /Segmentation fault/.test(e.message));
});

test('torch worker: a worker that does not answer is stopped after the timeout', async (t) => {
  const fake = path.join(await tempDir(t), 'python');
  // reads its requests and never answers
  fs.writeFileSync(fake, '#!/bin/sh\necho "loading..." >&2\nexec cat >/dev/null\n', { mode: 0o755 });
  const w = startWorker(t, { python: fake, timeoutMs: 300 });
  await assert.rejects(w.request('hello'), (e: unknown) => e instanceof BbioError && e.code === 'E_BACKEND' && /did not answer hello within 0.3 s/.test(e.message));
  await assert.rejects(w.request('hello'), /did not answer/); // unusable afterwards, immediately
});

test('torch worker: a worker killed mid-stage is an E_BACKEND error naming the signal and how to resume', async (t) => {
  const fake = path.join(await tempDir(t), 'python');
  // answers hello, then dies on the next request as `kill -9` (or the OOM killer) would leave it
  fs.writeFileSync(fake, '#!/bin/sh\nread line\necho \'{"id":1,"ok":true,"result":{"python":"3.11","torch":"1.13","cuda":[],"sdpa":false,"protocol":"x"}}\'\nread line\nkill -9 $$\n', { mode: 0o755 });
  const w = startWorker(t, { python: fake });
  assert.equal((await w.request('hello')).torch, '1.13');
  await assert.rejects(w.request('hello'), (e: unknown) => e instanceof BbioError && e.code === 'E_BACKEND' && /exited with signal SIGKILL/.test(e.message) && /--resume/.test(e.hint ?? ''));
});
