/**
 * `reasoning`: multi-hop chains, each numbered step stating exactly one ontology edge, ending with
 * `Answer: ...`. A chain starts by identifying the disease from findings that only it has in the graph
 * (one unique finding, or a pair that only it shares), then walks relations: test, first-line drug,
 * drug class, complication, a drug interaction, or a contraindication check against a comorbidity with
 * an alternative. Ontologies without clinical relations (GO) get is_a ancestor chains.
 * Hops = steps; only patterns within `synthesis.hops` are enumerated.
 */
import type { SynthGraph } from '../graph';
import { hasEdge, nameOf, sources, targets } from '../graph';
import { capitalise, joinAnd, variant } from '../text';
import type { ClinicalFacts, ReasoningStep, WorkflowStage } from '../../core/example';
import { isSafeTreatment } from '../workflow';
import type { BuildContext, Draft, Generator, Seed } from './common';
import { edge, uniq } from './common';

/** Findings (1 or 2) that identify a disease: no other disease in the graph has all of them. */
export function identifyingSets(g: SynthGraph, d: string, maxPairs = 3): string[][] {
  const fs = [...targets(g, d, g.rel.hasFinding)].sort();
  const diseasesWith = (f: string): readonly string[] => sources(g, f, g.rel.hasFinding);
  const singles = fs.filter((f) => diseasesWith(f).length === 1).map((f) => [f]);
  if (singles.length) return singles;
  const pairs: string[][] = [];
  for (let i = 0; i < fs.length && pairs.length < maxPairs; i++) {
    for (let j = i + 1; j < fs.length && pairs.length < maxPairs; j++) {
      const other = diseasesWith(fs[j]!);
      if (diseasesWith(fs[i]!).filter((x) => other.includes(x)).length === 1) pairs.push([fs[i]!, fs[j]!]);
    }
  }
  return pairs;
}

interface Walk {
  steps: { edge: [string, string, string]; say: string; stage?: WorkflowStage }[];
  answer: string;
  accept: string[];
  clinical?: Omit<ClinicalFacts, 'findings' | 'order' | 'differential'>;
  entities: string[];
}

interface Pattern {
  /** Hops after identification (is_a chains: total hops). */
  hops: number;
  /** Extra seed ids beyond the identified disease, one list per variant (e.g. each comorbidity). */
  extras(g: SynthGraph, d: string): string[][];
  asks: readonly ((extra: string[]) => string)[];
  walk(g: SynthGraph, d: string, extra: string[], pickIndex: number, allowed: (id: string) => boolean): Walk | undefined;
}

const firstLine = (g: SynthGraph, d: string): readonly string[] => targets(g, d, g.rel.firstLine);
const classes = (g: SynthGraph, x: string): string[] => targets(g, x, g.rel.isA).filter((c) => g.roleSets.drugClass.has(c));
const at = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

