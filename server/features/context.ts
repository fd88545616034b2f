/**
 * What every feature function receives besides the document, position and cancellation token. Features
 * are plain async functions `(doc, pos, ctx, token) => Promise<T>`; server/handlers adapt them to LSP.
 */
import { ResponseError, LSPErrorCodes, type CancellationToken, type Position } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { PathPolicy } from '../../engine/config/paths';
import type { DocumentAnalyzer } from '../analysis';
import type { OntologyService } from '../ontology/service';
import type { RunReader } from '../runs';

export interface FeatureContext {
  analyzer: DocumentAnalyzer;
  ontology: OntologyService;
  runs: RunReader;
  /** Total memory of this machine in bytes (the memory estimate's yardstick). */
  machineMemoryBytes: number;
  /** Where the experiment `file` may reach (its workspace folder and the allowed folders). */
  pathPolicy(file: string): PathPolicy;
  /** Reports a problem that only degrades a feature (to the client's output channel). */
  log(message: string): void;
}

/** Thrown when the client cancelled; vscode-jsonrpc turns it into a RequestCancelled response. */
export function throwIfCancelled(token: CancellationToken | undefined): void {
  if (token?.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'request cancelled');
}

/** A position as an offset; rejects malformed positions (negative, fractional, not numbers). */
export function offsetOf(doc: TextDocument, pos: Position): number {
  const ok = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!pos || !ok(pos.line) || !ok(pos.character)) throw new ResponseError(-32602, `invalid position ${JSON.stringify(pos)}`);
  return doc.offsetAt(pos);
}

/** Thresholds shared by diagnostics, hover and code lens. */
export const MEMORY_WARNING_FRACTION = 0.8;
