/**
 * Hugging Face Hub model ids (`ORG/NAME` at a revision) resolved into the standard Hugging Face cache, the
 * layout `huggingface_hub` and `transformers` use, so a model either of them downloaded is reused here and
 * the other way round:
 *
 *   $HF_HUB_CACHE/models--ORG--NAME/
 *     refs/<revision>              the commit the revision pointed at (no trailing newline)
 *     blobs/<etag>                 file contents, named by the Hub's ETag (git sha1, or sha256 for LFS files)
 *     blobs/<etag>.incomplete      a download in progress; resumed with a Range request
 *     snapshots/<commit>/<file>    relative symlinks to ../../blobs/<etag>
 *
 * `@huggingface/hub` answers the repository API (`modelInfo`: the revision's commit and file list) and names the
 * repository folder. Its `snapshotDownload` / `downloadFileToCacheDir` do not fit the files themselves: they
 * fetch every file of the repository (a Mistral repository holds its weights twice), restart an interrupted
 * download from zero, check no hash, print with `console.debug`, and ask the paths-info API per file. So the
 * download below follows `huggingface_hub.hf_hub_download` instead: HEAD `resolve/<commit>/<file>` for the ETag,
 * GET with `Range` into `<etag>.incomplete`, check the bytes against the ETag, rename, symlink. Every request
 * goes through `fetchPublic` (engine/config/net.ts), so HF_ENDPOINT keeps to the ontology URL policy.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { HubApiError, modelInfo } from '@huggingface/hub';
import lockfile from 'proper-lockfile';
import { fetchPublic, MAX_REDIRECTS } from '../config/net';
import { COMMIT_ID, hfHome, hubRepoDir, hubSnapshotDir, urlRefusal } from '../config/paths';
import { BbioError, ioError } from '../util/errors';
import { silentLogger, type Logger } from '../util/log';

/** `huggingface_hub`'s default endpoint. */
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

/** A repository id as the Hub spells it: `ORG/NAME`, letters, digits, `-`, `_`, `.` (no `..`, no leading `-`/`.`). */
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** Whether `s` is written like a Hub model id (`ORG/NAME`). A path that exists is checked first by callers. */
export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..');
}

export interface HubSettings {
  endpoint: string;
  token?: string;
  offline: boolean;
  /** Silence after which a request fails (HF_HUB_DOWNLOAD_TIMEOUT, seconds; huggingface_hub's default 10 s). */
  idleTimeoutMs: number;
}

/** huggingface_hub's HF_HUB_DOWNLOAD_TIMEOUT default, in seconds. */
const DEFAULT_TIMEOUT_S = 10;

/** huggingface_hub reads these strings as true for boolean variables (`constants._is_true`). */
const TRUE_VALUES = new Set(['1', 'on', 'yes', 'true']);

/**
 * The Hub settings from the environment, with huggingface_hub's names and precedence: `HF_ENDPOINT`;
 * `HF_TOKEN`, else the token file (`HF_TOKEN_PATH`, else `hfHome()/token`,
 * where `huggingface-cli login` writes it); `HF_HUB_OFFLINE`; `HF_HUB_DOWNLOAD_TIMEOUT`. The cache folder is `hfHubCache`'s.
 */
export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = (env['HF_ENDPOINT'] || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
  let token = env['HF_TOKEN']?.trim();
  if (!token) {
    const file = env['HF_TOKEN_PATH'] ? path.resolve(env['HF_TOKEN_PATH']) : path.join(hfHome(env), 'token');
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e, file, 'read the Hugging Face token file');
      // no token file: anonymous access, as huggingface_hub does
    }
  }
  const timeout = Number(env['HF_HUB_DOWNLOAD_TIMEOUT'] || DEFAULT_TIMEOUT_S);
  return {
    endpoint, ...(token ? { token } : {}), offline: TRUE_VALUES.has((env['HF_HUB_OFFLINE'] ?? '').trim().toLowerCase()),
    idleTimeoutMs: 1000 * (Number.isFinite(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_S),
  };
}

