/**
 * Diagnostics of an experiment document: the shared loader's problems (YAML syntax, schema, semantic
 * rules, file checks — all asynchronous), plus what needs the server's state: unknown ontology terms with
 * a did-you-mean from the shared index, a GPU backend that cannot load here, a memory estimate near this
 * machine's limit, and a custom reward module that does not export `reward`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DiagnosticSeverity, type CancellationToken, type Diagnostic } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { formatBytes } from '../../engine/config/memory-estimate';
import { isPathAllowed } from '../../engine/config/paths';
import type { PathSegment, Range1, SourceMap } from '../../engine/config/positions';
import type { Analysis } from '../analysis';
import { MEMORY_WARNING_FRACTION, throwIfCancelled, type FeatureContext } from './context';
import { memoryEstimateOf } from './memory';

/** A problem found by the server itself; codes beyond the engine's are `E_MEMORY` only. */
interface Finding extends Range1 {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
  replacement?: string;
}

export interface DiagnosticData {
  /** Text a quick fix puts over the diagnostic's range. */
  replacement?: string;
}

export const DIAGNOSTIC_SOURCE = 'balancedbio';

export async function computeDiagnostics(doc: TextDocument, ctx: FeatureContext, token: CancellationToken): Promise<Diagnostic[]> {
  const analysis = await ctx.analyzer.analyze(doc);
  throwIfCancelled(token);
  const findings: Finding[] = [...analysis.result.problems];
  const map = (): SourceMap | undefined => ctx.analyzer.sourceMap(doc, analysis);
  const extra = await Promise.all([ontologyFindings(analysis, doc, ctx), backendFindings(analysis, map, ctx), memoryFindings(analysis, map, ctx), rewardModuleFindings(analysis, map)]);
  throwIfCancelled(token);
  for (const f of extra) findings.push(...f);
  findings.sort((a, b) => a.line - b.line || a.column - b.column);
  return findings.map(toDiagnostic);
}

function toDiagnostic(f: Finding): Diagnostic {
  return {
    range: { start: { line: f.line - 1, character: f.column - 1 }, end: { line: f.endLine - 1, character: f.endColumn - 1 } },
    severity: f.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: f.code,
    source: DIAGNOSTIC_SOURCE,
    message: f.hint ? `${f.message}\n${f.hint}` : f.message,
    ...(f.replacement !== undefined ? { data: { replacement: f.replacement } satisfies DiagnosticData } : {}),
  };
}

function rawAt(raw: unknown, path: readonly PathSegment[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[String(seg)];
  }
  return v;
}

/** Term-valued fields: lists of ontology names, synonyms or ids. */
export const TERM_FIELDS: readonly (readonly string[])[] = [['synthesis', 'focus_terms']];

export function isTermField(path: readonly PathSegment[]): boolean {
  return TERM_FIELDS.some((f) => path.length === f.length + 1 && typeof path[f.length] === 'number' && f.every((s, i) => path[i] === s));
}

async function ontologyFindings(a: Analysis, doc: TextDocument, ctx: FeatureContext): Promise<Finding[]> {
  if (a.result.raw === undefined) return [];
  const out: Finding[] = [];
  for (const field of TERM_FIELDS) {
    const list = rawAt(a.result.raw, field);
    if (!Array.isArray(list)) continue;
    const items = list.map((t, i) => ({ t, i })).filter((x): x is { t: string; i: number } => typeof x.t === 'string' && x.t.trim() !== '');
    if (!items.length) continue;
    // the document's own ontology files must be in the index, or a valid term would look unknown
    const loaded = ctx.ontology.status.sources;
    if ((await ontologyFilesOf(a)).some((f) => !loaded.includes(f))) continue;
    const resolved = await ctx.ontology.resolve(items.map((x) => x.t));
    if (!resolved) continue; // index still loading: re-validated when it is ready
    const map = ctx.analyzer.sourceMap(doc, a);
    if (!map) continue;
    resolved.forEach((r, k) => {
      if (r.known) return;
      const at = [...field, items[k]!.i];
      const range = map.valueRange(at);
      const s = r.suggestion;
      const label = s ? (s.matchedKind === 'id' ? s.name : s.matched) : undefined;
      const source = doc.getText({ start: { line: range.line - 1, character: range.column - 1 }, end: { line: range.endLine - 1, character: range.endColumn - 1 } });
      out.push({
        ...range,
        code: 'E_ONTOLOGY_TERM_UNKNOWN',
        severity: 'error',
        message: `unknown ontology term \`${r.term}\``,
        hint: s ? `did you mean \`${label}\`${label !== s.name ? ` (${s.name}, ${s.id})` : ` (${s.id})`}?` : `not found in ${ctx.ontology.status.sources.map((p) => path.basename(p)).join(', ') || 'the loaded ontologies'}`,
        ...(label ? { replacement: requote(label, source) } : {}),
      });
    });
  }
  return out;
}

