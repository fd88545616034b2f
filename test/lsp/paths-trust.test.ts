/**
 * Issue 20 through a real LSP client: paths outside the workspace folder are diagnostics on their line
 * (the client's `allowedPaths` admits a folder), and a client that sends no `trusted` gets no runs.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as P from '../../server/protocol';
import { REPO, fileUri, startSession, type Session } from './client';

let root: string;
let ws: string;

before(async () => {
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'bbio-lsp-paths-')));
  ws = path.join(root, 'ws');
  await mkdir(path.join(ws, 'experiments'), { recursive: true });
  await mkdir(path.join(root, 'shared'));
  await writeFile(path.join(root, 'shared/x.obo'), 'format-version: 1.4\n');
});

after(() => rm(root, { recursive: true, force: true }));

const TEXT = ['name: x', 'ontology:', '  builtin: false', '  sources:', '    - path: ../../shared/x.obo', 'data:', '  val:', '    - { path: /etc/passwd, format: qa, capability: reasoning }', 'output:', '  runs_dir: ../runs', ''].join('\n');

test('paths outside the workspace folder are E_PATH_OUTSIDE diagnostics on their own lines; allowedPaths admits a folder', async (t) => {
  const file = path.join(ws, 'experiments', 'exp.bbio.yaml');
  await writeFile(file, TEXT);
  const uri = fileUri(file);

  const s = await startSession({ root: ws, initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 20 } });
  t.after(() => s.close());
  await s.open(uri, TEXT);
  const d = (await s.diagnostics(uri, 1)).diagnostics.filter((x) => x.code === 'E_PATH_OUTSIDE');
  // 0-based lines: the ontology path (line 5 of the file) and the data path (line 8); ../runs is inside ws
  assert.deepEqual(d.map((x) => x.range.start.line), [4, 7]);
  assert.match(d[0]!.message, new RegExp(`resolves to ${path.join(root, 'shared/x.obo').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n.*balancedbio\\.allowedPaths`));
  assert.equal(TEXT.split('\n')[4]!.slice(d[0]!.range.start.character, d[0]!.range.end.character), '../../shared/x.obo');

  const allowed = await startSession({ root: ws, initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 20, allowedPaths: [path.join(root, 'shared')] } });
  t.after(() => allowed.close());
  await allowed.open(uri, TEXT);
  const again = (await allowed.diagnostics(uri, 1)).diagnostics.filter((x) => x.code === 'E_PATH_OUTSIDE');
  assert.deepEqual(again.map((x) => x.range.start.line), [7]);
});

test('`balancedbio lsp` without `trusted` refuses runs; `--trusted` or trusted: true enables them', async (t) => {
  const file = path.join(ws, 'trust.bbio.yaml');
  await writeFile(file, 'name: t\n');
  const uri = fileUri(file);
  const bin = path.join(REPO, 'bin/balancedbio.js');
  const start = async (args: string[], init: Record<string, unknown>): Promise<Session> => {
    const s = await startSession({ root: ws, args: [bin, 'lsp', '--stdio', ...args], initializationOptions: { skipBuiltinOntology: true, ...init } });
    t.after(() => s.close());
    return s;
  };
  const silent = await start([], {});
  await assert.rejects(silent.conn.sendRequest(P.startRun, { uri, stages: ['bogus' as P.StageName] }), /not trusted/);
  // past the trust gate, the bogus stage is what gets refused
  for (const s of [await start(['--trusted'], {}), await start([], { trusted: true })]) {
    await assert.rejects(s.conn.sendRequest(P.startRun, { uri, stages: ['bogus' as P.StageName] }), /unknown stage/);
  }
  const explicit = await start(['--trusted'], { trusted: false });
  await assert.rejects(explicit.conn.sendRequest(P.startRun, { uri, stages: ['bogus' as P.StageName] }), /not trusted/);
});
