/**
 * OBO 1.4 loader: streams GO, HPO, MONDO, DOID and the built-in clinical graph into the shared `Ontology`
 * model. Grammar references are to the OBO 1.4 flat file format spec
 * (https://owlcollab.github.io/oboformat/doc/GO.format.obo-1_4.html, "§" below).
 *
 * What stops loading and what does not:
 * - Fatal (`BbioError` thrown, with file and line):
 *   `E_ONTOLOGY_PARSE` a stanza without `id:` (typically a truncated file), a quoted string never closed
 *   (`def:`/`synonym:`), a stanza header line that never closes (`[Term`);
 *   `E_ONTOLOGY_EMPTY` no `[Term]` at all.
 * - Collected in `ontology.warnings` (loading goes on): a line that is not `tag: value`, a term without
 *   `name:` (the id is used as its name), a repeated single-valued tag (the later wins), a repeated id
 *   (the later stanza wins), an unclosed xref list.
 * - Kept silently: unknown tags (in `other`), unknown stanza types such as `[Instance]` (skipped),
 *   `! comments`, `{qualifier}` blocks (parsed off the value and dropped; not in the shared model).
 * - Graph checks run separately in `checkOntology`, since a user source may only be consistent once merged
 *   with the built-in graph (`mergeOntologies`): is_a cycles and is_a to missing ids are errors, a
 *   `relationship:` to a missing id or an undeclared relation is a warning.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage } from 'node:http';
import { fetchPublic } from '../config/net';
import { BbioError } from '../util/errors';
import { sha256, sha256File } from '../util/provenance';
import type { Ontology, OntologyHeader, Synonym, SynonymScope, Term, Typedef } from './types';

type Warning = Ontology['warnings'][number];

const SCOPES: ReadonlySet<string> = new Set<SynonymScope>(['EXACT', 'BROAD', 'NARROW', 'RELATED']);

/** OBO 1.2 synonym tags, still found in older files; OBO 1.4 §"Synonym" replaces them with `synonym:`. */
const LEGACY_SYNONYM_TAGS: Record<string, SynonymScope> = {
  exact_synonym: 'EXACT',
  broad_synonym: 'BROAD',
  narrow_synonym: 'NARROW',
  related_synonym: 'RELATED',
};

/** Tags whose values contain quoted strings, where `!` and `{` inside quotes are text, not syntax. */
const QUOTED_TAGS: ReadonlySet<string> = new Set([
  'def',
  'synonym',
  ...Object.keys(LEGACY_SYNONYM_TAGS),
  'xref',
  'property_value',
  'subsetdef',
  'synonymtypedef',
]);

/** OBO 1.4 §"Escape characters": `\n`, `\t`, `\W` (space); any other escaped character stands for itself. */
export function unescapeObo(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\' || i === s.length - 1) {
      out += c;
      continue;
    }
    const n = s[++i];
    out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'W' ? ' ' : n;
  }
  return out;
}

