/**
 * Diagnostics transport. Pull (textDocument/diagnostic) when the client supports it, else push
 * (publishDiagnostics) debounced per document: each edit cancels the pending computation of that document.
 */
import { CancellationTokenSource, DocumentDiagnosticReportKind, type DocumentDiagnosticReport } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { computeDiagnostics } from '../features/diagnostics';
import { isExperimentUri } from '../paths';
import { experimentDoc, guarded, type HandlerDeps } from './deps';

export interface DiagnosticsScheduler {
  /** `immediate`: no debounce (a newly opened document). */
  schedule(doc: TextDocument, opts?: { immediate?: boolean }): void;
  clear(uri: string): void;
  refreshAll(): void;
}

export function registerDiagnostics(deps: HandlerDeps): DiagnosticsScheduler {
  const { connection, state } = deps;
  const pending = new Map<string, { timer: NodeJS.Timeout | undefined; source: CancellationTokenSource }>();

  if (state.pullDiagnostics) {
    connection.languages.diagnostics.on((params, token) =>
      guarded(deps, 'diagnostics', async (): Promise<DocumentDiagnosticReport> => {
        const doc = experimentDoc(deps, params.textDocument.uri);
        if (!doc) return { kind: DocumentDiagnosticReportKind.Full, items: [] };
        return { kind: DocumentDiagnosticReportKind.Full, items: await computeDiagnostics(doc, deps.ctx, token) };
      }),
    );
  }

  const cancel = (uri: string): void => {
    const p = pending.get(uri);
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    p.source.cancel();
    p.source.dispose();
    pending.delete(uri);
  };

  const push = async (doc: TextDocument, source: CancellationTokenSource): Promise<void> => {
    const version = doc.version;
    const diagnostics = await computeDiagnostics(doc, deps.ctx, source.token);
    const current = deps.documents.get(doc.uri);
    if (source.token.isCancellationRequested || !current || current.version !== version) return;
    await connection.sendDiagnostics({ uri: doc.uri, version, diagnostics });
  };

  return {
    schedule(doc, opts) {
      if (state.pullDiagnostics || !experimentDoc(deps, doc.uri)) return;
      cancel(doc.uri);
      const source = new CancellationTokenSource();
      const entry = { timer: undefined as NodeJS.Timeout | undefined, source };
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        push(doc, source)
          .catch((e: unknown) => {
            if (source.token.isCancellationRequested) return; // superseded by a newer edit
            connection.console.error(`diagnostics of ${doc.uri} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
          })
          .finally(() => {
            if (pending.get(doc.uri) === entry) pending.delete(doc.uri);
          });
      }, opts?.immediate ? 0 : state.diagnosticsDelayMs);
      pending.set(doc.uri, entry);
    },
    clear(uri) {
      cancel(uri);
      if (!state.pullDiagnostics && isExperimentUri(uri)) void connection.sendDiagnostics({ uri, diagnostics: [] }).catch((e: unknown) => connection.console.error(`clearing diagnostics failed: ${String(e)}`));
    },
    refreshAll() {
      if (state.pullDiagnostics) {
        if (state.diagnosticsRefresh) void Promise.resolve(connection.languages.diagnostics.refresh()).catch((e: unknown) => connection.console.error(`diagnostics refresh failed: ${String(e)}`));
        return;
      }
      for (const doc of deps.documents.all()) this.schedule(doc);
    },
  };
}
