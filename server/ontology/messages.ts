/**
 * Messages between the language server's main thread and its ontology worker thread. Loading GO (47k
 * terms) takes ~0.5 s and building its index another ~0.6 s of synchronous work, so both live in a worker
 * and the server thread only sends queries.
 */
import type { TermMatchInfo } from '../protocol';

export const WORKER_ROLE = 'bbio-ontology-worker';

export interface TermDetail {
  id: string;
  name: string;
  namespace?: string;
  def?: string;
  synonyms: { text: string; scope: string; type?: string }[];
  parents: { id: string; name?: string }[];
  relations: { relation: string; relationName?: string; target: string; targetName?: string }[];
  isObsolete: boolean;
  source: string;
}

export interface TermResolution {
  term: string;
  known: boolean;
  /** The best near match when unknown. */
  suggestion?: TermMatchInfo;
}

export type WorkerRequest =
  | { op: 'load'; sources: string[] }
  | { op: 'lookup'; query: string; limit: number; namespaces?: string[] }
  | { op: 'resolve'; terms: string[] }
  | { op: 'describe'; query: string }
  | { op: 'probeGpu' };

export interface LoadResultMessage {
  termCount: number;
  loadMs: number;
  warnings: number;
  failed: { source: string; message: string }[];
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
