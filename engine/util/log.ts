/**
 * Human-readable logs go to stderr only; stdout is reserved for the JSON event stream (see STYLE.md).
 * No module state: a Logger is created by whoever owns the process and passed down.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  write?: (line: string) => void;
  /** Also receives every record (e.g. to mirror logs into the run's event stream). */
  onRecord?: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    options.onRecord?.(level, msg, fields);
    if (ORDER[level] < min) return;
    const extra = fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : '';
    write(`${level === 'info' ? '' : level + ': '}${msg}${extra}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything (for tests and library callers that do not want output). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
