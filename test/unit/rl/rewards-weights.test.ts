import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseObo } from '../../../engine/ontology/obo';
import { EdgeIndex, extractFinalAnswer, extractOptionLetter, TermLexicon } from '../../../engine/verify/answers';
import { REWARDS, type RewardContext } from '../../../engine/verify/rewards';
import { hybridReward } from '../../../engine/rl/hybrid-reward';
import { projectCappedSimplex, updateWeights, withheldForNoSignal, type WeightOptions, type WeightState } from '../../../engine/rl/weighting';
import type { SynthExample } from '../../../engine/core/example';

const OBO = `format-version: 1.4
ontology: mini

[Term]
id: T:1
name: myocardial infarction
synonym: "heart attack" EXACT []
relationship: has_finding T:2
relationship: first_line_treatment T:3

[Term]
id: T:2
name: chest pain

[Term]
id: T:3
name: aspirin
relationship: contraindicated_in T:4

[Term]
id: T:4
name: peptic ulcer disease

[Term]
id: T:5
name: clopidogrel
`;

const ont = parseObo(OBO, 'mini.obo');
const ctx: RewardContext = { lexicon: new TermLexicon(ont), edges: new EdgeIndex(ont) };

function example(partial: Partial<SynthExample>): SynthExample {
  return { id: 'x', capability: 'domain', prompt: 'q', response: 'r', text: 't', answer: 'aspirin', provenance: { entities: [], edges: [], central: 'T:1', answerIds: ['T:3'] }, template: 't', split: 'train', ...partial } as SynthExample;
}

test('answer extraction reads the last Answer line and an option letter', () => {
  assert.equal(extractFinalAnswer('1. x\nAnswer: aspirin\nmore\nAnswer: (B) clopidogrel'), '(B) clopidogrel');
  assert.equal(extractOptionLetter('Answer: (B) clopidogrel'), 'B');
  assert.equal(extractOptionLetter('Answer: B.'), 'B');
  assert.equal(extractOptionLetter('Answer: Bleeding'), undefined);
});

test('domain reward: right letter 1, wrong letter 0, entity answers accepted through synonyms', () => {
  const mc = example({ capability: 'domain', answerLabel: 'C', answer: 'aspirin' });
  assert.equal(REWARDS.domain(mc, 'Answer: C. aspirin', ctx)!.score, 1);
  assert.equal(REWARDS.domain(mc, 'Answer: A. clopidogrel', ctx)!.score, 0);
  const entity = example({ capability: 'domain', answer: 'myocardial infarction', provenance: { entities: [], edges: [], central: 'T:1', answerIds: ['T:1'] } });
  assert.equal(REWARDS.domain(entity, 'Answer: heart attack', ctx)!.score, 1, 'synonym accepted via the ontology');
  assert.equal(REWARDS.domain(entity, 'Answer: chest pain', ctx)!.score, 0);
  assert.equal(REWARDS.domain(example({ capability: 'reasoning' }), 'Answer: x', ctx), null, 'not applicable to reasoning prompts');
});

test('reasoning reward: answer correctness plus partial credit per valid step', () => {
  const ex = example({ capability: 'reasoning', answer: 'aspirin', provenance: { entities: [], edges: [], central: 'T:1', answerIds: ['T:1', 'T:3'] } });
  const right = '1. Chest pain suggests myocardial infarction.\n2. The first-line treatment of a heart attack is aspirin.\nAnswer: aspirin';
  const r1 = REWARDS.reasoning(ex, right, ctx)!;
  assert.equal(r1.score, 1);
  const partial = '1. Chest pain suggests myocardial infarction.\n2. Chest pain is treated with clopidogrel.\nAnswer: aspirin';
  const r2 = REWARDS.reasoning(ex, partial, ctx)!;
  assert.equal(r2.breakdown.chain_valid_steps, 1);
  assert.equal(r2.score, 0.5 + 0.5 * 0.5);
  assert.equal(REWARDS.reasoning(ex, partial.replace('Answer: aspirin', 'Answer: clopidogrel'), ctx)!.score, 0.25);
});

