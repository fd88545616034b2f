/**
 * `integration`: clinical vignettes that need knowledge, reasoning and format at once. The response
 * walks the clinical workflow in order — presentation → differential → test → diagnosis → treatment —
 * checks the first-line drugs against the stated comorbidity, and obeys a required format (ordered
 * headings or a JSON object with the stages as keys, plus 0–2 more constraints).
 */
import type { Edge } from '../../ontology/types';
import { checkAll, describeConstraint } from '../../verify/constraints';
import type { Content } from '../format';
import { formatWithConstraints } from '../format';
import type { SynthGraph } from '../graph';
import { isARelated, nameOf, sources, targets } from '../graph';
import { capitalise, joinAnd, pick, sample, variant } from '../text';
import type { ClinicalFacts, ReasoningStep, WorkflowStage } from '../../core/example';
import { WORKFLOW_ORDER } from '../../core/example';
import { canConfirm, isSafeTreatment } from '../workflow';
import type { BuildContext, Draft, Generator, Seed } from './common';
import { edge, neighbourDiseases, uniq } from './common';

const OPENERS: readonly ((age: number, findings: string, comorbidity: string) => string)[] = [
  (a, f, c) => `A ${a}-year-old with a history of ${c} presents with ${f}.`,
  (a, f, c) => `A patient aged ${a} who has ${c} is seen for ${f}.`,
  (a, f, c) => `You review a ${a}-year-old known to have ${c}. They now have ${f}.`,
  (a, f, c) => `Vignette: age ${a}; past history: ${c}; presenting findings: ${f}.`,
  (a, f, c) => `An adult (${a} years) with long-standing ${c} attends with ${f}.`,
  (a, f, c) => `In clinic, a ${a}-year-old patient with ${c} reports ${f}.`,
  (a, f, c) => `Emergency department: a ${a}-year-old, background of ${c}, arrives with ${f}.`,
  (a, f, c) => `A GP refers a ${a}-year-old with ${f}. Comorbidity: ${c}.`,
];

const TASK_LINES: readonly string[] = [
  'Work through the case in clinical order: presentation, differential, test, diagnosis and treatment, checking the treatment against the comorbidity.',
  'Give your assessment step by step in workflow order (presentation, differential diagnosis, confirmatory test, diagnosis, first-line treatment that is safe for this patient).',
  'Reason through the case as a clinician would and recommend a first-line treatment that is not contraindicated.',
  'Provide the differential, the test that confirms the diagnosis, the diagnosis itself and a safe first-line treatment.',
];

const HEADINGS: Record<WorkflowStage, string> = {
  presentation: 'Presentation',
  differential: 'Differential',
  test: 'Test',
  diagnosis: 'Diagnosis',
  treatment: 'Treatment',
};

function enumerate(g: SynthGraph): Seed[] {
  const seeds: Seed[] = [];
  const conditions = [...new Set([...g.byRole.condition, ...g.byRole.disease])].sort();
  for (const d of g.byRole.disease) {
    const xs = targets(g, d, g.rel.firstLine);
    if (targets(g, d, g.rel.hasFinding).length < 2 || !targets(g, d, g.rel.diagnosedBy).length || !xs.length) continue;
    if (!neighbourDiseases(g, d).length) continue;
    for (const c of conditions) {
      if (isARelated(g, c, d) || !xs.some((y) => isSafeTreatment(g, y, [c, d]))) continue;
      const interesting = xs.some((x) => !isSafeTreatment(g, x, [c]));
      // only contraindication-bearing comorbidities, plus other conditions from the contraindication list
      if (!interesting && !g.roleSets.condition.has(c)) continue;
      seeds.push({ key: `vignette:${d}:${c}`, factType: interesting ? 'contraindicated' : 'no_conflict', ids: [d, c], central: d, core: [d, c], weight: interesting ? 3 : 1 });
    }
  }
  return seeds;
}

