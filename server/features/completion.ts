/**
 * Completion: keys at the cursor's path (schema docs, default inserted as a snippet), enum values,
 * paths relative to the experiment for path-valued fields, and ontology terms by name, synonym or id,
 * ranked by the shared term index. Inside a variant's `set:` and `grid:`, dotted override paths and the
 * values of the path they name (see variant-overrides.ts). Works on text mid-edit (see yaml-context.ts).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CompletionItemKind, InsertTextFormat, MarkupKind, type CancellationToken, type CompletionItem, type CompletionList, type Position, type Range } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { PathSegment } from '../../engine/config/positions';
import { isTooLarge } from '../analysis';
import { uriToPath } from '../paths';
import { cursorContext, type CursorContext } from '../yaml-context';
import { offsetOf, throwIfCancelled, type FeatureContext } from './context';
import { isTermField, needsQuotes } from './diagnostics';
import { schemaAt, schemaMarkdown, typeOf, type SchemaNode } from './schema-docs';
import { isOverridable, overrideCandidates, overrideSite, type OverrideSite } from './variant-overrides';

/** `data` of an ontology-term item, for completionItem/resolve. */
export interface TermItemData {
  termId: string;
}

const TERM_LIMIT = 30;
const MAX_PATH_ITEMS = 200;

export async function complete(doc: TextDocument, pos: Position, ctx: FeatureContext, token: CancellationToken): Promise<CompletionList | null> {
  const text = doc.getText();
  if (isTooLarge(text)) return null;
  const offset = offsetOf(doc, pos);
  const at = cursorContext(text, offset);
  if (!at) return null;
  const range: Range = { start: doc.positionAt(at.replaceStart), end: doc.positionAt(at.replaceEnd) };
  const site = overrideSite(at.path);
  if (site && !site.key) {
    if (at.kind !== 'key') return null;
    // isIncomplete: the client asks again as the path grows, so `sft.` lists the keys of sft
    return { isIncomplete: true, items: overrideKeyItems(site, at, range, indentOf(text, at.replaceStart)) };
  }
  if (site && (!site.target || !isOverridable(site.key!))) return null;
  // below an override key, complete as if the dotted path were written out in place
  const c: CursorContext = site ? { ...at, path: site.target! } : at;
  const node = schemaAt(c.path);
  const listItem = typeof c.path[c.path.length - 1] === 'number';
  if (c.kind === 'key' || (listItem && node && isObject(node) && !c.prefix.includes(' '))) {
    if (!node || !isObject(node)) return null;
    return { isIncomplete: false, items: keyItems(node, c, range, indentOf(text, c.replaceStart)) };
  }
  if (isTermField(c.path)) return termItems(c, range, ctx, token);
  if (!node) return null;
  const items = [...valueItems(node, c, range)];
  const pathKind = pathField(c.path);
  if (pathKind) items.push(...(await pathItems(uriToPath(doc.uri), c, range, pathKind)));
  throwIfCancelled(token);
  return { isIncomplete: false, items };
}

function isObject(node: SchemaNode): boolean {
  return node.type === 'object' || Boolean(node.properties);
}

function indentOf(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const dash = /^(\s*)(-\s+)?/.exec(text.slice(lineStart, offset))!;
  return ' '.repeat(dash[0].length);
}