const PATTERNS: Record<string, Pattern> = {
  diagnosis: {
    hops: 0,
    extras: () => [[]],
    asks: [
      () => 'What is the most likely diagnosis?',
      () => 'Which condition best explains this presentation?',
      () => 'Name the underlying disease.',
    ],
    walk: (_g, d) => ({ steps: [], answer: d, accept: [d], entities: [] }),
  },
  test: {
    hops: 1,
    extras: (g, d) => (targets(g, d, g.rel.diagnosedBy).length ? [[]] : []),
    asks: [
      () => 'Which test can confirm the likely diagnosis?',
      () => 'Name a test that would confirm the underlying condition.',
      () => 'What investigation confirms the most likely disease?',
    ],
    walk: (g, d, _e, i, allowed) => {
      const ts = targets(g, d, g.rel.diagnosedBy).filter(allowed);
      if (!ts.length) return undefined;
      const t = at(ts, i);
      return { steps: [{ edge: [d, g.rel.diagnosedBy, t], say: 'test', stage: 'test' }], answer: t, accept: ts, entities: [t], clinical: { diagnosis: d, test: t, comorbidities: [], treatments: [] } };
    },
  },
  drug: {
    hops: 1,
    extras: (g, d) => (firstLine(g, d).length ? [[]] : []),
    asks: [
      () => 'Which drug is a first-line treatment for the likely diagnosis?',
      () => 'Name a first-line medication for the underlying condition.',
      () => 'What would you start first-line for the most likely disease?',
    ],
    walk: (g, d, _e, i, allowed) => {
      const xs = firstLine(g, d).filter(allowed);
      if (!xs.length) return undefined;
      const x = at(xs, i);
      return { steps: [{ edge: [d, g.rel.firstLine, x], say: 'treat', stage: 'treatment' }], answer: x, accept: xs, entities: [x], clinical: { diagnosis: d, comorbidities: [], treatments: [x] } };
    },
  },
  drug_class: {
    hops: 2,
    extras: (g, d) => (firstLine(g, d).some((x) => classes(g, x).length) ? [[]] : []),
    asks: [
      () => 'To which drug class does a first-line treatment for the likely diagnosis belong?',
      () => 'Name the drug class of a first-line medication for the underlying condition.',
      () => 'Which class of drug is used first-line for the most likely disease?',
    ],
    walk: (g, d, _e, i, allowed) => {
      const xs = firstLine(g, d).filter((x) => allowed(x) && classes(g, x).some(allowed));
      if (!xs.length) return undefined;
      const x = at(xs, i);
      const c = classes(g, x).filter(allowed)[0]!;
      const accept = uniq(xs.flatMap((y) => classes(g, y).filter(allowed)));
      return {
        steps: [
          { edge: [d, g.rel.firstLine, x], say: 'treat', stage: 'treatment' },
          { edge: [x, g.rel.isA, c], say: 'class', stage: 'treatment' },
        ],
        answer: c, accept, entities: [x, c],
      };
    },
  },
  complication: {
    hops: 1,
    extras: (g, d) => (sources(g, d, g.rel.complicationOf).length ? [[]] : []),
    asks: [
      () => 'Which complication of the likely diagnosis should be monitored for?',
      () => 'Name a recognised complication of the underlying condition.',
      () => 'What complication can the most likely disease lead to?',
    ],
    walk: (g, d, _e, i, allowed) => {
      const ks = sources(g, d, g.rel.complicationOf).filter(allowed);
      if (!ks.length) return undefined;
      const k = at(ks, i);
      return { steps: [{ edge: [k, g.rel.complicationOf, d], say: 'complication' }], answer: k, accept: ks, entities: [k] };
    },
  },
  complication_test: {
    hops: 2,
    extras: (g, d) => (sources(g, d, g.rel.complicationOf).some((k) => targets(g, k, g.rel.diagnosedBy).length) ? [[]] : []),
    asks: [
      () => 'Name a test that would confirm a recognised complication of the likely diagnosis.',
      () => 'Which investigation confirms a complication of the underlying condition?',
      () => 'The patient may develop a complication of the likely disease. Which test could confirm such a complication?',
    ],
    walk: (g, d, _e, i, allowed) => {
      const ks = sources(g, d, g.rel.complicationOf).filter((k) => allowed(k) && targets(g, k, g.rel.diagnosedBy).some(allowed));
      if (!ks.length) return undefined;
      const k = at(ks, i);
      const t = targets(g, k, g.rel.diagnosedBy).filter(allowed)[0]!;
      const accept = uniq(ks.flatMap((kk) => targets(g, kk, g.rel.diagnosedBy).filter(allowed)));
      return {
        steps: [
          { edge: [k, g.rel.complicationOf, d], say: 'complication' },
          { edge: [k, g.rel.diagnosedBy, t], say: 'test' },
        ],
        answer: t, accept, entities: [k, t],
      };
    },
  },
  interaction: {
    hops: 2,
    extras: (g, d) => {
      const xs = firstLine(g, d);
      return uniq(xs.flatMap((x) => targets(g, x, g.rel.interactsWith))).filter((z) => !xs.includes(z)).sort().map((z) => [z]);
    },
    asks: [
      ([z]) => `The patient already takes ${z}. Which first-line drug for the likely diagnosis interacts with it?`,
      ([z]) => `They are on long-term ${z}. Name the first-line treatment for the underlying condition that interacts with ${z}.`,
      ([z]) => `Which first-line option for the most likely disease has an interaction with ${z}, which the patient takes?`,
    ],
    walk: (g, d, [z], i, allowed) => {
      const xs = firstLine(g, d).filter((x) => allowed(x) && hasEdge(g, x, g.rel.interactsWith, z!));
      if (!xs.length) return undefined;
      const x = at(xs, i);
      return {
        steps: [
          { edge: [d, g.rel.firstLine, x], say: 'treat', stage: 'treatment' },
          { edge: [x, g.rel.interactsWith, z!], say: 'interaction', stage: 'treatment' },
        ],
        answer: x, accept: xs, entities: [z!, x],
      };
    },
  },
  contra_alternative: {
    hops: 3,
    extras: (g, d) => {
      const xs = firstLine(g, d);
      const conds = uniq(xs.flatMap((x) => [x, ...g.ancestors(x)].flatMap((y) => targets(g, y, g.rel.contraindicatedIn))));
      return conds.filter((c) => c !== d && xs.some((y) => isSafeTreatment(g, y, [c, d]))).sort().map((c) => [c]);
    },
    asks: [
      ([c]) => `They have a history of ${c}. Which first-line drug for the likely diagnosis is safe to use?`,
      ([c]) => `The patient also has ${c}. Choose a first-line treatment for the underlying condition that is not contraindicated.`,
      ([c]) => `Given their ${c}, which first-line medication for the most likely disease should be chosen?`,
    ],
    walk: (g, d, [c], i, allowed) => {
      const xs = firstLine(g, d);
      const unsafe = xs.filter((x) => allowed(x) && targets(g, x, g.rel.contraindicatedIn).includes(c!));
      const safe = xs.filter((y) => allowed(y) && isSafeTreatment(g, y, [c!, d]));
      if (!unsafe.length || !safe.length) return undefined;
      const x = at(unsafe, i);
      const y = at(safe, i);
      return {
        steps: [
          { edge: [d, g.rel.firstLine, x], say: 'treat', stage: 'treatment' },
          { edge: [x, g.rel.contraindicatedIn, c!], say: 'avoid', stage: 'treatment' },
          { edge: [d, g.rel.firstLine, y], say: 'alternative', stage: 'treatment' },
        ],
        answer: y, accept: safe, entities: [c!, x, y],
        clinical: { diagnosis: d, comorbidities: [c!], treatments: [y] },
      };
    },
  },
};

