/**
 * MKGSG throughput: validated examples per second with the built-in clinical graph (issue 4 target:
 * ≥ 2,000/s on 2 cores). Synthesis is single-threaded; the figure is for one core of the two.
 * Counts are the quickstart's (600/400/400/200), then 4 phrasings per fact for a longer run.
 * Falls back to the test fixture, with `builtin: 0`, while the built-in graph is missing.
 * Run: npx tsx bench/synth.ts
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { defaultExperiment } from '../engine/config/schema-validator';
import { builtinOntologyPath } from '../engine/ontology/builtin';
import { loadOboFile } from '../engine/ontology/obo';
import { synthesize } from '../engine/synth/index';
import type { SynthConfig } from '../engine/synth/types';
import { silentLogger } from '../engine/util/log';

/** The schema's default synthesis section (600/400/400/200 examples, 2–4 hops, strict validation). */
const BASE: SynthConfig = defaultExperiment().synthesis;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false; // absent: the bench falls back to the fixture and says so in its report
  }
}

async function timeRun(ont: Awaited<ReturnType<typeof loadOboFile>>, cfg: SynthConfig): Promise<{ n: number; s: number }> {
  const t0 = performance.now();
  const r = await synthesize(ont, cfg, { seed: 1, log: silentLogger });
  return { n: r.card.totals.total, s: (performance.now() - t0) / 1000 };
}

export async function benchSynth(): Promise<Record<string, number>> {
  const builtin = await builtinOntologyPath();
  const useBuiltin = await exists(builtin);
  const file = useBuiltin ? builtin : path.resolve(__dirname, '../test/fixtures/synth/mini-clinical.obo');
  const ont = await loadOboFile(file);
  const small: SynthConfig = useBuiltin ? BASE : { ...BASE, examples: { domain: 150, reasoning: 60, instruction: 80, integration: 40 } };
  await timeRun(ont, small); // warm-up (JIT)
  const quick = await timeRun(ont, small);
  const scale = useBuiltin ? 4 : 2;
  const ex = small.examples;
  const large: SynthConfig = {
    ...small,
    templates_per_example: scale,
    examples: { domain: ex.domain! * scale, reasoning: ex.reasoning! * scale, instruction: ex.instruction! * scale, integration: ex.integration! * scale },
  };
  const big = await timeRun(ont, large);
  return {
    builtin: useBuiltin ? 1 : 0,
    quickstart_examples: quick.n,
    quickstart_seconds: Number(quick.s.toFixed(3)),
    quickstart_examples_per_s: Math.round(quick.n / quick.s),
    large_examples: big.n,
    large_seconds: Number(big.s.toFixed(3)),
    validated_examples_per_s: Math.round(big.n / big.s),
    target_examples_per_s: 2000,
  };
}

if (require.main === module) {
  benchSynth().then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => {
      process.stderr.write(`bench/synth: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
