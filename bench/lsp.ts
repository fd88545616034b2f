/**
 * Language-server benchmark through a real LSP client (test/lsp/client.ts) against the built server:
 *   - start → first diagnostics with the built-in graph (spawn to the first publishDiagnostics)
 *   - completion p50/p99 over ≥ 500 ontology-term requests, and diagnostics p50/p99 after an edit over
 *     ≥ 500 edits (didChange → publishDiagnostics of that version, debounce 0 so compute is measured; the
 *     editor's default debounce of 150 ms comes on top by design)
 *   - server RSS (main thread + ontology worker) with the index loaded
 *   - a 20,000-key file: open → diagnostics (capped at 200 + 1), and completion in another file meanwhile
 * With the Gene Ontology (test/fixtures/large/go.obo, scripts/fetch-go-obo.sh) when present, else the
 * built-in graph; with a training run (synthesize → pretrain) in a child process when that stage exists.
 *
 *   npx tsx scripts/build.ts && npx tsx bench/lsp.ts      # prints one JSON object
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CompletionRequest, type CompletionList, type PublishDiagnosticsParams } from 'vscode-languageserver-protocol';
import { createStageTable } from '../engine/cli/stages';
import * as P from '../server/protocol';
import { FIXTURES, fileUri, startSession, type Session } from '../test/lsp/client';

const ROOT = path.resolve(__dirname, '..');
const GO_OBO = path.join(ROOT, 'test/fixtures/large/go.obo');
const BUILTIN = path.join(ROOT, 'engine/ontology/data/clinical.obo');
const REQUESTS = 500;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}
const round = (x: number): number => Math.round(x * 100) / 100;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return round(kb / 1024);
}

/** Term names to type: every `name:` of the OBO file, sampled deterministically. */
async function termNames(obo: string, count: number): Promise<string[]> {
  const names = [...(await readFile(obo, 'utf8')).matchAll(/^name: (.+)$/gm)].map((m) => m[1]!);
  const step = Math.max(1, Math.floor(names.length / count));
  return names.filter((_, i) => i % step === 0).slice(0, count);
}

async function startToFirstDiagnostics(dir: string): Promise<{ ms: number; ontology: string }> {
  const file = path.join(dir, 'start.bbio.yaml');
  const text = 'name: start\nsynthesis:\n  focus_terms: []\n';
  await writeFile(file, text);
  const t0 = performance.now();
  const s = await startSession({ initializationOptions: {} });
  await s.open(fileUri(file), text);
  await s.diagnostics(fileUri(file), 1, 10_000);
  const ms = performance.now() - t0;
  await s.close();
  return { ms: round(ms), ontology: existsSync(BUILTIN) ? 'built-in clinical graph' : 'none (engine/ontology/data/clinical.obo not built yet)' };
}

async function startTraining(s: Session, dir: string): Promise<{ jobId?: string; note: string }> {
  const table = createStageTable();
  if (!table.pretrain) return { note: 'no training stage in this build' };
  await copyFile(path.join(FIXTURES, 'mini.obo'), path.join(dir, 'mini.obo'));
  const file = path.join(dir, 'train.bbio.yaml');
  await writeFile(file, 'name: bench-train\nstages: [synthesize, pretrain]\nontology:\n  builtin: false\n  sources:\n    - path: mini.obo\nsynthesis:\n  examples: { domain: 3, reasoning: 0, instruction: 0, integration: 0 }\npretrain:\n  steps: 100000\n  batch_size: 4\n');
  const { jobId } = await s.conn.sendRequest(P.startRun, { uri: fileUri(file) });
  await s.waitFor<P.RunEventParams>(P.runEvent.method, (e) => e.jobId === jobId && e.event.kind === 'phase' && e.event.stage === 'pretrain' && e.event.status === 'started', 60_000);
  return { jobId, note: 'pretrain (bio-tiny) running in a child process during the measurements' };
}

/**
 * A 20,000-key file (issue 20): open → its diagnostics, and the slowest of 20 completions asked in another
 * file meanwhile. The server's analysis worker is ready first (it starts with the server).
 */
export async function largeFile(dir: string): Promise<{ diagnosticsMs: number; problems: number; completionMaxMs: number }> {
  const s = await startSession({ initializationOptions: { diagnosticsDelayMs: 0, skipBuiltinOntology: true } });
  try {
    await s.waitFor<{ message: string }>('window/logMessage', (m) => /analysis worker ready/.test(m.message), 60_000);
    const small = fileUri(path.join(dir, 'small.bbio.yaml'));
    await s.open(small, 'name: small\nsft:\n  \n');
    await s.diagnostics(small, 1);
    const big = fileUri(path.join(dir, 'large.bbio.yaml'));
    const t0 = performance.now();
    const published = s.diagnostics(big, 1, 120_000).then((p) => ({ ms: performance.now() - t0, problems: p.diagnostics.length }));
    await s.open(big, `name: big\n${Array.from({ length: 20_000 }, (_, i) => `k${i}: ${i}`).join('\n')}\n`);
    let completionMaxMs = 0;
    for (let i = 0; i < 20; i++) {
      const c0 = performance.now();
      await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: small }, position: { line: 2, character: 2 } });
      completionMaxMs = Math.max(completionMaxMs, performance.now() - c0);
    }
    const d = await published;
    return { diagnosticsMs: round(d.ms), problems: d.problems, completionMaxMs: round(completionMaxMs) };
  } finally {
    await s.close();
  }
}

