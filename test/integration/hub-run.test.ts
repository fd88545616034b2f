import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EvalReport } from '../../schemas/generated/report';
import { OUTPUT_PATHS } from '../../engine/core/stage';
import { initLlama, saveLlama } from '../../engine/model/llama';
import { trainBpe } from '../../engine/model/tokenizer';
import { makeRng } from '../../engine/util/rng';
import { useWasm } from '../unit/model/helpers';
import { startTestHub } from '../helpers/test-hub';
import { tinyLlamaConfig } from '../helpers/tiny-llama';
import { runTinyPipeline, TINY_GRAPH, TINY_SYNTHESIS, writeTinyExperiment } from '../helpers/tiny-experiment';
import { tempDir } from '../helpers/tmp';

before(useWasm);

test('an experiment with model.hub downloads the model into the HF cache before its first stage and evaluates it', async (t) => {
  const src = await tempDir(t, 'bbio-hub-run-');
  const tok = trainBpe(['the patient has a fever and a cough; which drug treats it?'], { vocabSize: 280 });
  const cfg = tinyLlamaConfig({ vocab_size: tok.vocabSize, intermediate_size: 16, max_position_embeddings: 1024 });
  await saveLlama(initLlama(cfg, makeRng(2)), src);
  await tok.save(src);
  const files = Object.fromEntries(await Promise.all((await readdir(src)).map(async (f) => [f, await readFile(path.join(src, f))] as const)));
  const commit = 'd'.repeat(40);
  const hub = await startTestHub(t, { 'org/tiny': { commit, files } });
  // the pipeline reads HF_* from the process environment, as a user's run does; this file's process is its own
  const saved = { ...process.env };
  t.after(() => { process.env = saved; });
  Object.assign(process.env, { HF_HUB_CACHE: path.join(src, 'cache'), HF_HOME: path.join(src, 'home'), HF_ENDPOINT: hub.url });

  const { file } = await writeTinyExperiment(t, ['name: hub', TINY_GRAPH, TINY_SYNTHESIS, 'stages: [synthesize, evaluate]', 'model: { hub: org/tiny, backend: wasm }', 'eval: { suites: [domain], max_items: 4, bootstrap: 10 }']);
  const { events, runDir } = await runTinyPipeline(file);
  const weights = files['model.safetensors']!.length;
  const progress = events.filter((e) => e.kind === 'phase' && e.stage === 'run' && e.status === 'progress' && /^downloading org\/tiny\/model\.safetensors/.test(e.message ?? ''));
  assert.ok(progress.length >= 2, 'a start and an end event at least');
  assert.deepEqual([progress[0]!.kind === 'phase' && progress[0]!.step, progress.at(-1)!.kind === 'phase' && progress.at(-1)!.step], [0, weights]);
  const firstStage = events.findIndex((e) => e.kind === 'phase' && e.stage === 'synthesize' && e.status === 'started');
  assert.ok(events.indexOf(progress.at(-1)!) < firstStage, 'the download finishes before the first stage starts');
  assert.ok(existsSync(path.join(src, 'cache', 'models--org--tiny', 'snapshots', commit, 'model.safetensors')));
  const report = JSON.parse(await readFile(path.join(runDir, OUTPUT_PATHS.report, 'report.json'), 'utf8')) as EvalReport;
  assert.ok((report.models[0]?.scores['domain/acc']?.n ?? 0) > 0, JSON.stringify(report.models[0]?.scores));
});
