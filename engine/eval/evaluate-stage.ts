/**
 * The `evaluate` stage: scores the base model, base + SFT adapter and base + GRPO adapter (those the run
 * has) on the capability suites of the held-out test split and on the experiment's MMLU-format files, then
 * writes report.json (schemas/report.schema.json) and report.md to artifacts/eval and the run root, with a
 * reproducibility record: resolved config, sha256 of every dataset split, ontology and benchmark file used,
 * package versions, backend, seeds, and the git state of the experiment file.
 *
 * Speed (the quickstart evaluates three models on 2 cores): log-likelihood scoring runs all options of 8
 * questions in one forward pass; generation decodes 8 prompts together with the KV cache and stops at the
 * end-of-turn marker or at 1.5 × the longest reference response of the suite (+ 8 tokens).
 */
import * as fs from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import writeFileAtomic from 'write-file-atomic';
import reportSchema from '../../schemas/report.schema.json';
import type { Experiment } from '../../schemas/generated/experiment';
import type { EvalReport } from '../../schemas/generated/report';
import { openCompute, type ComputeFactory, type Compute } from '../compute';
import { baseModelDir, loadTokenizer } from '../model/resources';
import { loadChatFormat } from '../model/chat-template';
import type { ChatFormat } from '../core/chat';
import { EdgeIndex, TermLexicon } from '../verify/answers';
import type { RewardContext } from '../verify/rewards';
import { outputExists } from '../core/outputs';
import { RUN_FILES } from '../../schemas/run-layout';
import { CAPABILITIES, type Capability, type EventSink, type StageContext, type StageDef, type StageResult } from '../core/stage';
import { loadExperimentOntology, ontologyFiles } from '../ontology/experiment';
import { DATASET_FILES, readExamples } from '../core/dataset';
import type { SynthExample } from '../core/example';
import { BbioError } from '../util/errors';
import { gitState, packageVersions, sha256File } from '../util/provenance';
import type { Logger } from '../util/log';
import { loadMmlu, type MmluSubject } from './mmlu';
import { evaluateMmlu } from './mmlu-eval';
import { balanceWithError, renderReportMarkdown, type ModelReport } from './report';
import { DEFAULT_SUITE_OPTIONS, HEADLINE_METRIC, runSuite, type EvalModel, type EvalTokenizer, type ModelName, type ReportExample, type SuiteOptions } from './suites';
import type { Score } from './stats';
import { evaluateTasks } from './tasks/evaluate-tasks';
import { DEFAULT_TASK_OPTIONS } from './tasks/registry';

/** A model stage output usable for evaluation: a folder written by saveAdapterDir or a plain PEFT folder. */
async function adapterDirExists(dir: string): Promise<boolean> {
  return fs.existsSync(path.join(dir, 'adapters.json')) || (await outputExists('sft_adapter', dir));
}

export interface EvaluationTarget {
  name: ModelName;
  /** Adapter slot of the backend (absent: the base model itself) and the adapters it holds. */
  adapters?: { slot: string; names: string[] };
}

/** base, then +SFT and +GRPO where those adapter folders exist: each loaded into a slot named after it. */
export async function loadEvaluationTargets(compute: Compute, dirs: { sft: string; grpo: string }): Promise<EvaluationTarget[]> {
  const targets: EvaluationTarget[] = [{ name: 'base' }];
  for (const name of ['sft', 'grpo'] as const) {
    if (!(await adapterDirExists(dirs[name]))) continue;
    targets.push({ name, adapters: { slot: name, names: await compute.loadAdapters(name, dirs[name]) } });
  }
  return targets;
}

export interface EvaluateModelsInput {
  compute: Compute;
  tokenizer: EvalTokenizer;
  /** The base model's chat format, in which the suites' prompts are given (default: the built-in one). */
  chat?: ChatFormat;
  targets: readonly EvaluationTarget[];
  suites: readonly Capability[];
  testExamples: readonly SynthExample[];
  /** Ontology lexicon and edges; required when `suites` is not empty. */
  reward?: RewardContext;
  mmlu: readonly MmluSubject[];
  shots: number;
  opts: SuiteOptions;
  events?: EventSink;
  log: Logger;
}

