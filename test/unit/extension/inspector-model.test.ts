import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../../schemas/generated/events';
import { DashboardModel } from '../../../extension/views/dashboard-model';
import { alertsIn, HealthModel } from '../../../extension/views/health-model';
import { answerMatch, parseDataset, queryDataset, rolloutsFrom, tokenPreviewsFrom } from '../../../extension/views/inspector-model';

const rec = (type: 'rollouts' | 'health' | 'alert' | 'examples', data: Record<string, unknown>, step?: number, stage: 'sft' | 'grpo' = 'grpo'): EngineEvent => ({ v: 1, t: 0, runId: 'r', kind: 'record', type, stage, data, ...(step !== undefined ? { step } : {}) });
const metric = (step: number, name: string, value: number, labels?: Record<string, string>): EngineEvent => ({ v: 1, t: 0, runId: 'r', kind: 'metric', stage: 'grpo', step, name: name as 'grpo/kl', value, ...(labels ? { labels } : {}) });

const group = (gold: string, texts: string[]) => ({
  capability: 'reasoning',
  exampleId: 'reasoning-000001',
  prompt: 'Which drug?',
  gold,
  completions: texts.map((text, i) => ({ text, truncated: i === 1, reward: i / 2, advantage: i - 0.5, components: { correctness: i, format: 1, bogus: 'x' }, extracted: i === 0 ? '' : text })),
});

test('rollouts: every logged step in order; a re-logged step (resume) replaces the earlier one; junk dropped', () => {
  const steps = rolloutsFrom([
    rec('rollouts', { groups: [group('metformin', ['a', 'metformin'])] }, 4),
    rec('rollouts', { groups: [group('insulin', ['b', 'c'])] }, 1),
    rec('rollouts', { groups: 'not a list' }, 2),
    rec('rollouts', { groups: [group('insulin', ['again', 'x']), { completions: 'no' }, 7] }, 1),
    rec('health', { metric: 'grpo/kl', meaning: 'm' }, 3),
  ]);
  assert.deepEqual(steps.map((s) => s.step), [1, 4]);
  assert.equal(steps[0]!.groups.length, 1);
  const c = steps[0]!.groups[0]!.completions;
  assert.deepEqual(c.map((x) => x.text), ['again', 'x']);
  assert.deepEqual(c[1], { text: 'x', truncated: true, reward: 0.5, advantage: 0.5, components: { correctness: 1, format: 1 }, extracted: 'x' });
});

test('answerMatch folds case and spaces only', () => {
  assert.equal(answerMatch('  Metformin ', 'metformin'), 'match');
  assert.equal(answerMatch('metformin xr', 'metformin'), 'differs');
  assert.equal(answerMatch(' ', 'metformin'), 'none');
});

const line = (id: string, capability: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, capability, prompt: `Q ${id} about gout`, response: `A ${id}`, answer: 'allopurinol', template: `${capability}/treatment/1`, provenance: { entities: ['BBIO:1', 'BBIO:2'], edges: [{ source: 'BBIO:2', relation: 'treats', target: 'BBIO:1' }], central: 'BBIO:1', answerIds: ['BBIO:2'], query: { subject: 'BBIO:1', relation: 'treats', inverse: true } }, ...extra });

