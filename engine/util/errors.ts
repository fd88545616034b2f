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
  'E_FILE_NOT_REGULAR',
  'E_PATH_OUTSIDE',
  'E_URL_REFUSED',
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
  'E_ONTOLOGY_SUBSET_UNKNOWN',
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
  'E_CHAT_TEMPLATE',
  // cluster scheduler (Slurm)
  'E_SLURM_UNAVAILABLE',
  'E_SLURM_REJECTED',
  'E_SLURM_NOT_SHARED',
  // Hugging Face Hub downloads and cache
  'E_HUB',
  'E_HUB_AUTH',
  'E_HUB_NOT_FOUND',
  'E_HUB_OFFLINE',
  'E_HUB_INTEGRITY',
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

/**
 * What to do about an operating-system I/O error, by errno. These are conditions of the machine (a full
 * disk, a folder made read-only, a permission), not bugs, so they become E_IO with the path and this hint.
 */
const IO_HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space (old runs, checkpoints) and resume the run',
  EDQUOT: 'the disk quota is used up: free space or raise the quota, then resume the run',
  EROFS: 'the file system is read-only: remount it read-write or set output.runs_dir to a writable folder, then resume',
  EACCES: 'permission denied: make the folder writable for this user (chmod/chown) or set output.runs_dir elsewhere, then resume',
  EPERM: 'operation not permitted: make the folder writable for this user (chmod/chown) or set output.runs_dir elsewhere, then resume',
  EIO: 'the device reported an I/O error: check the disk (dmesg, SMART) before resuming',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and resume',
  ENFILE: 'the system ran out of file handles: close other programs and resume',
  ENOTDIR: 'a file sits where a folder is expected: move it away and resume',
  EISDIR: 'a folder sits where a file is expected: move it away and resume',
  ENOENT: 'a file or folder disappeared while the engine used it: check nothing else deletes the run folder, then resume',
  EBUSY: 'the file is in use by another program: close it and resume',
};

/** Whether `e` is an operating-system error from a file operation (Node's system errors carry errno and syscall). */
function isIoError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string' && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code! in IO_HINTS;
}

/**
 * An I/O error `e` met while doing `doing` on `file`, as E_IO with the path and what to do; anything that is
 * not an operating-system I/O error comes back unchanged (a bug stays a bug).
 */
export function ioError(e: unknown, file: string, doing: string): unknown {
  if (!isIoError(e)) return e;
  const at = e.path ?? file;
  return new BbioError('E_IO', `cannot ${doing} ${at}: ${e.code} (${e.message})`, { file: at }, IO_HINTS[e.code!], { cause: e });
}

/** Wraps anything thrown into a BbioError, keeping the original as `cause`; operating-system I/O errors become E_IO. */
export function toBbioError(e: unknown, code: ErrorCode = 'E_INTERNAL', hint?: string): BbioError {
  if (e instanceof BbioError) return e;
  if (isIoError(e)) return ioError(e, e.path ?? '', `${e.syscall ?? 'access'}`) as BbioError;
  const message = e instanceof Error ? e.message : String(e);
  return new BbioError(code, message, {}, hint, { cause: e });
}

/**
 * At most `max` characters of user data for an error message, JSON-escaped (control characters and
 * quotes cannot forge log lines or terminal escapes) and marked with … when cut. Forty characters
 * identify a record without copying it into events.jsonl and state.json.
 */
export function quoteExcerpt(text: string, max = 40): string {
  const chars = [...text]; // by code point, so a cut never splits a surrogate pair
  return JSON.stringify(chars.length > max ? chars.slice(0, max).join('') + '…' : text);
}
