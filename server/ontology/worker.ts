/**
 * The ontology worker thread: loads OBO files (each cached by path, size and mtime), merges them, builds
 * one TermIndex and answers lookups. It runs the same bundle as the server (see server.ts) so the build
 * needs no extra entry point.
 */
import { stat } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { loadOboFile, mergeOntologies } from '../../engine/ontology/obo';
import { normalizeLabel, TermIndex, type TermMatch } from '../../engine/ontology/term-index';
import type { Ontology, Term } from '../../engine/ontology/types';
import { probeGpu } from './gpu-probe';
import type { LoadResultMessage, TermDetail, TermResolution, WorkerReply, WorkerRequest } from './messages';

interface Loaded {
  key: string;
  ontology: Ontology;
}

/** Suggestions below this score are noise (the index's typo tier starts at 0.15). */
const SUGGESTION_MIN_SCORE = 0.15;

export function runOntologyWorker(): void {
  const port = parentPort;
  if (!port) throw new Error('runOntologyWorker must run in a worker thread');
  const cache = new Map<string, Loaded>();
  let merged: Ontology | undefined;
  let index: TermIndex | undefined;

  async function load(sources: string[]): Promise<LoadResultMessage> {
    const t0 = performance.now();
    const failed: LoadResultMessage['failed'] = [];
    const parts: Ontology[] = [];
    for (const source of sources) {
      try {
        const s = await stat(source);
        const key = `${s.size}:${s.mtimeMs}`;
        let entry = cache.get(source);
        if (!entry || entry.key !== key) {
          entry = { key, ontology: await loadOboFile(source) };
          cache.set(source, entry);
        }
        parts.push(entry.ontology);
      } catch (e) {
        cache.delete(source);
        failed.push({ source, message: e instanceof Error ? e.message : String(e) });
      }
    }
    for (const k of [...cache.keys()]) if (!sources.includes(k)) cache.delete(k);
    merged = parts.length === 1 ? parts[0] : mergeOntologies(parts);
    index = merged ? TermIndex.build(merged) : undefined;
    return { termCount: index?.termCount ?? 0, loadMs: Math.round(performance.now() - t0), warnings: merged?.warnings.length ?? 0, failed };
  }

  function info(m: TermMatch): TermMatch {
    return { id: m.id, name: m.name, ...(m.namespace ? { namespace: m.namespace } : {}), matched: m.matched, matchedKind: m.matchedKind, ...(m.synonymScope ? { synonymScope: m.synonymScope } : {}), score: m.score };
  }

  /** A term by id, exact name or exact synonym (normalised). */
  function find(query: string): Term | undefined {
    if (!index) return undefined;
    const byId = index.get(query.trim());
    if (byId) return byId;
    const want = normalizeLabel(query);
    const exact = index.lookup(query, { limit: 5 }).find((m) => normalizeLabel(m.matched) === want);
    return exact ? index.get(exact.id) : undefined;
  }

  function resolve(terms: string[]): TermResolution[] {
    return terms.map((term) => {
      if (find(term)) return { term, known: true };
      const best = index?.lookup(term, { limit: 1 })[0];
      return { term, known: false, ...(best && best.score >= SUGGESTION_MIN_SCORE ? { suggestion: info(best) } : {}) };
    });
  }

  function describe(query: string): TermDetail | null {
    const t = find(query);
    if (!t || !merged || !index) return null;
    const ix = index;
    const ont = merged;
    return {
      id: t.id,
      name: t.name,
      ...(t.namespace ? { namespace: t.namespace } : {}),
      ...(t.def ? { def: t.def } : {}),
      synonyms: t.synonyms.map((s) => ({ text: s.text, scope: s.scope, ...(s.type ? { type: s.type } : {}) })),
      parents: t.isA.map((id) => ({ id, ...(ix.get(id) ? { name: ix.get(id)!.name } : {}) })),
      relations: t.relationships.map((r) => {
        const td = ont.typedefs.get(r.relation);
        const target = ix.get(r.target);
        return { relation: r.relation, ...(td?.name ? { relationName: td.name } : {}), target: r.target, ...(target ? { targetName: target.name } : {}) };
      }),
      isObsolete: t.isObsolete,
      source: t.source,
    };
  }

  async function handle(req: WorkerRequest): Promise<unknown> {
    switch (req.op) {
      case 'load':
        return load(req.sources);
      case 'lookup':
        return (index?.lookup(req.query, { limit: req.limit, ...(req.namespaces ? { namespaces: req.namespaces } : {}) }) ?? []).map(info);
      case 'resolve':
        return resolve(req.terms);
      case 'describe':
        return describe(req.query);
      case 'probeGpu':
        return probeGpu();
    }
  }

  // one message at a time, in order: a lookup sent during a load waits for the new index
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: { id: number; req: WorkerRequest }) => {
    chain = chain.then(async () => {
      let reply: WorkerReply;
      try {
        reply = { id: msg.id, ok: true, value: await handle(msg.req) };
      } catch (e) {
        reply = { id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) };
      }
      port.postMessage(reply);
    });
  });
}