/** Connection failures (no route, no DNS, refused, reset, silent): the network, not the Hub, said no. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function isUnreachable(e: unknown): boolean {
  if (e instanceof BbioError) return e.code === 'E_HUB' && / sent nothing for /.test(e.message);
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE.has(code);
}

/** The files a model needs, by name at the repository root; weights come from the index (or model.safetensors). */
const NEEDED_FILES = new Set([
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'chat_template.jinja',
]);
const WEIGHTS_INDEX = 'model.safetensors.index.json';
const WEIGHTS_SINGLE = 'model.safetensors';

export interface DownloadProgress {
  repo: string;
  file: string;
  /** Bytes of this file on disk so far (a resumed download starts above 0). */
  bytes: number;
  total: number;
}

export interface ResolveHubOptions {
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /**
   * Called when a file starts, at every further 10 % of it, and when it ends. Without it the same moments are
   * info lines of `log` (the CLI's infer and eval); a run turns them into progress events instead.
   */
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

/** What to do about an HTTP error of the Hub, from its status and `X-Error-Code` header (huggingface_hub's `hf_raise_for_status`). */
function hubHttpError(status: number, errorCode: string | undefined, ctx: { repo: string; revision: string; file?: string; settings: HubSettings; gated?: boolean }): BbioError {
  const page = `${ctx.settings.endpoint}/${ctx.repo}`;
  const what = ctx.file ? `${ctx.repo}/${ctx.file} at ${ctx.revision}` : `${ctx.repo} at ${ctx.revision}`;
  const tokenHow = 'set HF_TOKEN (or run `huggingface-cli login`, which writes $HF_HOME/token)';
  if (errorCode === 'GatedRepo' || ((status === 401 || status === 403) && ctx.gated)) {
    return new BbioError('E_HUB_AUTH', `${ctx.repo} is a gated model: its files need an accepted licence and a token (HTTP ${status})`, { file: page },
      `accept the licence at ${page} while logged in, then ${tokenHow} with a token of that account${ctx.settings.token ? ' (the token given is not allowed yet)' : ''}`);
  }
  if (errorCode === 'RevisionNotFound') return new BbioError('E_HUB_NOT_FOUND', `${ctx.repo} has no revision \`${ctx.revision}\``, { file: page }, `pick a branch, tag or commit listed at ${page}/tree/main`);
  if (errorCode === 'EntryNotFound') return new BbioError('E_HUB_NOT_FOUND', `${what}: no such file`, { file: page }, 'the repository lacks a file the model needs (config.json, tokenizer, safetensors weights)');
  if (status === 401 || status === 403) {
    return new BbioError('E_HUB_AUTH', `${what}: access refused (HTTP ${status}); the repository is private, gated, or does not exist`, { file: page },
      ctx.settings.token ? `check the name at ${page}; the token given has no access to it: accept its licence there or use a token of an account that may read it` : `check the name at ${page}; if it is private or gated, ${tokenHow}`);
  }
  if (status === 404 || errorCode === 'RepoNotFound') return new BbioError('E_HUB_NOT_FOUND', `${what}: not found on ${ctx.settings.endpoint}`, { file: page }, 'check the ORG/NAME spelling; a private repository also needs HF_TOKEN');
  return new BbioError('E_HUB', `${what}: the Hub answered HTTP ${status}`, { file: page }, 'try again later; with HF_HUB_OFFLINE=1 a model already in the cache is used without the network');
}

/** A `fetch` for `@huggingface/hub` that goes through the URL policy and adds the token. */
function policyFetch(token: string | undefined, idleTimeoutMs: number, signal: AbortSignal | undefined): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers: Record<string, string> = Object.fromEntries(new Headers(init?.headers).entries());
    if (token) headers['authorization'] = `Bearer ${token}`;
    const { res, url: last } = await fetchPublic(url, { headers, errorCode: 'E_HUB', idleTimeoutMs, ...(signal ? { signal } : {}) });
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
    const response = new Response(Readable.toWeb(res) as unknown as ReadableStream, { status: res.statusCode ?? 0, headers: responseHeaders });
    Object.defineProperty(response, 'url', { value: last });
    return response;
  };
}

