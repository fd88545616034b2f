/**
 * Benchmarks in their published formats, keyed by the schema's `eval.tasks` enum and `balancedbio eval
 * --task`. Each multiple-choice task is one or more McSets scored by log-likelihood (multiple-choice.ts);
 * IFEval generates (or reads given responses) and runs the instruction checkers. Every score is
 * `<set>/<metric>` with its bootstrap standard error (stats.score), so reports show them beside the
 * capability suites. `--limit N` keeps the first N documents of each set, as the harness's --limit does.
 *
 * Groups: `multimedqa` (Singhal et al. 2023, Med-PaLM; the harness's lm_eval/tasks/benchmarks/multimedqa)
 * = pubmedqa, medmcqa, medqa_4options and the MMLU subjects anatomy, clinical knowledge, college biology,
 * college medicine, medical genetics and professional medicine, each reported on its own; `multimedqa/acc`
 * is the mean acc over all their documents, which is the harness's group aggregate with weight_by_size
 * (harness versions whose group file declares no aggregate report the members only).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { builtinChatFormat, type ChatFormat } from '../../core/chat';
import { loadMmlu, LETTERS, type McItem, type MmluSubject } from '../mmlu';
import { score, type Score } from '../stats';
import { chatEncoding, type EvalModel, type EvalTokenizer, type ReportExample } from '../suites';
import { BbioError } from '../../util/errors';
import { ifevalVectors, judgeResponse } from '../../verify/ifeval/evaluate';
import { loadIfevalInput, loadIfevalResponses, responsesFor } from './ifeval';
import { parseMedmcqa } from './medmcqa';
import { parseMedqa } from './medqa';
import { scoreMcSet, type McDoc, type McSet } from './multiple-choice';
import { parsePubmedqa } from './pubmedqa';
import { readText } from './records';

export const TASK_NAMES = ['mmlu', 'medqa', 'medmcqa', 'pubmedqa', 'multimedqa', 'ifeval'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export function isTaskName(s: string): s is TaskName {
  return (TASK_NAMES as readonly string[]).includes(s);
}

export interface TaskOptions {
  shots: number;
  /** Documents per set; 0 = all. */
  limit: number;
  resamples: number;
  seed: number;
  mcChunk: number;
  generateBatchRows: number;
  /** IFEval generation budget (the harness: 1280). */
  maxNewTokens: number;
  examples: number;
  signal?: AbortSignal;
}

export const DEFAULT_TASK_OPTIONS: Omit<TaskOptions, 'seed'> = { shots: 0, limit: 0, resamples: 1000, mcChunk: 8, generateBatchRows: 8, maxNewTokens: 1280, examples: 3 };

export interface TaskInput {
  /** Absent only for IFEval with given responses. */
  model?: EvalModel;
  tokenizer?: EvalTokenizer;
  /** The model's chat format, in which IFEval prompts are given (default: the built-in one). */
  chat?: ChatFormat;
  /** The benchmark file or a folder holding it (resolved). */
  data: string;
  /** IFEval: the reference evaluator's response file; scores it without a model. */
  responses?: string;
  opts: TaskOptions;
}

export interface TaskResult {
  task: TaskName;
  /** `<set>/<metric>` → score. */
  scores: Record<string, Score>;
  /** `<set>/<metric>` → item id → that item's score, so two runs are compared item by item (paired bootstrap). */
  perItem: Record<string, Record<string, number>>;
  examples: ReportExample[];
  items: number;
  /** Every file read, for the report's content hashes. */
  files: string[];
  seconds: number;
}

/** File-name beginnings that identify a task's file inside a --data folder. */
const FILE_NAMES: Record<'medqa' | 'medmcqa' | 'pubmedqa' | 'ifeval', string[]> = {
  medqa: ['medqa'],
  medmcqa: ['medmcqa'],
  pubmedqa: ['pubmedqa', 'ori_pqal', 'pqa_labeled'],
  ifeval: ['ifeval', 'input_data'],
};

/** The task's file: `data` itself, or the one .json/.jsonl file in the folder whose name starts as expected. */
export async function resolveTaskFile(task: keyof typeof FILE_NAMES, data: string): Promise<string> {
  let isDir: boolean;
  try {
    isDir = (await stat(data)).isDirectory();
  } catch (e) {
    throw new BbioError('E_FILE_MISSING', `${task} data not found: ${data}`, { file: data }, 'give the benchmark file, or a folder holding it, with --data (eval.tasks paths are relative to the experiment file)', { cause: e });
  }
  if (!isDir) return data;
  const names = FILE_NAMES[task];
  const found = (await readdir(data)).filter((f) => /\.jsonl?$/i.test(f) && names.some((n) => f.toLowerCase().startsWith(n))).sort();
  const pick = found.length > 1 ? found.filter((f) => /test/i.test(f)) : found;
  if (pick.length !== 1) {
    throw new BbioError('E_FILE_MISSING', `${found.length ? `several ${task} files` : `no ${task} file`} in ${data}${found.length ? `: ${found.join(', ')}` : ''}`, { file: data }, `name the file with --data, or keep one .json/.jsonl file whose name starts with ${names.join(' or ')} in the folder`);
  }
  return path.join(data, pick[0]!);
}

