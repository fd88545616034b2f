import type { ErrorCode } from '../util/errors';
import { BbioError } from '../util/errors';
import type { Range1 } from './positions';

/**
 * One problem found in an experiment file. Lines and columns are 1-based (compiler convention); the end is
 * exclusive. The language server converts to 0-based LSP ranges, the CLI prints `file:line:col`.
 */
export interface Problem {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  code: ErrorCode;
  severity: 'error' | 'warning';
  message: string;
  hint?: string;
  /** For did-you-mean problems: the replacement text a quick fix inserts over the range. */
  replacement?: string;
}

export function formatProblem(p: Problem, cwd?: string): string {
  const file = cwd && p.file.startsWith(cwd + '/') ? p.file.slice(cwd.length + 1) : p.file;
  return `${file}:${p.line}:${p.column}: ${p.severity} ${p.code} ${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}

export function problemToError(p: Problem): BbioError {
  return new BbioError(p.code, p.message, { file: p.file, line: p.line, column: p.column, endLine: p.endLine, endColumn: p.endColumn }, p.hint);
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/**
 * Problems listed per file. An editor shows each as a squiggle and a list entry, and a CLI user reads them
 * top-down: past a few hundred they are noise (a 70,000-key file produced 70,000), and producing them
 * dominated the cost of validating such a file.
 */
export const MAX_PROBLEMS_PER_FILE = 200;

/** Problems a producer counted but did not build (they lie after its first MAX_PROBLEMS_PER_FILE). */
export interface OmittedProblems {
  count: number;
  errors: boolean;
  /** The first of them in source order. */
  first: Range1;
}

/** The first `max` problems in source order, plus one "… and N more" problem where the first one left out is. */
export function capProblems(problems: readonly Problem[], opts: { max?: number; omitted?: OmittedProblems } = {}): Problem[] {
  const max = opts.max ?? MAX_PROBLEMS_PER_FILE;
  const sorted = [...problems].sort(byPosition);
  const dropped = sorted.slice(max);
  const omitted = opts.omitted?.count ? opts.omitted : undefined;
  const more = dropped.length + (omitted?.count ?? 0);
  if (more === 0 || !sorted[0]) return sorted;
  const kept = sorted.slice(0, max);
  const firstDropped = dropped[0];
  const at = firstDropped && (!omitted || byPosition(firstDropped, omitted.first) <= 0) ? firstDropped : omitted?.first ?? sorted[0];
  const errors = Boolean(omitted?.errors) || dropped.some((p) => p.severity === 'error');
  kept.push({
    file: sorted[0].file, line: at.line, column: at.column, endLine: at.endLine, endColumn: at.endColumn,
    code: 'E_TOO_MANY_PROBLEMS', severity: errors ? 'error' : 'warning',
    message: `… and ${more.toLocaleString('en-US')} more problem${more === 1 ? '' : 's'} (only the first ${max} are listed)`,
    hint: 'fix the problems above and validate again; thousands of problems usually mean data was pasted into the experiment file',
  });
  return kept;
}

export function byPosition(a: Range1, b: Range1): number {
  return a.line - b.line || a.column - b.column;
}
