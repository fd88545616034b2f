/**
 * Real data next to MKGSG's synthetic data: JSONL files in common medical-QA shapes, mapped to a
 * capability by the experiment's `data:` section, read into `SynthExample` records so pretraining, SFT,
 * GRPO rewards and evaluation treat them like synthetic ones. Formats (one JSON object a line):
 *
 *   mcqa         {"question", "options": ["…"] | {"A": "…", …}, "answer": 0 | "B" | "<option text>"}
 *                or MedQA's {"question", "options": {…}, "answer_idx": "B", "answer": "<option text>"}
 *   qa           {"question", "answer", "rationale"?, "accept"?: ["…"]}
 *   instruction  {"instruction", "response", "constraints"?: [{"kind": "max_words", "n": 50}, …]}
 *
 * Records carry no ontology provenance: `entities`, `edges` and `answerIds` are empty and `central` is a
 * hash of the question (so duplicates and train/test overlap can be found). The first record that does not
 * fit stops the load with `file:line` and what was expected.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import type { Capability } from '../core/stage';
import { CAPABILITIES } from '../core/stage';
import type { DatasetCard, SynthResult } from './index';
import { checkAll, CONSTRAINT_KINDS, type Constraint, type ConstraintKind, type ConstraintOf } from '../verify/constraints';
import { formatChat } from '../core/chat';
import type { McOption, Split, SynthExample } from '../core/example';
import { SPLITS } from '../core/example';
import { BbioError, quoteExcerpt } from '../util/errors';
import { sha256 } from '../util/provenance';

export type DataConfig = Experiment['data'];
export type DataFileSpec = DataConfig['train'][number];
export type DataFormat = DataFileSpec['format'];

export interface LoadedDataFile {
  spec: DataFileSpec;
  split: Split;
  /** Absolute path. */
  file: string;
  sha256: string;
  records: SynthExample[];
}

/** Why a record does not fit: what was found and what was expected (the caller adds file:line). */
class RecordProblem extends Error {}

type Json = Record<string, unknown>;

const LABELS: readonly McOption['label'][] = ['A', 'B', 'C', 'D'];

/** A valid record of each format, shown in the hint of every record error. */
export const FORMAT_EXAMPLES: Record<DataFormat, string> = {
  mcqa: '{"question": "Which drug…?", "options": {"A": "…", "B": "…", "C": "…", "D": "…"}, "answer_idx": "B"}',
  qa: '{"question": "What is the first-line treatment for…?", "answer": "metformin"}',
  instruction: '{"instruction": "Explain … in at most 50 words.", "response": "…", "constraints": [{"kind": "max_words", "n": 50}]}',
};

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.trim() ? `the string ${quoteExcerpt(v)}` : 'an empty string';
  return `${typeof v} ${String(v)}`;
}

function text(rec: Json, key: string): string {
  const v = rec[key];
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string' || !v.trim()) throw new RecordProblem(`"${key}" must be a non-empty string; got ${describe(v)}`);
  return v.trim();
}

/** Hash of the question: the record's `central` entity stand-in (split unit, duplicate detection). */
export function questionHash(question: string): string {
  return `q:${sha256(question.replace(/\s+/g, ' ').trim().toLowerCase()).slice(0, 16)}`;
}

interface RecordContext {
  capability: Capability;
  split: Split;
  /** Stable id prefix: file stem and line. */
  id: string;
  format: DataFormat;
}

function example(ctx: RecordContext, question: string, fields: Pick<SynthExample, 'prompt' | 'response' | 'answer'> & Partial<SynthExample>): SynthExample {
  return {
    ...fields,
    id: ctx.id,
    capability: ctx.capability,
    text: formatChat(fields.prompt, fields.response),
    provenance: { entities: [], edges: [], central: questionHash(question), answerIds: [] },
    template: `real/${ctx.format}`,
    split: ctx.split,
  };
}