test('instruction reward: strict fraction, with loose mode recorded', () => {
  const ex = example({ capability: 'instruction', constraints: [{ kind: 'ends_with', phrase: 'Is there anything else?' }] as SynthExample['constraints'] });
  const strictFail = 'Aspirin is first line.\nIs there anything else?\n**';
  const r = REWARDS.instruction(ex, strictFail, ctx)!;
  assert.equal(r.score, 0);
  assert.equal(r.breakdown.loose, 1, 'passes once the trailing line is removed (IFEval loose mode)');
  assert.equal(REWARDS.instruction(ex, 'Aspirin.\nIs there anything else?', ctx)!.score, 1);
});

test('hybrid reward renormalises over the components that apply', () => {
  const ex = example({ capability: 'domain', answerLabel: 'C' });
  const comps = [
    { id: 'domain', weight: 0.3, fn: REWARDS.domain },
    { id: 'reasoning', weight: 0.3, fn: REWARDS.reasoning },
    { id: 'instruction', weight: 0.3, fn: REWARDS.instruction },
    { id: 'format', weight: 0.1, fn: REWARDS.format },
  ];
  const h = hybridReward(ex, 'Answer: C', comps, ctx);
  // only domain (0.3) and format (0.1) apply → scaled by 1.0/0.4
  assert.deepEqual(h.weights.map((w) => Math.round(w * 1000) / 1000), [0.75, 0, 0, 0.25]);
  assert.ok(Math.abs(h.total - 1) < 1e-12);
  assert.ok(Number.isNaN(h.scores[1]!));
  assert.ok(Math.abs(hybridReward(ex, 'Answer: A', comps, ctx).total - 0.25) < 1e-12);
});

const opts: WeightOptions = { targets: [0.8, 0.6, 0.7, 0.6], temperature: 0.1, minWeight: 0.05, maxWeight: 0.7, ema: 0.5, gradnormAlpha: 1.5, gradnormLr: 0.05 };

