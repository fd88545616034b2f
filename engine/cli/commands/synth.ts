/**
 * `balancedbio synth FILE [--out DIR] [--json]`: the synthesize stage on its own, outside a run. Uses the
 * same stage seed as `balancedbio run`, so both produce byte-identical splits for the same experiment.
 * Exit codes: 0 done, 1 synthesis failed (e.g. E_SYNTH_SHORTFALL), 2 the experiment file has errors.
 */
import path from 'node:path';
import { loadExperiment } from '../../config/load';
import type { PathPolicy } from '../../config/paths';
import { formatProblem, hasErrors } from '../../config/problems';
import { stageSeed } from '../../run/pipeline';
import { CAPABILITIES } from '../../core/stage';
import { toBbioError } from '../../util/errors';
import { createLogger } from '../../util/log';
import { synthesizeToDir } from '../../synth/synth-stage';
import { loadExperimentOntology } from '../../ontology/experiment';

export interface SynthCommandOptions {
  file: string;
  /** Output folder; default `<experiment folder>/data/<experiment name>`. */
  out?: string;
  json: boolean;
  /** Where the experiment may reach (default: the current directory, as for `validate` and `run`). */
  paths?: PathPolicy;
}

export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

export async function runSynthCommand(opts: SynthCommandOptions, io: CommandIo): Promise<number> {
  const file = path.resolve(opts.file);
  const { config, problems } = await loadExperiment(file, { paths: opts.paths ?? { workspace: [process.cwd()], allowed: [] } });
  for (const p of problems) io.err(formatProblem(p, process.cwd()));
  if (!config || hasErrors(problems)) return 2;
  const out = path.resolve(opts.out ?? path.join(path.dirname(file), 'data', config.name));
  const log = createLogger({ write: io.err, level: 'warn' });
  try {
    const ont = await loadExperimentOntology(config, file);
    const { result, files, examplesPerS } = await synthesizeToDir(ont, config.synthesis, out, { seed: stageSeed(config.seed, 'synthesize'), log });
    const card = result.card;
    if (opts.json) {
      io.out(JSON.stringify({ out, files, examplesPerS: Math.round(examplesPerS), card }));
      return 0;
    }
    io.out(`wrote ${card.totals.total} examples to ${out} (train ${card.totals.train}, val ${card.totals.val}, test ${card.totals.test}; ${Math.round(examplesPerS)} examples/s)`);
    for (const c of CAPABILITIES) {
      const n = card.counts[c];
      if (n.total) io.out(`  ${c.padEnd(12)} ${String(n.total).padStart(7)}  train ${n.train}  val ${n.val}  test ${n.test}  (graph supports ${card.capacity[c]})`);
    }
    const rejected = Object.entries(card.rejected);
    if (rejected.length) io.out(`  rejected: ${rejected.map(([r, n]) => `${r} ${n}`).join(', ')}`);
    return 0;
  } catch (e) {
    io.err(toBbioError(e).format());
    return 1;
  }
}
