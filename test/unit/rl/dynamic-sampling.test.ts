import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveScaleRewards, fillUntied } from '../../../engine/rl/dynamic-sampling';
import { parseExperiment } from '../../../engine/config/load';

interface G { id: string; totals: number[] }
const tiedG = (id: string): G => ({ id, totals: [0, 0, 0, 0] });
const liveG = (id: string): G => ({ id, totals: [1, 0, 0, 1] });

test('dynamic sampling replaces tied groups, stops at max_rounds and drops what still ties', async () => {
  // replacements: round 1 gives one live and one tied group, round 2 a live one
  const queue = [liveG('r1'), tiedG('r2'), liveG('r3')];
  const asked: number[] = [];
  const resample = async (like: readonly G[]): Promise<G[]> => {
    asked.push(like.length);
    return like.map(() => queue.shift() ?? tiedG('never'));
  };
  const out = await fillUntied([liveG('a'), tiedG('b'), tiedG('c'), liveG('d')], resample, (g) => g.totals, 3);
  assert.equal(out.tieFraction, 0.5, 'tie fraction of the groups first sampled');
  assert.deepEqual(out.groups.map((g) => g.id), ['a', 'd', 'r1', 'r3']);
  assert.deepEqual(asked, [2, 1], 'each round resamples only what still ties');
  assert.equal(out.resampled, 3);
  assert.equal(out.dropped, 0);

  const capped = await fillUntied([liveG('a'), tiedG('b')], async (like) => like.map(() => tiedG('t')), (g) => g.totals, 2);
  assert.deepEqual(capped.groups.map((g) => g.id), ['a'], 'a group tied after the last round is dropped');
  assert.deepEqual([capped.resampled, capped.dropped], [2, 1]);

  const allTied = await fillUntied([tiedG('a'), tiedG('b')], async (like) => like.map(() => tiedG('t')), (g) => g.totals, 1);
  assert.deepEqual(allTied.groups.map((g) => g.id), ['a', 'b'], 'when everything ties the step keeps its groups');
  assert.equal(allTied.tieFraction, 1);
});

test('loss_type dr_grpo implies scale_rewards none, and an explicit std scaling with it is warned about', async () => {
  assert.equal(effectiveScaleRewards({ loss_type: 'dr_grpo' }), 'none');
  assert.equal(effectiveScaleRewards({ loss_type: 'grpo' }), 'group');
  assert.equal(effectiveScaleRewards({ loss_type: 'dr_grpo', scale_rewards: 'none' }), 'none');
  const implied = await parseExperiment('name: x\ngrpo:\n  loss_type: dr_grpo\n', '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  assert.deepEqual(implied.problems.filter((p) => /scale_rewards/.test(p.message)), []);
  assert.equal(implied.config && effectiveScaleRewards(implied.config.grpo), 'none');
  const text = 'name: x\ngrpo:\n  loss_type: dr_grpo\n  scale_rewards: group\n';
  const r = await parseExperiment(text, '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  const p = r.problems.find((x) => x.code === 'E_CONFLICT' && /dr_grpo/.test(x.message));
  assert.ok(p, JSON.stringify(r.problems));
  assert.equal(p.severity, 'warning');
  assert.equal(p.line, 4);
  assert.ok(r.config, 'a warning does not block the run');
});

test('the grpo block accepts dynamic_sampling with its defaults', async () => {
  const r = await parseExperiment('name: x\ngrpo:\n  dynamic_sampling:\n    enabled: true\n', '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), []);
  assert.deepEqual(r.config?.grpo.dynamic_sampling, { enabled: true, max_rounds: 3 });
});