export interface EvaluatedModel {
  report: ModelReport;
  examples: ReportExample[];
  seconds: number;
}

function metricLabels(suite: string, metric: string, model: string): Record<string, string> {
  return { suite, metric, model };
}

function emitScore(events: EventSink | undefined, suite: string, metric: string, model: string, s: Score): void {
  events?.metric('eval/score', s.value, { labels: metricLabels(suite, metric, model) });
  if (s.stderr !== null) events?.metric('eval/stderr', s.stderr, { labels: metricLabels(suite, metric, model) });
}

/** Scores every target on the suites and MMLU subjects; shared by the stage and `balancedbio eval RUN_DIR`. */
export async function evaluateModels(input: EvaluateModelsInput): Promise<EvaluatedModel[]> {
  const out: EvaluatedModel[] = [];
  const tasks = input.targets.length * (input.suites.length + (input.mmlu.length ? 1 : 0));
  let done = 0;
  const progress = (message: string): void => {
    done++;
    input.events?.emit({ kind: 'phase', stage: 'evaluate', status: 'progress', step: done, total: tasks, message });
  };
  const reward = input.reward;
  if (input.suites.length && !reward) throw new BbioError('E_INTERNAL', 'capability suites need the ontology (reward context)');
  for (const target of input.targets) {
    const t0 = performance.now();
    const model: EvalModel = { name: target.name, compute: input.compute, ...(target.adapters ? { adapters: target.adapters.slot } : {}) };
    const scores: Record<string, Score> = {};
    const headline: Record<string, Score> = {};
    const perItem: Record<string, Record<string, number>> = {};
    const chance: Record<string, number> = {};
    const headlineItems: Record<string, number[]> = {};
    const examples: ReportExample[] = [];
    for (const suite of input.suites) {
      if (input.opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'evaluation cancelled');
      const r = await runSuite(suite, { model, tokenizer: input.tokenizer, ctx: reward!, opts: input.opts, testExamples: input.testExamples, ...(input.chat ? { chat: input.chat } : {}) });
      if (!r.items) {
        input.log.warn(`evaluate: the test split has no ${suite} items; ${suite} is not scored`);
        progress(`${target.name}: ${suite} (no items)`);
        continue;
      }
      Object.assign(scores, r.scores);
      headline[suite] = r.headline;
      Object.assign(perItem, r.perItem);
      chance[suite] = r.chance;
      headlineItems[suite] = Object.values(r.perItem[HEADLINE_METRIC[suite]] ?? {});
      examples.push(...r.examples);
      for (const [k, s] of Object.entries(r.scores)) emitScore(input.events, suite, k.slice(suite.length + 1), target.name, s);
      input.events?.metric('eval/items_per_s', r.items / Math.max(r.seconds, 1e-9), { labels: { suite, model: target.name } });
      input.log.info(`evaluate: ${target.name} ${suite}: ${r.items} items in ${r.seconds.toFixed(1)} s`);
      progress(`${target.name}: ${suite}`);
    }
    let mmlu: Record<string, Score> | undefined;
    if (input.mmlu.length) {
      const r = await evaluateMmlu(model, input.tokenizer, input.mmlu, { shots: input.shots, resamples: input.opts.resamples, seed: input.opts.seed, maxItems: input.opts.maxItems, mcChunk: input.opts.mcChunk, ...(input.opts.signal ? { signal: input.opts.signal } : {}) });
      mmlu = r.scores;
      for (const [subject, s] of Object.entries(r.scores)) emitScore(input.events, 'mmlu', subject, target.name, s);
      input.events?.metric('eval/items_per_s', r.items / Math.max(r.seconds, 1e-9), { labels: { suite: 'mmlu', model: target.name } });
      progress(`${target.name}: mmlu`);
    }
    const balance = balanceWithError(headlineItems, chance, input.opts.resamples, input.opts.seed);
    out.push({ report: { name: target.name, scores, headline, balance: balance.balance, balanceStderr: balance.stderr, chance, perItem, ...(mmlu ? { mmlu } : {}) }, examples, seconds: (performance.now() - t0) / 1000 });
  }
  return out;
}

