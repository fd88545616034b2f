/**
 * `instruction`: tasks grounded on graph facts with 1–3 verifiable constraints (constraints.ts). The
 * reference response is built from the facts, shaped to satisfy the constraints, and re-checked.
 */
import type { Edge } from '../../ontology/types';
import { checkAll, describeConstraint } from '../../verify/constraints';
import type { Content, Layout } from '../format';
import { formatWithConstraints } from '../format';
import type { SynthGraph } from '../graph';
import { nameOf, targets } from '../graph';
import { sayEdgeSentence } from '../phrases';
import { capitalise, pick, sample, variant } from '../text';
import { isSafeTreatment } from '../workflow';
import type { BuildContext, Draft, Generator, Seed } from './common';
import { edge, uniq } from './common';

interface Grounded {
  content: Content;
  edges: Edge[];
  entities: string[];
  answer: string;
}

interface Task {
  /** [central, ...ids] per seed. */
  seeds(g: SynthGraph): string[][];
  asks: readonly ((subject: string, extra: string) => string)[];
  layouts: readonly Layout[];
  ground(g: SynthGraph, ids: string[], ctx: BuildContext): Grounded | undefined;
}

const say = (g: SynthGraph, e: Edge, ctx: BuildContext): string => sayEdgeSentence(g, e, ctx.rng.int(3));