/** huggingface_hub's `_normalize_etag`: drop the weak marker and the quotes. */
function normalizeEtag(raw: string | string[] | undefined): string | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `resolve/<commit>/<file>` with each path segment escaped, as huggingface_hub builds it. */
function resolveUrl(s: HubSettings, repo: string, commit: string, file: string): string {
  return `${s.endpoint}/${repo}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The Hub's metadata of one file (huggingface_hub's `get_hf_file_metadata`): a HEAD request whose
 * same-origin redirects (a renamed repository) are followed, and whose redirect to the CDN (an LFS file) is
 * not: that first answer carries `X-Linked-Etag` (the sha256) and `X-Linked-Size`.
 */
async function fileMetadata(s: HubSettings, url: string, signal: AbortSignal | undefined): Promise<{ res: http.IncomingMessage; etag?: string; size: number; commit?: string }> {
  const origin = new URL(url).origin;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { res } = await fetchPublic(current, { method: 'HEAD', redirect: 'manual', errorCode: 'E_HUB', idleTimeoutMs: s.idleTimeoutMs, headers: { 'accept-encoding': 'identity', ...(s.token ? { authorization: `Bearer ${s.token}` } : {}) }, ...(signal ? { signal } : {}) });
    res.resume();
    const status = res.statusCode ?? 0;
    const location = header(res, 'location');
    const linked = header(res, 'x-linked-etag');
    if (status >= 300 && status < 400 && location && !linked && new URL(location, current).origin === origin) {
      current = new URL(location, current).toString();
      continue;
    }
    return { res, etag: normalizeEtag(linked ?? res.headers.etag), size: Number(header(res, 'x-linked-size') ?? header(res, 'content-length') ?? NaN), commit: header(res, 'x-repo-commit') };
  }
  throw new BbioError('E_HUB', `more than ${MAX_REDIRECTS} redirects from ${url}`, { file: url }, 'check HF_ENDPOINT');
}

/**
 * The digest the Hub's ETag promises for these bytes: a 64-hex ETag is an LFS file's sha256; a 40-hex ETag
 * (the only other kind `downloadFile` accepts) is the git blob id, sha1 over `blob <size>\0` + contents.
 */
async function digestFor(etag: string, file: string, size: number): Promise<string> {
  const hash = etag.length === 64 ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(p: string, opts: { follow: boolean }): Promise<boolean> {
  try {
    await (opts.follow ? stat(p) : lstat(p));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw ioError(e, p, 'look up');
  }
}

interface FileJob {
  repo: string;
  revision: string;
  commit: string;
  file: string;
  storage: string;
  settings: HubSettings;
  gated: boolean;
  opts: ResolveHubOptions;
}

/** Appends the body of `res` to `target`, reporting progress from `start` bytes at every 10 % of `total`. */
async function writeBody(res: http.IncomingMessage, target: string, start: number, total: number, report: (bytes: number) => void): Promise<void> {
  const out = fs.createWriteStream(target, { flags: start > 0 ? 'a' : 'w' });
  let bytes = start;
  let lastTenth = Math.floor((10 * start) / Math.max(total, 1));
  try {
    for await (const chunk of res) {
      bytes += (chunk as Buffer).length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      const tenth = Math.floor((10 * bytes) / Math.max(total, 1));
      if (tenth > lastTenth) {
        lastTenth = tenth;
        report(bytes);
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Downloads one file of the snapshot into blobs/ (resuming `.incomplete`), checks it, and links it from snapshots/. */
async function downloadFile(job: FileJob): Promise<void> {
  const { settings: s, storage, file } = job;
  const url = resolveUrl(s, job.repo, job.commit, file);
  const meta = await fileMetadata(s, url, job.opts.signal);
  const status = meta.res.statusCode ?? 0;
  if (status >= 400) throw hubHttpError(status, header(meta.res, 'x-error-code'), { repo: job.repo, revision: job.revision, file, settings: s, gated: job.gated });
  if (!meta.etag) throw new BbioError('E_HUB', `${url}: the Hub sent no ETag, so the file cannot be stored in the cache or checked`, { file: url }, 'check HF_ENDPOINT points at a Hugging Face Hub (or a mirror that forwards its headers)');
  // the ETag names the blob file: a git sha1 or an LFS sha256, nothing that could be a path
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(meta.etag)) throw new BbioError('E_HUB', `${url}: the ETag ${JSON.stringify(meta.etag.slice(0, 80))} is neither a git sha1 nor a sha256`, { file: url }, 'check HF_ENDPOINT points at a Hugging Face Hub (or a mirror that forwards its headers unchanged)');
  const blob = path.join(storage, 'blobs', meta.etag);
  const pointer = path.join(storage, 'snapshots', job.commit, file);
  await mkdir(path.dirname(blob), { recursive: true });
  await mkdir(path.dirname(pointer), { recursive: true });
  if (!(await exists(blob, { follow: false }))) {
    const release = await lockBlob(blob, `${job.repo}/${file}`, job.opts.log ?? silentLogger);
    try {
      // another process may have finished this blob while we waited for the lock
      if (!(await exists(blob, { follow: false }))) await downloadBlob(job, url, { etag: meta.etag, size: meta.size }, blob);
    } finally {
      await release();
    }
  }
  if (await exists(pointer, { follow: false })) await rm(pointer, { force: true }); // a dangling link left by a deleted blob
  // relative, like huggingface_hub's _create_symlink, so the cache folder can be moved or mounted elsewhere
  await symlink(path.relative(path.dirname(pointer), blob), pointer);
}

/**
 * One writer per blob across processes (two variants of a sweep fetching the same model would otherwise
 * append to the same .incomplete file). huggingface_hub locks `.locks/models--…/<etag>.lock` with flock(2),
 * which Node cannot take; proper-lockfile's lock is a folder, so it gets its own name beside that one, where
 * huggingface_hub never looks. A holder that died leaves a lock that turns stale (proper-lockfile's 10 s
 * mtime rule) and is taken over, so waiting without a limit cannot hang on a dead process.
 */
async function lockBlob(blob: string, what: string, log: Logger): Promise<() => Promise<void>> {
  const storage = path.dirname(path.dirname(blob));
  const lockPath = path.join(path.dirname(storage), '.locks', path.basename(storage), `${path.basename(blob)}.bbio-lock`);
  await mkdir(path.dirname(lockPath), { recursive: true });
  const onCompromised = (e: Error): void => log.warn(`the download lock of ${what} was lost (${e.message}); the ETag check still guards the file`);
  try {
    return await lockfile.lock(blob, { realpath: false, lockfilePath: lockPath, onCompromised });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw ioError(e, lockPath, 'lock');
    log.info(`waiting for another process downloading ${what}`);
    return lockfile.lock(blob, { realpath: false, lockfilePath: lockPath, onCompromised, retries: { forever: true, factor: 1, minTimeout: 250, maxTimeout: 250 } });
  }
}

/** Downloads one blob into `<blob>.incomplete` (resuming what is there), checks it against the ETag, renames it. */
async function downloadBlob(job: FileJob, url: string, meta: { etag: string; size: number }, blob: string): Promise<void> {
  const { settings: s, file, opts } = job;
  const log = opts.log ?? silentLogger;
  const incomplete = `${blob}.incomplete`;
  let start = 0;
  try {
    start = (await stat(incomplete)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e, incomplete, 'read');
    // nothing downloaded yet: start at byte 0
  }
  const total = meta.size;
  if (Number.isFinite(total) && start > total) start = 0; // a partial file longer than the file is not a prefix of it
  const report = (bytes: number): void => {
    if (opts.onProgress) return opts.onProgress({ repo: job.repo, file, bytes, total });
    log.info(`downloading ${job.repo}/${file}: ${Number.isFinite(total) && total > 0 ? Math.floor((100 * bytes) / total) : '?'}% of ${formatBytes(total)}`);
  };
  if (start > 0) log.info(`resuming ${job.repo}/${file} at ${formatBytes(start)}`);
  report(start);
  if (!(Number.isFinite(total) && start === total)) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...(s.token ? { authorization: `Bearer ${s.token}` } : {}), ...(start > 0 ? { range: `bytes=${start}-` } : {}) };
    const { res } = await fetchPublic(url, { headers, errorCode: 'E_HUB', idleTimeoutMs: s.idleTimeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
    const code = res.statusCode ?? 0;
    if (code >= 400) {
      res.resume();
      throw hubHttpError(code, header(res, 'x-error-code'), { repo: job.repo, revision: job.revision, file, settings: s, gated: job.gated });
    }
    // 206: the server continues at `start`; 200: it ignored the Range and sends everything
    await writeBody(res, incomplete, code === 206 ? start : 0, total, report);
  }
  const size = (await stat(incomplete)).size;
  const digest = await digestFor(meta.etag, incomplete, size);
  if ((Number.isFinite(total) && size !== total) || digest !== meta.etag) {
    await rm(incomplete, { force: true });
    throw new BbioError('E_HUB_INTEGRITY', `${job.repo}/${file}: the downloaded bytes do not match the Hub's ETag ${meta.etag} (got ${size} bytes, digest ${digest}; expected ${Number.isFinite(total) ? total : '?'} bytes)`, { file: blob },
      'the partial file was deleted; run again to download it afresh (a proxy or mirror that rewrites files also causes this)');
  }
  await rename(incomplete, blob);
}

