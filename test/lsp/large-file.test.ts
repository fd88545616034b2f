/**
 * Issue 20, item 3: a large experiment file must neither freeze the server nor take long to validate.
 * A 20,000-key file (250 KB) took 10–12 s to validate (quadratic in the keys) and delayed completion in
 * another file by 14.4 s. The targets are 2 s for the big file's diagnostics and 200 ms for the
 * completion; those figures are measured by `npm run bench -- lsp` (bench/lsp.ts, largeFile), where a
 * quiet machine decides them. This test asserts the behaviour with bounds that the quadratic code fails
 * by a wide margin (5 s and 1 s) but that a loaded 2-core CI machine cannot trip: it tripped at 2.07 s
 * once with the 2 s bound while other jobs shared the cores.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompletionRequest, type CompletionList, type PublishDiagnosticsParams } from 'vscode-languageserver-protocol';
import { startSession, type Session } from './client';

let s: Session;
const uri = (name: string): string => `file:///tmp/bbio-large-${process.pid}-${name}.bbio.yaml`;

/** `name:` plus `count` unknown top-level keys, one per line (k0: 0, k1: 1, …). */
function manyKeys(count: number): string {
  return `name: big\n${Array.from({ length: count }, (_, i) => `k${i}: ${i}`).join('\n')}\n`;
}

before(async () => {
  // a budget as wide as the test's bound (the default 1 s is for an editor; past the budget the file gets
  // E_ANALYSIS_TIMEOUT instead of its problems, which the third test checks)
  s = await startSession({ initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 0, analysisBudgetMs: 5000 } });
});

after(() => s?.close());

test('a 20,000-key file is validated in seconds, capped, while completion in another file answers at once', async () => {
  const small = uri('small');
  await s.open(small, 'name: small\nsft:\n  \n');
  await s.diagnostics(small, 1);
  const complete = async (): Promise<number> => {
    const t0 = performance.now();
    const c = (await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: small }, position: { line: 2, character: 2 } })) as CompletionList;
    const ms = performance.now() - t0;
    assert.ok(c.items.some((i) => i.label === 'steps'), 'completion of sft keys');
    return ms;
  };
  await complete(); // warm: the first request compiles the completion code paths
  // the server starts its analysis worker at start-up; a user opens a large file later than 0.1 s after that
  await s.waitFor<{ message: string }>('window/logMessage', (m) => /analysis worker ready/.test(m.message), 30_000);

  const big = uri('20k');
  const t0 = performance.now();
  let diagnosedAt: number | undefined;
  const published = s.diagnostics(big, 1, 60_000).then((d) => {
    diagnosedAt = performance.now() - t0;
    return d;
  });
  await s.open(big, manyKeys(20_000));
  // ask 20 times in a row while the big file is analysed (it takes ≥ 0.3 s; the 20 answers ~0.1 s): a
  // request stuck behind the analysis shows. Not more: a busy client would slow the analysis it measures.
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) latencies.push(await complete());
  assert.ok(Math.max(...latencies) < 1000, `completion took ${latencies.map((x) => Math.round(x)).join(', ')} ms while the big file was analysed`);
  assert.equal(diagnosedAt, undefined, 'the completions were asked while the big file was analysed');
  const d: PublishDiagnosticsParams = await published;
  assert.ok(diagnosedAt !== undefined);
  assert.ok(diagnosedAt < 5000, `the 20,000-key file's diagnostics took ${Math.round(diagnosedAt)} ms`);
  assert.equal(d.diagnostics.length, 201, JSON.stringify(d.diagnostics.slice(0, 2)));
  assert.ok(d.diagnostics.slice(0, 200).every((x) => x.code === 'E_SCHEMA_UNKNOWN_KEY'));
  assert.equal(d.diagnostics[200]?.code, 'E_TOO_MANY_PROBLEMS');
  assert.match(d.diagnostics[200]?.message ?? '', /^… and 19,800 more problems/);
});

test('an edit cancels the analysis of the previous version: the new version is diagnosed at once', async () => {
  const big = uri('edited');
  const t0 = performance.now();
  await s.open(big, manyKeys(20_000), 1);
  // a request answered after the open: the server has read the open and started the analysis of version 1
  await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: uri('small') }, position: { line: 2, character: 2 } });
  await s.change(big, 'name: small-now\nsft:\n  steps: 0\n', 2);
  const d = await s.diagnostics(big, 2, 5000);
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `version 2 was diagnosed ${Math.round(ms)} ms after version 1 was opened`);
  assert.deepEqual(d.diagnostics.map((x) => x.code), ['E_SCHEMA_RANGE']);
  const stale = s.notifications.filter((n) => n.method === 'textDocument/publishDiagnostics' && (n.params as PublishDiagnosticsParams).uri === big && (n.params as PublishDiagnosticsParams).version === 1);
  assert.equal(stale.length, 0, 'the superseded version is never published');
});

test('a large file that cannot be analysed within the budget gets one diagnostic saying so; others are served', async () => {
  const t = await startSession({ initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 0, analysisBudgetMs: 5 } });
  try {
    await t.waitFor<{ message: string }>('window/logMessage', (m) => /analysis worker ready/.test(m.message), 30_000);
    const big = uri('budget');
    await t.open(big, manyKeys(20_000));
    const d = await t.diagnostics(big, 1, 5000);
    assert.deepEqual(d.diagnostics.map((x) => x.code), ['E_ANALYSIS_TIMEOUT']);
    assert.match(d.diagnostics[0]?.message ?? '', /^analysis stopped after 0\.005 s: file too large \(25\d KiB, 20,002 lines\)/);
    assert.deepEqual(d.diagnostics[0]?.range, { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } });
    // the worker was stopped and a new one serves the next large file
    const next = uri('budget-next');
    await t.open(next, manyKeys(20_000));
    assert.deepEqual((await t.diagnostics(next, 1, 10_000)).diagnostics.map((x) => x.code), ['E_ANALYSIS_TIMEOUT']);
    const small = uri('budget-small');
    await t.open(small, 'name: small\nseed: -1\n');
    assert.deepEqual((await t.diagnostics(small, 1, 2000)).diagnostics.map((x) => x.code), ['E_SCHEMA_RANGE'], 'small files are analysed as before');
  } finally {
    await t.close();
  }
});