function mcOptions(raw: unknown): McOption[] {
  let pairs: [string, unknown][];
  if (Array.isArray(raw)) {
    pairs = raw.map((t, i) => [LABELS[i] ?? String.fromCharCode(65 + i), t]);
  } else if (raw && typeof raw === 'object') {
    pairs = Object.entries(raw as Json).map(([k, t]) => [k.trim().toUpperCase(), t]);
    const labels = pairs.map(([k]) => k);
    const expected = LABELS.slice(0, labels.length);
    if (labels.join() !== expected.join()) throw new RecordProblem(`"options" keys must be ${expected.join(', ')} in order; got ${labels.join(', ')}`);
  } else {
    throw new RecordProblem(`"options" must be a list of option texts or a map {"A": …, "B": …}; got ${describe(raw)}`);
  }
  if (pairs.length < 2 || pairs.length > LABELS.length) throw new RecordProblem(`"options" must have 2 to 4 options (labels A–D); got ${pairs.length}`);
  return pairs.map(([label, t]) => {
    if (typeof t !== 'string' && typeof t !== 'number') throw new RecordProblem(`option ${label} must be a string; got ${describe(t)}`);
    if (!String(t).trim()) throw new RecordProblem(`option ${label} is empty`);
    return { label: label as McOption['label'], text: String(t).trim(), id: '' };
  });
}

function mcAnswer(rec: Json, options: McOption[]): McOption {
  const byLabel = (l: string): McOption | undefined => options.find((o) => o.label === l.trim().toUpperCase());
  const labels = options.map((o) => o.label).join(', ');
  if (rec.answer_idx !== undefined) {
    const idx = rec.answer_idx;
    const found = typeof idx === 'string' ? byLabel(idx) : undefined;
    if (!found) throw new RecordProblem(`"answer_idx" must be one of the option letters ${labels}; got ${describe(idx)}`);
    const a = typeof rec.answer === 'string' ? rec.answer.trim() : undefined;
    if (a && a.toUpperCase() !== found.label && a.toLowerCase() !== found.text.toLowerCase()) {
      throw new RecordProblem(`"answer" ${describe(rec.answer)} is not the text of option ${found.label} ("${found.text}") named by "answer_idx"`);
    }
    return found;
  }
  const a = rec.answer;
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0 || a >= options.length) throw new RecordProblem(`"answer" as a number is a 0-based option index, 0 to ${options.length - 1}; got ${a}`);
    return options[a]!;
  }
  if (typeof a === 'string' && a.trim()) {
    const found = (a.trim().length === 1 ? byLabel(a) : undefined) ?? options.find((o) => o.text.toLowerCase() === a.trim().toLowerCase());
    if (found) return found;
    throw new RecordProblem(`"answer" must be an option letter (${labels}), a 0-based index or an option's text; got ${describe(a)}`);
  }
  throw new RecordProblem(`the answer is missing: give "answer" (0-based index, letter ${labels} or option text) or "answer_idx" (letter); got ${describe(a)}`);
}

type FieldType = 'count' | 'text' | 'texts' | 'flag';
/** The fields of every constraint kind (checked complete against engine/verify/constraints.ts by the type). */
const CONSTRAINT_FIELDS: { [K in ConstraintKind]: Record<Exclude<keyof ConstraintOf<K>, 'kind'>, FieldType> } = {
  bullet_count: { n: 'count' },
  numbered_steps: { n: 'count' },
  required_keywords: { words: 'texts' },
  forbidden_words: { words: 'texts' },
  json_keys: { keys: 'texts', exact: 'flag' },
  max_words: { n: 'count' },
  min_words: { n: 'count' },
  ends_with: { phrase: 'text' },
  starts_with: { phrase: 'text' },
  no_commas: {},
  lowercase: {},
  uppercase_words_max: { n: 'count' },
  sections: { n: 'count', marker: 'text' },
  ordered_sections: { headings: 'texts' },
  final_answer_line: { prefix: 'text' },
  title: {},
};

const FIELD_OK: Record<FieldType, { test(v: unknown): boolean; what: string }> = {
  count: { test: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0, what: 'a non-negative integer' },
  text: { test: (v) => typeof v === 'string' && v.trim() !== '', what: 'a non-empty string' },
  texts: { test: (v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.trim() !== ''), what: 'a non-empty list of strings' },
  flag: { test: (v) => typeof v === 'boolean', what: 'true or false' },
};

