import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { EngineEvent } from '../../schemas/generated/events';
import { loadExperiment } from '../../engine/config/load';
import { runPipeline } from '../../engine/run/pipeline';
import { createStageTable } from '../../engine/cli/stages';
import { silentLogger } from '../../engine/util/log';
import { sha256File } from '../../engine/util/provenance';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { workspaceOf } from '../helpers/tmp';

type Phase = Extract<EngineEvent, { kind: 'phase' }>;

/** Runs the file with the seed (and pretrain.seed) given, in-process with the real stages. */
async function runSeeded(file: string, seed: number, pretrainSeed?: number): Promise<{ events: EngineEvent[]; runDir: string }> {
  const { config, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  const cfg = { ...config!, seed, pretrain: { ...config!.pretrain, ...(pretrainSeed !== undefined ? { seed: pretrainSeed } : {}) } };
  const events: EngineEvent[] = [];
  const out = await runPipeline({ config: cfg, experimentFile: file, stageTable: createStageTable(), log: silentLogger, version: 'test', onEvent: (e) => events.push(e) });
  assert.equal(out.status, 'completed', out.error?.message);
  return { events, runDir: out.runDir };
}

const reused = (events: EngineEvent[], stage: string): boolean =>
  events.some((e): e is Phase => e.kind === 'phase' && e.stage === stage && e.status === 'completed' && /reused from the stage cache/.test(e.message ?? ''));

test('real stages: a pinned pretrain.seed trains one base model for two seeds; an identical SFT is reused; weights byte-identical', async (t) => {
  const { file } = await writeTinyExperiment(t, [
    'name: cache', 'stages: [synthesize, pretrain, sft]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(96),
    'pretrain: { corpus: knowledge, steps: 6, batch_size: 4, warmup_steps: 1, checkpoint_every: 6 }',
    'lora: { rank: 2, alpha: 4, dropout: 0, target_modules: [q_proj, v_proj] }',
    'sft: { steps: 3, batch_per_capability: 1, interference_every: 0, checkpoint_every: 3, schedule: { warmup_steps: 1 } }',
  ]);
  const a = await runSeeded(file, 1, 99);
  assert.ok(!reused(a.events, 'pretrain') && !reused(a.events, 'sft'), 'an empty cache trains everything');
  const b = await runSeeded(file, 2, 99);
  assert.ok(reused(b.events, 'pretrain'), 'another experiment seed, the same pinned base model: reused');
  assert.ok(!reused(b.events, 'sft'), 'SFT depends on the seed and the seed\'s own split: trained');
  // pretrain.seed pins the knowledge corpus too, while the question split follows the experiment seed
  assert.equal(await sha256File(path.join(a.runDir, 'artifacts/data/knowledge.jsonl')), await sha256File(path.join(b.runDir, 'artifacts/data/knowledge.jsonl')));
  assert.notEqual(await sha256File(path.join(a.runDir, 'artifacts/data/train.jsonl')), await sha256File(path.join(b.runDir, 'artifacts/data/train.jsonl')));
  assert.equal(await sha256File(path.join(b.runDir, 'artifacts/base-model/model.safetensors')), await sha256File(path.join(a.runDir, 'artifacts/base-model/model.safetensors')));
  const losses = (events: EngineEvent[]) => events.filter((e) => e.kind === 'metric' && e.name === 'pretrain/loss').map((e) => (e as { value: number }).value);
  assert.deepEqual(losses(b.events), losses(a.events), 'the pretrain curve is replayed into the reusing run');
  const valLoss = (events: EngineEvent[]) => events.filter((e) => e.kind === 'metric' && e.name === 'pretrain/val_loss');
  assert.ok(valLoss(a.events).length > 0);
  assert.equal(valLoss(b.events).length, 0, 'the validation loss was measured on the other seed\'s val.jsonl: not taken over');
  const stateB = JSON.parse(await readFile(path.join(b.runDir, 'state.json'), 'utf8')) as { stages: { pretrain: { summary: Record<string, number> } } };
  assert.equal(stateB.stages.pretrain.summary.val_loss, undefined);
  assert.ok(Number.isFinite(stateB.stages.pretrain.summary.loss));

  const c = await runSeeded(file, 2, 99);
  assert.ok(reused(c.events, 'pretrain') && reused(c.events, 'sft'), 'the same seed again: both reused');
  assert.equal(await sha256File(path.join(c.runDir, 'artifacts/sft-adapter/adapter_model.safetensors')), await sha256File(path.join(b.runDir, 'artifacts/sft-adapter/adapter_model.safetensors')));
  const manifest = JSON.parse(await readFile(path.join(c.runDir, 'manifest.json'), 'utf8')) as { stageCache: Record<string, { reusedFrom: string; compute: { name: string } }> };
  assert.equal(manifest.stageCache.sft?.reusedFrom, b.runDir);
  assert.equal(manifest.stageCache.sft?.compute.name, 'wasm', 'the backend the reused stage ran on is recorded');
  const adapterCfg = JSON.parse(await readFile(path.join(c.runDir, 'artifacts/sft-adapter/adapter_config.json'), 'utf8')) as { base_model_name_or_path: string };
  const trainedCfg = JSON.parse(await readFile(path.join(b.runDir, 'artifacts/sft-adapter/adapter_config.json'), 'utf8')) as { base_model_name_or_path: string };
  assert.ok(trainedCfg.base_model_name_or_path.startsWith(b.runDir), trainedCfg.base_model_name_or_path);
  assert.equal(adapterCfg.base_model_name_or_path, path.join(c.runDir, 'artifacts/base-model'), 'the copied adapter names this run\'s base model');

  const d = await runSeeded(file, 2);
  assert.ok(!reused(d.events, 'pretrain'), 'without pretrain.seed the base model follows the experiment seed: trained');
});
