/** What the handler modules share: the connection, open documents, feature context and server state. */
import { LSPErrorCodes, ResponseError, type Connection, type TextDocuments } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { FeatureContext } from '../features/context';
import type { JobManager } from '../job-manager';
import { isExperimentUri } from '../paths';

export interface ServerState {
  trusted: boolean;
  /** Client asked for pull diagnostics (textDocument/diagnostic). */
  pullDiagnostics: boolean;
  diagnosticsDelayMs: number;
  codeLensRefresh: boolean;
  diagnosticsRefresh: boolean;
  workDoneProgress: boolean;
}

export interface HandlerDeps {
  connection: Connection;
  documents: TextDocuments<TextDocument>;
  ctx: FeatureContext;
  jobs: JobManager;
  state: ServerState;
  /** Re-validates every open document (after the ontology index changed). */
  revalidateAll(): void;
}

/** The open experiment document, or undefined for other documents (features stay silent on those). */
export function experimentDoc(deps: HandlerDeps, uri: string): TextDocument | undefined {
  if (!isExperimentUri(uri)) return undefined;
  return deps.documents.get(uri);
}

/**
 * Runs a handler body; an unexpected error is reported to the client's log and answered as an
 * InternalError response, so one bad request never takes the server down.
 */
export async function guarded<T>(deps: HandlerDeps, what: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof ResponseError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    deps.connection.console.error(`${what} failed: ${e instanceof Error && e.stack ? e.stack : message}`);
    throw new ResponseError(-32603, `${what} failed: ${message}`);
  }
}

export function cancelledError(): ResponseError<void> {
  return new ResponseError(LSPErrorCodes.RequestCancelled, 'request cancelled');
}
