/** The outline: sections (stage sections first-class), their keys and list items. */
import { SymbolKind, type CancellationToken, type DocumentSymbol } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import type { FeatureContext } from './context';
import { SECTION_STAGES } from './stages';

const MAX_DEPTH = 5;
const MAX_CHILDREN = 500;

export async function documentSymbols(doc: TextDocument, ctx: FeatureContext, _token: CancellationToken): Promise<DocumentSymbol[]> {
  const tree = ctx.analyzer.tree(doc);
  if (!tree) return [];
  const pos = (o: number) => doc.positionAt(o);

  const children = (node: Node | null, depth: number): DocumentSymbol[] => {
    if (depth >= MAX_DEPTH) return [];
    const out: DocumentSymbol[] = [];
    if (isMap(node)) {
      for (const item of node.items.slice(0, MAX_CHILDREN)) {
        if (!isPair(item) || !isScalar(item.key) || !item.key.range) continue;
        const key = String(item.key.value);
        const value = item.value as Node | null;
        const end = value?.range?.[1] ?? item.key.range[1];
        const stage = depth === 0 ? SECTION_STAGES[key] : undefined;
        out.push({
          name: key,
          ...(stage ? { detail: `stage ${stage}` } : isScalar(value) ? { detail: String(value.value) } : isSeq(value) ? { detail: `${value.items.length} item(s)` } : {}),
          kind: stage ? SymbolKind.Module : isMap(value) ? SymbolKind.Object : isSeq(value) ? SymbolKind.Array : SymbolKind.Property,
          range: { start: pos(item.key.range[0]), end: pos(Math.max(end, item.key.range[1])) },
          selectionRange: { start: pos(item.key.range[0]), end: pos(item.key.range[1]) },
          children: children(value, depth + 1),
        });
      }
    } else if (isSeq(node)) {
      node.items.slice(0, MAX_CHILDREN).forEach((raw, i) => {
        const it = raw as Node | null;
        if (!it?.range || isScalar(it)) return;
        const name = isMap(it) ? it.get('name') ?? it.get('id') ?? it.get('path') : undefined;
        out.push({
          name: `[${i}]${name !== undefined && typeof name !== 'object' ? ` ${String(name)}` : ''}`,
          kind: SymbolKind.Object,
          range: { start: pos(it.range[0]), end: pos(it.range[1]) },
          selectionRange: { start: pos(it.range[0]), end: pos(it.range[0]) },
          children: children(it, depth + 1),
        });
      });
    }
    return out;
  };
  return children((tree.doc.contents as Node | null) ?? null, 0);
}
