/**
 * Builds engine/ontology/data/clinical.obo (the built-in clinical knowledge graph) from the curated tables in
 * engine/ontology/data/src/*.tsv. `--check` exits 1 when the committed .obo differs from what the tables
 * produce, so CI catches a table edit shipped without its regenerated file.
 *
 * Tables: tab-separated, a header row, `;`-separated lists, `#` lines and blank lines ignored. Keys are the
 * snake_case of the canonical English name and are how rows reference each other; a key is unique across all
 * tables. A synonym may carry its OBO synonym type: `heart attack|lay`, `MI|abbr`, `acetylsalicylic acid|exact`
 * (no type); unmarked synonyms are `abbreviation` when short or all-caps, `layperson` otherwise.
 *
 * Id rule (stable ids): `BBIO:` + 7 digits. Each kind of term owns a range — grouping classes 0000001+,
 * diseases 0001000+, findings 0002000+, tests 0003000+, drugs 0004000+, drug classes 0005000+ — and within a
 * range ids follow the sorted order of keys (code-unit order). Adding a row therefore renumbers only the rows
 * of its own kind whose keys sort after it; other ranges are untouched.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BbioError } from '../engine/util/errors';

const ROOT = path.resolve(__dirname, '..');
export const CLINICAL_SRC_DIR = path.join(ROOT, 'engine', 'ontology', 'data', 'src');
export const CLINICAL_OBO_PATH = path.join(ROOT, 'engine', 'ontology', 'data', 'clinical.obo');
const DATA_VERSION = 'bbio-clinical/2026-11-27';
const CURATOR = 'BBIO:curator';

/** First id of each range; a range holds 999 ids (grouping classes 999 as well, from 0000001). */
const RANGES = { group: 1, disease: 1000, finding: 2000, test: 3000, drug: 4000, drugClass: 5000 } as const;
type Kind = keyof typeof RANGES;

const NAMESPACE: Record<Exclude<Kind, 'group'>, string> = {
  disease: 'disease', finding: 'finding', test: 'diagnostic_test', drug: 'drug', drugClass: 'drug_class',
};

/** Finding groups (the `group` column of findings.tsv) and the class each maps to. */
const FINDING_GROUPS: Record<string, string> = {
  symptom: 'symptom', sign: 'clinical sign', laboratory_abnormality: 'laboratory abnormality', imaging_finding: 'imaging finding',
};

/** One data row: its cells by column name, and where it came from (for messages). */
interface Row {
  file: string;
  line: number;
  cells: Record<string, string>;
}

/** A problem in the tables; all are collected, then reported at once. */
interface Problem {
  file: string;
  line: number;
  message: string;
}

function readTsv(file: string, columns: readonly string[], problems: Problem[]): Row[] {
  const rel = path.relative(ROOT, file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    problems.push({ file: rel, line: 1, message: 'table is missing' });
    return [];
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').split('\t').map((h) => h.trim());
  if (header.join('\t') !== columns.join('\t')) {
    problems.push({ file: rel, line: 1, message: `header must be "${columns.join('<TAB>')}", found "${header.join('<TAB>')}"` });
    return [];
  }
  const rows: Row[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim() || line.startsWith('#')) continue;
    const parts = line.split('\t');
    if (parts.length !== columns.length) {
      problems.push({ file: rel, line: i + 1, message: `expected ${columns.length} tab-separated cells, found ${parts.length}` });
      continue;
    }
    const cells: Record<string, string> = {};
    columns.forEach((c, j) => { cells[c] = parts[j].trim(); });
    rows.push({ file: rel, line: i + 1, cells });
  }
  return rows;
}

/** `a; b;c` → ['a', 'b', 'c'] (empty items dropped). */
function splitList(cell: string): string[] {
  return cell.split(';').map((s) => s.trim()).filter(Boolean);
}

