import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Capability } from '../../../engine/core/stage';
import { CAPABILITIES } from '../../../engine/core/stage';
import { checkAll } from '../../../engine/verify/constraints';
import type { Draft } from '../../../engine/synth/generators/common';
import { GENERATORS } from '../../../engine/synth/generators/index';
import { buildSynthGraph, hasEdge } from '../../../engine/synth/graph';
import { formatChat } from '../../../engine/core/chat';
import type { SynthExample } from '../../../engine/core/example';
import { WORKFLOW_ORDER } from '../../../engine/core/example';
import { buildValidationIndex, validateExample } from '../../../engine/synth/validate';
import type { WorkflowRule } from '../../../engine/synth/workflow';
import { checkWorkflow } from '../../../engine/synth/workflow';
import { makeRng } from '../../../engine/util/rng';
import { loadFixture, synthConfig } from './fixture';

const ont = loadFixture();
const g = buildSynthGraph(ont);
const vIdx = buildValidationIndex(ont);
const cfg = synthConfig({ hops: { min: 1, max: 5 } });
const rules = new Set<WorkflowRule>(cfg.workflow_constraints);

function toExample(d: Draft, capability: Capability, i: number): SynthExample {
  return { id: `${capability}-${i}`, ...d, text: formatChat(d.prompt, d.response), split: 'train' };
}

/** Every seed of a capability, built with a few templates each. */
function buildAll(capability: Capability, templates = 3): { examples: SynthExample[]; failed: number } {
  const gen = GENERATORS[capability];
  const examples: SynthExample[] = [];
  let failed = 0;
  for (const seed of gen.enumerate(g, cfg)) {
    for (let t = 0; t < Math.min(templates, gen.templateCount(seed.factType)); t++) {
      const d = gen.build(seed, { g, cfg, rng: makeRng(`${seed.key}:${t}`), template: t, allowed: () => true, rules });
      if (typeof d === 'string') failed++;
      else examples.push(toExample(d, capability, examples.length));
    }
  }
  return { examples, failed };
}

const built = Object.fromEntries(CAPABILITIES.map((c) => [c, buildAll(c)])) as Record<Capability, { examples: SynthExample[]; failed: number }>;

test('fixture graph has the roles the generators need', () => {
  assert.equal(g.byRole.disease.length, 14);
  assert.ok(g.byRole.finding.length >= 30 && g.byRole.test.length >= 14 && g.byRole.drug.length >= 20);
  assert.equal(g.specialty.get('MINI:D01'), 'cardiovascular disease');
  assert.ok(hasEdge(g, 'MINI:X13', 'interacts_with', 'MINI:X07'), 'interacts_with is symmetric');
});

test('every generator produces many examples and every one passes validation and workflow rules', () => {
  for (const c of CAPABILITIES) {
    const { examples, failed } = built[c];
    assert.ok(examples.length >= 40, `${c}: ${examples.length} examples`);
    assert.ok(failed <= examples.length / 2, `${c}: ${failed} failed builds`);
    for (const ex of examples) {
      assert.deepEqual(validateExample(ex, vIdx, 'strict'), [], `${ex.template}: ${ex.text}`);
      assert.deepEqual(checkWorkflow(ex, g, rules), [], `${ex.template}: ${ex.text}`);
    }
  }
});

test('each fact type has at least 8 surface templates', () => {
  for (const c of CAPABILITIES) {
    const gen = GENERATORS[c];
    for (const ft of new Set(gen.enumerate(g, cfg).map((s) => s.factType))) assert.ok(gen.templateCount(ft) >= 8, `${c}/${ft}`);
  }
  const domainTemplates = new Set(buildAll('domain', 8).examples.map((e) => e.template));
  assert.ok(domainTemplates.size >= 8 * 6, `domain templates used: ${domainTemplates.size}`);
});

test('domain: four options, the gold one is a true edge, no distractor is a true answer', () => {
  const { examples } = built.domain;
  const facts = new Set(examples.map((e) => e.template.split('/')[1]));
  for (const ft of ['finding_of', 'disease_with_finding', 'confirm_test', 'first_line', 'drug_class', 'contraindication', 'complication', 'interaction', 'parent', 'definition']) {
    assert.ok(facts.has(ft), `fact type ${ft}`);
  }
  for (const ex of examples) {
    assert.equal(ex.options!.length, 4);
    const q = ex.provenance.query!;
    const gold = ex.options!.find((o) => o.label === ex.answerLabel)!;
    assert.equal(gold.text, ex.answer);
    if (q.relation === 'definition') continue;
    const holds = (o: string): boolean => (q.inverse ? hasEdge(g, o, q.relation, q.subject) : hasEdge(g, q.subject, q.relation, o));
    assert.ok(holds(gold.id), ex.text);
    // independent of couldBeTrue: no distractor is directly true, nor true via an is_a relative of the subject
    for (const o of ex.options!.filter((x) => x.id !== gold.id)) {
      assert.equal(holds(o.id), false, `distractor ${o.text} is true: ${ex.text}`);
      if (q.relation === 'is_a') assert.ok(!g.ancestors(q.subject).has(o.id), `${o.text} is an ancestor`);
    }
  }
  // labels are spread over A-D
  const labels = new Set(examples.map((e) => e.answerLabel));
  assert.equal(labels.size, 4);
});

