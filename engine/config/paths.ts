/**
 * Where an experiment may reach. An experiment file is untrusted input even in a trusted workspace (it
 * may come from someone else), so every path it names must resolve, symlinks followed, inside the
 * workspace or a folder the user allowed explicitly, and every URL must be `https:` to a public host.
 * One function checks every path-carrying field of the schema; `validate`, the language server and `run`
 * all go through it (via the loader's semantic rules), before anything named in the file is read.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { getRepoFolderName } from '@huggingface/hub';
import type { Experiment } from '../../schemas/generated/experiment';
import type { ErrorCode } from '../util/errors';
import type { PathSegment } from './positions';

export interface PathPolicy {
  /** The workspace root(s): the server's workspace folder, or the CLI's current directory / `--workspace`. */
  workspace: readonly string[];
  /** Folders the user allowed besides (`balancedbio.allowedPaths`, `--allow-path`). */
  allowed: readonly string[];
  /** For the Hugging Face cache location (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** One path- or URL-carrying value of an experiment, with where it sits in the file. */
export interface PathField {
  at: PathSegment[];
  value: string;
  /** `url` values are checked as URLs; `output` may not exist yet (its nearest existing parent is resolved). */
  kind: 'input' | 'output' | 'url';
  what: string;
}

export interface PathViolation {
  at: PathSegment[];
  code: Extract<ErrorCode, 'E_PATH_OUTSIDE' | 'E_URL_REFUSED'>;
  message: string;
  hint: string;
}

/**
 * Every field of schemas/experiment.schema.json that names a file, folder or URL. A test walks the schema
 * for string fields named path/module/url/runs_dir/mmlu so a new one cannot be missed here.
 */
export function pathFieldsOf(config: Experiment): PathField[] {
  const out: PathField[] = [];
  config.ontology.sources.forEach((s, i) => {
    if (s.path !== undefined) out.push({ at: ['ontology', 'sources', i, 'path'], value: s.path, kind: 'input', what: 'ontology file' });
    if (s.url !== undefined) out.push({ at: ['ontology', 'sources', i, 'url'], value: s.url, kind: 'url', what: 'ontology URL' });
  });
  for (const split of ['train', 'val', 'test'] as const) {
    config.data[split].forEach((f, i) => out.push({ at: ['data', split, i, 'path'], value: f.path, kind: 'input', what: `${split} data file` }));
  }
  if (config.model.path !== undefined) out.push({ at: ['model', 'path'], value: config.model.path, kind: 'input', what: 'checkpoint directory' });
  config.grpo.rewards.forEach((r, i) => {
    if (r.module !== undefined) out.push({ at: ['grpo', 'rewards', i, 'module'], value: r.module, kind: 'input', what: 'reward module' });
  });
  config.eval.mmlu.forEach((m, i) => out.push({ at: ['eval', 'mmlu', i], value: m, kind: 'input', what: 'MMLU file or folder' }));
  if (config.eval.tasks.length) out.push({ at: ['eval', 'benchmarks'], value: config.eval.benchmarks, kind: 'input', what: 'benchmarks folder' });
  out.push({ at: ['output', 'runs_dir'], value: config.output.runs_dir, kind: 'output', what: 'runs folder' });
  return out;
}

/** Hugging Face's home folder: `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (huggingface_hub's constants). */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env['HF_HOME']) return path.resolve(env['HF_HOME']);
  return path.join(env['XDG_CACHE_HOME'] ? path.resolve(env['XDG_CACHE_HOME']) : path.join(os.homedir(), '.cache'), 'huggingface');
}

/**
 * The Hugging Face hub cache: `$HF_HUB_CACHE`, else the older `$HUGGINGFACE_HUB_CACHE`, else `hfHome()/hub`
 * (huggingface_hub's order, so `transformers` and this engine share one cache).
 */
export function hfHubCache(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['HF_HUB_CACHE'] || env['HUGGINGFACE_HUB_CACHE'];
  return explicit ? path.resolve(explicit) : path.join(hfHome(env), 'hub');
}

/** `models--ORG--NAME` in the hub cache, as huggingface_hub names it. */
export function hubRepoDir(repo: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(hfHubCache(env), getRepoFolderName({ type: 'model', name: repo }));
}

/** A commit id, as the Hub writes it in refs/ and snapshots/. */
export const COMMIT_ID = /^[0-9a-f]{40}$/;

/**
 * The cached snapshot folder of Hub model `repo` at `revision` (a commit, or a branch or tag through
 * `refs/<revision>`), or undefined when the cache has none with a config.json. Reads the cache only.
 */
