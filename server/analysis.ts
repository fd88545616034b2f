/**
 * One analysis per document version, shared by every feature: the shared config loader's result (YAML
 * with positions, schema and semantic problems, resolved config) and the YAML syntax tree for
 * position lookups. Computed once per version and dropped when the document closes.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { MAX_EXPERIMENT_BYTES, parseExperiment, type LoadResult } from '../engine/config/load';
import { SourceMap } from '../engine/config/positions';
import type { CheckpointConfig } from '../engine/config/memory-estimate';
import { isPathAllowed, modelDirOf, type PathPolicy } from '../engine/config/paths';
import type { ConfigValidator } from '../engine/config/schema-validator';
import { LSPErrorCodes, ResponseError } from 'vscode-languageserver';
import type { Experiment } from '../schemas/generated/experiment';
import { ANALYSIS_BUDGET_MS, AnalysisWorker, LARGE_DOCUMENT_BYTES, timeoutProblem } from './analysis-worker';
import { uriToPath } from './paths';

export interface Analysis {
  uri: string;
  version: number;
  file: string;
  /** Where the experiment may reach; files outside it are reported, never read. */
  paths: PathPolicy;
  result: LoadResult;
  /** The resolved config: the loader's when valid, else its resolution of a schema-valid raw object. */
  config?: Experiment;
}

export interface SyntaxTree {
  doc: Document.Parsed;
  lines: LineCounter;
}

/** Text too large to analyze (the loader refuses it; editor features stay off). */
export function isTooLarge(text: string): boolean {
  return text.length > MAX_EXPERIMENT_BYTES;
}

export interface AnalyzerOptions {
  /** The server bundle, run as the analysis worker for large documents; without it every load runs here. */
  workerScript?: string;
  budgetMs?: number;
  log?(message: string): void;
}

export class DocumentAnalyzer {
  private readonly analyses = new Map<string, { version: number; promise: Promise<Analysis>; abort: AbortController }>();
  private readonly maps = new Map<string, { version: number; map: SourceMap | undefined }>();
  private readonly worker: AnalysisWorker | undefined;
  private readonly trees = new Map<string, { version: number; tree: SyntaxTree | undefined }>();
  private readonly checkpoints = new Map<string, { key: string; value: CheckpointConfig | undefined }>();

  constructor(
    private readonly validator: ConfigValidator,
    private readonly pathPolicy: (file: string) => PathPolicy,
    opts: AnalyzerOptions = {},
  ) {
    const { workerScript } = opts;
    this.worker = workerScript ? new AnalysisWorker({ workerScript, budgetMs: opts.budgetMs ?? ANALYSIS_BUDGET_MS, log: (m) => opts.log?.(m) }) : undefined;
  }

  /** Starts the analysis worker now, so the first large document does not wait for it. */
  start(): void {
    this.worker?.start();
  }

  dispose(): void {
    for (const a of this.analyses.values()) a.abort.abort();
    this.worker?.dispose();
  }

  /** The analysis of this version; a newer version cancels the older one's worker, if it has one. */
  analyze(doc: TextDocument): Promise<Analysis> {
    const hit = this.analyses.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.promise;
    hit?.abort.abort();
    const abort = new AbortController();
    const promise = this.compute(doc, abort.signal);
    this.analyses.set(doc.uri, { version: doc.version, promise, abort });
    return promise;
  }

  /**
   * The analysis' source map: the loader's, or for a document loaded in a worker one built here from the
   * syntax tree, on the first feature that needs a position (most large documents never do).
   */
  sourceMap(doc: TextDocument, analysis: Analysis): SourceMap | undefined {
    if (analysis.result.sourceMap) return analysis.result.sourceMap;
    if (analysis.result.raw === undefined || analysis.version !== doc.version) return undefined;
    const hit = this.maps.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.map;
    const tree = this.tree(doc);
    const map = tree ? new SourceMap(tree.doc, tree.lines, doc.getText().length) : undefined;
    this.maps.set(doc.uri, { version: doc.version, map });
    return map;
  }

  /** The YAML tree with offsets; undefined when the text is too large or too deeply nested to parse. */
  tree(doc: TextDocument): SyntaxTree | undefined {
    const hit = this.trees.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.tree;
    const text = doc.getText();
    let tree: SyntaxTree | undefined;
    if (!isTooLarge(text)) {
      try {
        const lines = new LineCounter();
        tree = { doc: parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false }), lines };
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        tree = undefined; // nesting deeper than the parser's stack: the diagnostics say so
      }
    }
    this.trees.set(doc.uri, { version: doc.version, tree });
    return tree;
  }

  forget(uri: string): void {
    this.analyses.get(uri)?.abort.abort();
    this.analyses.delete(uri);
    this.trees.delete(uri);
    this.maps.delete(uri);
  }

  /** The checkpoint's config.json for `model.path` (or a cached `model.hub`), read asynchronously and cached by mtime. */
  async checkpointConfig(analysis: Analysis): Promise<CheckpointConfig | undefined> {
    const dir = analysis.config ? await modelDirOf(analysis.config, analysis.file, analysis.paths.env) : undefined;
    if (!dir) return undefined;
    const file = path.join(dir, 'config.json');
    if (!(await isPathAllowed(file, analysis.paths))) return undefined; // reported as E_PATH_OUTSIDE; never read
    try {
      const s = await stat(file);
      const key = `${s.size}:${s.mtimeMs}`;
      const hit = this.checkpoints.get(file);
      if (hit?.key === key) return hit.value;
      const value = JSON.parse(await readFile(file, 'utf8')) as CheckpointConfig;
      this.checkpoints.set(file, { key, value });
      return value;
    } catch (e) {
      // absent or unreadable: the loader's file checks report it; the estimate falls back to the preset dims
      this.checkpoints.delete(file);
      if (e instanceof SyntaxError || (e as NodeJS.ErrnoException).code) return undefined;
      throw e;
    }
  }

  private async compute(doc: TextDocument, signal: AbortSignal): Promise<Analysis> {
    const file = uriToPath(doc.uri);
    const text = doc.getText();
    const paths = this.pathPolicy(file);
    const base = { uri: doc.uri, version: doc.version, file, paths };
    if (this.worker && text.length > LARGE_DOCUMENT_BYTES && !isTooLarge(text)) {
      const out = await this.worker.analyze({ text, file, paths }, signal);
      if (out.ok) return { ...base, result: out.result, ...bestConfig(out.result) };
      if (out.reason === 'timeout') return { ...base, result: { problems: [timeoutProblem(file, text, out.budgetMs)] } };
      if (out.reason === 'cancelled') throw new ResponseError(LSPErrorCodes.RequestCancelled, `analysis of ${doc.uri} version ${doc.version} superseded`);
      throw new Error(`analysis of ${file} failed in its worker: ${out.error}`);
    }
    let result: LoadResult;
    try {
      result = await parseExperiment(text, file, { validator: this.validator, paths });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // a stack overflow in the YAML parser: absurd nesting
      result = { problems: [{ file, line: 1, column: 1, endLine: 1, endColumn: 2, code: 'E_YAML_SYNTAX', severity: 'error', message: 'YAML nesting is too deep to parse', hint: 'an experiment file needs only a few levels of nesting' }] };
    }
    return { ...base, result, ...bestConfig(result) };
  }
}

/** The loader's config when valid, else the one it resolved despite a failed semantic rule or a missing name. */
function bestConfig(result: Omit<LoadResult, 'sourceMap'>): { config?: Experiment } {
  const config = result.config ?? result.resolved;
  return config ? { config } : {};
}