function snippetEscape(s: string): string {
  return s.replace(/[$}\\]/g, '\\$&');
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return needsQuotes(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** The snippet for `key: …` with the default (or the first allowed value) preselected. */
function keySnippet(key: string, node: SchemaNode, indent: string, inFlow: boolean): string {
  const values = node.enum ?? (node.type === 'boolean' ? [true, false] : undefined);
  if (values) {
    const first = node.default !== undefined ? [node.default, ...values.filter((v) => v !== node.default)] : values;
    return `${key}: \${1|${first.map((v) => scalarText(v).replace(/[,|\\]/g, '\\$&')).join(',')}|}`;
  }
  if (node.type === 'array') {
    const d = node.default;
    const itemsObject = node.items && isObject(node.items);
    if (itemsObject && !inFlow) return `${key}:\n${indent}  - $0`;
    if (Array.isArray(d) && d.every((x) => typeof x !== 'object')) return `${key}: [\${1:${snippetEscape(d.map(scalarText).join(', '))}}]`;
    return `${key}: [$1]`;
  }
  if (isObject(node)) return inFlow ? `${key}: { $1 }` : `${key}:\n${indent}  $0`;
  if (node.default !== undefined) return `${key}: \${1:${snippetEscape(scalarText(node.default))}}`;
  const example = node.examples?.[0];
  return example !== undefined && typeof example !== 'object' ? `${key}: \${1:${snippetEscape(scalarText(example))}}` : `${key}: $1`;
}

function detailOf(node: SchemaNode): string {
  return `${typeOf(node)}${node.default !== undefined && typeof node.default !== 'object' ? ` = ${JSON.stringify(node.default)}` : ''}`;
}

function keyItems(parent: SchemaNode, c: CursorContext, range: Range, indent: string): CompletionItem[] {
  const required = new Set(parent.required ?? []);
  const props = Object.entries(parent.properties ?? {});
  return props
    .filter(([k]) => !c.existingKeys.includes(k) || k === c.prefix)
    .map(([key, node], i): CompletionItem => ({
      label: key,
      kind: isObject(node) ? CompletionItemKind.Module : CompletionItemKind.Property,
      detail: detailOf(node),
      documentation: { kind: MarkupKind.Markdown, value: schemaMarkdown(node, [...c.path, key]) },
      insertTextFormat: InsertTextFormat.Snippet,
      textEdit: { range, newText: keySnippet(key, node, indent, c.inFlow) },
      filterText: key,
      sortText: `${required.has(key) ? 0 : 1}${String(i).padStart(3, '0')}`,
    }));
}

const TRIGGER_SUGGEST = { title: 'complete', command: 'editor.action.triggerSuggest' };

/**
 * Dotted paths for a key of a `set:` or `grid:` mapping, one level below what was typed (`sft.pro` → the
 * keys of sft), and sections (`sft.`) that ask for the next level once accepted.
 */
function overrideKeyItems(site: OverrideSite, c: CursorContext, range: Range, indent: string): CompletionItem[] {
  const q = /^["']/.test(c.prefix) ? c.prefix[0]! : '';
  const typed = c.prefix.slice(q.length);
  return overrideCandidates(typed)
    .filter((x) => x.section || !c.existingKeys.includes(x.path) || x.path === typed)
    .map((x, i): CompletionItem => {
      const common = {
        label: x.path,
        documentation: { kind: MarkupKind.Markdown, value: schemaMarkdown(x.node, x.path.replace(/\.$/, '').split('.')) },
        filterText: `${q}${x.path}`,
        sortText: String(i).padStart(3, '0'),
      };
      if (x.section) return { ...common, kind: CompletionItemKind.Module, detail: 'section', textEdit: { range, newText: `${q}${x.path}` }, command: TRIGGER_SUGGEST };
      const key = `${q}${x.path}${q}`;
      const values = x.node.enum ?? (x.node.type === 'boolean' ? [true, false] : undefined);
      const item = { ...common, kind: isObject(x.node) ? CompletionItemKind.Module : CompletionItemKind.Property, detail: detailOf(x.node), insertTextFormat: InsertTextFormat.Snippet };
      if (site.form === 'set') return { ...item, textEdit: { range, newText: keySnippet(key, x.node, indent, c.inFlow) } };
      // a grid key takes the list of values it runs through; the suggestions open inside it
      const obj = isObject(x.node);
      return { ...item, textEdit: { range, newText: obj ? `${key}: [{ $1 }]` : `${key}: [$1]` }, ...(values || obj ? { command: TRIGGER_SUGGEST } : {}) };
    });
}

function valueItems(node: SchemaNode, c: CursorContext, range: Range): CompletionItem[] {
  const values = node.enum ?? (node.type === 'boolean' ? [true, false] : undefined);
  const q = c.quote;
  const render = (v: unknown): string => (q ? `${q}${String(v)}${q}` : scalarText(v));
  if (values) {
    return values.map((v, i): CompletionItem => ({
      label: String(v),
      kind: CompletionItemKind.EnumMember,
      documentation: { kind: MarkupKind.Markdown, value: schemaMarkdown(node, c.path) },
      textEdit: { range, newText: render(v) },
      filterText: q ? `${q}${String(v)}` : String(v),
      sortText: String(i).padStart(3, '0'),
      ...(v === node.default ? { preselect: true, detail: 'default' } : {}),
    }));
  }
  const examples = (node.examples ?? []).filter((e) => typeof e !== 'object');
  return examples.map((v, i): CompletionItem => ({
    label: String(v),
    kind: CompletionItemKind.Value,
    detail: 'example',
    textEdit: { range, newText: render(v) },
    sortText: `9${String(i).padStart(3, '0')}`,
  }));
}

// ─── file paths ───────────────────────────────────────────────────────────────────────────────────

interface PathKind {
  kind: 'file' | 'dir' | 'any';
  extensions?: string[];
}

/** Path-valued fields (relative to the experiment file) and what they accept. */
const PATH_FIELDS: { path: (string | '#')[]; accept: PathKind }[] = [
  { path: ['ontology', 'sources', '#', 'path'], accept: { kind: 'file', extensions: ['.obo'] } },
  { path: ['model', 'path'], accept: { kind: 'dir' } },
  { path: ['eval', 'mmlu', '#'], accept: { kind: 'any', extensions: ['.csv'] } },
  { path: ['eval', 'benchmarks'], accept: { kind: 'dir' } },
  { path: ['grpo', 'rewards', '#', 'module'], accept: { kind: 'file', extensions: ['.js', '.mjs', '.cjs', '.ts'] } },
  { path: ['output', 'runs_dir'], accept: { kind: 'dir' } },
];

function pathField(p: readonly PathSegment[]): PathKind | undefined {
  return PATH_FIELDS.find((f) => f.path.length === p.length && f.path.every((s, i) => (s === '#' ? typeof p[i] === 'number' : s === p[i])))?.accept;
}

async function pathItems(file: string, c: CursorContext, range: Range, accept: PathKind): Promise<CompletionItem[]> {
  const slash = c.prefix.lastIndexOf('/');
  const dirPart = slash >= 0 ? c.prefix.slice(0, slash + 1) : '';
  const base = path.resolve(path.dirname(file), dirPart || '.');
  let entries;
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') return []; // nothing to offer there
    throw e;
  }
  const showHidden = c.prefix.slice(slash + 1).startsWith('.');
  const q = c.quote ?? '';
  const items: CompletionItem[] = [];
  for (const ent of entries) {
    if (items.length >= MAX_PATH_ITEMS) break;
    if (!showHidden && ent.name.startsWith('.')) continue;
    if (ent.name === 'node_modules') continue;
    const isDir = ent.isDirectory();
    if (!isDir && accept.kind === 'dir') continue;
    if (!isDir && accept.extensions && !accept.extensions.some((x) => ent.name.endsWith(x))) continue;
    const rel = `${dirPart}${ent.name}${isDir ? '/' : ''}`;
    items.push({
      label: `${ent.name}${isDir ? '/' : ''}`,
      kind: isDir ? CompletionItemKind.Folder : CompletionItemKind.File,
      textEdit: { range, newText: `${q}${rel}${isDir && accept.kind !== 'dir' ? '' : q}` },
      filterText: `${q}${rel}`,
      sortText: `${isDir ? 1 : 0}${ent.name}`,
      ...(isDir && accept.kind !== 'dir' ? { command: { title: 'complete path', command: 'editor.action.triggerSuggest' } } : {}),
    });
  }
  return items;
}

// ─── ontology terms ───────────────────────────────────────────────────────────────────────────────

async function termItems(c: CursorContext, range: Range, ctx: FeatureContext, token: CancellationToken): Promise<CompletionList> {
  const query = c.prefix.trim();
  if (!ctx.ontology.ready) {
    const s = ctx.ontology.status;
    return {
      isIncomplete: true,
      items: [{
        label: s.state === 'failed' ? 'ontology failed to load' : 'ontology index is loading…',
        kind: CompletionItemKind.Text,
        detail: s.sources.map((p) => path.basename(p)).join(', '),
        documentation: s.message ?? 'Term completion is available once the shared ontology index is built; keep typing or ask again in a moment.',
        filterText: c.prefix || ' ',
        textEdit: { range, newText: c.quote ? `${c.quote}${c.prefix}` : c.prefix },
      }],
    };
  }
  if (!query) return { isIncomplete: true, items: [] };
  const matches = await ctx.ontology.lookup(query, { limit: TERM_LIMIT }, token);
  throwIfCancelled(token);
  if (matches === 'loading') return { isIncomplete: true, items: [] };
  const q = c.quote;
  return {
    isIncomplete: true,
    items: matches.map((m, i): CompletionItem => {
      const viaSynonym = m.matchedKind === 'synonym';
      const text = q ? `${q}${m.name}${q}` : c.inFlow && /[,[\]{}]/.test(m.name) ? JSON.stringify(m.name) : needsQuotes(m.name) ? JSON.stringify(m.name) : m.name;
      return {
        label: m.name,
        labelDetails: { ...(viaSynonym ? { detail: ` (synonym: ${m.matched})` } : {}), description: m.id },
        kind: CompletionItemKind.Reference,
        detail: `${m.id}${m.namespace ? ` · ${m.namespace}` : ''}${viaSynonym ? ` · synonym "${m.matched}"` : ''}`,
        // begins with what was typed so the client's own filter keeps every ranked match
        filterText: `${q ?? ''}${c.prefix} ${m.matched}`,
        sortText: String(i).padStart(4, '0'),
        textEdit: { range, newText: text },
        data: { termId: m.id } satisfies TermItemData,
      };
    }),
  };
}
