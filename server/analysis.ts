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
import type { CheckpointConfig } from '../engine/config/memory-estimate';
import { isPathAllowed, type PathPolicy } from '../engine/config/paths';
import type { ConfigValidator } from '../engine/config/schema-validator';
import type { Experiment, ExperimentInput } from '../schemas/generated/experiment';
import { uriToPath } from './paths';

export interface Analysis {
  uri: string;
  version: number;
  file: string;
  /** Where the experiment may reach; files outside it are reported, never read. */
  paths: PathPolicy;
  result: LoadResult;
  /** The resolved config: the loader's when valid, else defaults over a schema-valid raw object. */
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

export class DocumentAnalyzer {
  private readonly analyses = new Map<string, { version: number; promise: Promise<Analysis> }>();
  private readonly trees = new Map<string, { version: number; tree: SyntaxTree | undefined }>();
  private readonly checkpoints = new Map<string, { key: string; value: CheckpointConfig | undefined }>();

  constructor(
    private readonly validator: ConfigValidator,
    private readonly pathPolicy: (file: string) => PathPolicy,
  ) {}

  analyze(doc: TextDocument): Promise<Analysis> {
    const hit = this.analyses.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.promise;
    const promise = this.compute(doc);
    this.analyses.set(doc.uri, { version: doc.version, promise });
    return promise;
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
    this.analyses.delete(uri);
    this.trees.delete(uri);
  }

  /** The checkpoint's config.json for `model.path`, read asynchronously and cached by mtime. */
  async checkpointConfig(analysis: Analysis): Promise<CheckpointConfig | undefined> {
    const rel = analysis.config?.model.path;
    if (!rel) return undefined;
    const file = path.resolve(path.dirname(analysis.file), rel, 'config.json');
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

  private async compute(doc: TextDocument): Promise<Analysis> {
    const file = uriToPath(doc.uri);
    const text = doc.getText();
    const paths = this.pathPolicy(file);
    let result: LoadResult;
    try {
      result = await parseExperiment(text, file, { validator: this.validator, paths });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // a stack overflow in the YAML parser: absurd nesting
      result = { problems: [{ file, line: 1, column: 1, endLine: 1, endColumn: 2, code: 'E_YAML_SYNTAX', severity: 'error', message: 'YAML nesting is too deep to parse', hint: 'an experiment file needs only a few levels of nesting' }] };
    }
    return { uri: doc.uri, version: doc.version, file, paths, result, ...this.bestConfig(result) };
  }

  private bestConfig(result: LoadResult): { config?: Experiment } {
    if (result.config) return { config: result.config };
    const raw = result.raw;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
    const candidate = { name: 'unnamed', ...(raw as Record<string, unknown>) };
    if (this.validator.errors(candidate).length) return {};
    return { config: this.validator.resolveDefaults(candidate as ExperimentInput) };
  }
}
