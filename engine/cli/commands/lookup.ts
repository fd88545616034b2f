/**
 * `balancedbio ontology lookup <term>`: best matches for a term in the built-in clinical graph (or an OBO
 * file given with --ontology), as an aligned table or one JSON object.
 *
 * Exit codes: 0 at least one match, 1 no match, 2 error (the error is printed through `out`, as the
 * compiler-style line of `BbioError.format()`, or as `{ "error": … }` with --json).
 */
import { BbioError, toBbioError } from '../../util/errors';
import { builtinOntologyPath } from '../../ontology/builtin';
import { loadOboFile } from '../../ontology/obo';
import { TermIndex, type TermMatch } from '../../ontology/term-index';

export interface OntologyLookupOptions {
  /** OBO file to search; the built-in engine/ontology/data/clinical.obo when absent. */
  ontology?: string;
  json: boolean;
  /** Most matches printed (default 10). */
  limit?: number;
  term: string;
}

const NAME_WIDTH = 48;

function clip(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, width - 1) + '…';
}

/** Column-aligned rows; the last column is not padded. */
function formatTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function matchedColumn(m: TermMatch): string {
  if (m.matchedKind === 'synonym') return `synonym${m.synonymScope ? ` ${m.synonymScope}` : ''}: ${m.matched}`;
  if (m.matchedKind === 'id') return `id: ${m.matched}`;
  return 'name';
}

export async function runOntologyLookup(opts: OntologyLookupOptions, out: (line: string) => void): Promise<number> {
  try {
    const term = opts.term.trim();
    if (!term) {
      throw new BbioError('E_USAGE', 'ontology lookup needs a term', {}, 'e.g. balancedbio ontology lookup "heart attack"');
    }
    const file = opts.ontology ?? (await builtinOntologyPath());
    const index = TermIndex.build(await loadOboFile(file));
    const matches = index.lookup(term, { limit: opts.limit ?? 10 });
    if (opts.json) {
      out(JSON.stringify({ query: term, ontology: file, matches }));
    } else if (matches.length === 0) {
      out(`no match for "${term}" in ${file}`);
    } else {
      const rows = matches.map((m) => [m.id, clip(m.name, NAME_WIDTH), m.score.toFixed(3), matchedColumn(m)]);
      for (const line of formatTable(['ID', 'NAME', 'SCORE', 'MATCHED'], rows)) out(line);
    }
    return matches.length ? 0 : 1;
  } catch (e) {
    const err = toBbioError(e, 'E_INTERNAL');
    if (opts.json) {
      out(JSON.stringify({ error: { code: err.code, message: err.message, ...err.location, ...(err.hint ? { hint: err.hint } : {}) } }));
    } else {
      out(err.format());
    }
    return 2;
  }
}