/** The parts of one `tag: value {qualifiers} ! comment` line (§"Tag-Value Pairs"). */
interface TagLine {
  tag: string;
  /** Value with the trailing comment and qualifier block removed, still escaped. */
  value: string;
  /** A quoted string in the value was never closed. */
  openQuote: boolean;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

/** Index of the first `ch` at or after `from` that is not escaped by an odd run of backslashes; -1 if none. */
function findUnescaped(s: string, ch: string, from: number): number {
  let i = s.indexOf(ch, from);
  while (i >= 0) {
    let backslashes = 0;
    for (let j = i - 1; j >= 0 && s.charCodeAt(j) === 92; j--) backslashes++;
    if ((backslashes & 1) === 0) return i;
    i = s.indexOf(ch, i + 1);
  }
  return -1;
}

const QUALIFIER_BLOCK = /^\{\s*[\w:-]+\s*=/;

/**
 * Splits at the first unescaped colon; null when there is none. Uses indexOf jumps rather than a character
 * loop: definitions are long and this runs once per line of a 25 MB GO file.
 */
function splitTagLine(line: string): TagLine | null {
  const colon = findUnescaped(line, ':', 0);
  if (colon <= 0) return null;
  const tag = line.slice(0, colon).trim();
  // Comments (§"Comments"): the first unescaped `!` outside a quoted string starts a comment. Quotes are
  // only syntax in tags whose grammar has quoted strings; elsewhere a stray `"` is text.
  let end = line.length;
  let openQuote = false;
  let pos = colon + 1;
  if (QUOTED_TAGS.has(tag)) {
    for (;;) {
      const quote = findUnescaped(line, '"', pos);
      const bang = findUnescaped(line, '!', pos);
      if (bang >= 0 && (quote < 0 || bang < quote)) {
        end = bang;
        break;
      }
      if (quote < 0) break;
      const close = findUnescaped(line, '"', quote + 1);
      if (close < 0) {
        openQuote = true;
        break;
      }
      pos = close + 1;
    }
  } else {
    const bang = findUnescaped(line, '!', pos);
    if (bang >= 0) end = bang;
  }
  let value = line.slice(colon + 1, end).trim();
  // Trailing modifiers (§"Trailing Modifiers"): only a well-formed final `{name=value, ...}` block is a
  // qualifier list (parsed off and dropped); other braces stay text.
  if (value.endsWith('}')) {
    const brace = value.lastIndexOf('{');
    if (brace >= 0 && value.charCodeAt(brace - 1) !== 92 && QUALIFIER_BLOCK.test(value.slice(brace))) value = value.slice(0, brace).trim();
  }
  return { tag, value, openQuote };
}

/** Reads a quoted string at the start of `s` (§"Quoted strings"); returns its unescaped text and the rest. */
function readQuoted(s: string): { text: string; rest: string } | null {
  if (s[0] !== '"') return null;
  const close = findUnescaped(s, '"', 1);
  if (close < 0) return null;
  return { text: unescapeObo(s.slice(1, close)), rest: s.slice(close + 1).trim() };
}

/** Parses `[xref1, xref2 "description"]` (§"Dbxref Lists"); the descriptions are dropped. */
function readXrefList(s: string): { xrefs: string[]; closed: boolean } {
  const open = s.indexOf('[');
  if (open < 0) return { xrefs: [], closed: true };
  const xrefs: string[] = [];
  let cur = '';
  let inQuote = false;
  const flush = (): void => {
    const id = cur.trim();
    if (id) xrefs.push(unescapeObo(id));
    cur = '';
  };
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (!inQuote) cur += c + (s[i + 1] ?? '');
      i++;
    } else if (c === '"') inQuote = !inQuote;
    else if (inQuote) continue;
    else if (c === ',') flush();
    else if (c === ']') {
      flush();
      return { xrefs, closed: true };
    } else cur += c;
  }
  flush();
  return { xrefs, closed: false };
}

/** First whitespace-separated token, unescaped (ids in `is_a:`, `replaced_by:`, …). */
function firstToken(value: string): string {
  let i = 0;
  while (i < value.length && !isSpace(value[i])) i += value[i] === '\\' ? 2 : 1;
  return unescapeObo(value.slice(0, i));
}

/** Whitespace-separated, unescaped tokens (`relationship: part_of GO:1`, synonym scope and type). */
function tokens(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && isSpace(value[i])) i++;
    const start = i;
    while (i < value.length && !isSpace(value[i])) i += value[i] === '\\' ? 2 : 1;
    if (i > start) out.push(unescapeObo(value.slice(start, i)));
  }
  return out;
}

type StanzaKind = 'header' | 'term' | 'typedef' | 'skip';

/** Single-valued tags, one bit each, to warn when a stanza repeats one. */
const ONCE_BITS: Record<string, number> = { id: 1, name: 2, namespace: 4, def: 8, comment: 16 };

export interface OboParserOptions {
  /** File path or URL named in every message and stored in each term's `source`. */
  source: string;
}

