/**
 * The evaluate stage's part for `eval.tasks`: every target model (base, +SFT, +GRPO) scored on every task,
 * its files found in `eval.benchmarks`, each score emitted as `eval/score` (label suite = the task set) so
 * the dashboard and exports see it like a suite's.
 */
import type { Compute } from '../../compute/types';
import type { ChatFormat } from '../../core/chat';
import type { EventSink } from '../../core/stage';
import type { Logger } from '../../util/log';
import type { Score } from '../stats';
import type { EvalTokenizer, ModelName, ReportExample } from '../suites';
import { runTask, type TaskName, type TaskOptions } from './registry';

export interface TaskTarget {
  name: ModelName;
  /** Adapter slot of the backend (absent: the base model). */
  adapters?: { slot: string };
}

export interface TaskScores {
  /** `<set>/<metric>` → score, over all tasks. */
  scores: Record<string, Score>;
  /** `<set>/<metric>` → item id → score, over all tasks. */
  perItem: Record<string, Record<string, number>>;
  examples: ReportExample[];
  /** Every benchmark file read. */
  files: string[];
}

export interface EvaluateTasksInput {
  compute: Compute;
  tokenizer: EvalTokenizer;
  /** The base model's chat format (default: the built-in one). */
  chat?: ChatFormat;
  targets: readonly TaskTarget[];
  tasks: readonly TaskName[];
  /** The resolved eval.benchmarks folder. */
  dataDir: string;
  opts: TaskOptions;
  events?: EventSink;
  log: Logger;
}

export async function evaluateTasks(input: EvaluateTasksInput): Promise<Map<ModelName, TaskScores>> {
  const out = new Map<ModelName, TaskScores>();
  for (const target of input.targets) {
    const model = { name: target.name, compute: input.compute, ...(target.adapters ? { adapters: target.adapters.slot } : {}) };
    const acc: TaskScores = { scores: {}, perItem: {}, examples: [], files: [] };
    for (const task of input.tasks) {
      const r = await runTask(task, { model, tokenizer: input.tokenizer, ...(input.chat ? { chat: input.chat } : {}), data: input.dataDir, opts: input.opts });
      Object.assign(acc.scores, r.scores);
      Object.assign(acc.perItem, r.perItem);
      acc.examples.push(...r.examples);
      acc.files.push(...r.files.filter((f) => !acc.files.includes(f)));
      for (const [k, s] of Object.entries(r.scores)) {
        const slash = k.lastIndexOf('/');
        const labels = { suite: k.slice(0, slash), metric: k.slice(slash + 1), model: target.name };
        input.events?.metric('eval/score', s.value, { labels });
        if (s.stderr !== null) input.events?.metric('eval/stderr', s.stderr, { labels });
      }
      input.events?.metric('eval/items_per_s', r.items / Math.max(r.seconds, 1e-9), { labels: { suite: task, model: target.name } });
      input.log.info(`evaluate: ${target.name} ${task}: ${r.items} items in ${r.seconds.toFixed(1)} s`);
    }
    out.set(target.name, acc);
  }
  return out;
}