export async function hubSnapshotDir(repo: string, revision: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const storage = hubRepoDir(repo, env);
  let commit = revision;
  if (!COMMIT_ID.test(revision)) {
    try {
      commit = (await readFile(path.join(storage, 'refs', revision), 'utf8')).trim();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // never downloaded at this revision
      throw e;
    }
  }
  const dir = path.join(storage, 'snapshots', commit);
  try {
    await stat(path.join(dir, 'config.json'));
    return dir;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // a partial snapshot: not usable
    throw e;
  }
}

/**
 * The local checkpoint folder an experiment names: `model.path` resolved against the experiment file, the
 * cached snapshot of `model.hub` (undefined until it is downloaded), or undefined for a preset.
 */
export async function modelDirOf(config: Experiment, file: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (config.model.path) return path.resolve(path.dirname(file), config.model.path);
  if (config.model.hub) return hubSnapshotDir(config.model.hub, config.model.revision ?? 'main', env);
  return undefined;
}

/**
 * The real path of `p` with symlinks resolved: of `p` itself when it exists, else of its nearest existing
 * parent with the missing rest appended (an output folder that a run will create).
 */
export async function resolveReal(p: string): Promise<string> {
  const abs = path.resolve(p);
  let dir = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(dir), ...rest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      const up = path.dirname(dir);
      if (up === dir) return abs;
      rest.unshift(path.basename(dir));
      dir = up;
    }
  }
}

function isWithin(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The roots a path may resolve into, themselves resolved (a workspace under a symlinked /tmp still matches). */
async function allowedRoots(policy: PathPolicy): Promise<string[]> {
  const roots = [...policy.workspace, ...policy.allowed, hfHubCache(policy.env)];
  return Promise.all(roots.map((r) => resolveReal(r)));
}

/** Whether `abs` (symlinks resolved) lies inside the workspace, an allowed folder or the HF cache. */
export async function isPathAllowed(abs: string, policy: PathPolicy): Promise<boolean> {
  const real = await resolveReal(abs);
  return (await allowedRoots(policy)).some((r) => isWithin(real, r));
}

/** Loopback hosts: the one exception to "no private addresses", for tests that serve files locally. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';
}

/**
 * Private, link-local, carrier-grade NAT, unspecified and multicast ranges (RFC 1918, 3927, 6598, 4193,
 * 4291): a URL there reaches the user's network or a cloud metadata service (169.254.169.254), not a
 * published ontology.
 */
export function isPrivateAddress(host: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 10 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || a >= 224;
  }
  const h = host.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return isPrivateAddress(mapped[1]!) || isLoopback(mapped[1]!);
  if (/^::ffff:[0-9a-f]+:[0-9a-f]+$/.test(h)) return true; // IPv4-mapped in hex form: refuse rather than decode
  return h === '::' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || /^ff/.test(h);
}

/** Why `url` may not be fetched, or undefined when it may: `https:` to a public host, or `http(s):` to loopback. */
export function urlRefusal(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'it is not a valid URL'; // the reason is the answer; the caller reports it
  }
  // WHATWG URL already normalises 2852039166 or 0xA9FEA9FE to 169.254.169.254; IPv6 keeps its brackets
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `its scheme \`${u.protocol}\` is not https:`;
  if (isLoopback(host)) return undefined;
  if (u.protocol === 'http:') return 'plain http: is only allowed to localhost';
  if (isIP(host) && isPrivateAddress(host)) return `${host} is a private, link-local or reserved address`;
  return undefined;
}

const ALLOW_HINT = 'move it into the workspace, or allow its folder: the `balancedbio.allowedPaths` setting in the editor, `--allow-path DIR` (or `--workspace DIR`) on the command line';

/**
 * Every path-carrying field of `config` that reaches outside the workspace and allowed folders, and every
 * URL that is not `https:` to a public host. Paths resolve relative to the experiment file, symlinks
 * followed; `checkPaths: false` checks URLs only (no file system access).
 */
export async function checkExperimentPaths(config: Experiment, file: string, policy: PathPolicy, opts: { checkPaths?: boolean } = {}): Promise<PathViolation[]> {
  const base = path.dirname(path.resolve(file));
  const roots = opts.checkPaths === false ? [] : await allowedRoots(policy);
  const out: PathViolation[] = [];
  for (const f of pathFieldsOf(config)) {
    if (f.kind === 'url') {
      const why = urlRefusal(f.value);
      if (why) out.push({ at: f.at, code: 'E_URL_REFUSED', message: `${f.what} refused: ${why}`, hint: 'use an https: URL of a public host (http: only to localhost), or download the file into the workspace and give its path' });
      continue;
    }
    if (opts.checkPaths === false) continue;
    const real = await resolveReal(path.resolve(base, f.value));
    if (roots.some((r) => isWithin(real, r))) continue;
    out.push({ at: f.at, code: 'E_PATH_OUTSIDE', message: `${f.what} is outside the workspace: ${f.value} resolves to ${real}`, hint: ALLOW_HINT });
  }
  return out;
}
