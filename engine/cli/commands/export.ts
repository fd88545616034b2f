import path from 'node:path';
import { EXPORT_FORMATS, exportRun, type ExportFormat } from '../../run/export';
import { BbioError } from '../../util/errors';
import { EXIT, type CliIo } from '../io';
import { resolveRunDir } from './runs';

/** `balancedbio export RUN --to tensorboard|csv|mlflow [--out DIR]`: the run's metrics in another tool's format. */
export async function runExportCommand(run: string, opts: { to: string; out?: string; dir: string; json: boolean }, io: CliIo): Promise<number> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.to)) throw new BbioError('E_USAGE', `--to must be one of ${EXPORT_FORMATS.join(', ')}, not "${opts.to}"`);
  const runDir = await resolveRunDir(run, path.resolve(io.cwd, opts.dir), io.cwd);
  const r = await exportRun(runDir, { to: opts.to as ExportFormat, ...(opts.out ? { out: path.resolve(io.cwd, opts.out) } : {}) });
  if (opts.json) {
    io.out(JSON.stringify(r));
    return EXIT.ok;
  }
  io.out(`exported ${r.metrics} metric events of ${path.basename(runDir)} as ${r.format} to ${path.relative(io.cwd, r.out) || '.'} (${r.files.length} file${r.files.length === 1 ? '' : 's'})`);
  const hint: Record<ExportFormat, string> = { tensorboard: `tensorboard --logdir ${r.out}`, csv: path.join(r.out, 'metrics.csv'), mlflow: `mlflow ui --backend-store-uri ${path.join(r.out, 'mlruns')}` };
  io.out(`  ${hint[r.format]}`);
  return EXIT.ok;
}