export function parseConstraint(raw: unknown, n: number): Constraint {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordProblem(`constraint ${n} must be an object such as {"kind": "max_words", "n": 50}; got ${describe(raw)}`);
  const c = raw as Json;
  const kind = c.kind;
  if (typeof kind !== 'string' || !(CONSTRAINT_KINDS as readonly string[]).includes(kind)) {
    throw new RecordProblem(`constraint ${n} has an unknown "kind" ${describe(kind)}; kinds: ${CONSTRAINT_KINDS.join(', ')}`);
  }
  const fields = CONSTRAINT_FIELDS[kind as ConstraintKind] as Record<string, FieldType>;
  for (const [field, type] of Object.entries(fields)) {
    if (!FIELD_OK[type].test(c[field])) throw new RecordProblem(`constraint ${n} (${kind}) needs "${field}": ${FIELD_OK[type].what}; got ${describe(c[field])}`);
  }
  const extra = Object.keys(c).filter((k) => k !== 'kind' && !(k in fields));
  if (extra.length) throw new RecordProblem(`constraint ${n} (${kind}) has unexpected field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; it takes ${Object.keys(fields).map((k) => `"${k}"`).join(', ') || 'no fields'}`);
  return c as unknown as Constraint;
}

/** One record of one format → an example; throws RecordProblem when it does not fit. */
const PARSERS: Record<DataFormat, (rec: Json, ctx: RecordContext) => SynthExample> = {
  mcqa(rec, ctx) {
    const question = text(rec, 'question');
    const options = mcOptions(rec.options);
    const gold = mcAnswer(rec, options);
    const prompt = `${question}\n${options.map((o) => `${o.label}. ${o.text}`).join('\n')}`;
    // the reference response begins the way MKGSG's do, so log-likelihood scoring reads it the same way
    return example(ctx, question, { prompt, response: `Answer: ${gold.label}. ${gold.text}`, answer: gold.text, accept: [gold.text], options, answerLabel: gold.label });
  },
  qa(rec, ctx) {
    const question = text(rec, 'question');
    const answer = text(rec, 'answer');
    const rationale = rec.rationale === undefined ? '' : text(rec, 'rationale');
    const accept = rec.accept;
    if (accept !== undefined && (!Array.isArray(accept) || !accept.every((a) => typeof a === 'string' && a.trim()))) throw new RecordProblem(`"accept" must be a list of strings; got ${describe(accept)}`);
    const response = `${rationale ? `${rationale}\n` : ''}Answer: ${answer}`;
    return example(ctx, question, { prompt: question, response, answer, accept: [...new Set([answer, ...((accept as string[] | undefined) ?? []).map((a) => a.trim())])] });
  },
  instruction(rec, ctx) {
    const instruction = text(rec, 'instruction');
    const response = text(rec, 'response');
    const raw = rec.constraints ?? [];
    if (!Array.isArray(raw)) throw new RecordProblem(`"constraints" must be a list of constraint objects; got ${describe(raw)}`);
    const constraints = raw.map((c, i) => parseConstraint(c, i + 1));
    const failed = checkAll(response, constraints).strict.findIndex((ok) => !ok);
    if (failed >= 0) throw new RecordProblem(`"response" does not satisfy constraint ${failed + 1} (${constraints[failed]!.kind}): a reference response must follow its own constraints`);
    return example(ctx, instruction, { prompt: instruction, response, answer: response, ...(constraints.length ? { constraints } : {}) });
  },
};

export interface LoadDataFileOptions {
  spec: DataFileSpec;
  split: Split;
  /** Folder relative paths resolve against (the experiment file's). */
  baseDir: string;
}

export async function loadDataFile(opts: LoadDataFileOptions): Promise<LoadedDataFile> {
  const { spec, split } = opts;
  const file = path.resolve(opts.baseDir, spec.path);
  let body: string;
  try {
    body = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_FILE_MISSING' : 'E_IO', `${split} data file ${code === 'ENOENT' ? 'not found' : `unreadable (${code ?? String(e)})`}: ${spec.path}`, { file }, 'data paths are relative to the experiment file', { cause: e });
  }
  const stem = path.basename(file).replace(/\.jsonl?$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const records: SynthExample[] = [];
  const lines = body.split('\n');
  const fail = (line: number, message: string): never => {
    throw new BbioError('E_DATA_RECORD', `record on line ${line} of ${spec.path} does not fit format \`${spec.format}\`: ${message}`, { file, line, column: 1 }, `one JSON object a line, e.g. ${FORMAT_EXAMPLES[spec.format]}`);
  };
  for (let i = 0; i < lines.length; i++) {
    if (spec.max_records > 0 && records.length >= spec.max_records) break;
    const line = lines[i]!.trim();
    if (!line) continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      // JSON.parse's own message quotes the line raw; say what is there in a short escaped excerpt instead
      fail(i + 1, `not valid JSON: the line starts ${quoteExcerpt(line)}`);
    }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) fail(i + 1, `expected a JSON object; got ${describe(rec)}`);
    try {
      records.push(PARSERS[spec.format](rec as Json, { capability: spec.capability, split, format: spec.format, id: `real-${stem}-${i + 1}` }));
    } catch (e) {
      if (e instanceof RecordProblem) fail(i + 1, e.message);
      throw e;
    }
  }
  if (!records.length) throw new BbioError('E_DATA_RECORD', `${split} data file ${spec.path} has no records`, { file, line: 1, column: 1 }, `one JSON object a line, e.g. ${FORMAT_EXAMPLES[spec.format]}`);
  return { spec, split, file, sha256: sha256(body), records };
}

