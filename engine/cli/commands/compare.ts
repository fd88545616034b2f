import { readFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { EvalReport } from '../../../schemas/generated/report';
import { COMPARE_BOOTSTRAP, renderComparison, type ComparedRun } from '../../eval/report';
import { RUN_FILES } from '../../run/store';
import { BbioError } from '../../util/errors';
import { EXIT, type CliIo } from '../io';
import { resolveRunDir } from './runs';

async function readReport(runDir: string): Promise<EvalReport> {
  const file = path.join(runDir, RUN_FILES.report);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new BbioError('E_RUN_NOT_FOUND', `${path.basename(runDir)} has no ${RUN_FILES.report}`, { file }, 'only runs whose evaluate stage finished can be compared', { cause: e });
  }
  try {
    return JSON.parse(text) as EvalReport;
  } catch (e) {
    throw new BbioError('E_RUN_CORRUPT', `${file} is not valid JSON: ${(e as Error).message}`, { file }, 're-run the evaluate stage with --resume', { cause: e });
  }
}

/** `balancedbio compare RUN...`: side-by-side per-capability table with deltas against the first run. */
export async function runCompare(runs: string[], opts: { dir: string; md?: string; bootstrap?: number; json: boolean }, io: CliIo): Promise<number> {
  if (runs.length < 2) throw new BbioError('E_USAGE', 'compare needs at least two runs', {}, 'balancedbio compare RUN_A RUN_B [...]');
  const resamples = opts.bootstrap ?? COMPARE_BOOTSTRAP.resamples;
  if (!Number.isInteger(resamples) || resamples < 1) throw new BbioError('E_USAGE', `--bootstrap must be a positive integer, got ${String(opts.bootstrap)}`, {}, 'e.g. --bootstrap 2000');
  const boot = { ...COMPARE_BOOTSTRAP, resamples };
  const runsDir = path.resolve(io.cwd, opts.dir);
  const compared: ComparedRun[] = [];
  for (const r of runs) {
    const runDir = await resolveRunDir(r, runsDir, io.cwd);
    compared.push({ runId: path.basename(runDir), report: await readReport(runDir) });
  }
  if (opts.json) {
    io.out(JSON.stringify(compared.map((c) => ({ runId: c.runId, models: c.report.models })), null, 2));
    return EXIT.ok;
  }
  for (const l of renderComparison(compared, 'text', boot)) io.out(l);
  if (opts.md) {
    const file = path.resolve(io.cwd, opts.md);
    await writeFileAtomic(file, `# Run comparison\n\n${renderComparison(compared, 'md', boot).join('\n')}\n`);
    io.err(`wrote ${path.relative(io.cwd, file)}`);
  }
  return EXIT.ok;
}
