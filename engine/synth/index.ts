/**
 * MKGSG: medical knowledge-grounded synthetic generation (after Source2Synth, Lupidi et al., 2024).
 * Source (ontology) → seeds (entities and relation paths) → grounded examples → workflow rules →
 * ontology validation → curation (dedupe, balance, split by entity). Deterministic for a seed.
 *
 * Capacity is computed from the seeds before anything is generated: asking for more unique examples than
 * the graph supports is an E_SYNTH_SHORTFALL error, never a hang or a silently short dataset.
 */
import type { Ontology } from '../ontology/types';
import type { Capability } from '../core/stage';
import { CAPABILITIES } from '../core/stage';
import { didYouMean } from '../config/suggest';
import { BbioError } from '../util/errors';
import type { Logger } from '../util/log';
import { makeRng } from '../util/rng';
import { allowedIn, assignEntitySplits, balanceWeights, createDeduper, leakedEntities, splitOf, templateOrder, weightedOrder } from './curate';
import type { Seed } from './generators/common';
import { GENERATORS } from './generators/index';
import type { SynthGraph } from './graph';
import { buildSynthGraph, nameOf, specialtyOf } from './graph';
import { formatCount } from './text';
import { CHAT_MARKERS, formatChat } from '../core/chat';
import type { Split, SynthExample } from '../core/example';
import type { RejectCounts, RejectReason, SynthConfig } from './types';
import { SPLITS } from '../core/example';
import { buildValidationIndex, validateExample } from './validate';
import type { WorkflowRule } from './workflow';
import { checkWorkflow } from './workflow';

export type { SynthExample, Split } from '../core/example';
export type { SynthConfig } from './types';

export interface SynthProgress {
  phase: 'enumerate' | 'generate' | 'done';
  capability?: Capability;
  /** Examples accepted so far (generate), over all capabilities. */
  done: number;
  total: number;
}

export interface SynthOptions {
  seed: number;
  log: Logger;
  onProgress?: (p: SynthProgress) => void;
  signal?: AbortSignal;
}

export interface DatasetCard {
  version: 1;
  note: string;
  seed: number;
  textTemplate: string;
  ontology: { terms: number; relations: number; diseases: number; findings: number; tests: number; drugs: number };
  config: SynthConfig;
  counts: Record<Capability, Record<Split | 'total', number>>;
  totals: Record<Split | 'total', number>;
  /** Unique examples the graph supports per capability (seeds × templates) under this split. */
  capacity: Record<Capability, number>;
  /** Rejected candidates by first reason, over all capabilities and per capability. */
  rejected: RejectCounts;
  rejectedByCapability: Record<Capability, RejectCounts>;
  specialties: Record<Capability, Record<string, number>>;
  topEntities: { id: string; name: string; examples: number }[];
  /** Split units (central entities) per split. */
  splitEntities: Record<Split, number>;
  templatesUsed: Record<Capability, number>;
  reasoningHops: Record<string, number>;
  focus: { terms: string[]; resolved: string[]; examples: number };
}

export interface SynthResult {
  train: SynthExample[];
  val: SynthExample[];
  test: SynthExample[];
  card: DatasetCard;
}

const FOCUS_BOOST = 4;
const YIELD_EVERY = 256;

/** Exact id / name / synonym lookup (case-insensitive) → ids. */
function resolveFocusTerms(g: SynthGraph, terms: readonly string[]): { resolved: string[]; neighbourhood: Set<string> } {
  const byLabel = new Map<string, string[]>();
  const add = (label: string, id: string): void => {
    const k = label.trim().toLowerCase();
    byLabel.set(k, [...(byLabel.get(k) ?? []), id]);
  };
  for (const t of g.terms.values()) {
    add(t.id, t.id);
    add(t.name, t.id);
    for (const s of t.synonyms) add(s.text, t.id);
  }
  const resolved: string[] = [];
  for (const term of terms) {
    const ids = byLabel.get(term.trim().toLowerCase());
    if (!ids) {
      const suggestion = didYouMean(term, [...g.terms.values()].map((t) => t.name));
      throw new BbioError('E_ONTOLOGY_TERM_UNKNOWN', `unknown focus term "${term}": no ontology term has this id, name or synonym`, {},
        suggestion ? `did you mean "${suggestion}"?` : 'use a name, synonym or id from the ontology (see "balancedbio ontology lookup")');
    }
    resolved.push(...ids);
  }
  const neighbourhood = new Set<string>();
  for (const id of resolved) {
    neighbourhood.add(id);
    for (const m of [g.out.get(id), g.inc.get(id)]) for (const list of m?.values() ?? []) for (const n of list) neighbourhood.add(n);
  }
  return { resolved: [...new Set(resolved)], neighbourhood };
}

function emptyByCapability<T>(make: () => T): Record<Capability, T> {
  return Object.fromEntries(CAPABILITIES.map((c) => [c, make()])) as Record<Capability, T>;
}

