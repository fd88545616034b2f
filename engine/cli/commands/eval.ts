/**
 * `balancedbio eval --model (CHECKPOINT_DIR | RUN_DIR | ORG/NAME) [--revision REV] [--mmlu (FOLDER | FILE.csv)] [--subjects a,b] [--shots 5]
 * [--max-items N] [--json]`: scores a Hugging Face checkpoint on MMLU-format files, or a run's base, SFT and
 * GRPO models on the capability suites of its test split (and on MMLU files when given). Prints accuracy,
 * bootstrap standard error and item count per subject and overall. Writes nothing into the run.
 * `--task NAME --data FILE_OR_DIR` scores a benchmark in its published format (eval-task.ts); `--task mmlu`
 * is the same as `--mmlu`.
 */
import * as fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Experiment } from '../../../schemas/generated/experiment';
import { openCompute } from '../../compute';
import { evaluateModels, loadEvaluationTargets, type EvaluatedModel } from '../../eval/evaluate-stage';
import { modelDirOf } from '../../config/paths';
import { resolveModelArg } from '../../model/hub';
import { loadTokenizer } from '../../model/resources';
import { loadChatFormat } from '../../model/chat-template';
import { loadMmlu, type MmluSubject } from '../../eval/mmlu';
import { fmtBalance, pct } from '../../eval/report';
import { DEFAULT_SUITE_OPTIONS, type SuiteOptions } from '../../eval/suites';
import type { ModelBackend } from '../../model/backend';
import { EdgeIndex, TermLexicon } from '../../verify/answers';
import { readRunState, RUN_FILES } from '../../run/store';
import { OUTPUT_PATHS } from '../../core/stage';
import { loadExperimentOntology } from '../../ontology/experiment';
import { DATASET_FILES, readExamples } from '../../core/dataset';
import { BbioError } from '../../util/errors';
import { createLogger } from '../../util/log';
import { EXIT, table, type CliIo } from '../io';
import { runTaskCommand } from './eval-task';

export interface EvalCommandOptions {
  /** A checkpoint or run folder, or a Hub id `ORG/NAME` when no such folder exists (see resolveModelArg); only `--task ifeval --responses` goes without. */
  model?: string;
  /** Hub revision for a Hub id (default main). */
  revision?: string;
  mmlu?: string;
  /** A benchmark of engine/eval/tasks (`mmlu` = --mmlu). */
  task?: string;
  /** The task's file or folder. */
  data?: string;
  /** IFEval: score these responses (the reference evaluator's JSONL) without a model. */
  responses?: string;
  /** Documents per task set (the first N); 0 = all. */
  limit?: number;
  /** Comma-separated subject names (file names without _test.csv). */
  subjects?: string;
  /** Few-shot examples from _dev.csv; default: the run's eval.few_shot, or 5 for a checkpoint. */
  shots?: number;
  /** Items per suite or subject; 0 = all. */
  maxItems?: number;
  backend?: ModelBackend;
  seed?: number;
  json: boolean;
}

function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILES.state));
}

async function readRunConfig(runDir: string): Promise<Experiment> {
  const file = path.join(runDir, RUN_FILES.experiment);
  try {
    return parseYaml(await readFile(file, 'utf8')) as Experiment;
  } catch (e) {
    throw new BbioError('E_RUN_CORRUPT', `cannot read the resolved experiment ${file}: ${(e as Error).message}`, { file }, 'the run folder was edited or damaged', { cause: e });
  }
}

function printModels(models: readonly EvaluatedModel[], io: CliIo): void {
  const metrics = [...new Set(models.flatMap((m) => Object.keys(m.report.scores)))].sort();
  if (metrics.length) {
    io.out('capability suites (test split; % ± bootstrap standard error)');
    const rows = [['metric', ...models.map((m) => m.report.name), 'n']];
    for (const k of metrics) rows.push([k, ...models.map((m) => pct(m.report.scores[k])), String(models.find((m) => m.report.scores[k])?.report.scores[k]?.n ?? '')]);
    rows.push(['balance (chance-corrected)', ...models.map((m) => fmtBalance(m.report)), '']);
    for (const l of table(rows)) io.out(l);
  }
  const withMmlu = models.filter((m) => m.report.mmlu && Object.keys(m.report.mmlu).length);
  if (withMmlu.length) {
    if (metrics.length) io.out('');
    const subjects = Object.keys(withMmlu[0]!.report.mmlu!).sort((a, b) => (a === 'overall' ? 1 : b === 'overall' ? -1 : a.localeCompare(b)));
    const rows = [['subject', ...withMmlu.flatMap((m) => [`${m.report.name} acc %`, 'stderr']), 'n']];
    for (const s of subjects) {
      const cells = withMmlu.flatMap((m) => {
        const sc = m.report.mmlu![s];
        return sc ? [(100 * sc.value).toFixed(1), sc.stderr === null ? '–' : (100 * sc.stderr).toFixed(1)] : ['–', '–'];
      });
      rows.push([s, ...cells, String(withMmlu[0]!.report.mmlu![s]?.n ?? '')]);
    }
    for (const l of table(rows)) io.out(l);
  }
}

