import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../../schemas/generated/events';
import { CHARTS, DashboardModel, parseEventsJsonl } from '../../../extension/views/dashboard-model';
import { METRIC_DESCRIPTIONS } from '../../../schemas/generated/events';

const m = (step: number, name: string, value: number, labels?: Record<string, string>): EngineEvent => ({ v: 1, t: step, runId: 'r', kind: 'metric', stage: 'sft', step, name: name as 'sft/loss', value, ...(labels ? { labels } : {}) });

test('every charted metric is declared in the events schema', () => {
  for (const c of CHARTS) for (const name of c.metrics) assert.ok(name in METRIC_DESCRIPTIONS, name);
});

test('one series per capability; cosine series tell raw from projected', () => {
  const model = new DashboardModel('r');
  model.applyAll([
    m(1, 'sft/loss', 2, { capability: 'domain' }),
    m(1, 'sft/loss', 3, { capability: 'reasoning' }),
    m(1, 'sft/cosine_raw', -0.2, { capability: 'domain', other: 'reasoning' }),
    m(1, 'sft/cosine_projected', 0.0, { capability: 'domain', other: 'reasoning' }),
  ]);
  const snap = model.snapshot();
  const labels = snap.series.map((s) => `${s.chartId}:${s.label}`).sort();
  assert.deepEqual(labels, ['cosine:sft projected domain×reasoning', 'cosine:sft raw domain×reasoning', 'loss:sft loss domain', 'loss:sft loss reasoning']);
});

test('take() hands out only new points; a repeated step (resume) replaces the value', () => {
  const model = new DashboardModel('r');
  model.applyAll([m(1, 'sft/loss', 2, { capability: 'domain' }), m(2, 'sft/loss', 1.5, { capability: 'domain' })]);
  model.snapshot();
  assert.deepEqual(model.take().series, []);
  model.apply(m(3, 'sft/loss', 1.2, { capability: 'domain' }));
  assert.deepEqual(model.take().series.map((s) => [s.from, s.xs, s.ys]), [[2, [3], [1.2]]]);
  model.apply(m(2, 'sft/loss', 1.4, { capability: 'domain' })); // resumed from step 2
  const d = model.take().series[0]!;
  assert.deepEqual([d.from, d.xs, d.ys], [1, [2], [1.4]]);
});

test('interference becomes a matrix; eval scores a table; the header follows phases', () => {
  const model = new DashboardModel('r');
  model.applyAll([
    { v: 1, t: 0, runId: 'r', kind: 'phase', stage: 'run', status: 'started' },
    { v: 1, t: 0, runId: 'r', kind: 'phase', stage: 'sft', status: 'started', total: 5 },
    m(5, 'sft/interference', 0.1, { capability: 'domain', other: 'reasoning' }),
    m(5, 'sft/interference', -0.2, { capability: 'reasoning', other: 'domain' }),
    { v: 1, t: 0, runId: 'r', kind: 'metric', name: 'eval/score', value: 0.7, labels: { suite: 'domain', metric: 'accuracy', model: 'sft' } },
  ]);
  const snap = model.snapshot();
  assert.deepEqual(snap.heatmap.capabilities, ['domain', 'reasoning']);
  assert.deepEqual(snap.heatmap.values, [[null, 0.1], [-0.2, null]]);
  assert.deepEqual(snap.scores, [{ suite: 'domain', metric: 'accuracy', model: 'sft', value: 0.7, stderr: undefined }]);
  assert.equal(snap.header.status, 'running');
  assert.equal(snap.header.stages['sft'], 'started');
});

test('parseEventsJsonl skips blank and torn lines and counts them', () => {
  const text = '{"v":1,"t":0,"runId":"r","kind":"log","level":"info","msg":"a"}\n\n{"v":1,"t":1,"runId":"r","ki';
  const r = parseEventsJsonl(text);
  assert.equal(r.events.length, 1);
  assert.equal(r.badLines, 1);
});
