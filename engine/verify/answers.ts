/**
 * Reading a completion: the final answer line, an option letter, numbered steps, and the ontology terms a
 * piece of text mentions. Shared by the GRPO rewards and evaluation so both read answers one way.
 */
import type { Ontology } from '../ontology/types';

/** Lower case, punctuation to spaces, whitespace collapsed: how answers are compared. */
export function normalizeAnswer(s: string): string {
  return s.toLowerCase().normalize('NFKC').replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** The text after the last `Answer:` line, or undefined. */
export function extractFinalAnswer(completion: string): string | undefined {
  const matches = [...completion.matchAll(/^\s*(?:final\s+)?answer\s*[:：]\s*(.+?)\s*$/gimu)];
  return matches.length ? matches[matches.length - 1]![1] : undefined;
}

/** An option letter A–D at the start of the final answer ("B", "B.", "(B) aspirin"). */
export function extractOptionLetter(completion: string): string | undefined {
  const ans = extractFinalAnswer(completion);
  const m = ans?.match(/^\(?([A-D])\)?(?=$|[\s.:)])/);
  return m?.[1];
}

/** Numbered steps `1. …` / `1) …`, in order. */
export function extractSteps(completion: string): { n: number; text: string }[] {
  return [...completion.matchAll(/^\s*(\d{1,2})[.)]\s+(.+?)\s*$/gmu)].map((m) => ({ n: Number(m[1]), text: m[2]! }));
}

/**
 * A labelled section of a structured answer: a `Heading: text` line (as the integration vignettes answer
 * Presentation → Differential → Test → Diagnosis → Treatment), or the same key of a JSON object answer.
 */
export function extractSection(completion: string, heading: string): string | undefined {
  const line = [...completion.matchAll(new RegExp(`^\\s*(?:[#*]+\\s*)?${heading}\\s*\\**\\s*[:：]\\s*(.+?)\\s*$`, 'gimu'))];
  if (line.length) return line[line.length - 1]![1];
  const json = completion.match(/\{[\s\S]*\}/);
  if (!json) return undefined;
  try {
    const obj = JSON.parse(json[0]) as Record<string, unknown>;
    const key = Object.keys(obj).find((k) => k.toLowerCase() === heading.toLowerCase());
    const v = key === undefined ? undefined : obj[key];
    return v === undefined ? undefined : Array.isArray(v) ? v.join('; ') : String(v);
  } catch {
    return undefined; // not JSON after all: no section
  }
}

/** The claims a completion states: numbered steps, else `Heading: …` lines, else nothing. */
export function extractClaims(completion: string): string[] {
  const steps = extractSteps(completion);
  if (steps.length) return steps.map((s) => s.text);
  return [...completion.matchAll(/^\s*[A-Z][A-Za-z ]{2,30}\s*:\s*(.+?)\s*$/gmu)].map((m) => m[1]!);
}

/**
 * Finds ontology terms in text by their names and synonyms (EXACT and RELATED), matching whole word
 * n-grams against a normalised lexicon. Built once per ontology.
 */
export class TermLexicon {
  private readonly byPhrase = new Map<string, string[]>();
  private readonly maxWords: number;

  constructor(ont: Ontology) {
    let maxWords = 1;
    const add = (text: string, id: string): void => {
      const key = normalizeAnswer(text);
      if (key.length < 2) return;
      const ids = this.byPhrase.get(key);
      if (ids) {
        if (!ids.includes(id)) ids.push(id);
      } else this.byPhrase.set(key, [id]);
      maxWords = Math.max(maxWords, key.split(' ').length);
    };
    for (const t of ont.terms.values()) {
      if (t.isObsolete) continue;
      add(t.name, t.id);
      for (const s of t.synonyms) if (s.scope === 'EXACT' || s.scope === 'RELATED') add(s.text, t.id);
    }
    this.maxWords = Math.min(maxWords, 8);
  }

  /** Ids whose name or synonym equals the normalised text exactly. */
  resolve(text: string): string[] {
    return this.byPhrase.get(normalizeAnswer(text)) ?? [];
  }

  /** Ids mentioned anywhere in the text (longest match wins at each position). */
  mentions(text: string): string[] {
    const words = normalizeAnswer(text).split(' ').filter(Boolean);
    const found = new Set<string>();
    for (let i = 0; i < words.length; ) {
      let advanced = false;
      for (let n = Math.min(this.maxWords, words.length - i); n >= 1; n--) {
        const ids = this.byPhrase.get(words.slice(i, i + n).join(' '));
        if (ids) {
          ids.forEach((id) => found.add(id));
          i += n;
          advanced = true;
          break;
        }
      }
      if (!advanced) i++;
    }
    return [...found];
  }
}

/** Undirected adjacency over is_a and relationship edges, for "is this stated step a true relation". */
export class EdgeIndex {
  private readonly adj = new Map<string, Set<string>>();

  constructor(ont: Ontology) {
    const link = (a: string, b: string): void => {
      if (!this.adj.has(a)) this.adj.set(a, new Set());
      if (!this.adj.has(b)) this.adj.set(b, new Set());
      this.adj.get(a)!.add(b);
      this.adj.get(b)!.add(a);
    };
    for (const t of ont.terms.values()) {
      for (const p of t.isA) link(t.id, p);
      for (const r of t.relationships) link(t.id, r.target);
    }
  }

  connected(a: string, b: string): boolean {
    return this.adj.get(a)?.has(b) ?? false;
  }
}