/** Throws E_INTERNAL with the schema errors when a report does not validate against schemas/report.schema.json. */
export function assertValidReport(report: unknown): asserts report is EvalReport {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(reportSchema);
  if (!validate(report)) throw new BbioError('E_INTERNAL', `report does not match schemas/report.schema.json: ${ajv.errorsText(validate.errors)}`);
}

/** Writes report.md then report.json (the completion marker) into `dir`, atomically. */
export async function writeReportFiles(dir: string, report: EvalReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, RUN_FILES.reportMd), renderReportMarkdown(report));
  await writeFileAtomic(path.join(dir, RUN_FILES.report), JSON.stringify(report, null, 2) + '\n');
}

/**
 * Suite options from the experiment's `eval` section. A `--steps-scale` below 1 (a smoke run) scales the
 * items per suite too, keeping at least 4, and caps generation at the GRPO completion budget, so a quick
 * run is quick end to end; a full run scores what the config says.
 */
export function suiteOptionsFrom(config: Experiment, seed: number, signal?: AbortSignal, stepsScale = 1): SuiteOptions {
  const smoke = stepsScale < 1;
  const maxItems = smoke ? Math.max(4, Math.round((config.eval.max_items || 100) * stepsScale)) : config.eval.max_items;
  const cap = smoke ? Math.min(DEFAULT_SUITE_OPTIONS.maxNewTokensCap, config.grpo.max_new_tokens) : DEFAULT_SUITE_OPTIONS.maxNewTokensCap;
  return { ...DEFAULT_SUITE_OPTIONS, resamples: config.eval.bootstrap, maxItems, maxNewTokensCap: cap, seed, ...(signal ? { signal } : {}) };
}

function readManifest(runDir: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.manifest), 'utf8')) as Record<string, unknown>;
  } catch {
    return {}; // a run without a manifest (tests, hand-made folders): the record says less
  }
}