function bump<K extends string>(rec: Partial<Record<K, number>>, k: K, by = 1): void {
  rec[k] = (rec[k] ?? 0) + by;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function synthesize(ont: Ontology, cfg: SynthConfig, opts: SynthOptions): Promise<SynthResult> {
  const { seed, log } = opts;
  const checkAbort = (): void => {
    if (opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'synthesis cancelled');
  };
  checkAbort();
  const g = buildSynthGraph(ont);
  if (!g.terms.size) throw new BbioError('E_ONTOLOGY_EMPTY', 'the ontology has no (non-obsolete) terms to synthesize from');
  const vIdx = buildValidationIndex(ont);
  const rules = new Set<WorkflowRule>(cfg.workflow_constraints);
  const focus = resolveFocusTerms(g, cfg.focus_terms);
  const wanted = emptyByCapability(() => 0);
  for (const c of CAPABILITIES) wanted[c] = cfg.examples[c] ?? 0;
  const grandTotal = CAPABILITIES.reduce((s, c) => s + wanted[c], 0);
  opts.onProgress?.({ phase: 'enumerate', done: 0, total: grandTotal });

  // 1. seeds, split units and capacity, before generating anything
  const seeds = emptyByCapability<Seed[]>(() => []);
  for (const c of CAPABILITIES) if (wanted[c] > 0) seeds[c] = GENERATORS[c].enumerate(g, cfg);
  const byEntity = cfg.split.by === 'entity';
  const entitySplits = byEntity ? assignEntitySplits(seed, new Set(CAPABILITIES.flatMap((c) => seeds[c].map((s) => s.central))), cfg.split) : new Map<string, Split>();
  const seedSplit = (s: Seed): Split => (byEntity ? entitySplits.get(s.central)! : splitOf(seed, `example:${s.key}`, cfg.split));
  const templatesOf = (c: Capability, s: Seed): number => Math.min(cfg.templates_per_example, GENERATORS[c].templateCount(s.factType));
  const usable = emptyByCapability<Seed[]>(() => []);
  const capacity = emptyByCapability(() => 0);
  for (const c of CAPABILITIES) {
    usable[c] = seeds[c].filter((s) => s.core.every(allowedIn(entitySplits, seedSplit(s))));
    capacity[c] = usable[c].reduce((sum, s) => sum + templatesOf(c, s), 0);
  }
  const short = CAPABILITIES.filter((c) => wanted[c] > capacity[c]);
  if (short.length) {
    const msg = short.map((c) => `asked for ${formatCount(wanted[c])} ${c} examples, graph supports ${formatCount(capacity[c])} ${GENERATORS[c].unit}`).join('; ');
    throw new BbioError('E_SYNTH_SHORTFALL', msg, {},
      `lower synthesis.examples.${short[0]}, raise synthesis.templates_per_example, widen synthesis.hops or add ontology sources`);
  }

  // 2. generate → workflow rules → validate → leak check → dedupe, in a balanced, seeded order
  const rootRng = makeRng(seed);
  const dedupe = createDeduper(cfg.near_duplicate_threshold);
  const rejected: RejectCounts = {};
  const rejectedByCapability = emptyByCapability<RejectCounts>(() => ({}));
  const accepted = emptyByCapability<SynthExample[]>(() => []);
  let attempts = 0;
  let doneAll = 0;
  for (const c of CAPABILITIES) {
    if (!wanted[c]) continue;
    checkAbort();
    const gen = GENERATORS[c];
    const inFocus = (s: Seed): boolean => [s.central, ...s.core].some((id) => focus.neighbourhood.has(id));
    const balance = balanceWeights(usable[c], (s) => specialtyOf(g, s.central) ?? '');
    const order = weightedOrder(usable[c], (s) => balance(s) * (s.weight ?? 1) * (inFocus(s) ? FOCUS_BOOST : 1), rootRng.fork(c));
    const rounds = Math.max(0, ...order.map((s) => templatesOf(c, s)));
    const reject = (r: RejectReason): void => {
      bump(rejected, r);
      bump(rejectedByCapability[c], r);
    };
    outer: for (let round = 0; round < rounds; round++) {
      for (const s of order) {
        if (round >= templatesOf(c, s)) continue;
        if (++attempts % YIELD_EVERY === 0) {
          await tick();
          checkAbort();
        }
        const split = seedSplit(s);
        const template = templateOrder(seed, s.key, gen.templateCount(s.factType))[round]!;
        const draft = gen.build(s, { g, cfg, rng: makeRng(`${seed}:${s.key}:${round}`), template, allowed: allowedIn(entitySplits, split), ...(byEntity ? { splitOf: (id: string) => entitySplits.get(id) } : {}), rules });
        if (typeof draft === 'string') {
          reject(draft);
          continue;
        }
        const ex: SynthExample = {
          id: `${c}-${String(accepted[c].length + 1).padStart(6, '0')}`,
          ...(specialtyOf(g, s.central) ? { specialty: specialtyOf(g, s.central)! } : {}),
          ...draft,
          text: formatChat(draft.prompt, draft.response),
          split,
        };
        const problem = [...checkWorkflow(ex, g, rules), ...validateExample(ex, vIdx, cfg.validation)][0]
          ?? (byEntity && leakedEntities(ex, entitySplits).length ? 'split_leak' : undefined)
          ?? dedupe.admit(ex.text);
        if (problem) {
          reject(problem);
          continue;
        }
        accepted[c].push(ex);
        doneAll++;
        if (doneAll % 200 === 0) opts.onProgress?.({ phase: 'generate', capability: c, done: doneAll, total: grandTotal });
        if (accepted[c].length >= wanted[c]) break outer;
      }
    }
    if (accepted[c].length < wanted[c]) {
      throw new BbioError('E_SYNTH_SHORTFALL',
        `asked for ${formatCount(wanted[c])} ${c} examples, graph supports ${formatCount(accepted[c].length)} ${gen.unit} after validation and deduplication (rejected: ${JSON.stringify(rejectedByCapability[c])})`,
        {}, `lower synthesis.examples.${c} or raise synthesis.templates_per_example`);
    }
    log.debug('synthesized', { capability: c, examples: accepted[c].length, rejected: rejectedByCapability[c] });
  }
  opts.onProgress?.({ phase: 'done', done: doneAll, total: grandTotal });

  const all = CAPABILITIES.flatMap((c) => accepted[c]);
  const bySplit = (sp: Split): SynthExample[] => all.filter((e) => e.split === sp);
  const card = makeCard({ g, cfg, seed, all, capacity, rejected, rejectedByCapability, entitySplits, focus, byEntity });
  return { train: bySplit('train'), val: bySplit('val'), test: bySplit('test'), card };
}

function makeCard(a: {
  g: SynthGraph; cfg: SynthConfig; seed: number; all: SynthExample[]; capacity: Record<Capability, number>;
  rejected: RejectCounts; rejectedByCapability: Record<Capability, RejectCounts>; entitySplits: Map<string, Split>;
  focus: { resolved: string[]; neighbourhood: Set<string> }; byEntity: boolean;
}): DatasetCard {
  const { g, all } = a;
  const counts = emptyByCapability(() => ({ train: 0, val: 0, test: 0, total: 0 }));
  const totals = { train: 0, val: 0, test: 0, total: 0 };
  const specialties = emptyByCapability<Record<string, number>>(() => ({}));
  const templates = emptyByCapability(() => new Set<string>());
  const entityUse = new Map<string, number>();
  const hops: Record<string, number> = {};
  let focusExamples = 0;
  for (const e of all) {
    counts[e.capability][e.split]++;
    counts[e.capability].total++;
    totals[e.split]++;
    totals.total++;
    bump(specialties[e.capability], e.specialty ?? '(none)');
    templates[e.capability].add(e.template);
    for (const id of e.provenance.entities) entityUse.set(id, (entityUse.get(id) ?? 0) + 1);
    if (e.capability === 'reasoning') bump(hops, String(e.steps?.length ?? 0));
    if (e.provenance.entities.some((id) => a.focus.neighbourhood.has(id))) focusExamples++;
  }
  const splitEntities = { train: 0, val: 0, test: 0 };
  for (const s of a.entitySplits.values()) splitEntities[s]++;
  const topEntities = [...entityUse.entries()]
    .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
    .slice(0, 20)
    .map(([id, n]) => ({ id, name: nameOf(g, id), examples: n }));
  return {
    version: 1,
    note: 'Synthetic research data generated from an ontology by MKGSG; not clinical advice.',
    seed: a.seed,
    textTemplate: `${CHAT_MARKERS.user}\\n{prompt}\\n${CHAT_MARKERS.assistant}\\n{response}\\n${CHAT_MARKERS.end}`,
    ontology: {
      terms: g.terms.size, relations: g.ont.typedefs.size, diseases: g.byRole.disease.length, findings: g.byRole.finding.length,
      tests: g.byRole.test.length, drugs: g.byRole.drug.length,
    },
    config: a.cfg,
    counts,
    totals,
    capacity: a.capacity,
    rejected: a.rejected,
    rejectedByCapability: a.rejectedByCapability,
    specialties,
    topEntities,
    splitEntities: a.byEntity ? splitEntities : { train: 0, val: 0, test: 0 },
    templatesUsed: Object.fromEntries(CAPABILITIES.map((c) => [c, templates[c].size])) as Record<Capability, number>,
    reasoningHops: hops,
    focus: { terms: a.cfg.focus_terms, resolved: a.focus.resolved, examples: focusExamples },
  };
}

export { SPLITS };
