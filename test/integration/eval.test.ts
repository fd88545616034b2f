import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { stringify } from 'yaml';
import reportSchema from '../../schemas/report.schema.json';
import type { EvalReport } from '../../schemas/generated/report';
import { main } from '../../engine/cli/main';
import { evaluateStage } from '../../engine/eval/evaluate-stage';
import { initLlama, saveLlama } from '../../engine/model/llama';
import { createLoraSet } from '../../engine/model/lora';
import { trainBpe } from '../../engine/model/tokenizer';
import { parseExperiment } from '../../engine/config/load';
import { OUTPUT_PATHS, type EventInput, type StageContext } from '../../engine/core/stage';
import { synthesize } from '../../engine/synth/index';
import { writeDataset } from '../../engine/synth/synth-stage';
import { saveAdapterDir } from '../../engine/model/adapters';
import { BbioError } from '../../engine/util/errors';
import { silentLogger } from '../../engine/util/log';
import { makeRng } from '../../engine/util/rng';
import { useWasm } from '../unit/model/helpers';
import { certainModel } from '../unit/eval/helpers';
import { FIXTURE, loadFixture, synthConfig } from '../unit/synth/fixture';
import { invalidEvents } from '../helpers/events';
import { tinyLlamaConfig } from '../helpers/tiny-llama';
import { tempDir } from '../helpers/tmp';

before(useWasm);

function captureIo(cwd: string): { io: Parameters<typeof main>[1] & object; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false, cwd }, out, err };
}

async function writeMmlu(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // every gold answer of `alpha` is C, every gold answer of `beta` is A; quoted commas and newlines on the way
  await writeFile(path.join(dir, 'alpha_test.csv'), '"Which, of these?",one,two,three,four,C\nSecond question,a,b,c,d,C\n"Multi\nline",w,x,y,z,C\n');
  await writeFile(path.join(dir, 'alpha_dev.csv'), 'Dev question,p,q,r,s,C\n');
  await writeFile(path.join(dir, 'beta_test.csv'), 'Q1,a,b,c,d,A\nQ2,a,b,c,d,A\n');
}

test('balancedbio eval --mmlu scores a checkpoint that is certain of " C": 100% where C is gold, 0% where A is', async (t) => {
  const dir = await tempDir(t);
  // a byte-level BPE whose one merge is " C", and a model whose every prediction is that token
  const tok = trainBpe([' C C C C C C C C'], { vocabSize: 260 });
  const k = tok.encode(' C');
  assert.equal(k.length, 1);
  const ckpt = path.join(dir, 'ckpt');
  await saveLlama(certainModel({ vocab: tok.vocabSize, k: k[0]!, ctx: 1024 }), ckpt);
  await tok.save(ckpt);
  await writeMmlu(path.join(dir, 'mmlu'));
  const { io, out } = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--mmlu', 'mmlu', '--shots', '1', '--backend', 'wasm', '--json'], io), 0);
  const res = JSON.parse(out.join('\n')) as { models: EvalReport['models'] };
  const mmlu = res.models[0]!.mmlu!;
  assert.equal(res.models[0]!.name, 'external');
  assert.deepEqual(mmlu.alpha, { value: 1, stderr: 0, n: 3 });
  assert.deepEqual(mmlu.beta, { value: 0, stderr: 0, n: 2 });
  assert.equal(mmlu.overall!.value, 0.6);
  assert.equal(mmlu.overall!.n, 5);
  // text output: subject, accuracy, stderr and n per subject and overall; --subjects filters
  const text = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--mmlu', 'mmlu', '--subjects', 'beta', '--backend', 'wasm'], text.io), 0);
  assert.match(text.out[0]!, /subject\s+external acc %\s+stderr\s+n/);
  assert.match(text.out.join('\n'), /beta\s+0\.0\s+0\.0\s+2/);
  assert.match(text.out.join('\n'), /overall\s+0\.0\s+0\.0\s+2/);
  assert.doesNotMatch(text.out.join('\n'), /alpha/);
  const bad = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--backend', 'wasm'], bad.io), 2, 'a checkpoint without --mmlu is a usage error');
});

