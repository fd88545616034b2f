/**
 * Turning grounded content into a response that satisfies verifiable constraints: pick a layout (the
 * layout's own constraint, e.g. exactly N bullets), then modifiers that transform the text (no commas,
 * lowercase, a required start or end), then measured constraints fitted to the final text (word limits,
 * keywords that occur, words that do not). The caller re-checks the result with `checkAll`.
 * Shared by the instruction and integration generators.
 */
import type { Rng } from '../util/rng';
import type { Constraint, ConstraintKind } from '../verify/constraints';
import { containsWord, countWords } from '../verify/constraints';
import { sample } from './text';

export type Layout = 'bullets' | 'numbered' | 'json' | 'prose' | 'sections' | 'headings';

export interface Content {
  /** Statements, one per item (bullet, step, section or heading). */
  items: string[];
  /** Heading per item for the `headings` layout. */
  headings?: string[];
  /** The JSON object for the `json` layout (keys in order). */
  json: Record<string, string | string[]>;
  /** A short title for the `title` modifier. */
  title: string;
  /** Entity names eligible as required keywords. */
  keywords: string[];
  /** When set, a final `Answer: ...` line is possible. */
  finalAnswer?: string;
}

interface LayoutSpec {
  render(c: Content): string;
  constraint(c: Content): Constraint | undefined;
}

const LAYOUTS: Record<Layout, LayoutSpec> = {
  bullets: { render: (c) => c.items.map((i) => `* ${i}`).join('\n'), constraint: (c) => ({ kind: 'bullet_count', n: c.items.length }) },
  numbered: { render: (c) => c.items.map((t, i) => `${i + 1}. ${t}`).join('\n'), constraint: (c) => ({ kind: 'numbered_steps', n: c.items.length }) },
  json: { render: (c) => JSON.stringify(c.json, null, 2), constraint: (c) => ({ kind: 'json_keys', keys: Object.keys(c.json), exact: true }) },
  prose: { render: (c) => c.items.join(' '), constraint: () => undefined },
  sections: {
    render: (c) => c.items.map((t, i) => `SECTION ${i + 1}\n${t}`).join('\n\n'),
    constraint: (c) => ({ kind: 'sections', n: c.items.length, marker: 'SECTION' }),
  },
  headings: {
    render: (c) => c.items.map((t, i) => `${c.headings![i]}: ${t}`).join('\n'),
    constraint: (c) => ({ kind: 'ordered_sections', headings: c.headings! }),
  },
};

/** Modifiers change the text; each lists the layouts it works with and the modifiers it excludes. */
type ModifierKind = Extract<ConstraintKind, 'no_commas' | 'lowercase' | 'starts_with' | 'ends_with' | 'title' | 'final_answer_line'>;

interface ModifierSpec {
  layouts: readonly Layout[];
  conflicts: readonly ModifierKind[];
  /** Whether the content allows it. */
  possible?(c: Content): boolean;
  make(rng: Rng, c: Content): Constraint;
  apply(text: string, constraint: Constraint, c: Content): string;
}

const TEXT_LAYOUTS: readonly Layout[] = ['bullets', 'numbered', 'prose', 'sections', 'headings'];
const START_PHRASES = ['Here is the answer.', 'Summary follows.', 'Based on the knowledge graph:', 'Clinical note:'];
const END_PHRASES = ['Is there anything else I can help with?', 'End of answer.', 'This is research data and not clinical advice.', 'Let me know if you need more detail.'];
const FORBIDDEN_POOL = ['cure', 'always', 'never', 'guaranteed', 'miracle', 'definitely', 'obviously', 'simply', 'basically', 'very'];

export const MODIFIERS: Record<ModifierKind, ModifierSpec> = {
  no_commas: {
    layouts: TEXT_LAYOUTS,
    conflicts: [],
    make: () => ({ kind: 'no_commas' }),
    apply: (t) => t.replace(/,\s*(which|and|or)\b/g, ' $1').replace(/,\s*/g, '; '),
  },
  lowercase: {
    layouts: ['bullets', 'numbered', 'prose', 'json', 'headings'],
    conflicts: ['final_answer_line'],
    make: () => ({ kind: 'lowercase' }),
    apply: (t) => t.toLowerCase(),
  },
  starts_with: {
    layouts: TEXT_LAYOUTS,
    conflicts: ['title'],
    make: (rng) => ({ kind: 'starts_with', phrase: START_PHRASES[rng.int(START_PHRASES.length)]! }),
    apply: (t, c) => `${(c as { phrase: string }).phrase}\n${t}`,
  },
  ends_with: {
    layouts: TEXT_LAYOUTS,
    conflicts: ['final_answer_line'],
    make: (rng) => ({ kind: 'ends_with', phrase: END_PHRASES[rng.int(END_PHRASES.length)]! }),
    apply: (t, c) => `${t}\n${(c as { phrase: string }).phrase}`,
  },
  title: {
    layouts: TEXT_LAYOUTS,
    conflicts: ['starts_with'],
    make: () => ({ kind: 'title' }),
    apply: (t, _c, content) => `<<${content.title}>>\n${t}`,
  },
  final_answer_line: {
    layouts: TEXT_LAYOUTS,
    conflicts: ['ends_with', 'lowercase'],
    possible: (c) => c.finalAnswer !== undefined,
    make: () => ({ kind: 'final_answer_line', prefix: 'Answer:' }),
    apply: (t, _c, content) => `${t}\nAnswer: ${content.finalAnswer}`,
  },
};

