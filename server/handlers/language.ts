/** Standard LSP features, each a thin adapter over a plain feature function. */
import { MarkupKind, type CompletionItem } from 'vscode-languageserver';
import { codeActions } from '../features/code-actions';
import { codeLenses } from '../features/code-lens';
import { complete, type TermItemData } from '../features/completion';
import { documentSymbols } from '../features/document-symbols';
import { hover, termMarkdown } from '../features/hover';
import { experimentDoc, guarded, type HandlerDeps } from './deps';

export function registerLanguageFeatures(deps: HandlerDeps): void {
  const { connection, ctx } = deps;

  connection.onCompletion((params, token) =>
    guarded(deps, 'completion', async () => {
      const doc = experimentDoc(deps, params.textDocument.uri);
      return doc ? complete(doc, params.position, ctx, token) : null;
    }),
  );

  connection.onCompletionResolve((item: CompletionItem) =>
    guarded(deps, 'completion resolve', async () => {
      const data = item.data as Partial<TermItemData> | undefined;
      if (typeof data?.termId !== 'string') return item;
      const detail = await ctx.ontology.describe(data.termId);
      return detail ? { ...item, documentation: { kind: MarkupKind.Markdown, value: termMarkdown(detail) } } : item;
    }),
  );

  connection.onHover((params, token) =>
    guarded(deps, 'hover', async () => {
      const doc = experimentDoc(deps, params.textDocument.uri);
      return doc ? hover(doc, params.position, ctx, token) : null;
    }),
  );

  connection.onCodeLens((params, token) =>
    guarded(deps, 'code lens', async () => {
      const doc = experimentDoc(deps, params.textDocument.uri);
      return doc ? codeLenses(doc, ctx, token) : [];
    }),
  );

  connection.onCodeAction((params, token) =>
    guarded(deps, 'code action', async () => {
      const doc = experimentDoc(deps, params.textDocument.uri);
      return doc ? codeActions(doc, params, ctx, token) : [];
    }),
  );

  connection.onDocumentSymbol((params, token) =>
    guarded(deps, 'document symbols', async () => {
      const doc = experimentDoc(deps, params.textDocument.uri);
      return doc ? documentSymbols(doc, ctx, token) : [];
    }),
  );
}