const MC_PARSERS: Record<'medqa' | 'medmcqa' | 'pubmedqa', (text: string, file: string) => McDoc[]> = { medqa: parseMedqa, medmcqa: parseMedmcqa, pubmedqa: parsePubmedqa };

/** A single-file task as one set named after the task. */
async function loadMcFileSet(task: 'medqa' | 'medmcqa' | 'pubmedqa', data: string): Promise<McSet> {
  const file = await resolveTaskFile(task, data);
  return { name: task, file, description: '', docs: MC_PARSERS[task](await readText(file, `${task} file`), file) };
}

function mmluDoc(item: McItem): McDoc {
  return { text: `${item.question}\n${item.options.map((o, i) => `${LETTERS[i]}. ${o}`).join('\n')}\nAnswer:`, choices: LETTERS, gold: LETTERS.indexOf(item.answer) };
}

/** An MMLU subject as a set (the prompt is mmluPrompt's, byte for byte; few-shot from _dev.csv in order). */
export function mmluSet(s: MmluSubject): McSet {
  return { name: `mmlu_${s.subject}`, file: s.file, description: `The following are multiple choice questions (with answers) about ${s.subject.replace(/_/g, ' ')}.\n\n`, docs: s.items.map(mmluDoc), fewshot: s.dev.map(mmluDoc) };
}

export const MULTIMEDQA_MMLU = ['anatomy', 'clinical_knowledge', 'college_biology', 'college_medicine', 'medical_genetics', 'professional_medicine'] as const;

async function mmluFolder(data: string): Promise<string> {
  const sub = path.join(data, 'mmlu');
  return stat(sub).then((s) => (s.isDirectory() ? sub : data), () => data);
}

const MC_SETS: Record<'mmlu' | 'medqa' | 'medmcqa' | 'pubmedqa' | 'multimedqa', (data: string) => Promise<McSet[]>> = {
  mmlu: async (data) => (await loadMmlu(await mmluFolder(data))).map(mmluSet),
  medqa: async (data) => [await loadMcFileSet('medqa', data)],
  medmcqa: async (data) => [await loadMcFileSet('medmcqa', data)],
  pubmedqa: async (data) => [await loadMcFileSet('pubmedqa', data)],
  multimedqa: async (data) => {
    const subjects = await loadMmlu(await mmluFolder(data), { subjects: MULTIMEDQA_MMLU });
    const missing = MULTIMEDQA_MMLU.filter((m) => !subjects.some((s) => s.subject === m));
    if (missing.length) throw new BbioError('E_FILE_MISSING', `multimedqa needs the MMLU subjects ${missing.join(', ')} in ${data} (or its mmlu/ folder)`, { file: data }, 'add <subject>_test.csv for each of the six MMLU medical subjects');
    const files = await Promise.all((['pubmedqa', 'medmcqa', 'medqa'] as const).map((t) => loadMcFileSet(t, data)));
    return [...files, ...subjects.map(mmluSet)];
  },
};

/** Sets of a multiple-choice task, each cut to the first `limit` documents. */
export async function loadMcTask(task: keyof typeof MC_SETS, data: string, limit: number): Promise<McSet[]> {
  const sets = await MC_SETS[task](data);
  return sets.map((s) => ({ ...s, docs: limit > 0 ? s.docs.slice(0, limit) : s.docs }));
}

/** Which metrics each set reports (the harness task's metric_list). */
function reportsAccNorm(set: McSet): boolean {
  return set.name === 'medqa' || set.name === 'medmcqa';
}