/**
 * Incremental OBO 1.4 parser: feed it lines (without their line terminator) in order, then call `finish()`.
 * Holds only the ontology being built and the current stanza, so a stream of any size can be parsed.
 */
export class OboParser {
  private readonly source: string;
  private lineNo = 0;
  /** The stanza being read: its kind, header line, object under construction and single-valued tags seen. */
  private kind: StanzaKind = 'header';
  private stanzaLine = 1;
  private term: Term | null = null;
  private typedef: Typedef | null = null;
  private seen = 0;
  private readonly header: OntologyHeader = { other: {} };
  private readonly terms = new Map<string, Term>();
  private readonly typedefs = new Map<string, Typedef>();
  private readonly warnings: Warning[] = [];

  constructor(options: OboParserOptions) {
    this.source = options.source;
  }

  pushLine(rawLine: string): void {
    this.lineNo++;
    let line = rawLine;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (this.lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    const trimmed = line.trim();
    if (!trimmed || trimmed[0] === '!') return;
    if (trimmed[0] === '[') {
      if (!trimmed.endsWith(']')) throw this.error('E_ONTOLOGY_PARSE', `stanza header "${trimmed}" is not closed with "]" (file truncated?)`);
      this.openStanza(trimmed.slice(1, -1).trim());
      return;
    }
    if (this.kind === 'skip') return;
    const tv = splitTagLine(trimmed);
    if (!tv) {
      this.warn(this.lineNo, `line is not "tag: value"; ignored: ${trimmed.slice(0, 80)}`);
      return;
    }
    if (tv.openQuote) throw this.error('E_ONTOLOGY_PARSE', `quoted string in "${tv.tag}:" is never closed (file truncated?)`);
    if (this.term) this.termTag(this.term, tv);
    else if (this.typedef) this.typedefTag(this.typedef, tv);
    else this.headerTag(tv);
  }

  /** Closes the last stanza and returns the ontology; throws `E_ONTOLOGY_EMPTY` when it has no terms. */
  finish(): Ontology {
    this.closeStanza();
    if (this.terms.size === 0) {
      throw new BbioError('E_ONTOLOGY_EMPTY', `ontology "${this.source}" contains no [Term] stanza`, { file: this.source, line: this.lineNo || 1 },
        'check that the file is an OBO 1.4 file and was fully downloaded');
    }
    const ns = this.header.defaultNamespace;
    // §"default-namespace": applies to every frame that declares no namespace of its own.
    if (ns) for (const t of this.terms.values()) t.namespace ??= ns;
    return { header: this.header, terms: this.terms, typedefs: this.typedefs, warnings: this.warnings };
  }

  private error(code: 'E_ONTOLOGY_PARSE', message: string, line = this.lineNo): BbioError {
    return new BbioError(code, `${this.source}:${line}: ${message}`, { file: this.source, line },
      'fix the OBO file or download it again');
  }

  private warn(line: number, message: string): void {
    this.warnings.push({ source: this.source, line, message: `${this.source}:${line}: ${message}` });
  }

  private openStanza(type: string): void {
    this.closeStanza();
    const line = this.lineNo;
    this.stanzaLine = line;
    this.seen = 0;
    if (type === 'Term') {
      this.kind = 'term';
      this.term = {
        id: '', name: '', defXrefs: [], synonyms: [], isA: [], relationships: [], xrefs: [], subsets: [],
        isObsolete: false, replacedBy: [], other: {}, line, source: this.source,
      };
    } else if (type === 'Typedef') {
      this.kind = 'typedef';
      this.typedef = { id: '', name: '', isTransitive: false, isSymmetric: false, other: {}, line, source: this.source };
    } else {
      // §"Stanzas": [Instance] and any other stanza type are outside the model; skipped without a message.
      this.kind = 'skip';
    }
  }

  private closeStanza(): void {
    const t = this.term;
    const d = this.typedef;
    if (t) {
      if (!t.id) throw this.error('E_ONTOLOGY_PARSE', `[Term] stanza has no "id:" (file truncated?)`, t.line);
      if (!t.name) {
        this.warn(t.line, `term ${t.id} has no "name:"; its id is used as the name`);
        t.name = t.id;
      }
      const prev = this.terms.get(t.id);
      if (prev) this.warn(t.line, `term ${t.id} is defined again (first at line ${prev.line}); the later stanza wins`);
      this.terms.set(t.id, t);
    } else if (d) {
      if (!d.id) throw this.error('E_ONTOLOGY_PARSE', `[Typedef] stanza has no "id:" (file truncated?)`, d.line);
      if (!d.name) d.name = d.id;
      const prev = this.typedefs.get(d.id);
      if (prev) this.warn(d.line, `typedef ${d.id} is defined again (first at line ${prev.line}); the later stanza wins`);
      this.typedefs.set(d.id, d);
    }
    this.term = null;
    this.typedef = null;
    this.kind = 'skip';
  }

  /** Single-valued tags: a repeat is a warning and the later value wins. */
  private once(tag: string, id: string): void {
    const bit = ONCE_BITS[tag] ?? 0;
    if (this.seen & bit) this.warn(this.lineNo, `"${tag}:" appears more than once in ${id || `the stanza at line ${this.stanzaLine}`}; the later value wins`);
    this.seen |= bit;
  }

  private headerTag(tv: TagLine): void {
    const h = this.header;
    // §"Header Tags": format-version, data-version (or the older `version`), ontology, default-namespace.
    switch (tv.tag) {
      case 'format-version': h.formatVersion = unescapeObo(tv.value); return;
      case 'data-version':
      case 'version': h.dataVersion = unescapeObo(tv.value); return;
      case 'ontology': h.ontology = unescapeObo(tv.value); return;
      case 'default-namespace': h.defaultNamespace = unescapeObo(tv.value); return;
      default: pushOther(h.other, tv.tag, tv.value);
    }
  }

  private termTag(t: Term, tv: TagLine): void {
    const v = tv.value;
    switch (tv.tag) {
      case 'id': this.once('id', t.id); t.id = firstToken(v); return;
      case 'name': this.once('name', t.id); t.name = unescapeObo(v); return;
      case 'namespace': this.once('namespace', t.id); t.namespace = unescapeObo(v); return;
      case 'def': {
        this.once('def', t.id);
        const def = this.parseDef(v);
        t.def = def.text;
        t.defXrefs = def.xrefs;
        return;
      }
      case 'comment': this.once('comment', t.id); t.comment = unescapeObo(v); return;
      case 'is_a': { const id = firstToken(v); if (id) t.isA.push(id); return; }
      case 'relationship': {
        // §"relationship": `relationship: <Relation ID> <Target ID>`.
        const [relation, target] = tokens(v);
        if (relation && target) t.relationships.push({ relation, target });
        else this.warn(this.lineNo, `"relationship:" needs a relation and a target id; ignored`);
        return;
      }
      case 'xref': { const id = firstToken(v); if (id) t.xrefs.push(id); return; }
      case 'subset': { const id = firstToken(v); if (id) t.subsets.push(id); return; }
      case 'is_obsolete': t.isObsolete = v.trim() === 'true'; return;
      case 'replaced_by': { const id = firstToken(v); if (id) t.replacedBy.push(id); return; }
      case 'synonym': { const syn = this.parseSynonym(v, undefined); if (syn) t.synonyms.push(syn); return; }
      default: {
        const legacy = LEGACY_SYNONYM_TAGS[tv.tag];
        if (legacy) {
          const syn = this.parseSynonym(v, legacy);
          if (syn) t.synonyms.push(syn);
        } else pushOther(t.other, tv.tag, v);
      }
    }
  }

  private typedefTag(d: Typedef, tv: TagLine): void {
    const v = tv.value;
    switch (tv.tag) {
      case 'id': this.once('id', d.id); d.id = firstToken(v); return;
      case 'name': this.once('name', d.id); d.name = unescapeObo(v); return;
      case 'def': this.once('def', d.id); d.def = this.parseDef(v).text; return;
      case 'is_transitive': d.isTransitive = v.trim() === 'true'; return;
      case 'is_symmetric': d.isSymmetric = v.trim() === 'true'; return;
      case 'domain': d.domain = firstToken(v); return;
      case 'range': d.range = firstToken(v); return;
      default: pushOther(d.other, tv.tag, v);
    }
  }

  /** §"def": `def: "text" [xref, ...]`; an unquoted definition is accepted as plain text. */
  private parseDef(v: string): { text: string; xrefs: string[] } {
    const q = readQuoted(v);
    if (!q) return { text: unescapeObo(v), xrefs: [] };
    const list = readXrefList(q.rest);
    if (!list.closed) this.warn(this.lineNo, `xref list in "def:" is not closed with "]"`);
    return { text: q.text, xrefs: list.xrefs };
  }

  /** §"synonym": `synonym: "text" SCOPE [TYPE] [xrefs]`; the scope defaults to RELATED. */
  private parseSynonym(v: string, legacyScope: SynonymScope | undefined): Synonym | null {
    const q = readQuoted(v);
    if (!q) {
      this.warn(this.lineNo, `synonym is not a quoted string; ignored`);
      return null;
    }
    const bracket = q.rest.indexOf('[');
    const words = tokens(bracket >= 0 ? q.rest.slice(0, bracket) : q.rest);
    let scope: SynonymScope = legacyScope ?? 'RELATED';
    if (!legacyScope && words[0] && SCOPES.has(words[0])) scope = words.shift() as SynonymScope;
    const syn: Synonym = { text: q.text, scope };
    if (words[0]) syn.type = words[0];
    return syn;
  }
}

function pushOther(other: Record<string, string[]>, tag: string, value: string): void {
  const list = other[tag];
  if (list) list.push(value);
  else other[tag] = [value];
}

/** Parses lines from any (sync) iterable; the shared path of `parseObo` and tests. */
export function parseOboLines(lines: Iterable<string>, source: string): Ontology {
  const parser = new OboParser({ source });
  for (const line of lines) parser.pushLine(line);
  return parser.finish();
}

/** Yields the lines of `text` without building an array (handles LF and CRLF). */
function* iterateLines(text: string): Generator<string> {
  let start = 0;
  while (start <= text.length) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      if (start < text.length) yield text.slice(start);
      return;
    }
    yield text.slice(start, nl);
    start = nl + 1;
  }
}