export async function benchLsp(): Promise<Record<string, number | string>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bbio-bench-lsp-'));
  try {
    const start = await startToFirstDiagnostics(dir);
    const large = await largeFile(dir);
    const useGo = existsSync(GO_OBO);
    const obo = useGo ? GO_OBO : existsSync(BUILTIN) ? BUILTIN : path.join(FIXTURES, 'mini.obo');
    const s = await startSession({ initializationOptions: { diagnosticsDelayMs: 0, skipBuiltinOntology: true, ontologies: [obo] } });
    try {
      const tLoad = performance.now();
      const ready = await s.waitFor<P.OntologyStatus>(P.ontologyStatusChanged.method, (st) => st.state === 'ready' || st.state === 'failed', 120_000);
      const loadWaitMs = performance.now() - tLoad;
      const training = await startTraining(s, dir);
      const names = await termNames(obo, REQUESTS);

      // completion: type a prefix of a real term name in focus_terms, then ask
      const cfile = path.join(dir, 'complete.bbio.yaml');
      const curi = fileUri(cfile);
      await writeFile(cfile, 'name: c\n');
      await s.open(curi, 'name: c\n');
      const completion: number[] = [];
      let emptyResults = 0;
      for (let i = 0; i < Math.max(REQUESTS, names.length); i++) {
        const name = names[i % names.length]!;
        const prefix = name.slice(0, Math.max(3, Math.ceil(name.length * 0.6)));
        const text = `name: c\nsynthesis:\n  focus_terms:\n    - ${prefix}`;
        await s.change(curi, text, i + 2);
        const t0 = performance.now();
        const r = (await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: curi }, position: { line: 3, character: 6 + prefix.length } })) as CompletionList | null;
        completion.push(performance.now() - t0);
        if (!r?.items.length) emptyResults++;
      }

      // diagnostics after an edit: a document with three term checks, one value changed per edit
      const dfile = path.join(dir, 'diag.bbio.yaml');
      const duri = fileUri(dfile);
      const terms = names.slice(0, 3).map((n) => JSON.stringify(n)).join(', ');
      const dtext = (seed: number): string => `name: d\nseed: ${seed}\nsynthesis:\n  focus_terms: [${terms}]\nsft:\n  steps: 100\n  projection: pcgrad\ngrpo:\n  group_size: 8\n`;
      await writeFile(dfile, dtext(0));
      await s.open(duri, dtext(0));
      await s.diagnostics(duri, 1);
      const diagnostics: number[] = [];
      let withProblems = 0;
      for (let v = 2; v < REQUESTS + 2; v++) {
        const t0 = performance.now();
        const got = s.waitFor<PublishDiagnosticsParams>('textDocument/publishDiagnostics', (p) => p.uri === duri && p.version === v, 10_000);
        await s.change(duri, dtext(v), v);
        const p = await got;
        diagnostics.push(performance.now() - t0);
        if (p.diagnostics.length) withProblems++;
      }
      const rss = await rssMiB(s.child.pid!);
      if (training.jobId) await s.conn.sendRequest(P.cancelRun, { jobId: training.jobId });
      completion.sort((a, b) => a - b);
      diagnostics.sort((a, b) => a - b);
      return {
        ontology: useGo ? 'GO (test/fixtures/large/go.obo)' : path.relative(ROOT, obo),
        ontologyTerms: ready.termCount ?? 0,
        ontologyLoadMs: ready.loadMs ?? round(loadWaitMs),
        training: training.note,
        startToFirstDiagnosticsMs: start.ms,
        startOntology: start.ontology,
        completionRequests: completion.length,
        completionP50Ms: round(percentile(completion, 0.5)),
        completionP99Ms: round(percentile(completion, 0.99)),
        completionEmptyResults: emptyResults,
        diagnosticsRequests: diagnostics.length,
        diagnosticsP50Ms: round(percentile(diagnostics, 0.5)),
        diagnosticsP99Ms: round(percentile(diagnostics, 0.99)),
        diagnosticsWithProblems: withProblems,
        serverRssMiB: rss,
        largeFile20kDiagnosticsMs: large.diagnosticsMs,
        largeFile20kProblems: large.problems,
        largeFile20kCompletionMaxMs: large.completionMaxMs,
        cpus: os.cpus().length,
      };
    } finally {
      await s.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchLsp().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
