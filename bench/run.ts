/**
 * `npm run bench`: every benchmark of the project in one JSON report under bench/results/.
 * Speed and memory targets live here, not in tests. Absolute timings are noisy on shared machines, so
 * benchmarks report ratios measured side by side where they can (engine vs PyTorch, batched vs naive).
 * `npm run bench -- ontology synth` runs a subset.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

type Bench = { name: string; run: () => Promise<unknown> };

const BENCHES: Bench[] = [
  { name: 'tokenizer', run: async () => (await import('./tokenizer')).benchTokenizer() },
  { name: 'ontology', run: async () => (await import('./ontology')).benchOntology() },
  { name: 'synth', run: async () => (await import('./synth')).benchSynth() },
  { name: 'engine', run: async () => (await import('./engine')).benchEngine({}) },
  { name: 'grpo', run: async () => (await import('./grpo')).benchGrpo() },
  { name: 'eval', run: async () => (await import('./eval')).benchEval() },
  { name: 'lsp', run: async () => (await import('./lsp')).benchLsp() },
  { name: 'dashboard', run: async () => (await import('./dashboard')).benchDashboard() },
];

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const selected = only.length ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES;
  const results: Record<string, unknown> = {};
  for (const b of selected) {
    const t0 = Date.now();
    process.stderr.write(`bench ${b.name}…\n`);
    try {
      results[b.name] = { ...(await b.run() as object), wall_s: (Date.now() - t0) / 1000 };
    } catch (e) {
      // one broken benchmark must not hide the others; the report says what failed and why
      results[b.name] = { error: e instanceof Error ? e.message : String(e) };
      process.stderr.write(`bench ${b.name} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  const report = {
    createdAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.versions.node, loadavg: os.loadavg() },
    results,
  };
  const dir = path.join(__dirname, 'results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${report.createdAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.stderr.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${String(e)}\n`);
  process.exitCode = 1;
});