export function parseObo(text: string, source: string): Ontology {
  return parseOboLines(iterateLines(text), source);
}

export interface LoadOboFileOptions {
  /** Name used in messages and `Term.source`; defaults to the path (e.g. the URL of a cached download). */
  source?: string;
}

/** Streams an OBO file line by line (node:readline), so memory holds only the ontology being built. */
export async function loadOboFile(filePath: string, opts: LoadOboFileOptions = {}): Promise<Ontology> {
  const source = opts.source ?? filePath;
  const parser = new OboParser({ source });
  const input = createReadStream(filePath, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BbioError(code === 'ENOENT' ? 'E_ONTOLOGY_MISSING' : 'E_IO', `cannot read ontology "${filePath}": ${(e as Error).message}`,
      { file: source }, 'check the path in data.ontology', { cause: e });
  }
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) parser.pushLine(line);
  } catch (e) {
    if (e instanceof BbioError) throw e;
    throw new BbioError('E_IO', `cannot read ontology "${filePath}": ${(e as Error).message}`, { file: source }, undefined, { cause: e });
  } finally {
    rl.close();
    input.destroy();
  }
  return parser.finish();
}

export interface LoadOboUrlOptions {
  /** Folder for downloaded files; created when missing. */
  cacheDir: string;
  /** Expected SHA-256 (hex) of the file; checked after download and when a cached copy is reused. */
  sha256?: string;
  /** Download timeout in milliseconds (default 5 minutes). */
  timeoutMs?: number;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Path of the cached copy of `url`: named by a hash of the URL so any URL maps to a safe file name. */
export function oboCachePath(url: string, cacheDir: string): string {
  const key = sha256(url).slice(0, 32);
  const base = path.basename(new URL(url).pathname).replace(/[^\w.-]/g, '_') || 'ontology.obo';
  return path.join(cacheDir, `${key}-${base}`);
}

/**
 * Downloads an OBO file once into `cacheDir` (temp file + rename, so a crash never leaves a partial file
 * under the final name), verifies `sha256` when given, and parses the cached copy from then on.
 */
export async function loadOboUrl(url: string, opts: LoadOboUrlOptions): Promise<Ontology> {
  const target = oboCachePath(url, opts.cacheDir);
  const want = opts.sha256?.toLowerCase();
  if (await exists(target)) {
    // A cached copy that no longer matches a (new) pinned checksum is stale: fetch again.
    if (!want || (await sha256File(target)) === want) return loadOboFile(target, { source: url });
    await unlink(target);
  }
  await mkdir(opts.cacheDir, { recursive: true });
  const hint = 'check the network connection and URL, or download the file yourself and point data.ontology at the local path';
  // every hop is checked against the URL policy, and every connection's address too (config/net.ts)
  let res: IncomingMessage;
  try {
    ({ res } = await fetchPublic(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000) }));
  } catch (e) {
    if (e instanceof BbioError) throw e;
    throw new BbioError('E_ONTOLOGY_DOWNLOAD', `cannot download ontology ${url}: ${(e as Error).message}`, { file: url }, hint, { cause: e });
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    res.resume();
    throw new BbioError('E_ONTOLOGY_DOWNLOAD', `cannot download ontology ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd(), { file: url }, hint);
  }
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  const hash = createHash('sha256');
  try {
    res.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(res, createWriteStream(tmp));
  } catch (e) {
    await unlink(tmp).catch((cleanup: unknown) => {
      if ((cleanup as NodeJS.ErrnoException).code !== 'ENOENT') throw cleanup;
    });
    throw new BbioError('E_ONTOLOGY_DOWNLOAD', `download of ${url} failed: ${(e as Error).message}`, { file: url }, hint, { cause: e });
  }
  const got = hash.digest('hex');
  if (want && got !== want) {
    await unlink(tmp);
    throw new BbioError('E_ONTOLOGY_CHECKSUM', `checksum mismatch for ${url}: expected sha256 ${want}, got ${got}`, { file: url },
      'the file changed upstream or the download was corrupted; update the pinned sha256 only if you trust the new file');
  }
  await rename(tmp, target);
  return loadOboFile(target, { source: url });
}

/**
 * Combines ontologies in order (e.g. the built-in graph, then user sources). A term or typedef id defined
 * again replaces the earlier one, with a warning naming both places.
 */
export function mergeOntologies(list: Ontology[]): Ontology {
  const terms = new Map<string, Term>();
  const typedefs = new Map<string, Typedef>();
  const warnings: Warning[] = [];
  const header: OntologyHeader = { other: {} };
  for (const ont of list) {
    warnings.push(...ont.warnings);
    header.formatVersion ??= ont.header.formatVersion;
    header.dataVersion ??= ont.header.dataVersion;
    header.ontology ??= ont.header.ontology;
    header.defaultNamespace ??= ont.header.defaultNamespace;
    for (const [tag, values] of Object.entries(ont.header.other)) for (const v of values) pushOther(header.other, tag, v);
    for (const [id, t] of ont.terms) {
      const prev = terms.get(id);
      if (prev) {
        warnings.push({ source: t.source, line: t.line,
          message: `${t.source}:${t.line}: term ${id} replaces the one from ${prev.source}:${prev.line}` });
      }
      terms.set(id, t);
    }
    for (const [id, d] of ont.typedefs) {
      const prev = typedefs.get(id);
      if (prev) {
        warnings.push({ source: d.source, line: d.line,
          message: `${d.source}:${d.line}: typedef ${id} replaces the one from ${prev.source}:${prev.line}` });
      }
      typedefs.set(id, d);
    }
  }
  return { header, terms, typedefs, warnings };
}

export interface OntologyCheck {
  /** is_a cycles (`E_ONTOLOGY_CYCLE`) and is_a to missing ids (`E_ONTOLOGY_DANGLING`): hierarchy walks break. */
  errors: BbioError[];
  /** `relationship:` to missing ids and relations with no [Typedef] (`E_ONTOLOGY_DANGLING`). */
  warnings: BbioError[];
}

/** Relations every OBO file may use without declaring them (§"Built-in relations"). */
const BUILTIN_RELATIONS: ReadonlySet<string> = new Set(['is_a']);

/** Graph checks over a loaded (or merged) ontology; never throws, so callers choose what is fatal. */
export function checkOntology(ont: Ontology, opts: { maxCycles?: number } = {}): OntologyCheck {
  const errors: BbioError[] = [];
  const warnings: BbioError[] = [];
  const undeclared = new Set<string>();
  for (const t of ont.terms.values()) {
    const at = { file: t.source, line: t.line };
    for (const parent of t.isA) {
      if (!ont.terms.has(parent)) {
        errors.push(new BbioError('E_ONTOLOGY_DANGLING', `${t.source}:${t.line}: term ${t.id} has is_a ${parent}, which is not defined`, at,
          'add the missing term or load the ontology that defines it'));
      }
    }
    for (const r of t.relationships) {
      if (!ont.terms.has(r.target)) {
        warnings.push(new BbioError('E_ONTOLOGY_DANGLING',
          `${t.source}:${t.line}: term ${t.id} has relationship ${r.relation} ${r.target}, which is not defined`, at,
          'add the missing term or load the ontology that defines it'));
      }
      if (!BUILTIN_RELATIONS.has(r.relation) && !ont.typedefs.has(r.relation) && !undeclared.has(r.relation)) {
        undeclared.add(r.relation);
        warnings.push(new BbioError('E_ONTOLOGY_DANGLING',
          `${t.source}:${t.line}: relation ${r.relation} (used by ${t.id}) has no [Typedef]`, at, 'declare it in a [Typedef] stanza'));
      }
    }
  }
  for (const cycle of findIsACycles(ont, opts.maxCycles ?? 20)) {
    const first = ont.terms.get(cycle[0]) as Term;
    errors.push(new BbioError('E_ONTOLOGY_CYCLE', `${first.source}:${first.line}: is_a cycle ${[...cycle, cycle[0]].join(' → ')}`,
      { file: first.source, line: first.line }, 'an is_a hierarchy must be acyclic: remove one of these is_a lines'));
  }
  return { errors, warnings };
}

/** Iterative DFS (no recursion limit on deep hierarchies); each back edge yields the ids on the cycle. */
function findIsACycles(ont: Ontology, max: number): string[][] {
  const WHITE = 0, GREY = 1, BLACK = 2;
  const color = new Map<string, number>();
  const cycles: string[][] = [];
  for (const root of ont.terms.keys()) {
    if (color.get(root)) continue;
    const path: string[] = [root];
    const next: number[] = [0];
    color.set(root, GREY);
    while (path.length && cycles.length < max) {
      const id = path[path.length - 1];
      const parents = ont.terms.get(id)?.isA ?? [];
      const i = next[next.length - 1]++;
      if (i >= parents.length) {
        color.set(id, BLACK);
        path.pop();
        next.pop();
        continue;
      }
      const p = parents[i];
      if (!ont.terms.has(p)) continue;
      const c = color.get(p) ?? WHITE;
      if (c === GREY) cycles.push(path.slice(path.lastIndexOf(p)));
      else if (c === WHITE) {
        color.set(p, GREY);
        path.push(p);
        next.push(0);
      }
    }
    if (cycles.length >= max) break;
  }
  return cycles;
}
