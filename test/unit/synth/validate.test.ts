import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { synthesize } from '../../../engine/synth/index';
import type { SynthExample } from '../../../engine/core/example';
import type { RejectReason } from '../../../engine/synth/types';
import { buildValidationIndex, validateExample } from '../../../engine/synth/validate';
import { silentLogger } from '../../../engine/util/log';
import { loadFixture, synthConfig } from './fixture';

const ont = loadFixture();
const idx = buildValidationIndex(ont);
const resultP = synthesize(ont, synthConfig({ split: { by: 'example', val: 0.1, test: 0.15 } }), { seed: 3, log: silentLogger });
let all: SynthExample[] = [];
const byCap = (c: SynthExample['capability']): SynthExample[] => all.filter((e) => e.capability === c);

before(async () => {
  const r = await resultP;
  all = [...r.train, ...r.val, ...r.test];
});

/** Counts of first reasons over a batch of examples, as the pipeline counts them. */
function countReasons(examples: SynthExample[], mode: 'strict' | 'lenient'): Partial<Record<RejectReason, number>> {
  const out: Partial<Record<RejectReason, number>> = {};
  for (const ex of examples) {
    const r = validateExample(ex, idx, mode)[0];
    if (r) out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}

test('crafted bad examples are rejected and counted by reason', () => {
  const mc = byCap('domain').find((e) => e.provenance.query?.relation === 'has_finding' && !e.provenance.query.inverse)!;
  const chain = byCap('reasoning')[0]!;
  const goldId = mc.provenance.answerIds[0]!;
  const trueFinding = ont.terms.get(mc.provenance.query!.subject)!.relationships.find((r) => r.relation === 'has_finding' && r.target !== goldId)!.target;
  const distractorIdx = mc.options!.findIndex((o) => o.id !== goldId);
  const badDistractor: SynthExample = {
    ...mc,
    options: mc.options!.map((o, i) => (i === distractorIdx ? { ...o, id: trueFinding, text: ont.terms.get(trueFinding)!.name } : o)),
  };
  badDistractor.prompt = `${mc.prompt}\n${ont.terms.get(trueFinding)!.name}`;
  const unknownEntity: SynthExample = { ...mc, provenance: { ...mc.provenance, entities: [...mc.provenance.entities, 'MINI:NOPE'] } };
  const falseEdge: SynthExample = { ...chain, provenance: { ...chain.provenance, edges: [...chain.provenance.edges, { source: 'MINI:X09', relation: 'first_line_treatment', target: 'MINI:D01' }] } };
  const wrongAnswer: SynthExample = { ...mc, answerLabel: mc.options!.find((o) => o.id !== goldId)!.label };
  const bad = [badDistractor, unknownEntity, falseEdge, falseEdge, wrongAnswer];
  assert.deepEqual(countReasons(bad, 'strict'), { distractor_is_answer: 1, unknown_entity: 1, unknown_edge: 2, wrong_answer: 1 });
  // lenient ignores a false side edge but still rejects unknown entities, wrong answers and true distractors
  assert.deepEqual(countReasons(bad, 'lenient'), { distractor_is_answer: 1, unknown_entity: 1, wrong_answer: 1 });
});

test('a reasoning step that is not a graph edge, a broken chain and an unmet constraint are rejected', () => {
  const chain = byCap('reasoning').find((e) => e.steps!.length >= 2)!;
  const fakeStep = { ...chain.steps![0]!, edge: { ...chain.steps![0]!.edge, relation: 'first_line_treatment' } };
  assert.ok(validateExample({ ...chain, steps: [fakeStep, ...chain.steps!.slice(1)] }, idx, 'strict').includes('unknown_edge'));
  const unlinked = { ...chain.steps![1]!, edge: { source: 'MINI:X09', relation: 'is_a', target: 'MINI:K07' } };
  assert.ok(validateExample({ ...chain, steps: [chain.steps![0]!, unlinked] }, idx, 'strict').includes('broken_chain'));
  const instr = byCap('instruction').find((e) => e.constraints!.some((c) => ['bullet_count', 'json_keys', 'numbered_steps', 'sections'].includes(c.kind)))!;
  assert.ok(validateExample({ ...instr, response: 'x' }, idx, 'lenient').includes('constraint_unsatisfied'));
  const mc = byCap('domain')[0]!;
  assert.ok(validateExample({ ...mc, prompt: 'Which?', response: 'Answer: A' }, idx, 'strict').includes('entity_not_mentioned'));
});

test('every synthesized example validates in both modes', () => {
  assert.deepEqual(countReasons(all, 'strict'), {});
  assert.deepEqual(countReasons(all, 'lenient'), {});
});