const OPENERS: readonly ((p: string, age: number) => string)[] = [
  (p) => `A patient presents with ${p}.`,
  (p, a) => `A ${a}-year-old presents with ${p}.`,
  (p) => `You are seeing a patient who has ${p}.`,
  (p) => `On assessment a patient shows ${p}.`,
  (p) => `A clinic patient reports ${p}.`,
  (p) => `Consider a patient with ${p}.`,
  (p) => `A referral letter describes ${p}.`,
  (p, a) => `An adult aged ${a} is admitted with ${p}.`,
];

const INSTRUCTIONS = [
  'Reason step by step, one fact per numbered step, and end with a line "Answer: <answer>".',
  'Think it through in numbered steps, then give the final line as "Answer: <answer>".',
  'Show your reasoning as numbered steps and finish with "Answer: <answer>".',
];

/** How each kind of step is said, as a function of the edge's two names (variants by template). */
const STEP_SAY: Record<string, readonly ((s: string, t: string) => string)[]> = {
  ident: [
    (d, f) => `${f} is a characteristic finding of ${d}, and no other condition in the graph has it, so ${d} is the likely diagnosis.`,
    (d, f) => `${d} presents with ${f}, which points specifically to ${d}.`,
  ],
  identFirst: [(d, f) => `${f} is a finding of ${d}.`, (d, f) => `${d} can present with ${f}.`],
  identSecond: [
    (d, f) => `${f} is also a finding of ${d}; only ${d} has both findings, so it is the likely diagnosis.`,
    (d, f) => `${d} also presents with ${f}, and it is the only condition with both, so ${d} is likely.`,
  ],
  test: [(d, t) => `${t} can confirm ${d}.`, (d, t) => `${d} is confirmed with ${t}.`],
  treat: [(d, x) => `${x} is a first-line treatment for ${d}.`, (d, x) => `First-line therapy for ${d} includes ${x}.`],
  class: [(x, c) => `${x} belongs to the class ${c}.`, (x, c) => `${x} is a kind of ${c}.`],
  complication: [(k, d) => `${k} is a recognised complication of ${d}.`, (k, d) => `${d} can be complicated by ${k}.`],
  interaction: [(x, z) => `${x} interacts with ${z}.`, (x, z) => `${x} has a known interaction with ${z}.`],
  avoid: [(x, c) => `${x} is contraindicated in ${c}, so it should be avoided.`, (x, c) => `${c} is a contraindication to ${x}; do not use it.`],
  alternative: [
    (d, y) => `${y} is also first-line for ${d} and is not contraindicated here.`,
    (d, y) => `${d} can instead be treated first-line with ${y}, which is safe for this patient.`,
  ],
  isA: [(x, p) => `${x} is_a ${p}.`, (x, p) => `${x} is a kind of ${p}.`],
};

