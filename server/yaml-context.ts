/**
 * Where the cursor is in an experiment file, in schema terms. Completion works on text that is usually
 * mid-edit and often not valid YAML, so it reads block structure from indentation (lines above the cursor)
 * instead of a parse tree. Hover and symbols, which need valid structure anyway, use the YAML tree
 * (`nodeAt`).
 */
import { isMap, isPair, isScalar, isSeq, type Node, type Pair } from 'yaml';
import type { PathSegment } from '../engine/config/positions';
import type { SyntaxTree } from './analysis';

export interface CursorContext {
  kind: 'key' | 'value';
  /** key: the mapping being filled in; value: the value's own path (a list item ends in 0). */
  path: PathSegment[];
  /** What was typed so far (quotes removed). */
  prefix: string;
  /** Offsets of the text a completion replaces: [start of the prefix, end of the word at the cursor). */
  replaceStart: number;
  replaceEnd: number;
  /** Keys already present in the mapping (key completion leaves them out). */
  existingKeys: string[];
  /** The quote the value was opened with, if any. */
  quote?: '"' | "'";
  /** Value inside a flow collection (`[a, b]`, `{k: v}`): insert plain text, never a block. */
  inFlow: boolean;
}

interface LineInfo {
  indent: number;
  /** Whether the line starts a list item (`- `). */
  dash: boolean;
  /** Column where the content after the dash starts (= indent without a dash). */
  contentCol: number;
  key?: string;
  /** The key has no inline value (a block follows), ignoring comments, anchors and tags. */
  opensBlock: boolean;
}

const KEY_RE = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"{[\]},&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/;

function unquote(s: string): string {
  return (s.startsWith('"') && s.endsWith('"')) || (s.startsWith("'") && s.endsWith("'")) ? s.slice(1, -1) : s;
}

export function lineInfo(line: string): LineInfo | undefined {
  const indent = line.length - line.trimStart().length;
  const rest = line.slice(indent);
  if (rest === '' || rest.startsWith('#') || rest === '---' || rest === '...') return undefined;
  const dashMatch = /^-(\s+|$)/.exec(rest);
  const dash = Boolean(dashMatch);
  const contentCol = indent + (dashMatch ? dashMatch[0].length : 0);
  const content = line.slice(contentCol);
  const m = KEY_RE.exec(content.replace(/\s+#.*$/, ''));
  if (!m) return { indent, dash, contentCol, opensBlock: false };
  const value = (m[2] ?? '').trim();
  const opensBlock = value === '' || /^([&!][^\s]*\s*)+$/.test(value) || /^[|>][-+0-9]*$/.test(value);
  return { indent, dash, contentCol, key: unquote(m[1]!), opensBlock };
}

/**
 * Path of the block container at column `col` for line `lineIdx`, from the lines above it. A key at the
 * same column inside a list item counts as inside that item (`- name: x` / `  weight: |`).
 */
export function containerPath(lines: readonly string[], lineIdx: number, col: number): PathSegment[] {
  const path: PathSegment[] = [];
  let cur = col;
  let inItem = false; // just entered a list item at column `cur`; its list's key may sit at the same column
  for (let i = lineIdx - 1; i >= 0 && (cur > 0 || inItem); i--) {
    const info = lineInfo(lines[i]!);
    if (!info) continue;
    if (info.dash) {
      if (info.indent >= cur) continue;
      // the cursor is inside this item's mapping: a sibling key (contentCol == cur) or nested under its key
      if (info.contentCol < cur && info.key && info.opensBlock) path.unshift(info.key);
      path.unshift(0);
      cur = info.indent;
      inItem = true;
      continue;
    }
    if (info.indent < cur || (inItem && info.indent === cur)) {
      if (info.indent === cur && inItem && !info.key) continue;
      if (info.key) path.unshift(info.key);
      cur = info.indent;
      inItem = false;
    }
  }
  return path;
}

/** Keys already written in the block mapping that contains line `lineIdx` at column `col`. */
function siblingKeys(lines: readonly string[], lineIdx: number, col: number): string[] {
  const keys: string[] = [];
  const scan = (from: number, step: number): void => {
    for (let i = from; i >= 0 && i < lines.length; i += step) {
      const info = lineInfo(lines[i]!);
      if (!info) continue;
      if (info.dash && info.contentCol === col) {
        if (info.key) keys.push(info.key);
        if (step < 0) return; // the item's first line: nothing above belongs to this item
        return; // the next item starts
      }
      if (info.indent < col) return;
      if (info.indent === col && !info.dash && info.key) keys.push(info.key);
    }
  };
  scan(lineIdx - 1, -1);
  scan(lineIdx + 1, 1);
  return keys;
}

/** The end of the word at `offset` (so accepting a completion mid-word replaces all of it). */
function wordEnd(text: string, offset: number, flow: boolean): number {
  let i = offset;
  const stop = flow ? /[\s,\]}#:'"]/ : /[\s#:'"]/;
  while (i < text.length && !stop.test(text[i]!) && text[i] !== '\n') i++;
  return i;
}

/** Where the end of a flow value being typed sits: the innermost open collection and its last element. */
interface FlowPosition {
  kind: 'key' | 'value';
  /** Path below the flow value's own path (`{ a: [x, |` → ['a', 0]; a list item ends in 0). */
  path: PathSegment[];
  /** The last element typed so far (a key, or the value after `key:`), leading spaces removed. */
  tail: string;
  /** Offset of `tail` in the value text. */
  offset: number;
  /** Keys already written in the innermost mapping. */
  keys: string[];
}

interface FlowFrame {
  kind: 'seq' | 'map';
  path: PathSegment[];
  keys: string[];
  /** The key of the mapping entry being written, once its `:` is typed. */
  key?: string;
}

/** Reads the flow collections of a value being typed: `{ a: [x, he` → the list `a`, tail `he`. */
function flowPosition(value: string): FlowPosition | undefined {
  const stack: FlowFrame[] = [];
  let start = 0;
  let quote: string | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    const top = stack[stack.length - 1];
    if ((c === '"' || c === "'") && /^\s*$/.test(value.slice(start, i))) quote = c;
    else if (c === '[' || c === '{') {
      // the new collection is the value of the entry being written: a list item, a mapping key's value
      const at: PathSegment[] = !top ? [] : top.kind === 'seq' ? [...top.path, 0] : [...top.path, top.key ?? unquote(value.slice(start, i).trim())];
      stack.push({ kind: c === '[' ? 'seq' : 'map', path: at, keys: [] });
      start = i + 1;
    } else if (c === ']' || c === '}') {
      stack.pop();
      start = i + 1;
    } else if (c === ',') {
      if (top) delete top.key;
      start = i + 1;
    } else if (c === ':' && top?.kind === 'map' && top.key === undefined) {
      top.key = unquote(value.slice(start, i).trim());
      top.keys.push(top.key);
      start = i + 1;
    }
  }
  const top = stack[stack.length - 1];
  if (!top) return undefined;
  const raw = value.slice(start);
  const lead = raw.length - raw.trimStart().length;
  const tail = raw.slice(lead);
  const offset = start + lead;
  if (top.kind === 'seq') return { kind: 'value', path: [...top.path, 0], tail, offset, keys: [] };
  if (top.key !== undefined) return { kind: 'value', path: [...top.path, top.key], tail, offset, keys: [] };
  return { kind: 'key', path: top.path, tail, offset, keys: top.keys };
}