function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'unknown size';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Looks up the revision's commit and files through `@huggingface/hub`, mapping its errors to BbioErrors with the fix. */
async function repoInfo(repo: string, revision: string, s: HubSettings, signal: AbortSignal | undefined): Promise<{ commit: string; files: string[]; gated: boolean }> {
  try {
    const info = await modelInfo({ name: repo, revision, hubUrl: s.endpoint, additionalFields: ['sha', 'filePaths'], fetch: policyFetch(s.token, s.idleTimeoutMs, signal) });
    if (!info.sha || !COMMIT_ID.test(info.sha)) throw new BbioError('E_HUB', `${s.endpoint}/api/models/${repo}/revision/${revision} gave no commit`, { file: `${s.endpoint}/${repo}` }, 'check HF_ENDPOINT points at a Hugging Face Hub');
    return { commit: info.sha, files: info.filePaths, gated: info.gated !== false && info.gated !== undefined };
  } catch (e) {
    if (e instanceof HubApiError) {
      // the library keeps the JSON body but not the X-Error-Code header: the Hub's messages tell the cases apart
      // ("Access to model … is restricted", "Invalid rev id: …", "Repository not found")
      const data = e.data as { error?: string } | undefined;
      const code = /gated|restricted/i.test(data?.error ?? '') ? 'GatedRepo' : /\brev(ision)?\b/i.test(data?.error ?? '') ? 'RevisionNotFound' : undefined;
      throw hubHttpError(e.statusCode, code, { repo, revision, settings: s });
    }
    throw e;
  }
}

