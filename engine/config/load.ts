/**
 * Experiment loading, shared by the CLI and the language server: parse YAML with source positions,
 * validate against schemas/experiment.schema.json, run semantic checks a schema cannot express, and
 * return every problem at once together with the fully resolved config (defaults applied).
 */
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ErrorObject } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';
import { withPresetDims } from './presets';
import { quoteExcerpt, type ErrorCode } from '../util/errors';
import { pointerToPath, SourceMap, type PathSegment, type Range1 } from './positions';
import { estimateMemory, formatBytes, type CheckpointConfig } from './memory-estimate';
import { isPathAllowed, modelDirOf, type PathPolicy } from './paths';
import type { Problem } from './problems';
import { byPosition, capProblems, hasErrors, MAX_PROBLEMS_PER_FILE, type OmittedProblems } from './problems';
import { createConfigValidator, schemaAt, type ConfigValidator, type SchemaNode } from './schema-validator';
import { checkSemantics } from './semantic';
import { didYouMean } from './suggest';

/** Experiment files are small; anything larger is a mistake (or an attack on the editor). */
export const MAX_EXPERIMENT_BYTES = 1024 * 1024;
/** yaml's own default is 100; an experiment file never needs more than a handful. */
const MAX_ALIAS_COUNT = 50;
/**
 * The schema's deepest value (a variant's override of a list of mappings) sits 6 levels down; 64 leaves
 * ample room and stays far below the ~700 levels at which the YAML parser overflows its stack.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * File checks (existence, paths inside the workspace) need to know where the experiment may reach, so a
 * caller either states the workspace policy or skips them explicitly.
 */
export type LoadOptions = {
  validator?: ConfigValidator;
  /** The memory the estimate is held against (default: this machine's, os.totalmem()). */
  machineMemoryBytes?: number;
} & ({ paths: PathPolicy; skipFileChecks?: false } | { skipFileChecks: true; paths?: PathPolicy });

export interface LoadResult {
  /** Present when there are no error-severity problems. */
  config?: Experiment;
  /**
   * The resolved config whenever the file is schema-valid apart from a missing `name`, even if a semantic
   * rule failed: editor features (hover, lenses, memory estimate) still work on it.
   */
  resolved?: Experiment;
  /** The raw parsed object, when the YAML parsed (even if invalid), for editor features. */
  raw?: unknown;
  problems: Problem[];
  sourceMap?: SourceMap;
}

export async function loadExperiment(file: string, options: LoadOptions): Promise<LoadResult> {
  const abs = path.resolve(file);
  let size: number;
  try {
    const s = await stat(abs);
    // /dev/zero reports size 0 and never ends; a FIFO blocks until someone writes to it
    if (!s.isFile()) return { problems: [fileProblem(abs, 'E_FILE_NOT_REGULAR', `${abs} is not a regular file (${s.isDirectory() ? 'a folder' : 'a device, FIFO or socket'})`, 'give the path of a *.bbio.yaml file')] };
    size = s.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problems: [fileProblem(abs, 'E_FILE_MISSING', code === 'ENOENT' ? `experiment file not found: ${abs}` : `cannot read ${abs}: ${code ?? String(e)}`, 'check the path')] };
  }
  if (size > MAX_EXPERIMENT_BYTES) return { problems: [tooLarge(abs, size)] };
  const text = await readFile(abs, 'utf8');
  return parseExperiment(text, abs, options);
}