/** Application order: text changes first, then prefixes and suffixes, lowercase last (it covers them). */
const MODIFIER_ORDER: readonly ModifierKind[] = ['no_commas', 'title', 'starts_with', 'ends_with', 'final_answer_line', 'lowercase'];

type MeasureKind = Extract<ConstraintKind, 'max_words' | 'min_words' | 'uppercase_words_max' | 'required_keywords' | 'forbidden_words'>;

const MEASURES: Record<MeasureKind, (rng: Rng, text: string, c: Content) => Constraint | undefined> = {
  max_words: (rng, t) => ({ kind: 'max_words', n: countWords(t) + rng.int(12) }),
  // at least two thirds of the reference length, so the limit is never trivially small
  min_words: (rng, t) => (countWords(t) >= 6 ? { kind: 'min_words', n: countWords(t) - rng.int(Math.floor(countWords(t) / 3) + 1) } : undefined),
  uppercase_words_max: (rng, t) => ({
    kind: 'uppercase_words_max',
    n: (t.match(/[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*/g) ?? []).filter((w) => /[A-Z]/.test(w) && w === w.toUpperCase()).length + rng.int(3),
  }),
  required_keywords: (rng, t, c) => {
    const present = c.keywords.filter((k) => containsWord(t, k));
    return present.length ? { kind: 'required_keywords', words: sample(rng, present, 1 + rng.int(Math.min(2, present.length))) } : undefined;
  },
  forbidden_words: (rng, t) => {
    const absent = FORBIDDEN_POOL.filter((w) => !containsWord(t, w));
    return absent.length ? { kind: 'forbidden_words', words: sample(rng, absent, 1 + rng.int(2)) } : undefined;
  },
};

export interface Formatted {
  response: string;
  constraints: Constraint[];
}

/**
 * Renders `content` in `layout` with 1..maxConstraints constraints in total (the layout's own included),
 * `extra` fixed modifiers first (e.g. integration's final answer line), the rest chosen at random.
 */
export function formatWithConstraints(rng: Rng, content: Content, layout: Layout, opts: { maxConstraints: number; allowed?: readonly ModifierKind[] }): Formatted {
  const base = LAYOUTS[layout].constraint(content);
  const budget = Math.max(base ? 0 : 1, 1 + rng.int(opts.maxConstraints) - (base ? 1 : 0));
  const kinds = [...(Object.keys(MODIFIERS) as ModifierKind[]), ...(Object.keys(MEASURES) as MeasureKind[])];
  const allowed = opts.allowed ? new Set<string>([...opts.allowed, ...Object.keys(MEASURES)]) : undefined;
  const order = rng.shuffle(kinds.filter((k) => !allowed || allowed.has(k)));
  const mods: ModifierKind[] = [];
  const measures: MeasureKind[] = [];
  for (const k of order) {
    if (mods.length + measures.length >= budget) break;
    if (k in MODIFIERS) {
      const m = MODIFIERS[k as ModifierKind];
      if (!m.layouts.includes(layout) || (m.possible && !m.possible(content))) continue;
      if (mods.some((o) => m.conflicts.includes(o) || MODIFIERS[o].conflicts.includes(k as ModifierKind))) continue;
      mods.push(k as ModifierKind);
    } else {
      measures.push(k as MeasureKind);
    }
  }
  let text = LAYOUTS[layout].render(content);
  const constraints: Constraint[] = base ? [base] : [];
  for (const k of MODIFIER_ORDER.filter((m) => mods.includes(m))) {
    const c = MODIFIERS[k].make(rng, content);
    text = MODIFIERS[k].apply(text, c, content);
    constraints.push(c);
  }
  for (const k of measures) {
    const c = MEASURES[k](rng, text, content);
    if (c) constraints.push(c);
  }
  return { response: text, constraints };
}