const TASKS: Record<string, Task> = {
  list_findings: {
    seeds: (g) => g.byRole.disease.filter((d) => targets(g, d, g.rel.hasFinding).length >= 2).map((d) => [d]),
    asks: [
      (d) => `List characteristic findings of ${d}.`,
      (d) => `What findings would you expect in a patient with ${d}?`,
      (d) => `Name the typical clinical findings of ${d}.`,
      (d) => `Give the main findings associated with ${d}.`,
      (d) => `Which findings are characteristic of ${d}? List them.`,
      (d) => `Describe how ${d} presents by listing its findings.`,
      (d) => `Enumerate the recognised findings of ${d}.`,
      (d) => `For a teaching handout, list the findings seen in ${d}.`,
    ],
    layouts: ['bullets', 'numbered', 'json', 'prose', 'sections'],
    ground: (g, [d], ctx) => {
      const fs = targets(g, d!, g.rel.hasFinding).filter(ctx.allowed);
      if (fs.length < 2) return undefined;
      const chosen = sample(ctx.rng, fs, 2 + ctx.rng.int(Math.min(3, fs.length - 1)));
      const edges = chosen.map((f) => edge(d!, g.rel.hasFinding, f));
      const names = chosen.map((f) => nameOf(g, f));
      return {
        content: { items: edges.map((e) => say(g, e, ctx)), json: { disease: nameOf(g, d!), findings: names }, title: `Findings of ${nameOf(g, d!)}`, keywords: [nameOf(g, d!), ...names] },
        edges, entities: [d!, ...chosen], answer: names.join('; '),
      };
    },
  },
  disease_summary: {
    seeds: (g) => g.byRole.disease.filter((d) => ['hasFinding', 'diagnosedBy', 'firstLine'].every((r) => targets(g, d, g.rel[r as 'hasFinding']).length)).map((d) => [d]),
    asks: [
      (d) => `Summarise ${d}: a key finding, the confirmatory test and a first-line treatment.`,
      (d) => `Give a short clinical summary of ${d} covering presentation, diagnosis and treatment.`,
      (d) => `Write a brief overview of ${d} (one finding, one test, one first-line drug).`,
      (d) => `Explain to a student how ${d} presents, how it is confirmed and how it is treated first-line.`,
      (d) => `Provide a three-part summary of ${d}: finding, test, treatment.`,
      (d) => `Describe ${d} in terms of a typical finding, the test that confirms it and first-line therapy.`,
      (d) => `What should a clinician know about ${d}? Cover a finding, a confirmatory test and first-line treatment.`,
      (d) => `Create a quick reference card for ${d} with its finding, test and treatment.`,
    ],
    layouts: ['bullets', 'numbered', 'json', 'prose', 'sections'],
    ground: (g, [d], ctx) => {
      const f = targets(g, d!, g.rel.hasFinding).filter(ctx.allowed);
      const t = targets(g, d!, g.rel.diagnosedBy).filter(ctx.allowed);
      const x = targets(g, d!, g.rel.firstLine).filter((y) => ctx.allowed(y) && isSafeTreatment(g, y, [d!]));
      if (!f.length || !t.length || !x.length) return undefined;
      const [ff, tt, xx] = [pick(ctx.rng, f), pick(ctx.rng, t), pick(ctx.rng, x)];
      const edges = [edge(d!, g.rel.hasFinding, ff), edge(d!, g.rel.diagnosedBy, tt), edge(d!, g.rel.firstLine, xx)];
      const n = (id: string): string => nameOf(g, id);
      return {
        content: {
          items: edges.map((e) => say(g, e, ctx)),
          json: { disease: n(d!), finding: n(ff), confirmatory_test: n(tt), first_line_treatment: n(xx) },
          title: `${capitalise(n(d!))} at a glance`,
          keywords: [n(d!), n(ff), n(tt), n(xx)],
          finalAnswer: n(xx),
        },
        edges, entities: [d!, ff, tt, xx], answer: n(xx),
      };
    },
  },
  drug_profile: {
    seeds: (g) => g.byRole.drug.filter((x) => targets(g, x, g.rel.isA).length + targets(g, x, g.rel.contraindicatedIn).length + targets(g, x, g.rel.interactsWith).length >= 1 && g.inc.get(x)?.get(g.rel.firstLine)?.length).map((x) => [x]),
    asks: [
      (x) => `Write a short drug profile of ${x}.`,
      (x) => `Describe ${x}: its class, what it treats first-line, and important cautions.`,
      (x) => `What should a prescriber know about ${x}?`,
      (x) => `Give the key facts about the drug ${x}.`,
      (x) => `Summarise ${x} for a pharmacology revision sheet.`,
      (x) => `Provide a brief monograph for ${x}.`,
      (x) => `Outline the uses and cautions of ${x}.`,
      (x) => `Explain what ${x} is used for and when to be careful with it.`,
    ],
    layouts: ['bullets', 'numbered', 'json', 'prose'],
    ground: (g, [x], ctx) => {
      const one = (ids: readonly string[]): string | undefined => {
        const ok = ids.filter(ctx.allowed);
        return ok.length ? pick(ctx.rng, ok) : undefined;
      };
      const cls = one(targets(g, x!, g.rel.isA));
      const treats = one(g.inc.get(x!)?.get(g.rel.firstLine) ?? []);
      const contra = one(targets(g, x!, g.rel.contraindicatedIn));
      const inter = one(targets(g, x!, g.rel.interactsWith));
      const parts: [string, Edge | undefined, string | undefined][] = [
        ['class', cls ? edge(x!, g.rel.isA, cls) : undefined, cls],
        ['first_line_for', treats ? edge(treats, g.rel.firstLine, x!) : undefined, treats],
        ['contraindicated_in', contra ? edge(x!, g.rel.contraindicatedIn, contra) : undefined, contra],
        ['interacts_with', inter ? edge(x!, g.rel.interactsWith, inter) : undefined, inter],
      ];
      const present = parts.filter((p): p is [string, Edge, string] => p[1] !== undefined);
      if (present.length < 2) return undefined;
      const edges = present.map((p) => p[1]);
      return {
        content: {
          items: edges.map((e) => say(g, e, ctx)),
          json: Object.fromEntries([['drug', nameOf(g, x!)], ...present.map(([k, , id]) => [k, nameOf(g, id)])]) as Record<string, string>,
          title: `${capitalise(nameOf(g, x!))} profile`,
          keywords: [nameOf(g, x!), ...present.map(([, , id]) => nameOf(g, id))],
        },
        edges, entities: [x!, ...present.map((p) => p[2])], answer: nameOf(g, x!),
      };
    },
  },
  define_term: {
    seeds: (g) => g.ids.filter((id) => (g.terms.get(id)!.def ?? '').length >= 20).map((id) => [id]),
    asks: [
      (t) => `Define ${t}.`,
      (t) => `What is ${t}?`,
      (t) => `Explain the term ${t}.`,
      (t) => `Give a definition of ${t} and say what kind of entity it is.`,
      (t) => `Briefly describe ${t}.`,
      (t) => `A student asks what ${t} means. Answer them.`,
      (t) => `Write a glossary entry for ${t}.`,
      (t) => `Clarify the meaning of ${t}.`,
    ],
    layouts: ['prose', 'json', 'bullets'],
    ground: (g, [id], ctx) => {
      const t = g.terms.get(id!)!;
      const parent = targets(g, id!, g.rel.isA).filter(ctx.allowed)[0];
      const def = t.def!.trim().replace(/\.$/, '');
      const edges = parent ? [edge(id!, g.rel.isA, parent)] : [];
      const items = [`${capitalise(t.name)}: ${def}.`, ...edges.map((e) => say(g, e, ctx))];
      return {
        content: {
          items,
          json: { term: t.name, definition: def, ...(parent ? { parent: nameOf(g, parent) } : {}) },
          title: capitalise(t.name),
          keywords: [t.name, ...(parent ? [nameOf(g, parent)] : [])],
        },
        edges, entities: [id!, ...(parent ? [parent] : [])], answer: def,
      };
    },
  },
  treatment_safety: {
    seeds: (g) =>
      g.byRole.disease.flatMap((d) => {
        const xs = targets(g, d, g.rel.firstLine);
        const conds = uniq(xs.flatMap((x) => targets(g, x, g.rel.contraindicatedIn))).filter((c) => c !== d).sort();
        return conds.filter((c) => xs.some((y) => isSafeTreatment(g, y, [c, d]))).map((c) => [d, c]);
      }),
    asks: [
      (d, c) => `A patient with ${d} also has ${c}. Which first-line drug should be avoided and which can be used?`,
      (d, c) => `Advise on first-line treatment of ${d} in someone with ${c}.`,
      (d, c) => `Considering ${c}, choose a safe first-line therapy for ${d} and name the one to avoid.`,
      (d, c) => `Which first-line option for ${d} is contraindicated in ${c}, and what is the alternative?`,
      (d, c) => `Plan first-line drug treatment of ${d} for a patient with ${c}.`,
      (d, c) => `How does ${c} change first-line treatment of ${d}?`,
      (d, c) => `Review first-line treatment for ${d} given a comorbidity of ${c}.`,
      (d, c) => `Select first-line medication for ${d} that is compatible with ${c}.`,
    ],
    layouts: ['prose', 'json', 'bullets', 'numbered'],
    ground: (g, [d, c], ctx) => {
      const xs = targets(g, d!, g.rel.firstLine).filter(ctx.allowed);
      const unsafe = xs.filter((x) => targets(g, x, g.rel.contraindicatedIn).includes(c!));
      const safe = xs.filter((y) => isSafeTreatment(g, y, [c!, d!]));
      if (!unsafe.length || !safe.length) return undefined;
      const [x, y] = [pick(ctx.rng, unsafe), pick(ctx.rng, safe)];
      const edges = [edge(x, g.rel.contraindicatedIn, c!), edge(d!, g.rel.firstLine, y)];
      const n = (id: string): string => nameOf(g, id);
      return {
        content: {
          items: [`Avoid ${n(x)}: ${say(g, edges[0]!, ctx).replace(/\.$/, '').replace(/^./, (m) => m.toLowerCase())}.`, `Use ${n(y)}: ${say(g, edges[1]!, ctx).replace(/\.$/, '').replace(/^./, (m) => m.toLowerCase())}.`],
          json: { disease: n(d!), comorbidity: n(c!), avoid: n(x), use: n(y) },
          title: `${capitalise(n(d!))} with ${n(c!)}`,
          keywords: [n(d!), n(c!), n(x), n(y)],
          finalAnswer: n(y),
        },
        edges: [...edges, edge(d!, g.rel.firstLine, x)], entities: [d!, c!, x, y], answer: n(y),
      };
    },
  },
};