async function tinyRun(t: Parameters<typeof tempDir>[0], extraEval = '', setup?: (runDir: string) => Promise<void>): Promise<{ ctx: StageContext; events: EventInput[]; runDir: string }> {
  const runDir = await tempDir(t);
  const ont = loadFixture();
  const data = await synthesize(ont, synthConfig({ examples: { domain: 16, reasoning: 10, instruction: 10, integration: 8 } }), { seed: 5, log: silentLogger });
  const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, p]) => [k, path.join(runDir, p)])) as StageContext['paths'];
  // the entity split leaves this tiny dataset's test split nearly empty; move a few training items of each
  // capability into it (held-out entities do not matter for this test)
  const moved = (['domain', 'reasoning', 'instruction', 'integration'] as const).flatMap((c) => data.train.filter((e) => e.capability === c).slice(0, 3));
  await writeDataset(paths.dataset, { ...data, train: data.train.filter((e) => !moved.includes(e)), test: [...data.test, ...moved.map((e) => ({ ...e, split: 'test' as const }))] });
  const tok = trainBpe(data.train.map((e) => e.text), { vocabSize: 300 });
  const cfg = tinyLlamaConfig({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, max_position_embeddings: 768, bos_token_id: tok.bosId, eos_token_id: tok.eosId });
  const model = initLlama(cfg, makeRng(1));
  await saveLlama(model, paths.base_model);
  await tok.save(paths.base_model);
  await saveAdapterDir(createLoraSet(model, ['default'], { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'] }, makeRng(2)), paths.sft_adapter, { baseModel: 'base', stage: 'sft' });
  await writeMmlu(path.join(runDir, 'mmlu'));
  await setup?.(runDir);
  const expFile = path.join(runDir, 'exp.bbio.yaml');
  const yaml = `name: tiny\nseed: 4\nontology:\n  builtin: false\n  sources: [{ path: ${JSON.stringify(path.relative(runDir, FIXTURE))} }]\nmodel:\n  backend: wasm\neval:\n  max_items: 3\n  bootstrap: 50\n  mmlu: [mmlu]\n  few_shot: 1\n${extraEval}`;
  await writeFile(expFile, yaml);
  const { config } = await parseExperiment(yaml, expFile, { paths: { workspace: [path.dirname(FIXTURE), runDir], allowed: [] } });
  assert.ok(config);
  await writeFile(path.join(runDir, 'experiment.yaml'), stringify(config));
  await writeFile(path.join(runDir, 'state.json'), JSON.stringify({ version: 1, runId: 'tiny-run', name: 'tiny', experimentFile: expFile, status: 'completed', createdAt: '', updatedAt: '', stages: {} }));
  const events: EventInput[] = [];
  const ctx: StageContext = {
    config, experimentFile: expFile, runId: 'tiny-run', runDir, paths, checkpointDir: path.join(runDir, 'checkpoints/evaluate'),
    events: { emit: (e) => events.push(e), metric: (name, value, o) => events.push({ kind: 'metric', stage: 'evaluate', name, value, ...(o?.labels ? { labels: o.labels } : {}) }) },
    log: silentLogger, signal: new AbortController().signal, stepsScale: 1, seed: 11, resume: false, updateManifest: async () => {}, note: async () => {},
  };
  return { ctx, events, runDir };
}

test('evaluate stage on a tiny run: base and SFT scored per capability; report.json validates and carries the reproducibility record', async (t) => {
  const { ctx, events, runDir } = await tinyRun(t);
  const res = await evaluateStage.run(ctx);
  assert.equal(evaluateStage.name, 'evaluate');
  for (const f of [path.join(runDir, 'artifacts/eval/report.json'), path.join(runDir, 'report.json'), path.join(runDir, 'report.md'), path.join(runDir, 'artifacts/eval/report.md')]) assert.ok(existsSync(f), f);
  const report = JSON.parse(await readFile(path.join(runDir, 'report.json'), 'utf8')) as EvalReport;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(reportSchema);
  assert.ok(validate(report), ajv.errorsText(validate.errors));
  assert.deepEqual(report.models.map((m) => m.name), ['base', 'sft']);
  for (const m of report.models) {
    assert.deepEqual(Object.keys(m.headline!).sort(), ['domain', 'instruction', 'integration', 'reasoning']);
    for (const k of ['domain/acc', 'domain/acc_norm', 'reasoning/answer_acc', 'reasoning/chain_validity', 'instruction/prompt_strict', 'instruction/prompt_loose', 'instruction/inst_strict', 'instruction/inst_loose', 'integration/fully_correct']) {
      assert.ok(m.scores[k], `${m.name} ${k}`);
      assert.ok(m.scores[k]!.n > 0);
    }
    assert.ok(m.scores['domain/acc']!.n <= 3, 'eval.max_items caps items per suite');
    assert.equal(m.mmlu!.overall!.n, 5);
  }
  // the SFT adapter starts at B = 0, so base and SFT must score identically (the hook is applied)
  assert.deepEqual(report.models[0]!.scores, report.models[1]!.scores);
  const hashes = report.reproducibility.hashes;
  const sha = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');
  assert.equal(hashes['artifacts/data/test.jsonl'], await sha(path.join(runDir, 'artifacts/data/test.jsonl')));
  assert.ok(hashes['artifacts/data/train.jsonl'] && hashes['artifacts/data/val.jsonl']);
  assert.equal(hashes[FIXTURE], await sha(FIXTURE));
  assert.equal(hashes[path.join(runDir, 'mmlu/alpha_test.csv')], await sha(path.join(runDir, 'mmlu/alpha_test.csv')));
  const rep = report.reproducibility as Record<string, unknown>;
  for (const k of ['config', 'packages', 'backend', 'seeds', 'experiment']) assert.ok(rep[k], k);
  assert.equal((rep.seeds as { evaluate: number }).evaluate, 11);
  assert.equal(((rep.experiment as { git: { inRepository: boolean } }).git.inRepository), false);
  assert.ok(report.examples!.some((e) => e.suite === 'integration' && e.model === 'sft'));
  // events: scores with labels, errors, throughput, progress, the artifact; all valid per the events schema
  const score = events.find((e) => e.kind === 'metric' && e.name === 'eval/score' && e.labels?.suite === 'domain' && e.labels?.metric === 'acc' && e.labels?.model === 'sft');
  assert.ok(score && score.kind === 'metric' && score.value === report.models[1]!.scores['domain/acc']!.value);
  assert.ok(events.some((e) => e.kind === 'metric' && e.name === 'eval/stderr'));
  assert.ok(events.some((e) => e.kind === 'metric' && e.name === 'eval/items_per_s'));
  assert.ok(events.some((e) => e.kind === 'phase' && e.status === 'progress'));
  assert.ok(events.some((e) => e.kind === 'artifact' && e.type === 'report' && e.path === 'artifacts/eval/report.json'));
  assert.deepEqual(invalidEvents(events.map((e) => ({ v: 1, t: 1, runId: 'tiny-run', ...e }))), []);
  assert.equal(typeof res.summary.domain, 'number');
  assert.match(await readFile(path.join(runDir, 'report.md'), 'utf8'), /\| domain \|/);

  // `balancedbio eval --model RUN_DIR` prints the capability suites for each model
  const { io, out } = captureIo(runDir);
  assert.equal(await main(['eval', '--model', runDir, '--backend', 'wasm', '--max-items', '2'], io), 0);
  const text = out.join('\n');
  assert.match(text, /metric\s+base\s+sft\s+n/);
  assert.match(text, /reasoning\/answer_acc/);
  assert.match(text, /overall/);
});

test('evaluate stage with eval.tasks: each model scored on medqa and ifeval beside the suites, in report.json and report.md', async (t) => {
  const fixtures = path.resolve(__dirname, '../fixtures/tasks');
  const { ctx, events, runDir } = await tinyRun(t, '  tasks: [medqa, ifeval]\n  benchmarks: bench\n', async (dir) => {
    await mkdir(path.join(dir, 'bench'));
    await copyFile(path.join(fixtures, 'medqa_4options.jsonl'), path.join(dir, 'bench/medqa_4options.jsonl'));
    await copyFile(path.join(fixtures, 'ifeval_input.jsonl'), path.join(dir, 'bench/ifeval_input.jsonl'));
  });
  await evaluateStage.run(ctx);
  const report = JSON.parse(await readFile(path.join(runDir, 'report.json'), 'utf8')) as EvalReport;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  assert.ok(ajv.validate(reportSchema, report), ajv.errorsText());
  for (const m of report.models) {
    assert.deepEqual(Object.keys(m.tasks ?? {}).sort(), ['ifeval/inst_loose', 'ifeval/inst_strict', 'ifeval/prompt_loose', 'ifeval/prompt_strict', 'medqa/acc', 'medqa/acc_norm'], m.name);
    assert.equal(m.tasks!['medqa/acc']!.n, 3);
    assert.equal(m.tasks!['ifeval/prompt_strict']!.n, 3, 'eval.max_items = 3 keeps the first 3 prompts');
  }
  assert.deepEqual(report.models[0]!.tasks, report.models[1]!.tasks, 'the SFT adapter starts at B = 0');
  assert.ok(report.reproducibility.hashes[path.join(runDir, 'bench/medqa_4options.jsonl')]);
  assert.ok(report.examples!.some((e) => e.suite === 'medqa') && report.examples!.some((e) => e.suite === 'ifeval'));
  assert.ok(events.some((e) => e.kind === 'metric' && e.name === 'eval/score' && e.labels?.suite === 'medqa' && e.labels?.metric === 'acc'));
  assert.deepEqual(invalidEvents(events.map((e) => ({ v: 1, t: 1, runId: 'tiny-run', ...e }))), []);
  assert.match(await readFile(path.join(runDir, 'report.md'), 'utf8'), /\| medqa\/acc \| /);
  // `balancedbio eval --model RUN_DIR --task` scores each of the run's models, with the stage's numbers
  const { io, out } = captureIo(runDir);
  assert.equal(await main(['eval', '--model', runDir, '--task', 'medqa', '--data', 'bench', '--backend', 'wasm', '--json'], io), 0);
  const cli = JSON.parse(out.join('\n')) as { models: { name: string; tasks: Record<string, { value: number; n: number }> }[] };
  assert.deepEqual(cli.models.map((m) => m.name), ['base', 'sft']);
  const { value, n } = report.models[0]!.tasks!['medqa/acc']!;
  assert.deepEqual([cli.models[0]!.tasks['medqa/acc']!.value, cli.models[0]!.tasks['medqa/acc']!.n], [value, n]);
});

test('evaluate stage honours cancellation', async (t) => {
  const { ctx } = await tinyRun(t);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(evaluateStage.run({ ...ctx, signal: ac.signal }), (e: BbioError) => e.code === 'E_CANCELLED');
  assert.equal(existsSync(path.join(ctx.runDir, 'report.json')), false);
});
