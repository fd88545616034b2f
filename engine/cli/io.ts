import path from 'node:path';
import type { PathPolicy } from '../config/paths';

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
  /** The environment commands read settings from (HF_ENDPOINT, HF_TOKEN, …); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

export function processIo(): CliIo {
  return {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    isTTY: Boolean(process.stderr.isTTY),
    cwd: process.cwd(),
    env: process.env,
  };
}

/** Pads columns to align a small table; the first row is the header. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** `--workspace DIR` and the repeatable `--allow-path DIR` of the commands that read experiment files. */
export interface WorkspaceOptions {
  workspace?: string;
  allowPath?: string[];
}

/** Where an experiment may reach from the command line: the current directory unless `--workspace` says otherwise. */
export function cliPathPolicy(io: Pick<CliIo, 'cwd'>, o: WorkspaceOptions): PathPolicy {
  return { workspace: [path.resolve(io.cwd, o.workspace ?? '.')], allowed: (o.allowPath ?? []).map((d) => path.resolve(io.cwd, d)) };
}

/** The same options as arguments, for child processes of a command (sweep variants). */
export function workspaceArgs(policy: PathPolicy): string[] {
  return [...policy.workspace.slice(0, 1).flatMap((w) => ['--workspace', w]), ...policy.allowed.flatMap((d) => ['--allow-path', d])];
}
