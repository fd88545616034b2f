/**
 * Converts Bioconductor's GO.db `GO.sqlite` (Debian package r-bioc-go.db) into an OBO 1.4 file, so the
 * ontology loader and term index can be tested and benchmarked on the real Gene Ontology.
 *
 *   npx tsx scripts/go-sqlite-to-obo.ts <GO.sqlite> <out.obo>
 *
 * Reads through Debian's `sqlite3` CLI (`-json` mode) so no native npm module is needed. Schema (GO_DB 2.1):
 * `go_term` (43,559 live terms incl. the `all` root), `go_obsolete` (3,910), `go_synonym` (label synonyms, and
 * secondary ids when `like_go_id = 1`), `go_{bp,mf,cc}_parents` (`isa`, `part of`, `regulates`,
 * `positively regulates`, `negatively regulates`).
 *
 * GO.db does not keep synonym scopes, so every synonym is written as RELATED (the OBO 1.4 default scope).
 * The output is written to a temp file and renamed, so an interrupted run never leaves a half file behind.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface TermRow { _id: number; go_id: string; term: string; ontology: string; definition: string | null }
interface ObsoleteRow { go_id: string; term: string; ontology: string; definition: string | null }
interface SynonymRow { _id: number; synonym: string; like_go_id: number }
interface ParentRow { _id: number; parent: string; relationship_type: string }
interface MetaRow { name: string; value: string }

const NAMESPACES: Record<string, string> = {
  BP: 'biological_process',
  MF: 'molecular_function',
  CC: 'cellular_component',
  universal: 'universal',
};

/** GO.db relationship labels → OBO relation ids (as in go-basic.obo). */
const RELATIONS: Record<string, string> = {
  'part of': 'part_of',
  regulates: 'regulates',
  'positively regulates': 'positively_regulates',
  'negatively regulates': 'negatively_regulates',
};

const TYPEDEFS = `[Typedef]
id: negatively_regulates
name: negatively regulates
is_a: regulates

[Typedef]
id: part_of
name: part of
is_transitive: true

[Typedef]
id: positively_regulates
name: positively regulates
is_a: regulates

[Typedef]
id: regulates
name: regulates
`;

async function query<T>(db: string, sql: string): Promise<T[]> {
  const { stdout } = await run('sqlite3', ['-readonly', '-json', db, sql], { maxBuffer: 1 << 30 });
  return stdout.trim() ? (JSON.parse(stdout) as T[]) : [];
}

/** OBO 1.4 §"Escape characters": a quoted string escapes `"` and `\`; newlines become `\n`. */
function quote(text: string): string {
  return '"' + text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n') + '"';
}

/** Unquoted values (names, ids) escape the characters that would start a comment or qualifier block. */
function escapeUnquoted(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/([!{}])/g, '\\$1').replace(/\r?\n/g, '\\n');
}

function groupBy<T>(rows: T[], key: (r: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

async function convert(db: string, outPath: string): Promise<{ terms: number; obsolete: number; synonyms: number; edges: number }> {
  const meta = await query<MetaRow>(db, 'SELECT name, value FROM metadata');
  const terms = await query<TermRow>(db, 'SELECT _id, go_id, term, ontology, definition FROM go_term ORDER BY go_id');
  const obsolete = await query<ObsoleteRow>(db, 'SELECT go_id, term, ontology, definition FROM go_obsolete ORDER BY go_id');
  const synonyms = await query<SynonymRow>(db, 'SELECT _id, synonym, like_go_id FROM go_synonym');
  const parents: ParentRow[] = [];
  for (const ns of ['bp', 'mf', 'cc']) {
    const rows = await query<ParentRow>(
      db,
      `SELECT p._id AS _id, t.go_id AS parent, p.relationship_type AS relationship_type
       FROM go_${ns}_parents p JOIN go_term t ON t._id = p._parent_id ORDER BY p.rowid`,
    );
    parents.push(...rows);
  }
  const nameById = new Map(terms.map((t) => [t.go_id, t.term]));
  const synByTerm = groupBy(synonyms, (s) => s._id);
  const parentsByTerm = groupBy(parents, (p) => p._id);
  const date = meta.find((m) => m.name === 'GOSOURCEDATE')?.value ?? 'unknown';

  const tmp = `${outPath}.${process.pid}.tmp`;
  const out = createWriteStream(tmp, { encoding: 'utf8' });
  const write = (s: string): Promise<void> =>
    out.write(s) ? Promise.resolve() : new Promise((resolve) => out.once('drain', () => resolve()));

  await write(
    'format-version: 1.4\n' +
      `data-version: releases/${date}\n` +
      'ontology: go\n' +
      'default-namespace: gene_ontology\n' +
      'remark: Converted from Bioconductor GO.db (GO.sqlite, data CC BY 4.0) by scripts/go-sqlite-to-obo.ts. ' +
      'GO.db keeps no synonym scopes; all synonyms are written as RELATED.\n\n',
  );

  let synonymCount = 0;
  let edgeCount = 0;
  for (const t of terms) {
    let s = `[Term]\nid: ${t.go_id}\nname: ${escapeUnquoted(t.term)}\nnamespace: ${NAMESPACES[t.ontology] ?? t.ontology}\n`;
    const syns = synByTerm.get(t._id) ?? [];
    for (const syn of syns) if (syn.like_go_id === 1) s += `alt_id: ${syn.synonym}\n`;
    if (t.definition) s += `def: ${quote(t.definition)} []\n`;
    for (const syn of syns) {
      if (syn.like_go_id === 1) continue;
      s += `synonym: ${quote(syn.synonym)} RELATED []\n`;
      synonymCount++;
    }
    for (const p of parentsByTerm.get(t._id) ?? []) {
      const comment = ` ! ${nameById.get(p.parent) ?? ''}`;
      if (p.relationship_type === 'isa') s += `is_a: ${p.parent}${comment}\n`;
      else s += `relationship: ${RELATIONS[p.relationship_type] ?? p.relationship_type.replace(/ /g, '_')} ${p.parent}${comment}\n`;
      edgeCount++;
    }
    await write(s + '\n');
  }
  for (const t of obsolete) {
    let s = `[Term]\nid: ${t.go_id}\nname: ${escapeUnquoted(t.term)}\nnamespace: ${NAMESPACES[t.ontology] ?? t.ontology}\n`;
    if (t.definition) s += `def: ${quote(t.definition)} []\n`;
    await write(s + 'is_obsolete: true\n\n');
  }
  await write(TYPEDEFS);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  try {
    await rename(tmp, outPath);
  } catch (e) {
    await unlink(tmp).catch((cleanup: unknown) => {
      if ((cleanup as NodeJS.ErrnoException).code !== 'ENOENT') throw cleanup;
    });
    throw e;
  }
  return { terms: terms.length, obsolete: obsolete.length, synonyms: synonymCount, edges: edgeCount };
}

async function main(): Promise<void> {
  const [db, outPath] = process.argv.slice(2);
  if (!db || !outPath) {
    process.stderr.write('usage: npx tsx scripts/go-sqlite-to-obo.ts <GO.sqlite> <out.obo>\n');
    process.exit(2);
  }
  const counts = await convert(db, outPath);
  process.stdout.write(
    `wrote ${outPath}: ${counts.terms} terms, ${counts.obsolete} obsolete, ${counts.synonyms} synonyms, ${counts.edges} edges\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`go-sqlite-to-obo: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
