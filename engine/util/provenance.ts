/**
 * What a run or a report records about where its numbers came from: content hashes, the git state of the
 * experiment file, and the versions of the packages that compute them. One of each for the whole engine
 * (the pipeline's manifest, the evaluation report, the sweep store, data and ontology files). It lives in
 * util/ rather than run/ because the stages (below run/ in the engine's order) record provenance too.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { ioError } from './errors';

const execFileP = promisify(execFile);

/** sha256 (hex) of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 (hex) of a file's bytes, streamed (ontology files run to hundreds of MB). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** sha-256 of every regular file under `dir`, by path relative to it (sorted); {} when `dir` is missing. */
export async function digestTree(dir: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ioError(e, path.join(dir, rel), 'read');
    }
    for (const d of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (skip(r)) continue;
      if (d.isDirectory()) await walk(r);
      else if (d.isFile()) out[r] = await sha256File(path.join(dir, r));
    }
  };
  await walk('');
  return out;
}

/** sha-256 of one file, or null when it does not exist (a missing optional input is part of the key too). */
export async function digestFile(file: string): Promise<string | null> {
  try {
    return await sha256File(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(e, file, 'read');
  }
}

export type GitState =
  | { inRepository: true; commit: string; dirty: boolean; untracked: boolean; diff?: string }
  | { inRepository: false; reason: string };

/** Longest diff kept in a record, in characters (a report stays readable; the commit pins the rest). */
const MAX_DIFF_CHARS = 65536;
/** Each git call may take this long before the state is recorded as unknown (ms). */
const GIT_TIMEOUT_MS = 5000;

/**
 * Git commit, whether the experiment file differs from it, and (with `diff`) that diff, capped; outside a
 * repository (or without git) `inRepository: false` and why, so the caller records that instead of failing.
 */
export async function gitState(file: string, opts: { diff?: boolean } = {}): Promise<GitState> {
  const cwd = path.dirname(file);
  try {
    const { stdout: commit } = await execFileP('git', ['rev-parse', 'HEAD'], { cwd, timeout: GIT_TIMEOUT_MS });
    const { stdout: status } = await execFileP('git', ['status', '--porcelain', '--', path.basename(file)], { cwd, timeout: GIT_TIMEOUT_MS });
    const state: GitState = { inRepository: true, commit: commit.trim(), dirty: status.trim().length > 0, untracked: status.startsWith('??') };
    if (!opts.diff) return state;
    const { stdout: diff } = await execFileP('git', ['diff', '--no-color', 'HEAD', '--', path.basename(file)], { cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: 4 << 20 });
    return { ...state, diff: diff.length > MAX_DIFF_CHARS ? `${diff.slice(0, MAX_DIFF_CHARS)}\n… (diff cut at ${MAX_DIFF_CHARS} characters)` : diff };
  } catch (e) {
    // not a repository or no git: the record says so rather than failing the run
    return { inRepository: false, reason: (e as Error).message.split('\n')[0] ?? '' };
  }
}

/** The installed @tensorflow/tfjs-core version, read from its package.json (no tensor library loaded for it). */
function tfjsCoreVersion(): string {
  try {
    return (require('@tensorflow/tfjs-core/package.json') as { version: string }).version;
  } catch {
    return 'unknown'; // bundled without node_modules beside it
  }
}

/** Package versions that decide the numbers. */
export function packageVersions(): Record<string, string> {
  let balancedbio = 'unknown';
  try {
    balancedbio = (require('../../package.json') as { version: string }).version;
  } catch {
    balancedbio = 'unknown'; // bundled without package.json beside it
  }
  return { balancedbio, '@tensorflow/tfjs-core': tfjsCoreVersion(), node: process.versions.node, v8: process.versions.v8 };
}