/** snake_case of a name: the form keys take, used for grouping classes derived from names. */
export function toKey(name: string): string {
  return name.toLowerCase().replace(/['’]/g, '').replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest candidate key, for a "did you mean" hint; '' when none is close. */
function didYouMean(key: string, candidates: Iterable<string>): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.includes(key) || key.includes(c) ? Math.abs(c.length - key.length) / 2 : levenshtein(key, c);
    if (d < bestD) { bestD = d; best = c; }
  }
  return best && bestD <= Math.max(3, key.length / 3) ? ` (did you mean "${best}"?)` : '';
}

/** Relations in the order their lines appear within a stanza; the [Typedef] stanzas are emitted from this. */
const RELATIONS = [
  { id: 'has_finding', name: 'has finding', domain: 'disease', range: 'clinical_finding',
    def: 'A disease that commonly presents with this symptom, sign, laboratory abnormality or imaging finding.' },
  { id: 'diagnosed_by', name: 'diagnosed by', domain: 'disease', range: 'diagnostic_test',
    def: 'A disease that this diagnostic test can confirm or establish.' },
  { id: 'first_line_treatment', name: 'first-line treatment', domain: 'disease', range: 'drug',
    def: 'A drug that is a usual first-line (initial standard) treatment for this disease.' },
  { id: 'complication_of', name: 'complication of', domain: 'disease', range: 'disease',
    def: 'A disease that can arise as a consequence of the target disease.' },
  { id: 'contraindicated_in', name: 'contraindicated in', domain: 'drug', range: 'medical_condition',
    def: 'A drug that should not be used, or used only with great caution, in a patient with the target disease or finding.' },
  { id: 'interacts_with', name: 'interacts with', domain: 'drug', range: 'drug', symmetric: true,
    def: 'A drug with a clinically significant interaction with the target drug. Symmetric; in this file each pair is stated once, on the drug whose key sorts first.' },
] as const;
type RelationId = (typeof RELATIONS)[number]['id'];

/** Root grouping classes: keys, names, namespaces, parents and definitions. */
const ROOT_GROUPS = [
  { key: 'medical_condition', name: 'medical condition', ns: 'disease', parent: '',
    def: 'A disease or clinical finding; the union class used as the range of contraindicated_in.' },
  { key: 'disease', name: 'disease', ns: 'disease', parent: 'medical_condition',
    def: 'A disorder of structure or function with a characteristic set of findings.' },
  { key: 'clinical_finding', name: 'clinical finding', ns: 'finding', parent: 'medical_condition',
    def: 'An observation about a patient: a symptom, a sign, a laboratory abnormality or an imaging finding.' },
  { key: 'diagnostic_test', name: 'diagnostic test', ns: 'diagnostic_test', parent: '',
    def: 'A procedure or measurement used to detect, confirm or exclude a disease.' },
  { key: 'drug', name: 'drug', ns: 'drug_class', parent: '',
    def: 'A substance used to prevent, diagnose or treat a disease.' },
] as const;

const FINDING_GROUP_DEFS: Record<string, string> = {
  symptom: 'A subjective experience reported by the patient.',
  clinical_sign: 'An objective abnormality observed or elicited on physical examination.',
  laboratory_abnormality: 'An abnormal result of a laboratory measurement on a body fluid or tissue.',
  imaging_finding: 'An abnormality seen on a medical imaging study.',
};

export type SynonymType = 'abbreviation' | 'layperson' | '';

/** A term before ids are assigned; references are by key. */
interface Entity {
  key: string;
  kind: Kind;
  name: string;
  namespace: string;
  def: string;
  synonyms: { text: string; type: SynonymType }[];
  xrefs: string[];
  subsets: string[];
  comment: string;
  parent: string;
  rels: { relation: RelationId; target: string; note: string }[];
  row: Row | null;
}

const SYNONYM_MARKS: Record<string, SynonymType> = { abbr: 'abbreviation', lay: 'layperson', exact: '' };

/** `heart attack|lay` → layperson; unmarked: abbreviation when short or mostly capitals (MI, ECG, HbA1c). */
export function parseSynonym(cell: string): { text: string; type: SynonymType } | string {
  const bar = cell.lastIndexOf('|');
  if (bar >= 0) {
    const mark = cell.slice(bar + 1).trim();
    const type = SYNONYM_MARKS[mark];
    if (type === undefined) return `unknown synonym mark "|${mark}" (use |abbr, |lay or |exact)`;
    return { text: cell.slice(0, bar).trim(), type };
  }
  const caps = (cell.match(/[A-Z]/g) ?? []).length;
  const short = !/\s/.test(cell) && (caps >= 2 || cell.length <= 4);
  return { text: cell, type: short ? 'abbreviation' : 'layperson' };
}

const KEY_RE = /^[a-z0-9]+(_[a-z0-9]+)*$/;
const ICD10_RE = /^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$/;
const ATC_RE = /^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$/;

const COLUMNS = {
  drugClasses: ['key', 'name', 'atc', 'def', 'synonyms'],
  drugs: ['key', 'name', 'class', 'atc', 'def', 'synonyms'],
  tests: ['key', 'name', 'def', 'synonyms'],
  findings: ['key', 'name', 'group', 'def', 'synonyms'],
  diseases: ['key', 'name', 'group', 'icd10', 'def', 'synonyms', 'findings', 'tests', 'first_line', 'complications'],
  contraindications: ['drug', 'condition', 'note'],
  interactions: ['drug_a', 'drug_b', 'note'],
} as const;

/** Collects entities by key and every problem found while reading the tables. */
class Graph {
  readonly entities = new Map<string, Entity>();
  readonly problems: Problem[] = [];
  readonly specialties: string[] = [];

  problem(row: Row, message: string): void {
    this.problems.push({ file: row.file, line: row.line, message });
  }

  add(row: Row | null, e: Omit<Entity, 'synonyms' | 'xrefs' | 'subsets' | 'comment' | 'rels' | 'row'> & Partial<Entity>): Entity | null {
    const prev = this.entities.get(e.key);
    if (prev) {
      if (row) this.problem(row, `key "${e.key}" is already used${prev.row ? ` at ${prev.row.file}:${prev.row.line}` : ' by a grouping class'}`);
      return null;
    }
    if (row && !KEY_RE.test(e.key)) this.problem(row, `key "${e.key}" is not snake_case`);
    if (row && !e.name) this.problem(row, `"${e.key}" has no name`);
    if (row && !e.def) this.problem(row, `"${e.key}" has no def`);
    const entity: Entity = { synonyms: [], xrefs: [], subsets: [], comment: '', rels: [], row, ...e };
    if (row) {
      for (const cell of splitList(row.cells.synonyms ?? '')) {
        const syn = parseSynonym(cell);
        if (typeof syn === 'string') this.problem(row, syn);
        else if (syn.text.toLowerCase() === e.name.toLowerCase()) this.problem(row, `synonym "${syn.text}" repeats the name`);
        else if (entity.synonyms.some((s) => s.text === syn.text)) this.problem(row, `synonym "${syn.text}" is listed twice`);
        else entity.synonyms.push(syn);
      }
    }
    this.entities.set(e.key, entity);
    return entity;
  }

  /** Looks up a referenced key and checks its kind; reports "file:line: unknown … (did you mean …)". */
  ref(row: Row, column: string, key: string, kinds: readonly Kind[]): Entity | null {
    const e = this.entities.get(key);
    if (e && kinds.includes(e.kind)) return e;
    const names = kinds.map((k) => NAMESPACE[k as Exclude<Kind, 'group'>] ?? k).join(' or ');
    const pool = [...this.entities.values()].filter((x) => kinds.includes(x.kind)).map((x) => x.key);
    this.problem(row, e ? `${column}: "${key}" is a ${e.namespace}, expected a ${names}`
      : `${column}: unknown ${names} key "${key}"${didYouMean(key, pool)}`);
    return null;
  }

  /** A grouping class, created on first use. */
  group(key: string, name: string, namespace: string, parent: string, def: string): void {
    if (!this.entities.has(key)) this.add(null, { key, kind: 'group', name, namespace, def, parent });
  }
}

function checkCode(g: Graph, row: Row, column: string, code: string, re: RegExp, prefix: string): string[] {
  if (!code) return [];
  if (!re.test(code)) {
    g.problem(row, `${column} "${code}" is not a valid ${prefix} code`);
    return [];
  }
  return [`${prefix}:${code}`];
}

/** Reads every table into `g`: entities first, references second (complications may point across files). */
function readTables(srcDir: string, g: Graph): void {
  const file = (name: string): string => path.join(srcDir, name);
  for (const r of ROOT_GROUPS) g.group(r.key, r.name, r.ns, r.parent, r.def);
  for (const [, name] of Object.entries(FINDING_GROUPS)) {
    g.group(toKey(name), name, 'finding', 'clinical_finding', FINDING_GROUP_DEFS[toKey(name)]);
  }
  for (const row of readTsv(file('drug_classes.tsv'), COLUMNS.drugClasses, g.problems)) {
    const c = row.cells;
    g.add(row, { key: c.key, kind: 'drugClass', name: c.name, namespace: 'drug_class', def: c.def, parent: 'drug',
      xrefs: checkCode(g, row, 'atc', c.atc, ATC_RE, 'ATC') });
  }
  const drugRows = readTsv(file('drugs.tsv'), COLUMNS.drugs, g.problems);
  for (const row of drugRows) {
    const c = row.cells;
    g.add(row, { key: c.key, kind: 'drug', name: c.name, namespace: 'drug', def: c.def, parent: c.class,
      xrefs: checkCode(g, row, 'atc', c.atc, ATC_RE, 'ATC') });
  }
  for (const row of readTsv(file('tests.tsv'), COLUMNS.tests, g.problems)) {
    const c = row.cells;
    g.add(row, { key: c.key, kind: 'test', name: c.name, namespace: 'diagnostic_test', def: c.def, parent: 'diagnostic_test' });
  }
  for (const row of readTsv(file('findings.tsv'), COLUMNS.findings, g.problems)) {
    const c = row.cells;
    const groupName = FINDING_GROUPS[c.group];
    if (!groupName) g.problem(row, `group "${c.group}" must be one of ${Object.keys(FINDING_GROUPS).join(', ')}`);
    g.add(row, { key: c.key, kind: 'finding', name: c.name, namespace: 'finding', def: c.def, parent: toKey(groupName ?? 'clinical_finding') });
  }
  const diseaseFiles = readdirSync(srcDir).filter((f) => /^diseases_[a-z_]+\.tsv$/.test(f)).sort();
  const diseaseRows: Row[] = [];
  for (const f of diseaseFiles) {
    const specialty = f.slice('diseases_'.length, -'.tsv'.length);
    g.specialties.push(specialty);
    for (const row of readTsv(file(f), COLUMNS.diseases, g.problems)) {
      const c = row.cells;
      const groupKey = toKey(c.group);
      if (!groupKey) g.problem(row, `"${c.key}" has no group`);
      else g.group(groupKey, c.group, 'disease', 'disease', `Grouping class: diseases classified as ${c.group}.`);
      const e = g.add(row, { key: c.key, kind: 'disease', name: c.name, namespace: 'disease', def: c.def, parent: groupKey,
        xrefs: checkCode(g, row, 'icd10', c.icd10, ICD10_RE, 'ICD10CM'), subsets: [specialty] });
      if (e) diseaseRows.push(row);
    }
  }
  // References, now that every key is known.
  for (const row of drugRows) g.ref(row, 'class', row.cells.class, ['drugClass']);
  const lists: { column: string; relation: RelationId; kind: Kind; min: number }[] = [
    { column: 'findings', relation: 'has_finding', kind: 'finding', min: 3 },
    { column: 'tests', relation: 'diagnosed_by', kind: 'test', min: 1 },
    { column: 'first_line', relation: 'first_line_treatment', kind: 'drug', min: 1 },
  ];
  for (const row of diseaseRows) {
    const d = g.entities.get(row.cells.key) as Entity;
    for (const l of lists) {
      const keys = splitList(row.cells[l.column]);
      if (keys.length < l.min) g.problem(row, `${l.column}: "${d.key}" needs at least ${l.min}, has ${keys.length}`);
      if (new Set(keys).size !== keys.length) g.problem(row, `${l.column}: a key is listed twice`);
      for (const k of keys) if (g.ref(row, l.column, k, [l.kind])) d.rels.push({ relation: l.relation, target: k, note: '' });
    }
    for (const k of splitList(row.cells.complications)) {
      const target = g.ref(row, 'complications', k, ['disease']);
      if (target === d) g.problem(row, `complications: "${k}" is a complication of itself`);
      else if (target && !target.rels.some((r) => r.relation === 'complication_of' && r.target === d.key)) {
        target.rels.push({ relation: 'complication_of', target: d.key, note: '' });
      }
    }
  }
  readDrugPairs(g, file);
}

/** Notes travel as an OBO trailing-modifier `{comment="..."}`, so they must not break its quoting. */
function checkNote(g: Graph, row: Row, note: string): void {
  if (!note) g.problem(row, 'note is empty');
  if (/["{}!\\]/.test(note)) g.problem(row, 'note must not contain " { } ! or \\');
}

function readDrugPairs(g: Graph, file: (name: string) => string): void {
  for (const row of readTsv(file('contraindications.tsv'), COLUMNS.contraindications, g.problems)) {
    const c = row.cells;
    const drug = g.ref(row, 'drug', c.drug, ['drug']);
    const cond = g.ref(row, 'condition', c.condition, ['disease', 'finding']);
    checkNote(g, row, c.note);
    if (!drug || !cond) continue;
    if (drug.rels.some((r) => r.relation === 'contraindicated_in' && r.target === cond.key)) {
      g.problem(row, `"${drug.key}" contraindicated in "${cond.key}" is listed twice`);
      continue;
    }
    const firstLine = cond.rels.some((r) => r.relation === 'first_line_treatment' && r.target === drug.key);
    if (firstLine) g.problem(row, `"${drug.key}" is both first-line for and contraindicated in "${cond.key}"`);
    drug.rels.push({ relation: 'contraindicated_in', target: cond.key, note: c.note });
  }
  const seen = new Set<string>();
  for (const row of readTsv(file('interactions.tsv'), COLUMNS.interactions, g.problems)) {
    const c = row.cells;
    const a = g.ref(row, 'drug_a', c.drug_a, ['drug']);
    const b = g.ref(row, 'drug_b', c.drug_b, ['drug']);
    checkNote(g, row, c.note);
    if (!a || !b) continue;
    if (a === b) {
      g.problem(row, `"${a.key}" interacts with itself`);
      continue;
    }
    const [first, second] = a.key < b.key ? [a, b] : [b, a];
    const pair = `${first.key}\t${second.key}`;
    if (seen.has(pair)) {
      g.problem(row, `interaction ${first.key}–${second.key} is stated twice (state each pair once)`);
      continue;
    }
    seen.add(pair);
    first.rels.push({ relation: 'interacts_with', target: second.key, note: c.note });
  }
}

/** Ids: per range, in sorted key order (see the file comment). */
function assignIds(g: Graph): Map<string, string> {
  const ids = new Map<string, string>();
  for (const kind of Object.keys(RANGES) as Kind[]) {
    const keys = [...g.entities.values()].filter((e) => e.kind === kind).map((e) => e.key).sort();
    if (keys.length > 999) g.problems.push({ file: 'engine/ontology/data/src', line: 1, message: `more than 999 ${kind} rows: the id range is full` });
    keys.forEach((k, i) => ids.set(k, `BBIO:${String(RANGES[kind] + i).padStart(7, '0')}`));
  }
  return ids;
}

/** Escapes for an OBO quoted string (§"Escape characters"). */
function quoted(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Escapes an unquoted value, where `!` would start a comment. */
function plain(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/!/g, '\\!').replace(/\{/g, '\\{');
}

function checkNames(g: Graph): void {
  const byNs = new Map<string, Entity>();
  for (const e of g.entities.values()) {
    const k = `${e.namespace}\t${e.name.toLowerCase()}`;
    const prev = byNs.get(k);
    if (prev && e.row) g.problem(e.row, `name "${e.name}" is already used in namespace ${e.namespace} by "${prev.key}"`);
    else byNs.set(k, e);
  }
}

/** Display names of specialty subsets whose file-name form reads badly; others are the file name, capitalized. */
const SUBSET_NAMES: Record<string, string> = { obstetrics_gynecology: 'Obstetrics and gynecology', otolaryngology: 'Otolaryngology (ENT)' };

const REL_ORDER: Record<string, number> = Object.fromEntries(RELATIONS.map((r, i) => [r.id, i]));

function emitTerm(e: Entity, ids: Map<string, string>, g: Graph): string[] {
  const id = (key: string): string => ids.get(key) as string;
  const ref = (key: string): string => `${id(key)} ! ${(g.entities.get(key) as Entity).name}`;
  const out = ['[Term]', `id: ${id(e.key)}`, `name: ${plain(e.name)}`, `namespace: ${e.namespace}`, `def: ${quoted(e.def)} [${CURATOR}]`];
  if (e.key === 'medical_condition') out.push('comment: Spans two namespaces (disease, finding); it is filed under disease.');
  for (const s of e.subsets) out.push(`subset: ${s}`);
  for (const s of e.synonyms) out.push(`synonym: ${quoted(s.text)} EXACT ${s.type ? `${s.type} ` : ''}[]`);
  for (const x of e.xrefs) out.push(`xref: ${x}`);
  if (e.parent && ids.has(e.parent)) out.push(`is_a: ${ref(e.parent)}`);
  const rels = [...e.rels].sort((a, b) => REL_ORDER[a.relation] - REL_ORDER[b.relation] || id(a.target).localeCompare(id(b.target)));
  for (const r of rels) out.push(`relationship: ${r.relation} ${id(r.target)}${r.note ? ` {comment=${quoted(r.note)}}` : ''} ! ${(g.entities.get(r.target) as Entity).name}`);
  return out;
}

export interface ClinicalBuild {
  text: string;
  counts: Record<string, number>;
}

/** Reads the tables under `srcDir` and returns the OBO text; throws a BbioError listing every table problem. */
export function buildClinicalObo(srcDir: string = CLINICAL_SRC_DIR): ClinicalBuild {
  const g = new Graph();
  readTables(srcDir, g);
  checkNames(g);
  const ids = assignIds(g);
  if (g.problems.length) {
    const p = g.problems[0];
    const list = g.problems.map((x) => `  ${x.file}:${x.line}: ${x.message}`).join('\n');
    throw new BbioError('E_ONTOLOGY_PARSE', `${g.problems.length} problem(s) in the clinical tables:\n${list}`, { file: p.file, line: p.line },
      'fix the rows named above in engine/ontology/data/src');
  }
  const lines = [
    'format-version: 1.4', `data-version: ${DATA_VERSION}`, 'ontology: bbio-clinical',
    'remark: Research data for synthetic-data generation, NOT clinical advice.',
    'remark: Generated by scripts/build-clinical-obo.ts from engine/ontology/data/src/*.tsv. Do not edit; edit the tables.',
    ...g.specialties.map((s) => `subsetdef: ${s} ${quoted(SUBSET_NAMES[s] ?? s[0].toUpperCase() + s.slice(1).replace(/_/g, ' '))}`),
    'synonymtypedef: abbreviation "abbreviation" EXACT',
    'synonymtypedef: layperson "lay term"',
  ];
  const sorted = [...g.entities.values()].sort((a, b) => (ids.get(a.key) as string).localeCompare(ids.get(b.key) as string));
  for (const e of sorted) lines.push('', ...emitTerm(e, ids, g));
  for (const r of RELATIONS) {
    lines.push('', '[Typedef]', `id: ${r.id}`, `name: ${r.name}`, `def: ${quoted(r.def)} [${CURATOR}]`,
      `domain: ${ids.get(r.domain)} ! ${r.domain.replace(/_/g, ' ')}`, `range: ${ids.get(r.range)} ! ${r.range.replace(/_/g, ' ')}`);
    if ('symmetric' in r) lines.push('is_symmetric: true');
  }
  const count = (kind: Kind): number => sorted.filter((e) => e.kind === kind).length;
  const rels = (rel: RelationId): number => sorted.reduce((n, e) => n + e.rels.filter((r) => r.relation === rel).length, 0);
  const counts = {
    groupingClasses: count('group'), diseases: count('disease'), specialties: g.specialties.length, findings: count('finding'),
    tests: count('test'), drugs: count('drug'), drugClasses: count('drugClass'), contraindications: rels('contraindicated_in'),
    interactions: rels('interacts_with'), complications: rels('complication_of'),
  };
  return { text: `${lines.join('\n')}\n`, counts };
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  let build: ClinicalBuild;
  try {
    build = buildClinicalObo();
  } catch (e) {
    if (e instanceof BbioError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
  const rel = path.relative(ROOT, CLINICAL_OBO_PATH);
  if (check) {
    let current = '';
    try {
      current = readFileSync(CLINICAL_OBO_PATH, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (current !== build.text) {
      console.error(`${rel} is out of date with engine/ontology/data/src; run: npx tsx scripts/build-clinical-obo.ts`);
      return 1;
    }
    console.log(`${rel} is up to date`);
    return 0;
  }
  writeFileSync(CLINICAL_OBO_PATH, build.text);
  console.log(`wrote ${rel}: ${JSON.stringify(build.counts)}`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