/** The base model of a run: its base_model output, else the experiment's model.path or model.hub snapshot. */
async function runBaseDir(runDir: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const config = await readRunConfig(runDir);
  const state = await readRunState(runDir);
  const own = path.join(runDir, OUTPUT_PATHS.base_model);
  return fs.existsSync(path.join(own, 'config.json')) ? own : ((await modelDirOf(config, state.experimentFile, env)) ?? own);
}

export async function runEvalCommand(opts: EvalCommandOptions, io: CliIo): Promise<number> {
  if (opts.task !== undefined && opts.mmlu) throw new BbioError('E_USAGE', '--mmlu is --task mmlu --data PATH: give one of them', {});
  if (opts.task === 'mmlu') {
    if (!opts.data) throw new BbioError('E_USAGE', '--task mmlu needs --data FOLDER or FILE.csv', {});
    return runEvalCommand({ ...opts, task: undefined, data: undefined, mmlu: opts.data, ...(opts.limit ? { maxItems: opts.limit } : {}) }, io);
  }
  // a folder that exists wins; otherwise ORG/NAME is a Hub id, downloaded into the HF cache (progress is info-level)
  const resolveTarget = (model: string): Promise<string> =>
    resolveModelArg(model, io.cwd, { log: createLogger({ write: io.err }), ...(opts.revision ? { revision: opts.revision } : {}), ...(io.env ? { env: io.env } : {}) });
  if (opts.task !== undefined) return runTaskCommand({ ...opts, ...(opts.model ? { model: await resolveTarget(opts.model) } : {}), task: opts.task, runBaseDir: (dir) => runBaseDir(dir, io.env) }, io);
  if (!opts.model) throw new BbioError('E_USAGE', 'give --model (a checkpoint or run folder, or a Hub id ORG/NAME)', {});
  const target = await resolveTarget(opts.model);
  if (!fs.existsSync(target)) throw new BbioError('E_FILE_MISSING', `no such model or run folder: ${opts.model}`, { file: target }, 'give a Hugging Face checkpoint folder (config.json), a run folder, or a Hub id ORG/NAME');
  const log = createLogger({ write: io.err, level: 'warn' });
  const subjects = opts.subjects?.split(',').map((s) => s.trim()).filter(Boolean);
  const mmluFrom = async (paths: readonly string[]): Promise<MmluSubject[]> => (await Promise.all(paths.map((p) => loadMmlu(p, subjects?.length ? { subjects } : {})))).flat();
  const opt: SuiteOptions = { ...DEFAULT_SUITE_OPTIONS, seed: opts.seed ?? 0, maxItems: opts.maxItems ?? 0 };

  let evaluated: EvaluatedModel[];
  if (isRunDir(target)) {
    const config = await readRunConfig(target);
    const state = await readRunState(target);
    const experimentFile = state.experimentFile;
    const baseDir = await runBaseDir(target, io.env);
    const mmlu = await mmluFrom(opts.mmlu ? [path.resolve(io.cwd, opts.mmlu)] : config.eval.mmlu.map((p) => path.resolve(path.dirname(experimentFile), p)));
    const ontology = await loadExperimentOntology(config, experimentFile);
    const testExamples = readExamples(path.join(target, OUTPUT_PATHS.dataset, DATASET_FILES.test));
    const tokenizer = await loadTokenizer(baseDir);
    const chat = await loadChatFormat(baseDir, tokenizer);
    const compute = await openCompute({ backend: opts.backend ?? 'auto', workers: 1 }, { log, tokenizer });
    try {
      await compute.loadModel(baseDir);
      const targets = await loadEvaluationTargets(compute, { sft: path.join(target, OUTPUT_PATHS.sft_adapter), grpo: path.join(target, OUTPUT_PATHS.grpo_adapter) });
      evaluated = await evaluateModels({
        compute, tokenizer, chat, targets, suites: config.eval.suites, testExamples, mmlu, shots: opts.shots ?? config.eval.few_shot, log,
        reward: { lexicon: new TermLexicon(ontology), edges: new EdgeIndex(ontology) },
        opts: { ...opt, resamples: config.eval.bootstrap, maxItems: opts.maxItems ?? config.eval.max_items },
      });
    } finally {
      await compute.dispose();
    }
  } else {
    if (!fs.existsSync(path.join(target, 'config.json'))) throw new BbioError('E_CHECKPOINT', `${opts.model} is neither a run folder (state.json) nor a checkpoint (config.json)`, { file: target });
    if (!opts.mmlu) throw new BbioError('E_USAGE', 'a checkpoint is scored on MMLU-format files: give --mmlu FOLDER or FILE.csv', {}, 'or pass a run folder to score its capability suites');
    const mmlu = await mmluFrom([path.resolve(io.cwd, opts.mmlu)]);
    const tokenizer = await loadTokenizer(target);
    const compute = await openCompute({ backend: opts.backend ?? 'auto', workers: 1 }, { log, tokenizer });
    try {
      await compute.loadModel(target);
      evaluated = await evaluateModels({ compute, tokenizer, targets: [{ name: 'external' }], suites: [], testExamples: [], mmlu, shots: opts.shots ?? 5, opts: opt, log });
    } finally {
      await compute.dispose();
    }
  }
  if (opts.json) io.out(JSON.stringify({ model: target, models: evaluated.map((m) => ({ ...m.report, seconds: m.seconds })), examples: evaluated.flatMap((m) => m.examples) }, null, 2));
  else printModels(evaluated, io);
  return EXIT.ok;
}