async function runMcTask(task: keyof typeof MC_SETS, input: TaskInput): Promise<Omit<TaskResult, 'seconds'>> {
  const { model, tokenizer, opts } = input;
  if (!model || !tokenizer) throw new BbioError('E_USAGE', `${task} is scored by log-likelihood: it needs a model`, {}, 'give --model');
  const sets = await loadMcTask(task, input.data, opts.limit);
  const scores: Record<string, Score> = {};
  const perItem: Record<string, Record<string, number>> = {};
  const pooled: number[] = [];
  const pooledItems: Record<string, number> = {};
  const examples: ReportExample[] = [];
  for (const set of sets) {
    const r = await scoreMcSet(model, tokenizer, set, { shots: opts.shots, seed: opts.seed, chunk: opts.mcChunk, examples: opts.examples, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (!r.acc.length) continue;
    // an item is its document's position in its set's file (the first `limit` documents are scored)
    const ids = r.acc.map((_, i) => `${set.name}:${i}`);
    scores[`${set.name}/acc`] = score(r.acc, opts.resamples, opts.seed);
    perItem[`${set.name}/acc`] = byItem(ids, r.acc);
    if (reportsAccNorm(set)) {
      scores[`${set.name}/acc_norm`] = score(r.accNorm, opts.resamples, opts.seed);
      perItem[`${set.name}/acc_norm`] = byItem(ids, r.accNorm);
    }
    pooled.push(...r.acc);
    Object.assign(pooledItems, byItem(ids, r.acc));
    examples.push(...r.examples);
  }
  if (sets.length > 1 && pooled.length) {
    scores[`${task}/acc`] = score(pooled, opts.resamples, opts.seed);
    perItem[`${task}/acc`] = pooledItems;
  }
  return { task, scores, perItem, examples, items: pooled.length, files: sets.map((s) => s.file) };
}

async function generateResponses(model: EvalModel, tok: EvalTokenizer, chat: ChatFormat, prompts: readonly string[], opts: TaskOptions): Promise<string[]> {
  const encoding = chatEncoding(tok, chat);
  const completions = await model.compute.generate({
    prompts: prompts.map((p) => tok.encode(chat.prompt(p), encoding)),
    n: 1, temperature: 0, topP: 1, maxNewTokens: opts.maxNewTokens, batchRows: opts.generateBatchRows,
    stop: chat.stop,
    ...(chat.stopIds.length ? { stopIds: chat.stopIds } : {}),
    ...(model.adapters ? { adapters: model.adapters } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return completions.map(([c]) => c!.text);
}

async function runIfeval(input: TaskInput): Promise<Omit<TaskResult, 'seconds'>> {
  const { opts } = input;
  const file = await resolveTaskFile('ifeval', input.data);
  const all = await loadIfevalInput(file);
  const prompts = opts.limit > 0 ? all.slice(0, opts.limit) : all;
  let responses: string[];
  if (input.responses) responses = responsesFor(prompts, await loadIfevalResponses(input.responses), input.responses);
  else if (input.model && input.tokenizer) responses = await generateResponses(input.model, input.tokenizer, input.chat ?? builtinChatFormat(input.tokenizer), prompts.map((p) => p.prompt), opts);
  else throw new BbioError('E_USAGE', 'ifeval needs a model to answer the prompts, or --responses FILE', {}, 'give --model, or the reference evaluator\'s response JSONL with --responses');
  const judged = prompts.map((p, i) => judgeResponse(p, responses[i]!));
  const v = ifevalVectors(judged);
  const scores = Object.fromEntries(Object.entries(v).map(([k, xs]) => [`ifeval/${k}`, score(xs, opts.resamples, opts.seed)]));
  // items: a prompt's key for the prompt-level metrics, `<key>#<k>` for its k-th instruction (as report.schema.json says)
  const promptIds = prompts.map((p) => String(p.key));
  const instIds = prompts.flatMap((p) => p.instructionIds.map((_, k) => `${p.key}#${k}`));
  const perItem = Object.fromEntries(Object.entries(v).map(([k, xs]) => [`ifeval/${k}`, byItem(k.startsWith('prompt_') ? promptIds : instIds, xs)]));
  const name = input.model?.name ?? 'external';
  const examples = prompts.slice(0, opts.examples).map((p, i) => ({ suite: 'ifeval', model: name, prompt: p.prompt, gold: p.instructionIds.join(', '), output: responses[i]!.slice(0, 1000), correct: judged[i]!.strict.every(Boolean) }));
  return { task: 'ifeval', scores, perItem, examples, items: prompts.length, files: [file, ...(input.responses ? [input.responses] : [])] };
}

function byItem(ids: readonly string[], xs: readonly number[]): Record<string, number> {
  return Object.fromEntries(ids.map((id, i) => [id, xs[i]!]));
}

/** Loads and scores one task, timed. */
export async function runTask(task: TaskName, input: TaskInput): Promise<TaskResult> {
  const t0 = performance.now();
  const r = task === 'ifeval' ? await runIfeval(input) : await runMcTask(task, input);
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}