function buildVignette(seed: Seed, ctx: BuildContext): Draft | 'generation_failed' | 'constraint_unsatisfied' {
  const { g, rng, rules } = ctx;
  const [d, c] = seed.ids as [string, string];
  const n = (id: string): string => nameOf(g, id);
  const fs = sample(rng, targets(g, d, g.rel.hasFinding).filter(ctx.allowed), 2 + rng.int(3));
  if (fs.length < 2) return 'generation_failed';
  // differential: other diseases sharing a presented finding (stated with that edge), else near neighbours
  const sharing = uniq(fs.flatMap((f) => sources(g, f, g.rel.hasFinding))).filter((x) => x !== d && ctx.allowed(x) && !isARelated(g, x, d));
  const pool = sharing.length ? sharing : neighbourDiseases(g, d).filter((x) => ctx.allowed(x) && !isARelated(g, x, d));
  const alts = sample(rng, pool, 1 + rng.int(2));
  if (!alts.length) return 'generation_failed';
  const altEdges = alts.flatMap((x) => {
    const f = fs.find((ff) => targets(g, x, g.rel.hasFinding).includes(ff));
    return f ? [edge(x, g.rel.hasFinding, f)] : [];
  });
  // test: confirms the diagnosis (rule applied), preferring one that no alternative shares
  const testsOfD = targets(g, d, g.rel.diagnosedBy).filter(ctx.allowed);
  const candidateTests = rules.has('confirmatory_test')
    ? testsOfD.filter((t) => canConfirm(g, t, d))
    : uniq([...testsOfD, ...alts.flatMap((x) => targets(g, x, g.rel.diagnosedBy))]).filter(ctx.allowed);
  const discriminating = candidateTests.filter((t) => !alts.some((x) => targets(g, x, g.rel.diagnosedBy).includes(t)));
  if (!candidateTests.length) return 'generation_failed';
  const t = pick(rng, discriminating.length ? discriminating : candidateTests);
  const tDisease = targets(g, d, g.rel.diagnosedBy).includes(t) ? d : alts.find((x) => targets(g, x, g.rel.diagnosedBy).includes(t))!;
  // treatment: a first-line drug, safe for the comorbidity and the diagnosis when the rule is on
  const xs = targets(g, d, g.rel.firstLine).filter(ctx.allowed);
  const safe = rules.has('contraindication') ? xs.filter((y) => isSafeTreatment(g, y, [c, d])) : xs;
  if (!safe.length) return 'generation_failed';
  const y = pick(rng, safe);
  const avoided = rules.has('contraindication') ? xs.filter((x) => targets(g, x, g.rel.contraindicatedIn).includes(c)) : [];
  const avoidEdges = avoided.map((x) => edge(x, g.rel.contraindicatedIn, c));

  const texts: Record<WorkflowStage, string> = {
    presentation: `${capitalise(joinAnd(fs.map(n)))} in a patient with ${n(c)}.`,
    differential: `${capitalise(n(d))}${alts.map((x) => {
      const e = altEdges.find((ae) => ae.source === x);
      return `; ${n(x)}${e ? ` (also presents with ${n(e.target)})` : ''}`;
    }).join('')}.`,
    test: tDisease === d ? `${capitalise(n(t))}, which can confirm ${n(d)}.` : `${capitalise(n(t))}.`,
    diagnosis: `${capitalise(n(d))}.`,
    treatment: avoided.length
      ? `${capitalise(n(y))} (first-line for ${n(d)}). Avoid ${joinAnd(avoided.map(n), 'and')}: contraindicated in ${n(c)}.`
      : `${capitalise(n(y))} (first-line for ${n(d)}); ${rules.has('contraindication') ? `not contraindicated in ${n(c)}` : 'standard first-line choice'}.`,
  };
  const order = rules.has('ordering') ? [...WORKFLOW_ORDER] : rng.shuffle([...WORKFLOW_ORDER]);
  const content: Content = {
    items: order.map((s) => texts[s]),
    headings: order.map((s) => HEADINGS[s]),
    json: Object.fromEntries(order.map((s) => [s, s === 'differential' ? [n(d), ...alts.map(n)] : texts[s].replace(/\.$/, '')])),
    title: `Case: ${fs.map(n).join(' and ')}`,
    keywords: [n(d), n(t), n(y), n(c)],
    finalAnswer: `${n(d)}; ${n(y)}`,
  };
  const layout = rng.next() < 0.7 ? 'headings' : 'json';
  const { response, constraints } = formatWithConstraints(rng, content, layout, {
    maxConstraints: 3,
    allowed: ['final_answer_line', 'no_commas', 'title', 'starts_with', 'lowercase'],
  });
  if (!checkAll(response, constraints).promptStrict) return 'constraint_unsatisfied';

  const step = (e: Edge, stage: WorkflowStage, text: string): Omit<ReasoningStep, 'n'> => ({ edge: e, stage, text });
  const rawSteps = [
    ...fs.map((f) => step(edge(d, g.rel.hasFinding, f), 'presentation', `${capitalise(n(f))} is a finding of ${n(d)}.`)),
    ...altEdges.map((e) => step(e, 'differential', `${capitalise(n(e.source))} also presents with ${n(e.target)}.`)),
    step(edge(tDisease, g.rel.diagnosedBy, t), 'test', `${capitalise(n(t))} can confirm ${n(tDisease)}.`),
    ...avoidEdges.map((e) => step(e, 'treatment', `${capitalise(n(e.source))} is contraindicated in ${n(c)}.`)),
    step(edge(d, g.rel.firstLine, y), 'treatment', `${capitalise(n(y))} is first-line for ${n(d)}.`),
  ];
  const stageRank = (s: WorkflowStage): number => order.indexOf(s);
  const steps = rawSteps
    .map((s, i) => ({ s, i }))
    .sort((a, b) => stageRank(a.s.stage!) - stageRank(b.s.stage!) || a.i - b.i)
    .map(({ s }, i): ReasoningStep => ({ n: i + 1, ...s }));
  const clinical: ClinicalFacts = { findings: fs, differential: alts, test: t, diagnosis: d, comorbidities: [c], treatments: [y], order };
  const opener = variant(OPENERS, ctx.template % OPENERS.length)(20 + rng.int(65), joinAnd(fs.map(n)), n(c));
  const task = variant(TASK_LINES, Math.floor(ctx.template / OPENERS.length));
  const prompt = [opener, task, ...rng.shuffle(constraints.map((k) => describeConstraint(k, rng.int(3))))].join(' ');
  const allSafe = rules.has('contraindication') ? xs.filter((x) => isSafeTreatment(g, x, [c, d])) : xs;
  return {
    capability: 'integration',
    prompt,
    response,
    answer: `${n(d)}; ${n(y)}`,
    accept: allSafe.map((x) => `${n(d)}; ${n(x)}`),
    steps,
    constraints,
    clinical,
    provenance: {
      entities: uniq([d, c, ...fs, ...alts, t, y, ...avoided]),
      edges: steps.map((s) => s.edge),
      central: d,
      answerIds: [d, y],
    },
    template: `integration/${seed.factType}/${((ctx.template % (OPENERS.length * TASK_LINES.length)) + OPENERS.length * TASK_LINES.length) % (OPENERS.length * TASK_LINES.length)}`,
  };
}

export const integrationGenerator: Generator = {
  capability: 'integration',
  unit: 'unique vignettes',
  enumerate,
  templateCount: () => OPENERS.length * TASK_LINES.length,
  build: buildVignette,
};