const ANCESTOR_ASKS: readonly ((x: string, k: number) => string)[] = [
  (x, k) => `Starting from ${x}, follow is_a links ${k} levels up the hierarchy. Which term do you reach?`,
  (x, k) => `Which term lies exactly ${k} is_a steps above ${x}?`,
  (x, k) => `Climb ${k} levels up the ontology from ${x}. Name the term you arrive at.`,
  (x, k) => `Trace the parents of ${x} through ${k} is_a hops. What is the final term?`,
  (x, k) => `What is the ancestor of ${x} at distance ${k} in the is_a hierarchy?`,
  (x, k) => `Going up ${k} generations from ${x} (parent, then its parent...), which term do you find?`,
  (x, k) => `Name the term ${k} levels above ${x}, following is_a relations.`,
  (x, k) => `${x} has a chain of is_a parents. Which term is ${k} steps up that chain?`,
];

/** The single-parent is_a path of length k above x, if every node on it has exactly one parent. */
function uniqueAncestorPath(g: SynthGraph, x: string, k: number): string[] | undefined {
  const path = [x];
  for (let i = 0; i < k; i++) {
    const ps = targets(g, path.at(-1)!, g.rel.isA);
    if (ps.length !== 1) return undefined;
    path.push(ps[0]!);
  }
  return path;
}

function enumerate(g: SynthGraph, cfg: BuildContext['cfg']): Seed[] {
  const { min, max } = cfg.hops;
  const seeds: Seed[] = [];
  for (const d of g.byRole.disease) {
    for (const ident of identifyingSets(g, d)) {
      for (const [name, p] of Object.entries(PATTERNS)) {
        const hops = ident.length + p.hops;
        if (hops < min || hops > max) continue;
        for (const extra of p.extras(g, d)) {
          // ids: [disease, number of identifying findings, ...findings, ...extras]
          const ids = [d, String(ident.length), ...ident, ...extra];
          seeds.push({ key: `chain:${name}:${ids.join('+')}`, factType: name, ids, central: d, core: [d, ...ident, ...extra], weight: 1 + hops / 4 });
        }
      }
    }
  }
  const clinical = new Set([...g.byRole.disease, ...g.byRole.drug, ...g.byRole.finding, ...g.byRole.test]);
  for (const x of g.ids) {
    if (clinical.has(x)) continue;
    for (let k = Math.max(2, min); k <= Math.min(max, 6); k++) {
      const path = uniqueAncestorPath(g, x, k);
      if (path) seeds.push({ key: `chain:ancestor:${path.join('>')}`, factType: 'ancestor', ids: path, central: x, core: path });
    }
  }
  return seeds;
}

function templateCount(factType: string): number {
  return factType === 'ancestor' ? ANCESTOR_ASKS.length : OPENERS.length * PATTERNS[factType]!.asks.length;
}

function toSteps(g: SynthGraph, raw: Walk['steps'], template: number): ReasoningStep[] {
  return raw.map((s, i) => {
    const [a, rel, b] = s.edge;
    return { n: i + 1, text: capitalise(variant(STEP_SAY[s.say]!, template)(nameOf(g, a), nameOf(g, b))), edge: edge(a, rel, b), ...(s.stage ? { stage: s.stage } : {}) };
  });
}