export async function parseExperiment(text: string, file: string, options: LoadOptions): Promise<LoadResult> {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_EXPERIMENT_BYTES) return { problems: [tooLarge(file, bytes)] };
  const lines = new LineCounter();
  // uniqueKeys: false because yaml checks each key against every earlier one (O(n²): 10,000 keys took
  // 0.6 s); duplicateKeyProblems does the same check with one Set per mapping.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, strict: true });
  const sourceMap = new SourceMap(doc, lines, text.length);
  const syntax = [...yamlProblems(doc, sourceMap, file), ...duplicateKeyProblems(doc, sourceMap, file)];
  if (syntax.length) return { problems: capProblems(syntax), sourceMap };
  if (nestingDepth(doc.contents as Node | null) > MAX_NESTING_DEPTH) return { problems: [tooDeep(file, sourceMap.documentStart())], sourceMap };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const r = sourceMap.documentStart();
    return {
      sourceMap,
      problems: [{ file, ...r, code: 'E_YAML_ALIAS', severity: 'error', message: `YAML aliases expand too much: ${(e as Error).message}`, hint: 'write the values out instead of using many nested aliases (*ref)' }],
    };
  }
  if (raw === null || raw === undefined) {
    return { raw, sourceMap, problems: [{ file, ...sourceMap.documentStart(), code: 'E_SCHEMA_REQUIRED', severity: 'error', message: 'the experiment file is empty', hint: 'start with `name: my-experiment`, or run "BalancedBio: New Experiment"' }] };
  }

  const validator = options.validator ?? createConfigValidator();
  const errors = validator.errors(raw);
  const { problems, omitted } = schemaProblems(errors, sourceMap, file);
  // Semantic rules need a schema-valid config. When the file has schema errors, run them on a copy with
  // the invalid parts removed, so the user still sees every problem at once.
  const input = (errors.length ? pruneInvalid(raw, errors) : raw) as ExperimentInput;
  if (errors.length && validator.errors(input).length) return { raw, problems: capProblems(problems, { omitted }), sourceMap };
  const config = validator.resolveDefaults(withPresetDims(input));
  config.grpo.epsilon_high ??= config.grpo.clip_epsilon;
  problems.push(...(await checkSemantics({ input, config, file, sourceMap, checkFiles: !options.skipFileChecks, ...(options.paths ? { paths: options.paths } : {}) })));
  if (!hasErrors(problems)) problems.push(...(await memoryProblems(config, file, sourceMap, options)));
  const capped = capProblems(problems, { omitted });
  const resolved = errors.every(isMissingName) ? { resolved: config } : {};
  return { raw, problems: capped, sourceMap, ...resolved, ...(hasErrors(capped) ? {} : { config }) };
}

function isMissingName(err: ErrorObject): boolean {
  return err.keyword === 'required' && err.instancePath === '' && (err.params as { missingProperty?: string }).missingProperty === 'name';
}

/**
 * A run whose estimated peak memory exceeds the machine's would be killed part-way (or swap for hours),
 * so it is an error before it starts. A checkpoint's config.json is read only when file checks run and
 * it lies where the experiment may reach; without it the estimate uses the preset dimensions.
 */
async function memoryProblems(config: Experiment, file: string, map: SourceMap, options: LoadOptions): Promise<Problem[]> {
  let ckpt: CheckpointConfig | undefined;
  if (config.model.path || config.model.hub) {
    if (options.skipFileChecks || !options.paths) return [];
    // a Hub model not yet in the cache is estimated once the run has downloaded it
    const dir = await modelDirOf(config, file, options.paths.env);
    if (!dir) return [];
    const json = path.join(dir, 'config.json');
    if (!(await isPathAllowed(json, options.paths))) return [];
    try {
      ckpt = JSON.parse(await readFile(json, 'utf8')) as CheckpointConfig;
    } catch (e) {
      if (e instanceof SyntaxError || (e as NodeJS.ErrnoException).code) return []; // missing or invalid: the file checks report it
      throw e;
    }
  }
  const machine = options.machineMemoryBytes ?? os.totalmem();
  const est = estimateMemory(config, ckpt);
  if (est.totalBytes <= machine) return [];
  const at: PathSegment[] = map.hasPath(['grpo']) && est.parts.kvCache + est.parts.activations > est.parts.weights ? ['grpo'] : map.hasPath(['model']) ? ['model'] : [];
  return [{
    file, ...(at.length ? map.keyRange(at) : map.documentStart()), code: 'E_MEMORY', severity: 'error',
    message: `estimated peak memory ${formatBytes(est.totalBytes)} exceeds this machine's ${formatBytes(machine)}`,
    hint: 'lower grpo.group_size, prompts_per_step or max_new_tokens, the batch sizes, model.dims.context_length or the model size',
  }];
}

/**
 * A copy of `raw` without the values ajv rejected: unknown keys are dropped, a bad value is removed so
 * its default applies, and a bad list item removes the whole list. A missing `name` gets a stand-in so the rules can run.
 */
function pruneInvalid(raw: unknown, errors: ErrorObject[]): unknown {
  const copy = structuredClone(raw) as Record<string, unknown>;
  if (!copy || typeof copy !== 'object' || Array.isArray(copy)) return copy;
  for (const err of errors) {
    let at = pointerToPath(err.instancePath);
    if (err.keyword === 'additionalProperties') at = [...at, String((err.params as { additionalProperty: string }).additionalProperty)];
    const firstIndex = at.findIndex((s) => typeof s === 'number');
    if (firstIndex >= 0) at = at.slice(0, firstIndex);
    if (err.keyword === 'required' && at.length === 0) continue;
    deleteAt(copy, at);
  }
  if (typeof copy.name !== 'string') copy.name = 'unnamed';
  return copy;
}

function deleteAt(root: Record<string, unknown>, at: readonly PathSegment[]): void {
  if (at.length === 0) return;
  let node: unknown = root;
  for (const seg of at.slice(0, -1)) {
    if (!node || typeof node !== 'object') return;
    node = (node as Record<string, unknown>)[String(seg)];
  }
  if (node && typeof node === 'object') delete (node as Record<string, unknown>)[String(at[at.length - 1])];
}