/** Absolute paths of the OBO files an experiment names in `ontology.sources` (read from the raw file, so
 * a document with unrelated schema errors still gets its ontology loaded); files outside the workspace are
 * left out, so the ontology worker never reads them. */
export async function ontologyFilesOf(a: Analysis): Promise<string[]> {
  const sources = rawAt(a.result.raw, ['ontology', 'sources']);
  if (!Array.isArray(sources)) return [];
  const files = sources.flatMap((s: unknown) => {
    const p = rawAt(s, ['path']);
    return typeof p === 'string' && p.trim() ? [path.resolve(path.dirname(a.file), p)] : [];
  });
  const allowed = await Promise.all(files.map((f) => isPathAllowed(f, a.paths)));
  return files.filter((_, i) => allowed[i]);
}

/** Writes `text` as a YAML scalar in the quoting style of `original`. */
export function requote(text: string, original: string): string {
  if (original.startsWith('"')) return JSON.stringify(text);
  if (original.startsWith("'")) return `'${text.replace(/'/g, "''")}'`;
  return needsQuotes(text) ? JSON.stringify(text) : text;
}

export function needsQuotes(text: string): boolean {
  return /^[\s\-?:,[\]{}#&*!|>'"%@`]|: |\s#|[,[\]{}]|\s$|^$/.test(text) || /^(true|false|null|yes|no|on|off|~|[-+]?[\d.]+(e[-+]?\d+)?)$/i.test(text);
}

async function backendFindings(a: Analysis, sourceMap: () => SourceMap | undefined, ctx: FeatureContext): Promise<Finding[]> {
  if (rawAt(a.result.raw, ['model', 'backend']) !== 'gpu') return [];
  const gpu = await ctx.ontology.probeGpu();
  const map = gpu.available ? undefined : sourceMap();
  if (!map) return [];
  return [{
    ...map.valueRange(['model', 'backend']),
    code: 'E_BACKEND',
    severity: 'warning',
    message: `backend \`gpu\` cannot load here: ${gpu.message}`,
    hint: 'install it where CUDA 11.2 + cuDNN 8.1 are available, or use backend: auto (CUDA → native → wasm → cpu)',
  }];
}

async function memoryFindings(a: Analysis, sourceMap: () => SourceMap | undefined, ctx: FeatureContext): Promise<Finding[]> {
  const est = await memoryEstimateOf(a, ctx);
  // above 100% the loader itself reports an E_MEMORY error; the server warns on the way there
  const map = est && est.fraction >= MEMORY_WARNING_FRACTION && est.fraction <= 1 ? sourceMap() : undefined;
  if (!est || !map) return [];
  const at: PathSegment[] = map.hasPath(['grpo']) && est.parts.kvCache + est.parts.activations > est.parts.weights ? ['grpo'] : map.hasPath(['model']) ? ['model'] : [];
  return [{
    ...(at.length ? map.keyRange(at) : map.documentStart()),
    code: 'E_MEMORY',
    severity: 'warning',
    message: `estimated peak memory ${formatBytes(est.totalBytes)} is ${Math.round(est.fraction * 100)}% of this machine's ${formatBytes(est.machineBytes)}`,
    hint: 'lower grpo.group_size, prompts_per_step or max_new_tokens, the batch sizes, or the model size',
  }];
}

const EXPORTS_REWARD = /export\s+(async\s+)?function\s*\*?\s*reward\b|export\s+(const|let|var)\s+reward\b|exports\.reward\s*=|module\.exports\s*=|export\s*\{[^}]*\breward\b[^}]*\}|export\s+default\b/;

/** A custom reward module must export `reward`: checked by reading its text, never by running it. */
async function rewardModuleFindings(a: Analysis, sourceMap: () => SourceMap | undefined): Promise<Finding[]> {
  const rewards = rawAt(a.result.raw, ['grpo', 'rewards']);
  if (!Array.isArray(rewards)) return [];
  const out: Finding[] = [];
  await Promise.all(rewards.map(async (r: unknown, i) => {
    const mod = rawAt(r, ['module']);
    if (typeof mod !== 'string' || !mod) return;
    const abs = path.resolve(path.dirname(a.file), mod);
    if (!(await isPathAllowed(abs, a.paths))) return; // the loader reports E_PATH_OUTSIDE; never read
    let text: string;
    try {
      text = await readFile(abs, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code) return; // missing files are the loader's E_FILE_MISSING
      throw e;
    }
    const map = EXPORTS_REWARD.test(text) ? undefined : sourceMap();
    if (map) {
      out.push({ ...map.valueRange(['grpo', 'rewards', i, 'module']), code: 'E_CONFLICT', severity: 'error', message: `reward module ${mod} does not export a \`reward\` function`, hint: 'export function reward(example, completion) { return 0..1 } (or module.exports = { reward })' });
    }
  }));
  return out;
}