export async function runEvaluate(ctx: StageContext, open: ComputeFactory = openCompute): Promise<StageResult> {
  const cfg = ctx.config;
  const t0 = performance.now();
  const baseDir = (await outputExists('base_model', ctx.paths.base_model)) ? ctx.paths.base_model : await baseModelDir(ctx);
  const testFile = path.join(ctx.paths.dataset, DATASET_FILES.test);
  const testExamples = readExamples(testFile);
  const ontology = await loadExperimentOntology(cfg, ctx.experimentFile);
  const reward: RewardContext = { lexicon: new TermLexicon(ontology), edges: new EdgeIndex(ontology) };
  const mmluFiles = cfg.eval.mmlu.map((p) => path.resolve(path.dirname(ctx.experimentFile), p));
  const mmlu = (await Promise.all(mmluFiles.map((f) => loadMmlu(f)))).flat();
  const tokenizer = await loadTokenizer(baseDir);
  const chat = await loadChatFormat(baseDir, tokenizer);
  const opts = suiteOptionsFrom(cfg, ctx.seed, ctx.signal, ctx.stepsScale);

  const compute = await open(cfg.model, { log: ctx.log, tokenizer });
  const backend = compute.describe();
  try {
    await compute.loadModel(baseDir);
    const targets = await loadEvaluationTargets(compute, { sft: ctx.paths.sft_adapter, grpo: ctx.paths.grpo_adapter });
    ctx.events.emit({ kind: 'phase', stage: 'evaluate', status: 'progress', step: 0, total: targets.length * (cfg.eval.suites.length + (mmlu.length ? 1 : 0)), message: `evaluating ${targets.map((t) => t.name).join(', ')} on ${cfg.eval.suites.join(', ')}${mmlu.length ? ' and MMLU' : ''}` });
    const evaluated = await evaluateModels({ compute, tokenizer, chat, targets, suites: cfg.eval.suites, testExamples, reward, mmlu, shots: cfg.eval.few_shot, opts, events: ctx.events, log: ctx.log });
    // benchmarks in their published formats: the first max_items documents of each set, few_shot examples
    const tasks = cfg.eval.tasks.length
      ? await evaluateTasks({
          compute, tokenizer, chat, targets, tasks: cfg.eval.tasks, dataDir: path.resolve(path.dirname(ctx.experimentFile), cfg.eval.benchmarks), events: ctx.events, log: ctx.log,
          opts: { ...DEFAULT_TASK_OPTIONS, shots: cfg.eval.few_shot, limit: opts.maxItems, resamples: opts.resamples, seed: opts.seed, mcChunk: opts.mcChunk, generateBatchRows: opts.generateBatchRows, ...(opts.signal ? { signal: opts.signal } : {}) },
        })
      : undefined;

    // reproducibility: content hashes of everything read, and the facts that decide the numbers
    const hashes: Record<string, string> = {};
    for (const f of Object.values(DATASET_FILES)) {
      const file = path.join(ctx.paths.dataset, f);
      if (fs.existsSync(file)) hashes[path.relative(ctx.runDir, file)] = await sha256File(file);
    }
    for (const f of await ontologyFiles(cfg, ctx.experimentFile)) if (fs.existsSync(f)) hashes[f] = await sha256File(f);
    for (const f of new Set([...(tasks?.values() ?? [])].flatMap((t) => t.files))) hashes[f] = await sha256File(f);
    for (const s of mmlu) {
      hashes[s.file] = await sha256File(s.file);
      const dev = s.file.replace(/_test\.csv$/, '_dev.csv');
      if (dev !== s.file && fs.existsSync(dev)) hashes[dev] = await sha256File(dev);
    }
    const manifest = readManifest(ctx.runDir);
    const report: EvalReport = {
      version: 1,
      runId: ctx.runId,
      createdAt: new Date().toISOString(),
      models: evaluated.map((e) => {
        const t = tasks?.get(e.report.name);
        return t ? { ...e.report, tasks: t.scores, perItem: { ...e.report.perItem, ...t.perItem } } : e.report;
      }),
      examples: [...evaluated.flatMap((e) => e.examples), ...[...(tasks?.values() ?? [])].flatMap((t) => t.examples)],
      reproducibility: {
        hashes,
        config: cfg,
        packages: packageVersions(),
        backend,
        seeds: { master: cfg.seed, evaluate: ctx.seed, bootstrap: ctx.seed, stages: (manifest.seeds as Record<string, unknown> | undefined)?.stages ?? null },
        experiment: { file: ctx.experimentFile, git: await gitState(ctx.experimentFile, { diff: true }), manifest: manifest.experiment ?? null },
        models: { base: path.relative(ctx.runDir, baseDir) || baseDir, adapters: Object.fromEntries(targets.filter((t) => t.adapters).map((t) => [t.name, t.adapters!.names])) },
        evaluation: { suites: cfg.eval.suites, tasks: cfg.eval.tasks, maxItems: opts.maxItems, bootstrap: opts.resamples, fewShot: cfg.eval.few_shot, mcChunk: opts.mcChunk, generateBatchRows: opts.generateBatchRows, maxNewTokensCap: opts.maxNewTokensCap, decoding: 'greedy' },
        platform: manifest.platform ?? null,
      },
    };
    assertValidReport(report);
    await writeReportFiles(ctx.paths.report, report);
    await writeReportFiles(ctx.runDir, report);
    ctx.events.emit({ kind: 'artifact', stage: 'evaluate', path: path.relative(ctx.runDir, path.join(ctx.paths.report, RUN_FILES.report)), type: 'report', description: `evaluation report: ${targets.map((t) => t.name).join(', ')}` });
    ctx.log.info(`evaluate: ${targets.length} model(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const final = evaluated[evaluated.length - 1]!.report;
    const summary: Record<string, number> = {};
    for (const c of CAPABILITIES) if (final.headline?.[c]) summary[c] = final.headline[c]!.value;
    if (final.balance !== null) summary.balance = final.balance;
    if (final.mmlu?.overall) summary.mmlu = final.mmlu.overall.value;
    summary.seconds = (performance.now() - t0) / 1000;
    return { summary };
  } finally {
    await compute.dispose();
  }
}

/** The stage with its backend factory (tests pass a fake one). */
export function createEvaluateStage(open: ComputeFactory = openCompute): StageDef {
  return { name: 'evaluate', title: 'Evaluate base, SFT and GRPO models per capability on held-out entities', run: (ctx) => runEvaluate(ctx, open) };
}

export const evaluateStage: StageDef = createEvaluateStage();
