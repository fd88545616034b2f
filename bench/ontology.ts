/**
 * Ontology benchmark on the real Gene Ontology (test/fixtures/large/go.obo, built by scripts/fetch-go-obo.sh):
 * load time, index build time, RSS, and lookup latency p50/p99 over 1,000 prefix and 1,000 typo queries.
 * `loadavg_1min_at_start` is reported because other processes on a 2-core machine inflate every timing.
 * The first 100 of each also run against minisearch (prefix + fuzzy 0.2, AND) side by side, since absolute timings
 * are noisy on shared machines: the ratio is the number to compare (see ENVIRONMENT.md).
 *
 *   npx tsx bench/ontology.ts      # prints one JSON object
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import MiniSearch from 'minisearch';
import { loadOboFile } from '../engine/ontology/obo';
import { TermIndex } from '../engine/ontology/term-index';
import type { Ontology, Term } from '../engine/ontology/types';
import { makeRng, type Rng } from '../engine/util/rng';

const ROOT = path.resolve(__dirname, '..');
export const GO_OBO = path.join(ROOT, 'test/fixtures/large/go.obo');
const QUERIES = 1000;
/** minisearch answers broad prefix/fuzzy queries in tens to hundreds of ms; 100 per kind keeps the run short. */
const MINISEARCH_QUERIES = 100;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** What a user types while completing a name: its first 3..n characters. */
function prefixQuery(t: Term, rng: Rng): string {
  const n = t.name.length;
  return n <= 3 ? t.name : t.name.slice(0, 3 + rng.int(n - 2));
}

/** One typo (substitution, deletion, insertion or transposition) in a word of ≥ 5 letters of the name. */
function typoQuery(t: Term, rng: Rng): string | null {
  const words = t.name.split(' ');
  const long = words.map((w, i) => [w, i] as const).filter(([w]) => /^[a-z]{5,}$/i.test(w));
  if (!long.length) return null;
  const [w, wi] = long[rng.int(long.length)];
  const i = 1 + rng.int(w.length - 2);
  const c = String.fromCharCode(97 + rng.int(26));
  const edits = [
    () => w.slice(0, i) + c + w.slice(i + 1),
    () => w.slice(0, i) + w.slice(i + 1),
    () => w.slice(0, i) + c + w.slice(i),
    () => w.slice(0, i - 1) + w[i] + w[i - 1] + w.slice(i + 1),
  ];
  const typo = edits[rng.int(edits.length)]();
  if (typo.toLowerCase() === w.toLowerCase()) return null;
  words[wi] = typo;
  return words.join(' ');
}

function sampleQueries(ont: Ontology, rng: Rng): { prefix: [string, string][]; typo: [string, string][] } {
  const live = [...ont.terms.values()].filter((t) => !t.isObsolete);
  const prefix: [string, string][] = [];
  const typo: [string, string][] = [];
  while (prefix.length < QUERIES) {
    const t = live[rng.int(live.length)];
    prefix.push([prefixQuery(t, rng), t.id]);
  }
  while (typo.length < QUERIES) {
    const t = live[rng.int(live.length)];
    const q = typoQuery(t, rng);
    if (q) typo.push([q, t.id]);
  }
  return { prefix, typo };
}

interface Latency { p50: number; p99: number; recall10: number }

/** Wall-clock latency percentiles (ms) and how often the intended term is in the top 10. */
function timeQueries(queries: [string, string][], run: (q: string) => string[]): Latency {
  for (const [q] of queries.slice(0, 20)) run(q); // warm the JIT
  const ms: number[] = [];
  let found = 0;
  for (const [q, want] of queries) {
    const t0 = performance.now();
    const ids = run(q);
    ms.push(performance.now() - t0);
    if (ids.includes(want)) found++;
  }
  ms.sort((a, b) => a - b);
  return { p50: round(percentile(ms, 0.5)), p99: round(percentile(ms, 0.99)), recall10: round(found / queries.length) };
}

