/**
 * The one error type of the engine. Codes form a closed union so the CLI, the language server and the
 * editor can map each to an exit code, a diagnostic or a notification without string matching.
 */
export const ERROR_CODES = [
  // experiment files
  'E_YAML_SYNTAX',
  'E_YAML_ALIAS',
  'E_FILE_TOO_LARGE',
  'E_SCHEMA',
  'E_SCHEMA_TYPE',
  'E_SCHEMA_UNKNOWN_KEY',
  'E_SCHEMA_ENUM',
  'E_SCHEMA_REQUIRED',
  'E_SCHEMA_RANGE',
  'E_WEIGHTS',
  'E_LORA_RANK',
  'E_MODEL_DIMS',
  'E_FILE_MISSING',
  'E_STAGE_DEPENDENCY',
  'E_CONFLICT',
  'E_ONTOLOGY_TERM_UNKNOWN',
  'E_MEMORY',
  'E_TOO_MANY_PROBLEMS',
  'E_ANALYSIS_TIMEOUT',
  // ontology
  'E_ONTOLOGY_MISSING',
  'E_ONTOLOGY_PARSE',
  'E_ONTOLOGY_CYCLE',
  'E_ONTOLOGY_DANGLING',
  'E_ONTOLOGY_EMPTY',
  'E_ONTOLOGY_DOWNLOAD',
  'E_ONTOLOGY_CHECKSUM',
  // synthesis and data files
  'E_SYNTH_SHORTFALL',
  'E_DATA_RECORD',
  // run store and pipeline
  'E_RUNS_DIR_UNWRITABLE',
  'E_RUN_LOCKED',
  'E_RUN_NOT_FOUND',
  'E_RUN_CORRUPT',
  'E_STAGE_FAILED',
  'E_CANCELLED',
  // model and training
  'E_BACKEND',
  'E_CHECKPOINT',
  'E_NAN',
  'E_TOKENIZER',
  // generic
  'E_IO',
  'E_USAGE',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Where an error points: 1-based line and column, as compilers print them. */
export interface SourceLocation {
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

export class BbioError extends Error {
  override readonly name = 'BbioError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly location: SourceLocation = {},
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `file:line:col: error CODE message (hint)` — the compiler-style line the CLI prints. */
  format(): string {
    const { file, line, column } = this.location;
    const where = file ? `${file}${line ? `:${line}${column ? `:${column}` : ''}` : ''}: ` : '';
    return `${where}error ${this.code} ${this.message}${this.hint ? ` (${this.hint})` : ''}`;
  }
}

export function isBbioError(e: unknown): e is BbioError {
  return e instanceof BbioError;
}

/** Wraps anything thrown into a BbioError, keeping the original as `cause`. */
export function toBbioError(e: unknown, code: ErrorCode = 'E_INTERNAL', hint?: string): BbioError {
  if (e instanceof BbioError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BbioError(code, message, {}, hint, { cause: e });
}
