import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
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
import { REPO, tempDir } from '../helpers/tmp';
import { writeChatMlCheckpoint } from '../helpers/chat-checkpoint';

before(useWasm);

/**
 * Serves the checkpoint folder `src` as Hub repository `repo` at `commit` from a local test hub, and points this
 * process's HF_* variables at it with the cache under `src` (the pipeline reads them from the environment, as a
 * user's run does; this file's process is its own). Returns the files served.
 */
async function serveFromTestHub(t: TestContext, src: string, repo: string, commit: string): Promise<Record<string, Buffer>> {
  const files = Object.fromEntries(await Promise.all((await readdir(src)).map(async (f) => [f, await readFile(path.join(src, f))] as const)));
  const hub = await startTestHub(t, { [repo]: { commit, files } });
  const saved = { ...process.env };
  t.after(() => { process.env = saved; });
  Object.assign(process.env, { HF_HUB_CACHE: path.join(src, 'cache'), HF_HOME: path.join(src, 'home'), HF_ENDPOINT: hub.url });
  return files;
}

test('an experiment with model.hub downloads the model into the HF cache before its first stage and evaluates it', async (t) => {
  const src = await tempDir(t, 'bbio-hub-run-');
  const tok = trainBpe(['the patient has a fever and a cough; which drug treats it?'], { vocabSize: 280 });
  const cfg = tinyLlamaConfig({ vocab_size: tok.vocabSize, intermediate_size: 16, max_position_embeddings: 1024 });
  await saveLlama(initLlama(cfg, makeRng(2)), src);
  await tok.save(src);
  const commit = 'd'.repeat(40);
  const files = await serveFromTestHub(t, src, 'org/tiny', commit);

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

test('an experiment with model.hub and eval.tasks [medqa, ifeval] runs end to end on a chat-template checkpoint from the test hub', async (t) => {
  const src = await tempDir(t, 'bbio-hub-chat-');
  // a byte-level BPE with ChatML's special tokens, a 1-layer Llama and Qwen2.5-Instruct's published template
  await writeChatMlCheckpoint(src, { text: 'the patient has a fever and a cough; which drug treats it? Answer: B. Write in lowercase.', seed: 4 });
  const commit = 'e'.repeat(40);
  await serveFromTestHub(t, src, 'org/tiny-chat', commit);

  const { dir, file } = await writeTinyExperiment(t, [
    'name: hub-chat', TINY_GRAPH, TINY_SYNTHESIS, 'stages: [synthesize, sft, evaluate]', 'model: { hub: org/tiny-chat, backend: wasm }',
    'lora: { rank: 2, alpha: 4 }', 'sft: { steps: 1, batch_per_capability: 1, interference_every: 0, checkpoint_every: 1, schedule: { warmup_steps: 0 } }',
    'eval: { suites: [domain], max_items: 3, bootstrap: 10, tasks: [medqa, ifeval], benchmarks: benchmarks }',
  ]);
  await mkdir(path.join(dir, 'benchmarks'), { recursive: true });
  await copyFile(path.join(REPO, 'test/fixtures/tasks/medqa_4options.jsonl'), path.join(dir, 'benchmarks', 'medqa_4options.jsonl'));
  await copyFile(path.join(REPO, 'test/fixtures/tasks/ifeval_input.jsonl'), path.join(dir, 'benchmarks', 'ifeval_input.jsonl'));
  const { runDir } = await runTinyPipeline(file);
  const snapshot = path.join(src, 'cache', 'models--org--tiny-chat', 'snapshots', commit);
  const manifest = JSON.parse(await readFile(path.join(runDir, 'manifest.json'), 'utf8')) as { chatFormat?: string };
  assert.equal(manifest.chatFormat, path.join(snapshot, 'tokenizer_config.json'), 'SFT trained in the template downloaded with the model');
  const report = JSON.parse(await readFile(path.join(runDir, OUTPUT_PATHS.report, 'report.json'), 'utf8')) as EvalReport;
  for (const m of report.models) {
    assert.equal(m.tasks?.['medqa/acc']?.n, 3, `${m.name}: every medqa row scored`);
    assert.equal(m.tasks?.['ifeval/prompt_strict']?.n, 3, `${m.name}: every IFEval prompt answered and judged`);
  }
  assert.deepEqual(report.models.map((m) => m.name), ['base', 'sft']);
});