async function ensureGo(): Promise<void> {
  if (existsSync(GO_OBO)) return;
  await promisify(execFile)('bash', [path.join(ROOT, 'scripts/fetch-go-obo.sh')], { timeout: 300_000 });
  if (!existsSync(GO_OBO)) throw new Error(`${GO_OBO} is missing and scripts/fetch-go-obo.sh could not build it (not Debian?)`);
}

export async function benchOntology(): Promise<Record<string, number>> {
  await ensureGo();
  const loadavg1 = os.loadavg()[0];
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const ont = await loadOboFile(GO_OBO);
  const t1 = performance.now();
  const rssLoad = process.memoryUsage().rss;
  const index = TermIndex.build(ont);
  const t2 = performance.now();
  const rssIndex = process.memoryUsage().rss;

  const { prefix, typo } = sampleQueries(ont, makeRng('bench/ontology'));
  const ours = (q: string): string[] => index.lookup(q, { limit: 10 }).map((m) => m.id);
  const oursPrefix = timeQueries(prefix, ours);
  const oursTypo = timeQueries(typo, ours);

  // minisearch over the same labels (names + synonyms), for the build/latency/recall comparison.
  const t3 = performance.now();
  const mini = new MiniSearch<{ id: number; text: string; termId: string }>({ fields: ['text'], storeFields: ['termId'] });
  const docs: { id: number; text: string; termId: string }[] = [];
  for (const t of ont.terms.values()) {
    if (t.isObsolete) continue;
    docs.push({ id: docs.length, text: t.name, termId: t.id });
    for (const s of t.synonyms) docs.push({ id: docs.length, text: s.text, termId: t.id });
  }
  mini.addAll(docs);
  const t4 = performance.now();
  const theirs = (q: string): string[] => {
    const ids: string[] = [];
    for (const r of mini.search(q, { prefix: true, fuzzy: 0.2, combineWith: 'AND' })) {
      const id = r.termId as string;
      if (!ids.includes(id)) ids.push(id);
      if (ids.length === 10) break;
    }
    return ids;
  };
  const miniPrefix = timeQueries(prefix.slice(0, MINISEARCH_QUERIES), theirs);
  const miniTypo = timeQueries(typo.slice(0, MINISEARCH_QUERIES), theirs);

  return {
    terms: ont.terms.size,
    cpus: os.cpus().length,
    loadavg_1min_at_start: round(loadavg1, 2),
    go_load_ms: round(t1 - t0, 1),
    index_build_ms: round(t2 - t1, 1),
    load_plus_build_ms: round(t2 - t0, 1),
    rss_after_load_mib: round(rssLoad / 2 ** 20, 1),
    rss_after_index_mib: round(rssIndex / 2 ** 20, 1),
    rss_growth_mib: round((rssIndex - rss0) / 2 ** 20, 1),
    queries_per_kind: QUERIES,
    prefix_p50_ms: oursPrefix.p50,
    prefix_p99_ms: oursPrefix.p99,
    prefix_recall_at10: oursPrefix.recall10,
    fuzzy_p50_ms: oursTypo.p50,
    fuzzy_p99_ms: oursTypo.p99,
    fuzzy_recall_at10: oursTypo.recall10,
    minisearch_queries_per_kind: MINISEARCH_QUERIES,
    minisearch_build_ms: round(t4 - t3, 1),
    minisearch_prefix_p50_ms: miniPrefix.p50,
    minisearch_prefix_p99_ms: miniPrefix.p99,
    minisearch_prefix_recall_at10: miniPrefix.recall10,
    minisearch_fuzzy_p50_ms: miniTypo.p50,
    minisearch_fuzzy_p99_ms: miniTypo.p99,
    minisearch_fuzzy_recall_at10: miniTypo.recall10,
  };
}

if (require.main === module) {
  benchOntology().then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => {
      process.stderr.write(`bench/ontology: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