function tooLarge(file: string, bytes: number): Problem {
  return {
    file, line: 1, column: 1, endLine: 1, endColumn: 1, code: 'E_FILE_TOO_LARGE', severity: 'error',
    message: `experiment file is ${(bytes / 1048576).toFixed(1)} MiB; the limit is ${MAX_EXPERIMENT_BYTES / 1048576} MiB`,
    hint: 'an experiment file holds settings only: put data in JSONL/OBO/CSV files and reference them by path',
  };
}

function fileProblem(file: string, code: ErrorCode, message: string, hint?: string): Problem {
  return { file, line: 1, column: 1, endLine: 1, endColumn: 1, code, severity: 'error', message, ...(hint ? { hint } : {}) };
}

/** How deep collections nest, walked with an explicit stack (recursion is what overflows on hostile input). */
function nestingDepth(root: Node | null): number {
  let max = 0;
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    max = Math.max(max, depth + 1);
    for (const item of node.items) stack.push({ node: isMap(node) ? (item as { value: unknown }).value : item, depth: depth + 1 });
  }
  return max;
}

function tooDeep(file: string, at: Range1): Problem {
  return { file, ...at, code: 'E_YAML_SYNTAX', severity: 'error', message: `the file nests too deeply: more than ${MAX_NESTING_DEPTH} levels of mappings and lists`, hint: `an experiment file needs a handful of levels; the limit is ${MAX_NESTING_DEPTH}` };
}

/** The YAML parser reports its own stack overflow as a syntax error; it means absurd nesting, not bad indentation. */
function isStackOverflow(message: string): boolean {
  return /maximum call stack size exceeded/i.test(message);
}

function yamlProblems(doc: Document.Parsed, map: SourceMap, file: string): Problem[] {
  if (doc.errors.some((e) => isStackOverflow(e.message))) return [tooDeep(file, map.documentStart())];
  return doc.errors.map((err) => {
    const [start, end] = err.pos;
    const message = err.message.split('\n')[0] ?? err.message;
    return {
      file, ...map.rangeOf(start, Math.max(end, start + 1)), code: 'E_YAML_SYNTAX' as const, severity: 'error' as const,
      message: `YAML syntax: ${message}`,
      hint: err.code === 'DUPLICATE_KEY' ? DUPLICATE_KEY_HINT : 'check indentation and quoting on this line',
    };
  });
}

const DUPLICATE_KEY_HINT = 'each key may appear once in a mapping';

/**
 * A key that repeats an earlier scalar key of the same mapping (what yaml's `uniqueKeys` reports, with its
 * equality: same scalar value, so `1` and `"1"` differ), in linear time.
 */
function duplicateKeyProblems(doc: Document.Parsed, map: SourceMap, file: string): Problem[] {
  const out: Problem[] = [];
  visit(doc, {
    Map(_, node) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        if (!seen.has(pair.key.value)) {
          seen.add(pair.key.value);
          continue;
        }
        const r = (pair.key as Node).range;
        const at = r ? map.rangeOf(r[0], Math.max(r[1], r[0] + 1)) : map.documentStart();
        out.push({ file, ...at, code: 'E_YAML_SYNTAX', severity: 'error', message: `YAML syntax: Map keys must be unique; \`${String(pair.key.value)}\` appears more than once`, hint: DUPLICATE_KEY_HINT });
      }
    },
  });
  return out;
}

/** Schema keywords → our closed error codes. */
const KEYWORD_CODES: Record<string, ErrorCode> = {
  additionalProperties: 'E_SCHEMA_UNKNOWN_KEY',
  enum: 'E_SCHEMA_ENUM',
  const: 'E_SCHEMA_ENUM',
  type: 'E_SCHEMA_TYPE',
  required: 'E_SCHEMA_REQUIRED',
  minimum: 'E_SCHEMA_RANGE',
  maximum: 'E_SCHEMA_RANGE',
  exclusiveMinimum: 'E_SCHEMA_RANGE',
  exclusiveMaximum: 'E_SCHEMA_RANGE',
  minLength: 'E_SCHEMA_RANGE',
  maxLength: 'E_SCHEMA_RANGE',
  minItems: 'E_SCHEMA_RANGE',
  maxItems: 'E_SCHEMA_RANGE',
  uniqueItems: 'E_SCHEMA_RANGE',
  pattern: 'E_SCHEMA_RANGE',
};

/** Keywords that only summarise errors reported in more detail elsewhere. */
const SUMMARY_KEYWORDS = new Set(['if', 'oneOf', 'anyOf']);

