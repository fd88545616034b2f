import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TfjsCompute } from '../../../engine/compute/tfjs/compute';
import { openTorchCompute, type TorchCompute } from '../../../engine/compute/torch/compute';
import type { Compute, TrainingSpec } from '../../../engine/compute/types';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from '../model/helpers';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
const CONFIG = tinyLlamaConfig({ vocab_size: 13, num_hidden_layers: 1 });
const SPEC: TrainingSpec = {
  params: { kind: 'model' }, schedule: { peak: 1e-2, warmupSteps: 0, totalSteps: 10, shape: 'constant', minLrRatio: 1 },
  adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, decay: 'none', gradClip: 1, rng: { seed: 3, stream: 'pretrain' },
};
const ROWS = [Int32Array.from([1, 2, 3, 4, 5]), Int32Array.from([5, 4, 3, 2, 1])];

let torch: TorchCompute | undefined;
const tfjs = new TfjsCompute({ backend: { name: 'wasm', kind: 'wasm', reason: 'test', threads: 1, simd: true }, log: silentLogger });

before(async () => {
  if (needsTorch) return;
  await useWasm();
  torch = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32' });
});

after(async () => {
  await torch?.dispose();
  await tfjs.dispose();
});

/** Two pretrain steps on `c`, then a checkpoint in a fresh folder; returns the stage's checkpoint folder. */
async function checkpointOf(t: import('node:test').TestContext, c: Compute): Promise<string> {
  await c.initModel(CONFIG, 1);
  await c.startTraining(SPEC);
  for (let i = 0; i < 2; i++) await c.pretrainStep(ROWS);
  const dir = path.join(await tempDir(t), 'checkpoints', 'pretrain');
  await c.saveCheckpoint(dir, { cursor: 2 });
  return dir;
}

async function resumeError(c: Compute, dir: string): Promise<BbioError> {
  await c.initModel(CONFIG, 1);
  await c.startTraining(SPEC);
  const e = await c.loadCheckpoint(dir).then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof BbioError, `resuming another backend's checkpoint must fail, got ${String(e)}`);
  return e;
}

test('a mid-stage checkpoint of wasm does not resume on torch: the error names both backends and both ways on', { skip: needsTorch }, async (t) => {
  const dir = await checkpointOf(t, tfjs);
  const e = await resumeError(torch!, dir);
  assert.equal(e.code, 'E_CHECKPOINT');
  assert.match(e.message, /written by the wasm backend \(tfjs\) and this run resumes on torch \(torch\)/);
  assert.match(e.hint ?? '', /resume with --backend wasm, or delete .*checkpoints\/pretrain to restart this stage on torch/);
});

test('a mid-stage checkpoint of torch does not resume on wasm, and the same family still resumes', { skip: needsTorch }, async (t) => {
  const dir = await checkpointOf(t, torch!);
  const e = await resumeError(tfjs, dir);
  assert.equal(e.code, 'E_CHECKPOINT');
  assert.match(e.message, /written by the torch backend \(torch\) and this run resumes on wasm \(tfjs\)/);
  assert.match(e.hint ?? '', /resume with --backend torch, or delete /);
  await torch!.initModel(CONFIG, 1);
  await torch!.startTraining(SPEC);
  assert.equal((await torch!.loadCheckpoint<{ cursor: number }>(dir))?.state.cursor, 2);
});
