import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../../schemas/generated/events';
import { estimateEtaMs, formatDuration, formatStatusText, RunProgress } from '../../../extension/status/progress';

const base = { v: 1 as const, runId: 'r1' };

test('estimateEtaMs: remaining steps at the observed rate', () => {
  assert.equal(estimateEtaMs([{ t: 0, step: 0 }, { t: 1000, step: 10 }], 110), 10_000);
  assert.equal(estimateEtaMs([{ t: 0, step: 0 }], 10), undefined, 'one sample is no rate');
  assert.equal(estimateEtaMs([{ t: 0, step: 5 }, { t: 100, step: 5 }], 10), undefined, 'no progress, no ETA');
  assert.equal(estimateEtaMs([{ t: 0, step: 0 }, { t: 1000, step: 10 }], undefined), undefined);
});

test('RunProgress follows stage, step/total and ETA, and resets at a new stage', () => {
  const p = new RunProgress('r1');
  const events: EngineEvent[] = [
    { ...base, t: 0, kind: 'phase', stage: 'run', status: 'started' },
    { ...base, t: 0, kind: 'phase', stage: 'sft', status: 'started', total: 100 },
    { ...base, t: 1000, kind: 'metric', stage: 'sft', step: 10, name: 'sft/loss', value: 1 },
    { ...base, t: 2000, kind: 'metric', stage: 'sft', step: 20, name: 'sft/loss', value: 1 },
  ];
  for (const e of events) p.apply(e);
  assert.equal(p.current.stage, 'sft');
  assert.equal(p.current.step, 20);
  assert.equal(p.current.total, 100);
  assert.equal(p.current.etaMs, 8000);
  assert.equal(formatStatusText(p.current), '$(sync~spin) BalancedBio: sft 20/100 · ETA 8 s');
  p.apply({ ...base, t: 3000, kind: 'phase', stage: 'grpo', status: 'started', total: 20 });
  assert.equal(p.current.stage, 'grpo');
  assert.equal(p.current.step, undefined);
  assert.equal(p.current.etaMs, undefined);
  p.apply({ ...base, t: 4000, kind: 'phase', stage: 'run', status: 'failed', message: 'E_X: boom' });
  assert.equal(p.current.phase, 'failed');
  assert.equal(formatStatusText(p.current), '$(error) BalancedBio: run failed');
});

test('before the first stage, the runner\'s progress (a Hub model download) shows its message and percentage', () => {
  const p = new RunProgress('r1');
  p.apply({ ...base, t: 0, kind: 'phase', stage: 'run', status: 'started' });
  p.apply({ ...base, t: 1, kind: 'phase', stage: 'run', status: 'progress', step: 400, total: 1000, message: 'downloading org/tiny/model.safetensors', fields: { unit: 'bytes' } });
  assert.equal(formatStatusText(p.current), '$(sync~spin) BalancedBio: downloading org/tiny/model.safetensors 40%');
  p.apply({ ...base, t: 2, kind: 'phase', stage: 'sft', status: 'started', total: 10 });
  assert.equal(formatStatusText(p.current), '$(sync~spin) BalancedBio: sft');
  assert.equal(p.current.message, undefined);
});

test('apply reports whether the visible snapshot changed', () => {
  const p = new RunProgress('r1');
  assert.equal(p.apply({ ...base, t: 0, kind: 'log', level: 'info', msg: 'hello' }), false);
  assert.equal(p.apply({ ...base, t: 0, kind: 'phase', stage: 'run', status: 'started' }), true);
});

test('formatDuration is short', () => {
  assert.equal(formatDuration(45_000), '45 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
});