function finish(g: SynthGraph, seed: Seed, ctx: BuildContext, prompt: string, steps: ReasoningStep[], w: Walk, entities: string[], clinical?: ClinicalFacts): Draft {
  const answerName = nameOf(g, w.answer);
  const response = `${steps.map((s) => `${s.n}. ${s.text}`).join('\n')}\nAnswer: ${answerName}`;
  return {
    capability: 'reasoning',
    prompt,
    response,
    answer: answerName,
    accept: uniq(w.accept.map((id) => nameOf(g, id))),
    steps,
    ...(clinical ? { clinical } : {}),
    provenance: { entities: uniq(entities), edges: steps.map((s) => s.edge), central: seed.central, answerIds: [w.answer] },
    template: `reasoning/${seed.factType}/${((ctx.template % templateCount(seed.factType)) + templateCount(seed.factType)) % templateCount(seed.factType)}`,
  };
}

function buildAncestor(seed: Seed, ctx: BuildContext): Draft {
  const { g } = ctx;
  const path = seed.ids;
  const k = path.length - 1;
  const raw = path.slice(1).map((p, i): Walk['steps'][number] => ({ edge: [path[i]!, g.rel.isA, p], say: 'isA' }));
  const w: Walk = { steps: raw, answer: path.at(-1)!, accept: [path.at(-1)!], entities: path };
  const prompt = `${variant(ANCESTOR_ASKS, ctx.template)(nameOf(g, path[0]!), k)}\n${variant(INSTRUCTIONS, ctx.rng.int(INSTRUCTIONS.length))}`;
  return finish(g, seed, ctx, prompt, toSteps(g, raw, ctx.rng.int(2)), w, path);
}

function buildChain(seed: Seed, ctx: BuildContext): Draft | 'generation_failed' {
  if (seed.factType === 'ancestor') return buildAncestor(seed, ctx);
  const { g, rng } = ctx;
  const p = PATTERNS[seed.factType]!;
  const [d, identLen, ...rest] = seed.ids as [string, string, ...string[]];
  const ident = rest.slice(0, Number(identLen));
  const extra = rest.slice(Number(identLen));
  const w = p.walk(g, d, extra, rng.int(1 << 20), ctx.allowed);
  if (!w) return 'generation_failed';
  const identSteps: Walk['steps'] =
    ident.length === 1
      ? [{ edge: [d, g.rel.hasFinding, ident[0]!], say: 'ident', stage: 'differential' }]
      : [
          { edge: [d, g.rel.hasFinding, ident[0]!], say: 'identFirst', stage: 'presentation' },
          { edge: [d, g.rel.hasFinding, ident[1]!], say: 'identSecond', stage: 'differential' },
        ];
  const raw = [...identSteps, ...w.steps];
  const steps = toSteps(g, raw, rng.int(2));
  const nOpen = OPENERS.length;
  const opener = variant(OPENERS, ctx.template % nOpen)(joinAnd(ident.map((f) => nameOf(g, f))), 25 + rng.int(60));
  const ask = variant(p.asks, Math.floor(ctx.template / nOpen))(extra.map((e) => nameOf(g, e)));
  const prompt = `${opener} ${ask}\n${variant(INSTRUCTIONS, rng.int(INSTRUCTIONS.length))}`;
  const clinical: ClinicalFacts | undefined = w.clinical
    ? { findings: ident, differential: [d], order: steps.flatMap((s) => (s.stage ? [s.stage] : [])), test: w.clinical.test, ...w.clinical }
    : undefined;
  if (clinical && clinical.test === undefined) delete clinical.test;
  return finish(g, seed, ctx, prompt, steps, w, [d, ...ident, ...w.entities], clinical);
}

export const reasoningGenerator: Generator = {
  capability: 'reasoning',
  unit: 'unique chains',
  enumerate,
  templateCount,
  build: buildChain,
};

/** Exposed for the dataset card and tests: hop count of a built chain. */
export const chainHops = (steps: readonly ReasoningStep[]): number => steps.length;
