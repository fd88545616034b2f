/** Quick fixes: a did-you-mean diagnostic (unknown key, enum value, ontology term) carries its replacement. */
import { CodeActionKind, type CancellationToken, type CodeAction, type CodeActionParams } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { FeatureContext } from './context';
import { DIAGNOSTIC_SOURCE, type DiagnosticData } from './diagnostics';

export async function codeActions(doc: TextDocument, params: CodeActionParams, _ctx: FeatureContext, _token: CancellationToken): Promise<CodeAction[]> {
  const out: CodeAction[] = [];
  for (const d of params.context.diagnostics ?? []) {
    const replacement = (d.data as DiagnosticData | undefined)?.replacement;
    if (d.source !== DIAGNOSTIC_SOURCE || typeof replacement !== 'string') continue;
    out.push({
      title: `Change to ${replacement}`,
      kind: CodeActionKind.QuickFix,
      diagnostics: [d],
      isPreferred: true,
      edit: { changes: { [doc.uri]: [{ range: d.range, newText: replacement }] } },
    });
  }
  return out;
}
