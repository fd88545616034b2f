/**
 * What a CLI command needs from the process, passed in so commands are testable without spawning.
 * stdout carries results (tables, JSON); stderr carries progress and human logs.
 */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Whether stderr is a terminal (progress bars) or a pipe/file (plain lines). */
  isTTY: boolean;
  cwd: string;
}

export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

export function processIo(): CliIo {
  return {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    isTTY: Boolean(process.stderr.isTTY),
    cwd: process.cwd(),
  };
}

/** Pads columns to align a small table; the first row is the header. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}
