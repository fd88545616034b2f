/**
 * A local stand-in for the Hugging Face Hub, serving the routes the engine uses with the headers the real Hub
 * sends (read from huggingface_hub's `file_download.py` and @huggingface/hub's `model-info.ts`):
 *   GET  /api/models/ORG/NAME/revision/REV       → { id, sha, siblings: [{ rfilename }], gated, … }
 *   HEAD/GET /ORG/NAME/resolve/REV/FILE          → small files: 200 with `ETag: "<git blob sha1>"`;
 *        LFS files (*.safetensors): 302 to /lfs/<sha256> with `X-Linked-Etag: "<sha256>"`, `X-Linked-Size`;
 *        both with `X-Repo-Commit`. Gated repositories: 403 with `X-Error-Code: GatedRepo` without a token.
 *   GET  /lfs/<sha256>                           → the bytes, honouring `Range: bytes=N-` with 206.
 * It counts the bytes it serves per file, and can cut a download short, stall it, or corrupt it once.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface HubRepo {
  /** File name → contents. Names ending in .safetensors are served as LFS files. */
  files: Record<string, Buffer>;
  commit: string;
  gated?: boolean;
}

export interface TestHub {
  url: string;
  /** Bytes of file contents served, by file name (over all requests). */
  served: Map<string, number>;
  /** Requests to the resolve route, by file name (HEAD and GET). */
  resolves: Map<string, number>;
  /** The next GET of `file` sends only this many bytes, then drops the connection. */
  cutAfter: Map<string, number>;
  /** The next GET of `file` sends only this many bytes, then keeps the connection open and silent. */
  stallAfter: Map<string, number>;
  /** File → the ETag header sent instead of the real one. */
  etagOverride: Map<string, string>;
  /** Files whose next GET has one byte flipped. */
  corruptOnce: Set<string>;
  /** The token gated repositories accept. */
  token: string;
}

export const gitBlobSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const isLfs = (name: string): boolean => name.endsWith('.safetensors');

/** Starts the hub on 127.0.0.1 (the URL policy allows http: to loopback only), closed when the test ends. */
export async function startTestHub(t: TestContext, repos: Record<string, HubRepo>): Promise<TestHub> {
  const hub: TestHub = { url: '', served: new Map(), resolves: new Map(), cutAfter: new Map(), stallAfter: new Map(), etagOverride: new Map(), corruptOnce: new Set(), token: 'hf_testtoken' };
  const byLfs = new Map<string, { repo: HubRepo; name: string }>();
  for (const repo of Object.values(repos)) for (const [name, data] of Object.entries(repo.files)) if (isLfs(name)) byLfs.set(sha256Hex(data), { repo, name });
  const error = (res: http.ServerResponse, status: number, code: string, message: string): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code }).end(JSON.stringify({ error: message }));
  };
  const sendBytes = (req: http.IncomingMessage, res: http.ServerResponse, name: string, data: Buffer, headers: Record<string, string>): void => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    let body = data.subarray(start);
    if (req.method === 'GET' && hub.corruptOnce.delete(name)) {
      body = Buffer.from(body);
      body[body.length - 1] ^= 0xff;
    }
    res.writeHead(m ? 206 : 200, { ...headers, 'content-length': String(body.length), ...(m ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
    if (req.method === 'HEAD') return void res.end();
    const stall = hub.stallAfter.get(name);
    if (stall !== undefined) {
      hub.stallAfter.delete(name);
      hub.served.set(name, (hub.served.get(name) ?? 0) + stall);
      res.write(body.subarray(0, stall)); // and nothing more: the client's idle timeout must end it
      return;
    }
    const cut = hub.cutAfter.get(name);
    if (cut !== undefined) {
      hub.cutAfter.delete(name);
      hub.served.set(name, (hub.served.get(name) ?? 0) + cut);
      res.write(body.subarray(0, cut), () => res.destroy());
      return;
    }
    hub.served.set(name, (hub.served.get(name) ?? 0) + body.length);
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const repo = repos[api[1]!];
      if (!repo) return error(res, 404, 'RepoNotFound', 'Repository not found');
      if (api[2] !== 'main' && api[2] !== repo.commit) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${api[2]}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        _id: 'x', id: api[1], sha: repo.commit, private: false, gated: repo.gated ? 'manual' : false, downloads: 0, likes: 0,
        lastModified: '2026-12-01T00:00:00.000Z', pipeline_tag: 'text-generation', siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })),
      }));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = repos[resolve[1]!];
      const name = decodeURIComponent(resolve[3]!);
      hub.resolves.set(name, (hub.resolves.get(name) ?? 0) + 1);
      if (!repo) return error(res, 404, 'RepoNotFound', 'Repository not found');
      if (repo.gated && req.headers.authorization !== `Bearer ${hub.token}`) return error(res, 403, 'GatedRepo', `Access to model ${resolve[1]} is restricted. You must have access to it and be authenticated to access it.`);
      const data = repo.files[name];
      if (!data) return error(res, 404, 'EntryNotFound', 'Entry not found');
      if (isLfs(name)) {
        const sha = sha256Hex(data);
        res.writeHead(302, { location: `/lfs/${sha}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(data.length), 'x-repo-commit': repo.commit, etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${data.length}\n`))}"` }).end();
        return;
      }
      return sendBytes(req, res, name, data, { etag: `"${hub.etagOverride.get(name) ?? gitBlobSha1(data)}"`, 'x-repo-commit': repo.commit });
    }
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    const hit = lfs ? byLfs.get(lfs[1]!) : undefined;
    if (hit) return sendBytes(req, res, hit.name, hit.repo.files[hit.name]!, {});
    error(res, 404, 'EntryNotFound', 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hub;
}
