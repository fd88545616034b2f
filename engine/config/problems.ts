import type { ErrorCode } from '../util/errors';
import { BbioError } from '../util/errors';

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