/** The files of `files` to download, weights from the shard index when there is one. */
async function neededFiles(repo: string, files: readonly string[], readIndex: () => Promise<string>): Promise<string[]> {
  const picked = files.filter((f) => NEEDED_FILES.has(f));
  if (!picked.includes('config.json')) throw new BbioError('E_HUB_NOT_FOUND', `${repo} has no config.json: it is not a transformers model repository`, {}, 'give the id of a model repository (Llama/Qwen2-style, safetensors weights)');
  if (files.includes(WEIGHTS_INDEX)) {
    const index = JSON.parse(await readIndex()) as { weight_map?: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map ?? {}))];
    // names from the repository become paths in the cache: only plain file names at the root, as
    // huggingface_hub's pointer-path check insists, so `../..` cannot write outside snapshots/
    const unsafe = shards.find((f) => typeof f !== 'string' || path.basename(f) !== f || f === '..' || !f.endsWith('.safetensors'));
    if (unsafe !== undefined) throw new BbioError('E_HUB', `${repo}/${WEIGHTS_INDEX} names a shard that is not a .safetensors file at the repository root: ${JSON.stringify(unsafe)}`, {}, 'the repository (or the HF_ENDPOINT mirror) is damaged or hostile; pick another');
    const missing = shards.filter((f) => !files.includes(f));
    if (!shards.length || missing.length) throw new BbioError('E_HUB_NOT_FOUND', `${repo}/${WEIGHTS_INDEX} names shards the repository lacks: ${missing.join(', ') || '(none listed)'}`, {}, 'the repository is incomplete; pick another revision');
    return [...picked, WEIGHTS_INDEX, ...shards];
  }
  if (files.includes(WEIGHTS_SINGLE)) return [...picked, WEIGHTS_SINGLE];
  throw new BbioError('E_HUB_NOT_FOUND', `${repo} has no safetensors weights (${WEIGHTS_SINGLE} or ${WEIGHTS_INDEX})`, {}, 'the engine reads safetensors only; pick a repository or revision that has them');
}