test('gap weighting moves toward the lagging capability and stays within the clamps', () => {
  let s: WeightState = { weights: [0.25, 0.25, 0.25, 0.25], running: [NaN, NaN, NaN, NaN] };
  for (let i = 0; i < 5; i++) s = updateWeights('gap', s, { rewards: [0.9, 0.2, 0.7, 0.6] }, opts);
  const [d, r] = s.weights;
  assert.ok(r! > 0.25 && r! > d!, `reasoning lags its target most: ${s.weights}`);
  assert.ok(s.weights.every((w) => w >= opts.minWeight - 1e-9 && w <= opts.maxWeight + 1e-9));
  assert.ok(Math.abs(s.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.ok(Math.abs(s.weights[1]! - 0.7) < 1e-6, 'a large gap saturates at max_weight');
});

test('gradnorm weighting shrinks the capability with the largest gradient, within the clamps', () => {
  let s: WeightState = { weights: [0.25, 0.25, 0.25, 0.25], running: [0.5, 0.5, 0.5, 0.5] };
  for (let i = 0; i < 3; i++) s = updateWeights('gradnorm', s, { rewards: [0.5, 0.5, 0.5, 0.5], gradNorms: [10, 1, 1, 1] }, opts);
  assert.ok(s.weights[0]! < 0.25, `${s.weights}`);
  assert.ok(Math.abs(s.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  const fixed = updateWeights('fixed', s, { rewards: [0, 0, 0, 0] }, opts);
  assert.deepEqual(fixed.weights, s.weights);
});

test('the capped-simplex projection sums to one and respects bounds', () => {
  const w = projectCappedSimplex([5, 0, 0, 0], 0.05, 0.7);
  assert.ok(Math.abs(w[0]! - 0.7) < 1e-9 && Math.abs(w[1]! - 0.1) < 1e-9);
});

test('integration: diagnosis and treatment read from sections (or JSON); a caveat naming another drug is not the recommendation', () => {
  const ex = example({ capability: 'integration', answer: 'myocardial infarction; clopidogrel', accept: ['clopidogrel'], provenance: { entities: [], edges: [], central: 'T:1', answerIds: ['T:1', 'T:5'] } });
  const good = 'Presentation: Chest pain in a patient with peptic ulcer disease.\nDifferential: Myocardial infarction.\nTest: ECG.\nDiagnosis: Myocardial infarction.\nTreatment: Clopidogrel. Avoid aspirin: contraindicated in peptic ulcer disease.';
  assert.equal(REWARDS.domain(ex, good, ctx)!.score, 1);
  assert.equal(REWARDS.domain(ex, good.replace('Treatment: Clopidogrel. Avoid aspirin', 'Treatment: Aspirin. Avoid clopidogrel'), ctx)!.score, 0.5);
  assert.equal(REWARDS.domain(ex, '{"diagnosis": "heart attack", "treatment": "clopidogrel"}', ctx)!.score, 1);
  assert.equal(REWARDS.format(ex, good, ctx)!.score, 1, 'sections present, in workflow order');
  assert.ok(REWARDS.format(ex, 'Diagnosis: MI\nPresentation: x', ctx)!.score < 1);
  const chain = REWARDS.reasoning(ex, good, ctx)!;
  assert.ok((chain.breakdown.chain_valid_steps as number) >= 1, JSON.stringify(chain.breakdown));
});

test('format reward pays nothing for an answer without steps: steps_in_order needs steps (issue 17)', () => {
  const ex = example({ capability: 'reasoning', answer: 'aspirin' });
  for (const gibberish of ['', 'zq zq zq', 'Answer:']) {
    const r = REWARDS.format(ex, gibberish, ctx)!;
    assert.equal(r.breakdown.steps_in_order, 0, JSON.stringify(gibberish));
    assert.equal(r.score, 0, JSON.stringify(gibberish));
  }
  assert.equal(REWARDS.format(ex, '1. Chest pain suggests a heart attack.\n2. It is treated with aspirin.\nAnswer: aspirin', ctx)!.score, 1);
  assert.equal(REWARDS.format(ex, '2. Chest pain.\n1. Aspirin.\nAnswer: aspirin', ctx)!.breakdown.steps_in_order, 0);
});

test('instruction reward pays nothing for an empty answer to negative constraints (issue 17)', () => {
  const ex = example({ capability: 'instruction', constraints: [{ kind: 'max_words', n: 30 }, { kind: 'no_commas' }, { kind: 'forbidden_words', words: ['cure'] }] as SynthExample['constraints'] });
  assert.equal(REWARDS.instruction(ex, '', ctx)!.score, 0);
  assert.equal(REWARDS.instruction(ex, ' \n ', ctx)!.breakdown.loose, 0);
  assert.equal(REWARDS.instruction(ex, 'Gout is treated with colchicine.', ctx)!.score, 1);
});

test('gap weighting shifts weight only toward capabilities with a learning signal (untied groups)', () => {
  // domain lags its target most, but every domain group tied: no gradient to weigh
  let s: WeightState = { weights: [0.25, 0.25, 0.25, 0.25], running: [NaN, NaN, NaN, NaN] };
  const obs = { rewards: [0, 0.5, 0.6, 0.5], signal: [0, 1, 0.5, 1] };
  for (let i = 0; i < 5; i++) s = updateWeights('gap', s, obs, opts);
  assert.ok(Math.abs(s.weights[0]! - opts.minWeight) < 1e-6, `no signal → no extra weight: ${s.weights}`);
  assert.ok(s.weights[1]! > s.weights[2]!, 'the lagging capability with a signal gains');
  assert.ok(Math.abs(s.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.deepEqual(withheldForNoSignal(s, obs, opts), [0], 'the log names domain as withheld');
  // no capability has a signal: the weights stay as they were
  const still = updateWeights('gap', s, { rewards: [0, 0, 0, 0], signal: [0, 0, 0, 0] }, opts);
  assert.deepEqual(still.weights, s.weights);
});
