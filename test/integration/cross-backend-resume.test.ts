import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../engine/config/load';
import { createStageTable } from '../../engine/cli/stages';
import { createComputeSession } from '../../engine/compute';
import { runPipeline } from '../../engine/run/pipeline';
import { readRunState } from '../../engine/run/store';
import { silentLogger } from '../../engine/util/log';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { workspaceOf } from '../helpers/tmp';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;

test('a run stopped after pretrain on wasm resumes on torch: the finished stage\'s model carries over, the next stage trains on torch', { skip: needsTorch }, async (t) => {
  const { file } = await writeTinyExperiment(t, [
    'name: cross', 'stages: [synthesize, pretrain, sft]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(96),
    'pretrain: { steps: 2, batch_size: 2, warmup_steps: 0, checkpoint_every: 2 }',
    'lora: { rank: 2, alpha: 4, dropout: 0, target_modules: [q_proj, v_proj] }',
    'sft: { steps: 2, batch_per_capability: 1, interference_every: 0, checkpoint_every: 2, schedule: { warmup_steps: 0 } }',
  ]);
  const { config } = await loadExperiment(file, workspaceOf(file));
  const run = async (o: { stages: ('synthesize' | 'pretrain' | 'sft')[]; backend: 'wasm' | 'torch'; resumeDir?: string }) => {
    const compute = createComputeSession();
    const env = { ...process.env, BALANCEDBIO_PYTHON: PYTHON };
    return runPipeline({
      config: { ...config!, model: { ...config!.model, backend: o.backend } }, experimentFile: file, stages: o.stages, ...(o.resumeDir ? { resumeDir: o.resumeDir } : {}),
      stageTable: createStageTable((model, opts) => compute.open(model, { ...opts, env })), compute, log: silentLogger, version: 'test',
    });
  };
  const first = await run({ stages: ['synthesize', 'pretrain'], backend: 'wasm' });
  assert.equal(first.status, 'completed', first.error?.message);
  const second = await run({ stages: ['synthesize', 'pretrain', 'sft'], backend: 'torch', resumeDir: first.runDir });
  assert.equal(second.status, 'completed', second.error?.message);
  const state = await readRunState(second.runDir);
  assert.equal(state.stages.pretrain?.attempts, 1, 'pretrain is not trained again');
  assert.equal(state.stages.sft?.status, 'completed');
  const manifest = JSON.parse(await readFile(path.join(second.runDir, 'manifest.json'), 'utf8')) as { backend: { name: string } };
  assert.equal(manifest.backend.name, 'torch');
});
