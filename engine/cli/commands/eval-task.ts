/**
 * `balancedbio eval --task NAME --data FILE_OR_DIR [--model M] [--shots K] [--limit N] [--responses FILE] [--json]`:
 * scores a checkpoint, or each model of a run (base, +SFT, +GRPO), on a benchmark in its published format
 * (engine/eval/tasks/registry.ts). IFEval with `--responses` scores the given responses without a model, like
 * the reference evaluator. Prints each `<set>/<metric>` with its bootstrap standard error and item count.
 */
import * as fs from 'node:fs';
import path from 'node:path';
import { openCompute } from '../../compute';
import { loadEvaluationTargets } from '../../eval/evaluate-stage';
import { pct } from '../../eval/report';
import type { ModelName } from '../../eval/suites';
import { DEFAULT_TASK_OPTIONS, isTaskName, runTask, TASK_NAMES, type TaskName, type TaskOptions, type TaskResult } from '../../eval/tasks/registry';
import { loadTokenizer } from '../../model/resources';
import { loadChatFormat } from '../../model/chat-template';
import type { ModelBackend } from '../../model/backend';
import { OUTPUT_PATHS } from '../../core/stage';
import { RUN_FILES } from '../../run/store';
import { BbioError } from '../../util/errors';
import { createLogger } from '../../util/log';
import { EXIT, table, type CliIo } from '../io';

export interface TaskCommandOptions {
  model?: string;
  task: string;
  data?: string;
  responses?: string;
  shots?: number;
  limit?: number;
  backend?: ModelBackend;
  seed?: number;
  json: boolean;
  /** The run's base model folder, when --model is a run folder (eval.ts knows how to find it). */
  runBaseDir?: (runDir: string) => Promise<string>;
}

export function parseTaskName(task: string): TaskName {
  if (!isTaskName(task)) throw new BbioError('E_USAGE', `unknown task "${task}"`, {}, `tasks: ${TASK_NAMES.join(', ')}`);
  return task;
}

interface ModelTasks {
  name: ModelName;
  result: TaskResult;
}

function print(rows: readonly ModelTasks[], io: CliIo): void {
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.result.scores)))];
  const header = ['metric', ...rows.map((r) => `${r.name} % ± se`), 'n'];
  const body = metrics.map((k) => [k, ...rows.map((r) => pct(r.result.scores[k])), String(rows.find((r) => r.result.scores[k])?.result.scores[k]?.n ?? '')]);
  for (const l of table([header, ...body])) io.out(l);
}

export async function runTaskCommand(opts: TaskCommandOptions, io: CliIo): Promise<number> {
  const task = parseTaskName(opts.task);
  if (!opts.data) throw new BbioError('E_USAGE', `--task ${task} needs --data FILE_OR_DIR`, {}, 'give the benchmark file, or a folder holding it');
  if (opts.responses && task !== 'ifeval') throw new BbioError('E_USAGE', '--responses scores given IFEval responses: it goes with --task ifeval', {});
  const taskOpts: TaskOptions = { ...DEFAULT_TASK_OPTIONS, seed: opts.seed ?? 0, shots: opts.shots ?? 0, limit: opts.limit ?? 0 };
  const data = path.resolve(io.cwd, opts.data);
  const responses = opts.responses ? path.resolve(io.cwd, opts.responses) : undefined;
  let rows: ModelTasks[];
  if (responses) {
    if (opts.model) throw new BbioError('E_USAGE', '--responses scores given responses: leave out --model', {}, 'or drop --responses to let the model answer');
    rows = [{ name: 'external', result: await runTask(task, { data, responses, opts: taskOpts }) }];
  } else {
    if (!opts.model) throw new BbioError('E_USAGE', `--task ${task} needs --model${task === 'ifeval' ? ' (or --responses FILE)' : ''}`, {});
    const target = path.resolve(io.cwd, opts.model);
    const isRun = fs.existsSync(path.join(target, RUN_FILES.state));
    if (!isRun && !fs.existsSync(path.join(target, 'config.json'))) throw new BbioError('E_CHECKPOINT', `${opts.model} is neither a run folder (state.json) nor a checkpoint (config.json)`, { file: target });
    const baseDir = isRun ? await (opts.runBaseDir?.(target) ?? Promise.resolve(path.join(target, OUTPUT_PATHS.base_model))) : target;
    const log = createLogger({ write: io.err, level: 'warn' });
    const tokenizer = await loadTokenizer(baseDir);
    const chat = await loadChatFormat(baseDir, tokenizer);
    const compute = await openCompute({ backend: opts.backend ?? 'auto', workers: 1 }, { log, tokenizer });
    try {
      await compute.loadModel(baseDir);
      const targets = isRun ? await loadEvaluationTargets(compute, { sft: path.join(target, OUTPUT_PATHS.sft_adapter), grpo: path.join(target, OUTPUT_PATHS.grpo_adapter) }) : [{ name: 'external' as const }];
      rows = [];
      for (const t of targets) {
        const model = { name: t.name, compute, ...('adapters' in t && t.adapters ? { adapters: t.adapters.slot } : {}) };
        rows.push({ name: t.name, result: await runTask(task, { model, tokenizer, chat, data, opts: taskOpts }) });
      }
    } finally {
      await compute.dispose();
    }
  }
  if (opts.json) io.out(JSON.stringify({ task, data, models: rows.map((r) => ({ name: r.name, tasks: r.result.scores, items: r.result.items, seconds: r.result.seconds })), examples: rows.flatMap((r) => r.result.examples) }, null, 2));
  else print(rows, io);
  return EXIT.ok;
}