export function cursorContext(text: string, offset: number): CursorContext | undefined {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const linePrefix = text.slice(lineStart, offset);
  if (/(^|\s)#/.test(linePrefix.replace(/"[^"]*"|'[^']*'/g, '""'))) return undefined; // in a comment
  const lines = text.slice(0, lineStart).split('\n');
  const lineIdx = lines.length - 1;
  const before = lines.slice(0, lineIdx);
  const all = [...before, text.slice(lineStart).split('\n', 1)[0] ?? ''];

  const indent = linePrefix.length - linePrefix.trimStart().length;
  const dashMatch = /^(\s*)-(\s+)/.exec(linePrefix);
  const contentCol = dashMatch ? dashMatch[0].length : indent;
  const content = linePrefix.slice(contentCol);

  const keyValue = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"{[\]},&*!|>%@`][^:#]*?)\s*:(\s+|$)(.*)$/.exec(content);
  if (keyValue && (keyValue[2] !== '' || keyValue[3] === '')) {
    if (keyValue[2] === '' && keyValue[3] === '') return undefined; // cursor right after the colon
    const key = unquote(keyValue[1]!);
    const base = dashMatch ? [...containerPath(before.concat(all[lineIdx]!), lineIdx, indent), 0] : containerPath(all, lineIdx, indent);
    const valuePath = [...base, key];
    const valueText = keyValue[3]!;
    const valueStart = offset - valueText.length;
    return flowCtx(text, valuePath, valueText, valueStart, offset) ?? valueCtx(text, valuePath, valueText, valueStart, offset, false);
  }

  if (dashMatch && /^[[{]/.test(content)) {
    // a list item written as a flow collection: `- { name: a, set: { sft.pro`
    const listPath = containerPath(all, lineIdx, indent);
    return flowCtx(text, [...listPath, 0], content, offset - content.length, offset);
  }
  if (/[:#]/.test(content) && !/^["']/.test(content)) return undefined;
  const prefix = content;
  if (/\s/.test(prefix.trim()) && !dashMatch) return undefined; // two words at key position: not a key
  if (dashMatch) {
    // a list item: either a scalar value or the first key of a mapping item; the caller decides by schema
    const listPath = containerPath(all, lineIdx, indent);
    return { ...valueCtx(text, [...listPath, 0], prefix, offset - prefix.length, offset, false), existingKeys: siblingKeys(all, lineIdx, contentCol) };
  }
  return { kind: 'key', path: containerPath(all, lineIdx, indent), prefix, replaceStart: offset - prefix.length, replaceEnd: wordEnd(text, offset, false), existingKeys: siblingKeys(all, lineIdx, indent), inFlow: false };
}

/** The context inside a flow collection that `valueText` (the value at `valuePath`) opens, if it opens one. */
function flowCtx(text: string, valuePath: PathSegment[], valueText: string, valueStart: number, offset: number): CursorContext | undefined {
  const flow = flowPosition(valueText);
  if (!flow) return undefined;
  const path = [...valuePath, ...flow.path];
  if (flow.kind === 'value') return valueCtx(text, path, flow.tail, valueStart + flow.offset, offset, true);
  return { kind: 'key', path, prefix: flow.tail, replaceStart: valueStart + flow.offset, replaceEnd: wordEnd(text, offset, true), existingKeys: flow.keys, inFlow: true };
}

function valueCtx(text: string, path: PathSegment[], typed: string, start: number, offset: number, inFlow: boolean): CursorContext {
  const quote = typed.startsWith('"') ? '"' : typed.startsWith("'") ? "'" : undefined;
  const prefix = quote ? typed.slice(1) : typed;
  let end = offset;
  if (quote) {
    const close = text.indexOf(quote, offset);
    const nl = text.indexOf('\n', offset);
    end = close >= 0 && (nl < 0 || close < nl) ? close + 1 : offset;
  } else {
    const nl = text.indexOf('\n', offset);
    const lineRest = text.slice(offset, nl < 0 ? text.length : nl);
    end = inFlow ? wordEnd(text, offset, true) : offset + lineRest.replace(/\s+#.*$/, '').trimEnd().length;
  }
  return { kind: 'value', path, prefix, replaceStart: start, replaceEnd: end, existingKeys: [], ...(quote ? { quote } : {}), inFlow };
}

// ─── tree lookups (hover, symbols, code lens) ─────────────────────────────────────────────────────

export interface NodeAt {
  path: PathSegment[];
  /** The cursor is on a key (hover shows the key's documentation). */
  onKey: boolean;
  node: Node | null;
  /** [start, end) offsets of the key or scalar under the cursor. */
  range: [number, number];
}

export function nodeAt(tree: SyntaxTree, offset: number): NodeAt | undefined {
  const visit = (node: Node | null, path: PathSegment[]): NodeAt | undefined => {
    if (isMap(node)) {
      for (const item of node.items) {
        const pair = item as Pair<Node | null, Node | null>;
        const key = pair.key;
        if (isScalar(key) && key.range && offset >= key.range[0] && offset <= key.range[1]) {
          return { path: [...path, String(key.value)], onKey: true, node: pair.value, range: [key.range[0], key.range[1]] };
        }
        const v = pair.value;
        if (v?.range && offset >= v.range[0] && offset <= v.range[1] && isScalar(key)) {
          const hit = visit(v, [...path, String(key.value)]);
          if (hit) return hit;
        }
      }
      return undefined;
    }
    if (isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) {
        const it = node.items[i] as Node | null;
        if (it?.range && offset >= it.range[0] && offset <= it.range[1]) return visit(it, [...path, i]);
      }
      return undefined;
    }
    if (isScalar(node) && node.range) return { path, onKey: false, node, range: [node.range[0], node.range[1]] };
    return undefined;
  };
  return visit((tree.doc.contents as Node | null) ?? null, []);
}

/** Top-level pairs in file order with their key range (code lens, symbols). */
export function topLevelPairs(tree: SyntaxTree): { key: string; pair: Pair<Node | null, Node | null>; keyRange: [number, number] }[] {
  const root = tree.doc.contents as Node | null;
  if (!isMap(root)) return [];
  const out: { key: string; pair: Pair<Node | null, Node | null>; keyRange: [number, number] }[] = [];
  for (const item of root.items) {
    if (!isPair(item) || !isScalar(item.key) || !item.key.range) continue;
    out.push({ key: String(item.key.value), pair: item as Pair<Node | null, Node | null>, keyRange: [item.key.range[0], item.key.range[1]] });
  }
  return out;
}