/**
 * One problem per distinct schema error, at most MAX_PROBLEMS_PER_FILE of them (the first in source order)
 * plus a count of the rest. Every error is located (O(depth) each) so the first ones can be picked, but only
 * those kept get a message and a did-you-mean: building them for 20,000 unknown keys took seconds.
 */
function schemaProblems(errors: ErrorObject[], map: SourceMap, file: string): { problems: Problem[]; omitted: OmittedProblems } {
  const seen = new Set<string>();
  const located: { err: ErrorObject; at: PathSegment[]; range: Range1 }[] = [];
  for (const err of errors) {
    if (SUMMARY_KEYWORDS.has(err.keyword)) continue;
    const at = pointerToPath(err.instancePath);
    const range = schemaProblemRange(err, at, map);
    const key = `${range.line}:${range.column}:${err.keyword}:${err.instancePath}:${JSON.stringify(err.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    located.push({ err, at, range });
  }
  located.sort((a, b) => byPosition(a.range, b.range));
  const kept = located.slice(0, MAX_PROBLEMS_PER_FILE);
  const rest = located.slice(MAX_PROBLEMS_PER_FILE);
  return {
    problems: kept.map(({ err, at, range }) => schemaProblem(err, at, range, file)),
    // every schema problem is an error
    omitted: { count: rest.length, errors: rest.length > 0, first: rest[0]?.range ?? map.documentStart() },
  };
}

function schemaProblemRange(err: ErrorObject, at: PathSegment[], map: SourceMap): Range1 {
  switch (err.keyword) {
    case 'additionalProperties':
      return map.keyRange([...at, String((err.params as { additionalProperty: unknown }).additionalProperty)]);
    case 'required':
      return at.length ? map.keyRange(at) : map.documentStart();
    default:
      return map.valueRange(at);
  }
}

function describePath(path: readonly PathSegment[]): string {
  return path.length ? path.map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.').replace(/\.\[/g, '[') : 'the document';
}

function schemaProblem(err: ErrorObject, at: readonly PathSegment[], range: Range1, file: string): Problem {
  const code = KEYWORD_CODES[err.keyword] ?? 'E_SCHEMA';
  const where = describePath(at);
  const base = { file, code, severity: 'error' as const, ...range };
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((err.parentSchema as SchemaNode | undefined)?.properties ?? {});
      const guess = didYouMean(key, allowed);
      return {
        ...base,
        message: `unknown key \`${key}\` in ${where}`,
        hint: guess ? `did you mean \`${guess}\`?` : `allowed keys: ${allowed.join(', ')}`,
        ...(guess ? { replacement: guess } : {}),
      };
    }
    case 'enum': {
      const allowed = ((err.schema as unknown[]) ?? []).map(String);
      const value = String(err.data);
      const guess = didYouMean(value, allowed);
      return {
        ...base,
        message: `${where} must be one of ${allowed.map((a) => `\`${a}\``).join(', ')}; got \`${value}\``,
        hint: guess ? `did you mean \`${guess}\`?` : describeField(at),
        ...(guess ? { replacement: guess } : {}),
      };
    }
    case 'required': {
      const missing = String(params.missingProperty);
      return { ...base, message: `${where} is missing the required key \`${missing}\``, hint: describeField([...at, missing]) };
    }
    case 'type':
      return { ...base, message: `${where} must be ${String(params.type)}; got ${jsonType(err.data)}`, hint: describeField(at) };
    case 'maximum':
      return { ...base, message: `${where} must be at most ${Number(params.limit).toLocaleString('en-US')}; got ${jsonType(err.data)}`, hint: beyondMaximum(at) };
    default:
      return { ...base, message: `${where} ${err.message ?? 'is invalid'}`, hint: describeField(at) };
  }
}

/**
 * The schema's maxima on counts are guards against typos (`steps: 1e30` is an integer to JSON Schema) and
 * against runs no machine finishes, not limits of the method; the hint says how to go further anyway.
 */
function beyondMaximum(at: readonly PathSegment[]): string {
  const key = String(at[at.length - 1] ?? '');
  if (key === 'steps') return 'the limit guards against typos such as 1e30; to train longer, keep this value and scale the run: `balancedbio run FILE --steps-scale N` (or the balancedbio.runs.stepsScale setting)';
  return 'the limit guards against typos such as 1e30 and runs no machine finishes; if you truly need more, open an issue to raise it';
}

function describeField(path: readonly PathSegment[]): string | undefined {
  const node = schemaAt(path);
  if (!node) return undefined;
  const dflt = node.default !== undefined && typeof node.default !== 'object' ? ` (default ${JSON.stringify(node.default)})` : '';
  return node.description ? `${node.description}${dflt}` : undefined;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${quoteExcerpt(v)}`;
  return `${typeof v} ${String(v)}`;
}
