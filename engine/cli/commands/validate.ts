import path from 'node:path';
import { loadExperiment } from '../../config/load';
import { formatProblem, hasErrors, type Problem } from '../../config/problems';
import { createConfigValidator } from '../../config/schema-validator';
import { cliPathPolicy, EXIT, type CliIo, type WorkspaceOptions } from '../io';

/** `balancedbio validate FILE...`: compiler-style problems, or JSON with --json. Exit 2 on any error. */
export async function runValidate(files: string[], opts: { json: boolean } & WorkspaceOptions, io: CliIo): Promise<number> {
  const validator = createConfigValidator();
  const paths = cliPathPolicy(io, opts);
  const all: Problem[] = [];
  const results: { file: string; ok: boolean; problems: Problem[] }[] = [];
  for (const f of files) {
    const abs = path.resolve(io.cwd, f);
    const { problems } = await loadExperiment(abs, { validator, paths });
    all.push(...problems);
    results.push({ file: abs, ok: !hasErrors(problems), problems });
  }
  if (opts.json) {
    io.out(JSON.stringify({ ok: !hasErrors(all), files: results }, null, 2));
  } else {
    for (const p of all) io.out(formatProblem(p, io.cwd));
    const errors = all.filter((p) => p.severity === 'error').length;
    const warnings = all.length - errors;
    io.err(errors || warnings ? `${errors} error(s), ${warnings} warning(s) in ${files.length} file(s)` : `${files.length} file(s) valid`);
  }
  return hasErrors(all) ? EXIT.badInput : EXIT.ok;
}
