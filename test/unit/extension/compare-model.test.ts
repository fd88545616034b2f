import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareToMarkdown, diffConfigs, flattenConfig, scoresFromEvents, scoresFromReport } from '../../../extension/compare/compare-model';
import type { CompareRunView } from '../../../extension/views/messages';

test('flattenConfig: nested keys as dotted paths, arrays as leaves', () => {
  assert.deepEqual([...flattenConfig({ a: { b: 1, c: [1, 2] }, d: 'x' })], [['a.b', '1'], ['a.c', '[1,2]'], ['d', '"x"']]);
});

test('diffConfigs shows only keys that differ, with absent keys as undefined', () => {
  const rows = diffConfigs([
    { name: 'a', sft: { projection: 'pcgrad', steps: 120 }, seed: 1 },
    { name: 'b', sft: { projection: 'none', steps: 120 }, seed: 1 },
    { name: 'c', sft: { projection: 'none', steps: 120 }, seed: 1, extra: true },
  ]);
  assert.deepEqual(rows, [
    { path: 'extra', values: [undefined, undefined, 'true'] },
    { path: 'name', values: ['"a"', '"b"', '"c"'] },
    { path: 'sft.projection', values: ['"pcgrad"', '"none"', '"none"'] },
  ]);
  assert.deepEqual(diffConfigs([{ a: 1 }, { a: 1 }]), []);
});

test('scoresFromReport accepts the documented shapes', () => {
  assert.deepEqual(scoresFromReport({ scores: { domain: 0.5, reasoning: { value: 0.4, stderr: 0.02 } } }), { domain: { value: 0.5, stderr: undefined }, reasoning: { value: 0.4, stderr: 0.02 } });
  assert.deepEqual(scoresFromReport({ suites: [{ suite: 'instruction', score: 0.7 }, { name: 'x', metric: 'loose', value: 0.1 }] }), { instruction: { value: 0.7, stderr: undefined }, 'x/loose': { value: 0.1, stderr: undefined } });
  assert.deepEqual(scoresFromReport(null), {});
});

test('scoresFromEvents: the last eval/score with its stderr', () => {
  const s = scoresFromEvents([
    { v: 1, t: 0, runId: 'r', kind: 'metric', name: 'eval/score', value: 0.3, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/score', value: 0.6, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/stderr', value: 0.01, labels: { suite: 'domain', metric: 'accuracy' } },
    { v: 1, t: 1, runId: 'r', kind: 'metric', name: 'eval/stderr', value: 0.01, labels: { suite: 'orphan' } },
  ]);
  assert.deepEqual(s, { domain: { value: 0.6, stderr: 0.01 } });
});

test('compareToMarkdown: scores with ± and deltas against the first run, then the diff', () => {
  const run = (runId: string, v: number): CompareRunView => ({ runId, status: 'completed', createdAt: undefined, scores: { domain: { value: v, stderr: 0.01 } }, summaries: {}, curves: {} });
  const md = compareToMarkdown([run('base', 0.5), run('ablation', 0.45)], [{ path: 'sft.projection', values: ['"pcgrad"', '"none"'] }]);
  assert.match(md, /\| domain \| 0\.500 ± 0\.010 \| 0\.450 ± 0\.010 \(−0\.050\) \|/);
  assert.match(md, /\| `sft\.projection` \| `"pcgrad"` \| `"none"` \|/);
  assert.match(compareToMarkdown([run('a', 1), run('b', 1)], []), /identical/);
});