test('dataset: rows with provenance, token previews first, filter by capability and words, pages', () => {
  const previews = tokenPreviewsFrom([
    rec('examples', { examples: [{ id: 'old', pieces: ['x'], trainedFrom: 0 }] }, undefined, 'sft'),
    rec('examples', { examples: [{ id: 'd-3', pieces: ['<|user|>\n', 'Q', '\n<|assistant|>\n', 'A', ' d-3'], trainedFrom: 3 }, { id: 'bad', pieces: [1, 2], trainedFrom: 0 }] }, undefined, 'sft'),
  ]);
  assert.deepEqual([...previews.keys()], ['d-3']); // the latest record wins; malformed entries dropped
  const lines = [line('d-1', 'domain'), line('d-2', 'domain'), '{torn', line('d-3', 'domain'), line('r-1', 'reasoning', { prompt: 'Chain: warfarin interacts with?' }), JSON.stringify({ id: 'no-prompt', capability: 'domain' }), line('u-1', 'domain', { template: 'real/mcqa', provenance: { entities: [], edges: [], central: 'q:abc', answerIds: [] } })];
  const { rows, badLines } = parseDataset(lines.join('\n') + '\n', 'artifacts/data/train.jsonl', previews);
  assert.equal(badLines, 2);
  assert.equal(rows.length, 5);
  const d1 = rows[0]!;
  assert.deepEqual(d1.provenance, { central: 'BBIO:1', entities: ['BBIO:1', 'BBIO:2'], edges: ['BBIO:2 —treats→ BBIO:1'], query: '? —treats→ BBIO:1' });
  const user = rows.find((r) => r.id === 'u-1')!;
  assert.equal(user.provenance, undefined); // a question hash is not ontology provenance
  assert.equal(user.source, 'artifacts/data/train.jsonl:7 (user file record u-1)');

  const all = queryDataset(rows, { capability: undefined, text: '', page: 0 }, 'f', 2);
  assert.deepEqual(all.capabilities, { domain: 4, reasoning: 1 });
  assert.deepEqual(all.rows.map((r) => r.id), ['d-3', 'd-1']); // previewed example first
  assert.equal(all.matched, 5);
  const last = queryDataset(rows, { capability: undefined, text: '', page: 99 }, 'f', 2);
  assert.deepEqual([last.page, last.rows.map((r) => r.id)], [2, ['u-1']]); // clamped to the last page
  assert.deepEqual(queryDataset(rows, { capability: 'reasoning', text: '', page: 0 }, 'f').rows.map((r) => r.id), ['r-1']);
  assert.deepEqual(queryDataset(rows, { capability: undefined, text: 'WARFARIN chain', page: 0 }, 'f').rows.map((r) => r.id), ['r-1']);
  assert.deepEqual(queryDataset(rows, { capability: 'domain', text: 'treats', page: 0 }, 'f').matched, 3);
});

test('health: watched metrics keep their latest value per series; notes fold per metric and pair; alerts listed', () => {
  const h = new HealthModel();
  for (const e of [
    metric(1, 'grpo/kl', 0.1),
    metric(2, 'grpo/kl', 0.7),
    metric(2, 'grpo/loss', 0.01),
    metric(2, 'sft/cosine_projected', -0.2, { capability: 'domain', other: 'reasoning' }),
    rec('health', { metric: 'grpo/kl', value: 0.6, meaning: 'drifted' }, 2),
    rec('health', { metric: 'grpo/kl', value: 0.7, meaning: 'drifted' }, 3),
    rec('health', { metric: 'sft/cosine_projected', value: -0.2, capability: 'domain', other: 'reasoning', meaning: 'still conflicts' }, 5, 'sft'),
    rec('health', { metric: 'grpo/loss', meaning: 'a GRPO loss near 0 is expected' }),
    rec('health', { meaning: 'no metric: dropped' }, 1),
    rec('alert', { title: 'reward up, task accuracy down', meaning: 'hacking?', reward: { from: 0.1, to: 0.3 }, accuracy: { from: 0.5, to: 0.2 } }, 8),
  ])
    h.apply(e);
  const p = h.payload();
  assert.deepEqual(p.metrics.map((m) => [m.metric, m.latest, m.notes]), [
    ['grpo/kl', { all: 0.7 }, 2],
    ['sft/cosine_projected', { 'domain×reasoning': -0.2 }, 1],
  ]);
  const kl = p.notes.find((n) => n.metric === 'grpo/kl')!;
  assert.deepEqual([kl.count, kl.firstStep, kl.lastStep, kl.value], [2, 2, 3, 0.7]);
  assert.ok(p.notes.some((n) => n.metric === 'grpo/loss' && n.lastStep === undefined));
  assert.equal(p.notes.length, 3);
  assert.deepEqual(p.alerts, [{ step: 8, stage: 'grpo', title: 'reward up, task accuracy down', meaning: 'hacking?', reward: { from: 0.1, to: 0.3 }, accuracy: { from: 0.5, to: 0.2 } }]);
  assert.equal(h.dirty, false);
  assert.equal(alertsIn([rec('alert', { title: 't' }, 1), rec('alert', { title: 't', meaning: 'm' }, 2)]).length, 1); // an alert without its meaning is not shown
});

test('dashboard model carries health; take() sends it only when it changed', () => {
  const model = new DashboardModel('r');
  model.apply(metric(1, 'grpo/kl', 0.1));
  assert.deepEqual(model.snapshot().health.metrics.map((m) => m.metric), ['grpo/kl']);
  assert.equal(model.take().health, undefined);
  model.apply(rec('alert', { title: 'reward up, task accuracy down', meaning: 'm' }, 4));
  assert.equal(model.take().health?.alerts.length, 1);
});