test('reasoning: numbered steps, each a true graph edge, chained, ending in "Answer: ..."', () => {
  const { examples } = built.reasoning;
  const hops = new Set(examples.map((e) => e.steps!.length));
  assert.ok([1, 2, 3, 4].every((h) => hops.has(h)), `hops seen: ${[...hops]}`);
  for (const ex of examples) {
    ex.steps!.forEach((s, i) => {
      assert.equal(s.n, i + 1);
      assert.ok(hasEdge(g, s.edge.source, s.edge.relation, s.edge.target), `${JSON.stringify(s.edge)} in ${ex.text}`);
      assert.ok(ex.response.includes(`${s.n}. ${s.text}`));
    });
    assert.equal(ex.response.split('\n').at(-1), `Answer: ${ex.answer}`);
    assert.ok(ex.accept!.includes(ex.answer));
  }
  const contra = examples.filter((e) => e.template.startsWith('reasoning/contra_alternative'));
  assert.ok(contra.length > 0);
  for (const ex of contra) assert.deepEqual(checkWorkflow(ex, g, rules), []);
});

test('instruction: 1-3 constraints, reference response satisfies them strictly', () => {
  const { examples } = built.instruction;
  const kinds = new Set(examples.flatMap((e) => e.constraints!.map((c) => c.kind)));
  assert.ok(kinds.size >= 12, `constraint kinds used: ${[...kinds]}`);
  for (const ex of examples) {
    assert.ok(ex.constraints!.length >= 1 && ex.constraints!.length <= 3, ex.text);
    assert.equal(checkAll(ex.response, ex.constraints!).promptStrict, true, ex.text);
  }
});

test('integration: workflow order, confirmatory test, treatment safe for the comorbidity, format met', () => {
  const { examples } = built.integration;
  for (const ex of examples) {
    const c = ex.clinical!;
    assert.deepEqual(c.order, [...WORKFLOW_ORDER]);
    assert.ok(hasEdge(g, c.diagnosis!, 'diagnosed_by', c.test!), ex.text);
    for (const y of c.treatments) {
      assert.ok(hasEdge(g, c.diagnosis!, 'first_line_treatment', y));
      for (const cm of c.comorbidities) assert.ok(!hasEdge(g, y, 'contraindicated_in', cm), ex.text);
    }
    assert.equal(checkAll(ex.response, ex.constraints!).promptStrict, true);
    assert.ok(ex.constraints!.some((k) => k.kind === 'ordered_sections' || k.kind === 'json_keys'));
  }
  assert.ok(examples.some((e) => /Avoid|avoid/.test(e.response)), 'some vignettes exercise a contraindication');
});

test('workflow rules reject a contraindicated treatment and an out-of-order response', () => {
  const ex = built.integration.examples.find((e) => /avoid/i.test(e.response))!;
  const avoided = ex.steps!.find((s) => s.edge.relation === 'contraindicated_in')!.edge.source;
  const unsafe: SynthExample = { ...ex, clinical: { ...ex.clinical!, treatments: [avoided] } };
  assert.deepEqual(checkWorkflow(unsafe, g, rules), ['workflow_contraindication']);
  const otherTest = g.byRole.test.find((t) => !hasEdge(g, ex.clinical!.diagnosis!, 'diagnosed_by', t))!;
  assert.deepEqual(checkWorkflow({ ...ex, clinical: { ...ex.clinical!, test: otherTest } }, g, rules), ['workflow_confirmatory_test']);
  const sections = built.integration.examples.find((e) => e.response.includes('\nDifferential:') || e.response.includes('\ndifferential:'))!;
  const swapped = sections.response.replace(/^(presentation:.*)\n(differential:.*)$/im, '$2\n$1');
  assert.notEqual(swapped, sections.response);
  assert.deepEqual(checkWorkflow({ ...sections, response: swapped }, g, rules), ['workflow_ordering']);
  assert.deepEqual(checkWorkflow({ ...ex, clinical: { ...ex.clinical!, treatments: [avoided] } }, g, new Set()), [], 'rules off: nothing checked');
});
