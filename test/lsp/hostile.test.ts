/**
 * Hostile input: random bytes, a 20 MB document, deep nesting, an alias bomb, invalid positions, malformed
 * requests and rapid edits. For each the server answers (a result or an error response) and never exits;
 * afterwards it still serves a normal document correctly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  CodeLensRequest,
  CompletionRequest,
  DocumentSymbolRequest,
  HoverRequest,
  type CompletionList,
  type Position,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol';
import * as P from '../../server/protocol';
import { startSession, type Session } from './client';

let s: Session;
let n = 0;
const docUri = (): string => `file:///tmp/bbio-hostile-${process.pid}-${++n}.bbio.yaml`;

/** Every feature request at `pos`: each must settle (answer or error) and leave the server alive. */
async function probeAll(uri: string, pos: Position): Promise<{ answered: number; errors: number }> {
  const calls = [
    s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: pos }),
    s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: pos }),
    s.conn.sendRequest(CodeLensRequest.type, { textDocument: { uri } }),
    s.conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri } }),
  ];
  const results = await Promise.allSettled(calls);
  assert.ok(s.isAlive(), `server exited; log:\n${s.logs.slice(-10).join('\n')}`);
  return { answered: results.filter((r) => r.status === 'fulfilled').length, errors: results.filter((r) => r.status === 'rejected').length };
}

async function diagnosticsOf(uri: string, version = 1, timeoutMs = 20_000): Promise<PublishDiagnosticsParams> {
  return s.diagnostics(uri, version, timeoutMs);
}

before(async () => {
  // trusted, so startRun gets past the trust gate and its parameter checks are what is tested
  s = await startSession({ initializationOptions: { trusted: true, skipBuiltinOntology: true, diagnosticsDelayMs: 30 } });
});

after(() => s?.close());

test('random bytes: a YAML diagnostic, and every feature answers', async () => {
  for (let i = 0; i < 5; i++) {
    const uri = docUri();
    await s.open(uri, randomBytes(4096).toString('latin1'));
    const d = await diagnosticsOf(uri);
    assert.ok(d.diagnostics.length > 0);
    const r = await probeAll(uri, { line: 3, character: 7 });
    assert.equal(r.answered + r.errors, 4);
  }
});

test('a 20 MB document is refused with one diagnostic; features stay off', async () => {
  const uri = docUri();
  const big = 'name: big\n' + '# padding line of a huge experiment file\n'.repeat(Math.ceil((20 * 2 ** 20) / 41));
  await s.open(uri, big);
  const d = await diagnosticsOf(uri, 1, 30_000);
  assert.deepEqual(d.diagnostics.map((x) => x.code), ['E_FILE_TOO_LARGE']);
  const r = await probeAll(uri, { line: 100_000, character: 3 });
  assert.equal(r.answered, 4);
  const c = await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 1, character: 0 } });
  assert.equal(c, null);
});

test('deep nesting (flow and block) is reported, not a crash', async () => {
  const flow = docUri();
  await s.open(flow, `name: deep\nstages: ${'['.repeat(200_000)}${']'.repeat(200_000)}\n`);
  const d = await diagnosticsOf(flow);
  assert.ok(d.diagnostics.some((x) => x.severity === 1), JSON.stringify(d.diagnostics.slice(0, 2)));
  await probeAll(flow, { line: 1, character: 100 });

  const block = docUri();
  const lines = ['name: deep'];
  for (let i = 0; i < 700; i++) lines.push(`${' '.repeat(i)}k${i}:`);
  await s.open(block, lines.join('\n'));
  const b = await diagnosticsOf(block);
  assert.ok(b.diagnostics.length > 0);
  await probeAll(block, { line: 650, character: 660 });
});

test('an alias bomb is cut off by the loader', async () => {
  const uri = docUri();
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 10; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  await s.open(uri, `name: bomb\n${levels.join('\n')}\n`);
  const d = await diagnosticsOf(uri);
  assert.deepEqual(d.diagnostics.map((x) => x.code), ['E_YAML_ALIAS']);
  await probeAll(uri, { line: 9, character: 10 });
});

test('invalid positions get an answer or an InvalidParams error', async () => {
  const uri = docUri();
  await s.open(uri, 'name: x\ndescription: "🧬🧬 cells"\nsft:\n  st');
  const bad: unknown[] = [{ line: -1, character: 0 }, { line: 1e9, character: 1e9 }, { line: 1.5, character: 0 }, { line: 'x', character: 0 }, null, { line: 1, character: 15 } /* inside a surrogate pair */];
  let rejected = 0;
  for (const position of bad) {
    const results = await Promise.allSettled([
      s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: position as Position }),
      s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: position as Position }),
    ]);
    for (const r of results) if (r.status === 'rejected') rejected++;
    assert.ok(s.isAlive());
  }
  assert.ok(rejected >= 4, 'malformed positions are rejected');
  await assert.rejects(s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 1.5, character: 0 } }), /invalid position/);
});

test('malformed custom requests and unknown methods are errors, not crashes', async () => {
  await assert.rejects(s.conn.sendRequest(P.startRun, null as unknown as P.StartRunParams));
  await assert.rejects(s.conn.sendRequest(P.startRun, { uri: 'file:///etc/passwd' }), /bbio\.yaml/);
  await assert.rejects(s.conn.sendRequest(P.cancelRun, { jobId: 42 } as unknown as P.CancelRunParams));
  await assert.rejects(s.conn.sendRequest('balancedbio/noSuchMethod', {}));
  await assert.rejects(s.conn.sendRequest(P.listRuns, {} as P.ListRunsParams));
  assert.deepEqual(await s.conn.sendRequest(P.lookupTerm, { query: '\u0000'.repeat(10_000) }), []);
  assert.ok(s.isAlive());
});

test('rapid edits are debounced; the last version wins', async () => {
  const uri = docUri();
  await s.open(uri, 'name: x\n', 1);
  for (let v = 2; v <= 300; v++) await s.change(uri, `name: x\nsft:\n  steps: ${v % 7 === 0 ? '-1' : v}\n${'  '.repeat(v % 3)}junk: [${v}`, v);
  await s.change(uri, 'name: x\nsft:\n  steps: 50\n', 301);
  const d = await diagnosticsOf(uri, 301);
  assert.deepEqual(d.diagnostics, []);
  const published = s.notifications.filter((x) => x.method === 'textDocument/publishDiagnostics' && (x.params as PublishDiagnosticsParams).uri === uri).length;
  assert.ok(published < 60, `${published} publishes for 300 edits`);
  const c = (await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri }, position: { line: 3, character: 0 } })) as CompletionList;
  assert.ok(c.items.some((i) => i.label === 'stages'), 'still serves completion');
  assert.ok(s.isAlive());
});