/**
 * Resolves `repo` at `revision` into a snapshot folder of the Hugging Face cache, downloading what is missing.
 * With `HF_HUB_OFFLINE=1` the cache alone answers (E_HUB_OFFLINE when it lacks the model).
 */
export async function resolveHubModel(repo: string, revision: string, opts: ResolveHubOptions = {}): Promise<string> {
  if (!isHubId(repo)) throw new BbioError('E_USAGE', `"${repo}" is not a Hugging Face model id (ORG/NAME)`, {}, 'write it as on the Hub, e.g. Qwen/Qwen2.5-0.5B-Instruct');
  const env = opts.env ?? process.env;
  const s = hubSettings(env);
  const storage = hubRepoDir(repo, env);
  if (s.offline) {
    const dir = await hubSnapshotDir(repo, revision, env);
    if (!dir) throw new BbioError('E_HUB_OFFLINE', `HF_HUB_OFFLINE is set and the cache has no ${repo} at ${revision}`, { file: storage }, 'unset HF_HUB_OFFLINE and run once with network access (or `huggingface-cli download` it), or give a local checkpoint folder');
    return dir;
  }
  const why = urlRefusal(s.endpoint);
  if (why) throw new BbioError('E_URL_REFUSED', `HF_ENDPOINT ${s.endpoint} refused: ${why}`, { file: s.endpoint }, 'use an https: URL of a public host (http: only to localhost)');
  let info: Awaited<ReturnType<typeof repoInfo>>;
  try {
    info = await repoInfo(repo, revision, s, opts.signal);
  } catch (e) {
    if (!isUnreachable(e)) throw e;
    // as huggingface_hub does: without a network, a model already in the cache is used (with a warning)
    const cached = await hubSnapshotDir(repo, revision, env);
    const why = e instanceof Error ? e.message : String(e);
    if (!cached) throw new BbioError('E_HUB', `cannot reach ${s.endpoint} (${why}) and the cache has no ${repo} at ${revision}`, { file: s.endpoint }, 'check the network (and HF_ENDPOINT), or give a local checkpoint folder', { cause: e });
    (opts.log ?? silentLogger).warn(`cannot reach ${s.endpoint} (${why}); using the cached ${repo} at ${revision}`);
    return cached;
  }
  const { commit, files, gated } = info;
  const job = (file: string): FileJob => ({ repo, revision, commit, file, storage, settings: s, gated, opts });
  const snapshot = path.join(storage, 'snapshots', commit);
  const fetchOne = async (file: string): Promise<void> => {
    // a file the snapshot already has is not asked for again (huggingface_hub does the same for a commit)
    if (!(await exists(path.join(snapshot, file), { follow: true }))) await downloadFile(job(file));
  };
  const wanted = await neededFiles(repo, files, async () => {
    await fetchOne(WEIGHTS_INDEX);
    return readFile(path.join(snapshot, WEIGHTS_INDEX), 'utf8');
  });
  for (const file of wanted) await fetchOne(file);
  if (revision !== commit) {
    const ref = path.join(storage, 'refs', revision); // `refs/pr/1` is a nested path, as in huggingface_hub
    await mkdir(path.dirname(ref), { recursive: true });
    await writeFile(ref, commit);
  }
  return snapshot;
}

/**
 * What `--model M` names: a folder when one exists at `M` (relative to `cwd`), else a Hub id. A path
 * always wins, so a local folder called `org/name` is never shadowed by the Hub.
 */
export async function resolveModelArg(model: string, cwd: string, opts: ResolveHubOptions & { revision?: string } = {}): Promise<string> {
  const local = path.resolve(cwd, model);
  if (fs.existsSync(local) || !isHubId(model)) return local;
  return resolveHubModel(model, opts.revision ?? 'main', opts);
}
