import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../../engine/config/load';
import { tempDir, workspaceOf } from '../../helpers/tmp';

test('eval.tasks: task names from the schema enum; the benchmarks folder must exist, reported at eval.benchmarks', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, 'name: x\neval:\n  tasks: [medqa, ifeval]\n  benchmarks: data/bench\n');
  const missing = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(missing.problems.map((p) => p.code), ['E_FILE_MISSING']);
  assert.equal(missing.problems[0]!.line, 4);
  assert.match(missing.problems[0]!.message, /benchmarks folder not found: data\/bench/);
  await mkdir(path.join(dir, 'data/bench'), { recursive: true });
  const ok = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(ok.problems, []);
  assert.deepEqual(ok.config!.eval.tasks, ['medqa', 'ifeval']);
  await writeFile(file, 'name: x\neval:\n  tasks: [medqa, usmle]\n');
  const bad = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(bad.problems.map((p) => p.code), ['E_SCHEMA_ENUM']);
  await writeFile(file, 'name: x\n');
  assert.deepEqual((await loadExperiment(file, workspaceOf(file))).config!.eval.tasks, [], 'no tasks by default, and no folder needed');
});
