import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Experiment } from '../../../schemas/generated/experiment';
import { OUTPUT_PATHS, type StageContext, type StageOutput } from '../../../engine/core/stage';
import { pretrainStage } from '../../../engine/train/pretrain-stage';
import { createLogger } from '../../../engine/util/log';
import { bioTinyConfig, disposeModel, initLlama, lmLoss, makeLmBatch, parameterShapes } from '../../../engine/model/llama';
import { GradientPool, shardRanges } from '../../../engine/compute/tfjs/data-parallel';
import { computeGradients } from '../../../engine/compute/tfjs/grads';
import { BbioError } from '../../../engine/util/errors';
import { makeRng } from '../../../engine/util/rng';
import { useWasm } from '../model/helpers';

before(useWasm);

const config = bioTinyConfig(
  { vocab_size: 40, hidden_size: 16, layers: 1, heads: 2, kv_heads: 1, intermediate_size: 24, context_length: 12, tie_embeddings: true, rope_theta: 10000 },
  { bosId: 0, eosId: 1, padId: 2 },
);
const names = parameterShapes(config).map(([n]) => n);
const shapes = parameterShapes(config).map(([, s]) => s);

function randomRows(seed: number, batch: number, len: number): Int32Array[] {
  const rng = makeRng(seed);
  return Array.from({ length: batch }, () => Int32Array.from({ length: len }, () => rng.int(config.vocab_size)));
}

test('shardRanges: contiguous, covering, sizes differ by at most one', () => {
  assert.deepEqual(shardRanges(5, 2), [[0, 3], [3, 5]]);
  assert.deepEqual(shardRanges(1, 3), [[0, 1], [1, 1], [1, 1]]);
  assert.deepEqual(shardRanges(4, 1), [[0, 4]]);
});

test('a 2-worker pool gives the single-process loss and gradients within 1e-5 (uneven shards, loss mask)', async () => {
  const model = initLlama(config, makeRng(5));
  const vars = [...model.params].map(([name, variable]) => ({ name, variable }));
  const pool = await GradientPool.create({ workers: 2, config, backend: 'wasm', paramNames: names, paramShapes: shapes });
  try {
    assert.equal(pool.size, 2);
    await pool.setWeights(vars.map((v) => v.variable.dataSync() as Float32Array));
    // 5 rows → shards of 3 and 2; the mask leaves the shards with unequal token counts (13 vs 19).
    const rows = randomRows(1, 5, 11);
    const mask = new Float32Array(5 * 10).map((_, i) => (i < 30 ? (i % 3 === 0 ? 1 : i % 2) : 1));
    for (const lossMask of [undefined, mask]) {
      const want = computeGradients(vars, () => lmLoss(model, makeLmBatch(rows, lossMask)));
      const got = await pool.gradients(rows, lossMask);
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-5, `loss ${got.loss} vs ${want.loss}`);
      want.grads.forEach((g, i) => {
        let worst = 0;
        for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - got.grads[i]![j]!));
        assert.ok(worst <= 1e-5, `${names[i]}: worst difference ${worst}`);
      });
      assert.ok(got.grads.some((g) => g.some((x) => x !== 0)), 'gradients are not all zero');
    }
  } finally {
    await pool.close();
    disposeModel(model);
  }
});

test('a failure inside a worker surfaces as a BbioError and close() ends the workers', async () => {
  const model = initLlama(config, makeRng(5));
  const pool = await GradientPool.create({ workers: 2, config, backend: 'wasm', paramNames: names, paramShapes: shapes });
  try {
    await pool.setWeights([...model.params.values()].map((v) => v.dataSync() as Float32Array));
    const rows = randomRows(2, 2, 11);
    rows[1]![3] = config.vocab_size + 7; // out of the vocabulary: the second worker's embedding throws
    await assert.rejects(pool.gradients(rows), (e: unknown) => e instanceof BbioError && /worker 1: .*outside the vocabulary/.test(e.message));
    // A close() while a call is in flight rejects that call instead of leaving it pending.
    const inFlight = assert.rejects(pool.gradients(randomRows(3, 4, 11)), (e: unknown) => e instanceof BbioError && /closed/.test(e.message));
    await pool.close();
    await inFlight;
    await assert.rejects(pool.gradients(randomRows(3, 4, 11)), /closed/);
  } finally {
    await pool.close();
    disposeModel(model);
  }
});

test('a worker that cannot build its replica fails create() with a BbioError', async () => {
  await assert.rejects(
    GradientPool.create({ workers: 2, config, backend: 'wasm', paramNames: names.slice(1), paramShapes: shapes.slice(1) }),
    (e: unknown) => e instanceof BbioError && /whole models/.test(e.message),
  );
});

/** Runs the pretrain stage in this process on a tiny corpus; returns the step losses and the log lines. */
async function pretrainLosses(workers: number): Promise<{ losses: number[]; logs: string[] }> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bbio-dp-'));
  const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, v]) => [k, path.join(runDir, v)])) as Record<StageOutput, string>;
  fs.mkdirSync(paths.dataset, { recursive: true });
  const words = ['fever', 'cough', 'sepsis', 'lactate', 'insulin', 'glucose', 'patient', 'with'];
  const lines = Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: Array.from({ length: 10 }, (_, k) => words[(i * 5 + k * 3) % words.length]).join(' ') }));
  fs.writeFileSync(path.join(paths.dataset, 'train.jsonl'), lines.join('\n') + '\n');
  const config = {
    seed: 4,
    model: { preset: 'bio-tiny', backend: 'wasm', workers, dims: { vocab_size: 280, hidden_size: 16, layers: 1, heads: 2, kv_heads: 1, intermediate_size: 24, context_length: 16, tie_embeddings: true, rope_theta: 10000 } },
    pretrain: { corpus: 'train', knowledge_passages: 1, steps: 3, batch_size: 5, learning_rate: 0.01, warmup_steps: 1, weight_decay: 0.01, grad_clip: 1, checkpoint_every: 3 },
  } as unknown as Experiment;
  const losses: number[] = [];
  const logs: string[] = [];
  const ctx: StageContext = {
    config, experimentFile: path.join(runDir, 'x.bbio.yaml'), runId: 'dp', runDir, paths, checkpointDir: path.join(runDir, 'ckpt'),
    events: { emit: () => {}, metric: (name, value) => { if (name === 'pretrain/loss') losses.push(value); } },
    log: createLogger({ level: 'debug', write: (l) => logs.push(l) }), signal: new AbortController().signal, stepsScale: 1, seed: 4, resume: false,
    updateManifest: async () => {}, note: async () => {},
  };
  try {
    await pretrainStage.run(ctx);
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  return { losses, logs };
}

test('pretrain: 2 data-parallel workers reproduce the 1-worker losses within 1e-5 (same data order)', async () => {
  const one = await pretrainLosses(1);
  const two = await pretrainLosses(2);
  assert.ok(two.logs.some((l) => /2 data-parallel workers/.test(l)), `the pool was used: ${two.logs.join(' | ')}`);
  assert.ok(!one.logs.some((l) => /data-parallel/.test(l)), 'workers: 1 trains in-process');
  assert.equal(two.losses.length, 3);
  two.losses.forEach((l, i) => assert.ok(Math.abs(l - one.losses[i]!) <= 1e-5, `step ${i + 1}: ${l} vs ${one.losses[i]}`));
});
