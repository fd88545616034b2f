/**
 * A real LSP client for the tests and the benchmark: starts the BUILT server (`node dist/server.js
 * --stdio`) as a separate process and talks to it with vscode-languageserver-protocol over its stdio.
 * Records every notification so tests can await one with a timeout (no sleeps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  InitializedNotification,
  InitializeRequest,
  PublishDiagnosticsNotification,
  StreamMessageReader,
  StreamMessageWriter,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
  type ClientCapabilities,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol/node';

export const REPO = path.resolve(__dirname, '../..');
export const SERVER = path.join(REPO, 'dist/server.js');
export const FIXTURES = path.join(REPO, 'test/fixtures/lsp');

export interface Recorded {
  method: string;
  params: unknown;
  at: number;
}

export interface Session {
  conn: ProtocolConnection;
  child: ChildProcess;
  notifications: Recorded[];
  /** Server log lines (window/logMessage) and stderr. */
  logs: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isAlive(): boolean;
  /** Resolves with the first notification (already received or future) that matches. */
  waitFor<T = unknown>(method: string, match?: (params: T) => boolean, timeoutMs?: number): Promise<T>;
  /** Diagnostics for `uri` whose version is ≥ `version` (push mode). */
  diagnostics(uri: string, version: number, timeoutMs?: number): Promise<PublishDiagnosticsParams>;
  open(uri: string, text: string, version?: number): Promise<void>;
  change(uri: string, text: string, version: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_CAPABILITIES: ClientCapabilities = {
  window: { workDoneProgress: true },
  workspace: { codeLens: { refreshSupport: true } },
  textDocument: {
    completion: { completionItem: { snippetSupport: true, labelDetailsSupport: true } },
    hover: { contentFormat: ['markdown', 'plaintext'] },
    publishDiagnostics: { versionSupport: true },
  },
};

/** `root`: the workspace folder the client announces (default the repository). */
export async function startSession(opts: { initializationOptions?: unknown; capabilities?: ClientCapabilities; args?: string[]; cwd?: string; root?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Session> {
  if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run npx tsx scripts/build.ts first`);
  const child = spawn(process.execPath, opts.args ?? [SERVER, '--stdio'], { cwd: opts.cwd ?? REPO, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
  const logs: string[] = [];
  child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => {
    alive = false;
    resolve({ code, signal });
  }));
  const conn = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const notifications: Recorded[] = [];
  const waiters: { method: string; match: (p: unknown) => boolean; resolve: (p: unknown) => void }[] = [];
  const record = (method: string, params: unknown): void => {
    notifications.push({ method, params, at: Date.now() });
    if (method === 'window/logMessage') logs.push((params as { message: string }).message);
    for (const w of [...waiters]) {
      if (w.method === method && w.match(params)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(params);
      }
    }
  };
  conn.onUnhandledNotification((msg) => record(msg.method, msg.params));
  // server → client requests a real client answers
  conn.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    conn.onProgress(WorkDoneProgress.type, token, (value) => record('$/progress', { token, value }));
    return null;
  });
  for (const m of ['workspace/codeLens/refresh', 'workspace/diagnostic/refresh', 'client/registerCapability', 'client/unregisterCapability']) conn.onRequest(m, () => null);
  conn.onRequest('workspace/configuration', (p: { items: unknown[] }) => p.items.map(() => null));
  conn.listen();

  const waitFor = <T>(method: string, match: (params: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> => {
    const seen = notifications.find((n) => n.method === method && match(n.params as T));
    if (seen) return Promise.resolve(seen.params as T);
    return new Promise<T>((resolve, reject) => {
      const w = { method, match: match as (p: unknown) => boolean, resolve: (p: unknown) => { clearTimeout(timer); resolve(p as T); } };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${method}; server log:\n${logs.slice(-20).join('\n')}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };

  await conn.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: pathToFileURL(opts.root ?? REPO).href,
    capabilities: opts.capabilities ?? DEFAULT_CAPABILITIES,
    initializationOptions: opts.initializationOptions ?? {},
    workspaceFolders: null,
  });
  await conn.sendNotification(InitializedNotification.type, {});

  return {
    conn,
    child,
    notifications,
    logs,
    exited,
    isAlive: () => alive && child.exitCode === null,
    waitFor,
    diagnostics: (uri, version, timeoutMs) => waitFor<PublishDiagnosticsParams>(PublishDiagnosticsNotification.method, (p) => p.uri === uri && (p.version ?? 0) >= version, timeoutMs),
    open: (uri, text, version = 1) => conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId: 'bbio-yaml', version, text } }),
    change: (uri, text, version) => conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges: [{ text }] }),
    async close() {
      if (alive) {
        try {
          await Promise.race([conn.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
          await conn.sendNotification('exit');
        } catch {
          child.kill('SIGKILL'); // the connection already broke: make sure the process is gone
        }
      }
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      conn.dispose();
    },
  };
}

/** 0-based position of the `n`th occurrence of `needle` in `text`, plus `delta` characters. */
export function positionOf(text: string, needle: string, delta = 0, n = 0): { line: number; character: number } {
  let idx = -1;
  for (let i = 0; i <= n; i++) {
    idx = text.indexOf(needle, idx + 1);
    if (idx < 0) throw new Error(`"${needle}" not found`);
  }
  const before = text.slice(0, idx + delta);
  const line = before.split('\n').length - 1;
  return { line, character: before.length - before.lastIndexOf('\n') - 1 };
}

export function fileUri(p: string): string {
  return pathToFileURL(p).href;
}