const TASK_NAMES = Object.keys(TASKS);

function buildTask(seed: Seed, ctx: BuildContext): Draft | 'generation_failed' | 'constraint_unsatisfied' {
  const { g, rng } = ctx;
  const task = TASKS[seed.factType]!;
  const grounded = task.ground(g, seed.ids, ctx);
  if (!grounded) return 'generation_failed';
  const layouts = task.layouts.filter((l) => l !== 'bullets' || grounded.content.items.length >= 2);
  const layout = pick(rng, layouts);
  const { response, constraints } = formatWithConstraints(rng, grounded.content, layout, { maxConstraints: 3 });
  if (!constraints.length) return 'generation_failed';
  if (!checkAll(response, constraints).promptStrict) return 'constraint_unsatisfied';
  const [subject, extra] = seed.ids.map((id) => nameOf(g, id));
  const ask = variant(task.asks, ctx.template)(subject!, extra ?? '');
  const prompt = [ask, ...rng.shuffle(constraints.map((c) => describeConstraint(c, rng.int(3))))].join(' ');
  return {
    capability: 'instruction',
    prompt,
    response,
    answer: grounded.answer,
    constraints,
    provenance: { entities: uniq(grounded.entities), edges: grounded.edges, central: seed.central, answerIds: [seed.central] },
    template: `instruction/${seed.factType}/${((ctx.template % task.asks.length) + task.asks.length) % task.asks.length}`,
  };
}

export const instructionGenerator: Generator = {
  capability: 'instruction',
  unit: 'unique tasks',
  enumerate: (g) =>
    TASK_NAMES.flatMap((name) =>
      TASKS[name]!.seeds(g).map((ids): Seed => ({ key: `task:${name}:${ids.join('+')}`, factType: name, ids, central: ids[0]!, core: ids })),
    ),
  templateCount: (factType) => TASKS[factType]!.asks.length,
  build: buildTask,
};