/** The files each split takes from `data:` under its mode and test source. */
export function dataFilesInUse(data: DataConfig): Record<Split, DataFileSpec[]> {
  const training = data.mode === 'synthetic' ? [] : null;
  return {
    train: training ?? data.train,
    val: training ?? data.val,
    test: data.test_source === 'synthetic' ? [] : data.test,
  };
}

export async function loadUserData(data: DataConfig, experimentFile: string): Promise<LoadedDataFile[]> {
  const use = dataFilesInUse(data);
  const baseDir = path.dirname(experimentFile);
  const out: LoadedDataFile[] = [];
  for (const split of SPLITS) for (const spec of use[split]) out.push(await loadDataFile({ spec, split, baseDir }));
  return out;
}

/** What the dataset card says about user data (an addition to MKGSG's card; its other fields keep their meaning). */
export interface UserDataCard {
  mode: DataConfig['mode'];
  testSource: DataConfig['test_source'];
  files: { path: string; split: Split; format: DataFormat; capability: Capability; records: number; sha256: string }[];
  /** Records per split that came from files. */
  records: Record<Split, number>;
  /** Questions of the test files that also occur in the training files. */
  trainTestOverlap: number;
}

export type CombinedCard = DatasetCard & { data: UserDataCard };

/**
 * MKGSG's splits combined with the user's records: `real` keeps only the files' train/val records,
 * `mixed` appends them; the test split follows `test_source` in every mode. Counts and totals of the
 * card are recomputed for the splits as written.
 */
export function combineWithUserData(synth: SynthResult, data: DataConfig, files: readonly LoadedDataFile[]): SynthResult & { card: CombinedCard } {
  const from = (split: Split): SynthExample[] => files.filter((f) => f.split === split).flatMap((f) => f.records);
  const keepSynthTraining = data.mode !== 'real';
  const keepSynthTest = data.test_source !== 'files';
  const train = [...(keepSynthTraining ? synth.train : []), ...from('train')];
  const val = [...(keepSynthTraining ? synth.val : []), ...from('val')];
  const test = [...(keepSynthTest ? synth.test : []), ...from('test')];
  const counts = Object.fromEntries(CAPABILITIES.map((c) => [c, { train: 0, val: 0, test: 0, total: 0 }])) as DatasetCard['counts'];
  const totals = { train: 0, val: 0, test: 0, total: 0 };
  for (const [split, list] of [['train', train], ['val', val], ['test', test]] as const) {
    for (const e of list) {
      counts[e.capability][split]++;
      counts[e.capability].total++;
      totals[split]++;
      totals.total++;
    }
  }
  const trainQuestions = new Set([...from('train'), ...from('val')].map((e) => e.provenance.central));
  const card: CombinedCard = {
    ...synth.card,
    note: files.length ? `${synth.card.note} Also holds ${files.reduce((n, f) => n + f.records.length, 0)} records from user files (data.mode: ${data.mode}); see \`data\`.` : synth.card.note,
    counts,
    totals,
    data: {
      mode: data.mode,
      testSource: data.test_source,
      files: files.map((f) => ({ path: f.spec.path, split: f.split, format: f.spec.format, capability: f.spec.capability, records: f.records.length, sha256: f.sha256 })),
      records: { train: from('train').length, val: from('val').length, test: from('test').length },
      trainTestOverlap: from('test').filter((e) => trainQuestions.has(e.provenance.central)).length,
    },
  };
  return { train, val, test, card };
}
