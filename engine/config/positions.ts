/**
 * Maps paths inside the parsed YAML (as ajv reports them) back to source ranges, so every problem points
 * at the offending key or value, never at the whole document.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node, type Pair, type YAMLMap } from 'yaml';

export type PathSegment = string | number;

export interface Range1 {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/** `/sft/capability_weights/domain` (RFC 6901 JSON Pointer, as ajv's instancePath) → segments. */
export function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

export class SourceMap {
  /**
   * Each mapping's pairs by key, built on a mapping's first lookup. A linear `find` per lookup made a file
   * with n unknown keys cost O(n²) (20,000 keys: 10 s); with the index every lookup is O(depth).
   */
  private readonly keyIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly textLength: number,
  ) {}

  /** Range of an offset pair [start, end). */
  rangeOf(start: number, end: number): Range1 {
    const a = this.lines.linePos(Math.max(0, Math.min(start, this.textLength)));
    const b = this.lines.linePos(Math.max(0, Math.min(Math.max(end, start), this.textLength)));
    return { line: a.line, column: a.col, endLine: b.line, endColumn: b.col };
  }

  /** The deepest node that exists along `path` and how far down the path it is. */
  private walk(path: readonly PathSegment[]): { node: Node | null; pair: Pair | null; depth: number } {
    let node: Node | null = (this.doc.contents as Node | null) ?? null;
    let pair: Pair | null = null;
    let depth = 0;
    for (const seg of path) {
      if (isMap(node)) {
        const found = this.pairsOf(node).get(String(seg));
        if (!found) break;
        pair = found;
        node = (found.value as Node | null) ?? null;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        pair = null;
        node = node.items[seg] as Node;
      } else {
        break;
      }
      depth++;
    }
    return { node, pair, depth };
  }

  /** The mapping's scalar-keyed pairs by key text; the first pair wins when a key repeats (as `find` did). */
  private pairsOf(map: YAMLMap): Map<string, Pair> {
    let index = this.keyIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (!isScalar(p.key)) continue;
        const key = String(p.key.value);
        if (!index.has(key)) index.set(key, p as Pair);
      }
      this.keyIndex.set(map, index);
    }
    return index;
  }

  private nodeRange(node: Node | null | undefined): Range1 | undefined {
    const r = node?.range;
    return r ? this.rangeOf(r[0], r[1]) : undefined;
  }

  /** Range of the value at `path`, or of the nearest existing ancestor's key when the value is absent. */
  valueRange(path: readonly PathSegment[]): Range1 {
    const { node, pair, depth } = this.walk(path);
    if (depth === path.length) {
      const r = this.nodeRange(node) ?? this.nodeRange(pair?.key as Node | undefined);
      if (r) return r;
    }
    return this.keyRange(path.slice(0, depth));
  }

  /** Range of the key at the end of `path` (for unknown keys and required-key problems). */
  keyRange(path: readonly PathSegment[]): Range1 {
    if (path.length === 0) return this.documentStart();
    const { pair, depth } = this.walk(path);
    if (depth === path.length && pair && isScalar(pair.key)) {
      const r = this.nodeRange(pair.key as Node);
      if (r) return r;
    }
    if (depth === path.length) return this.valueRange(path);
    return this.keyRange(path.slice(0, depth));
  }

  documentStart(): Range1 {
    const contents = this.doc.contents as Node | null;
    const start = contents?.range?.[0] ?? 0;
    // the first line only: a whole-document range would hide every other squiggle
    const text = this.lines.lineStarts.length > 1 ? (this.lines.lineStarts[1] ?? this.textLength) - 1 : this.textLength;
    return this.rangeOf(start, Math.max(start + 1, Math.min(text, this.textLength)));
  }

  /** The value's range when it is a scalar; the key's when the value is a mapping or list (one line, not a block). */
  focusRange(path: readonly PathSegment[]): Range1 {
    const { node, depth } = this.walk(path);
    if (depth === path.length && (isMap(node) || isSeq(node)) && path.length > 0) return this.keyRange(path);
    return this.valueRange(path);
  }

  hasPath(path: readonly PathSegment[]): boolean {
    return this.walk(path).depth === path.length;
  }

  /** Whether `path`'s value is a pair in a map (so it was written by the user, not defaulted). */
  isPair(path: readonly PathSegment[]): boolean {
    const { pair, depth } = this.walk(path);
    return depth === path.length && isPair(pair);
  }
}
