/**
 * "Show Slurm Script" (issue 19) through a real LSP client: the server answers `balancedbio/slurmScript` with the
 * batch script `balancedbio run FILE --executor slurm` would submit, built by the engine's own command, whose
 * tasks run the CLI the editor's runs use (bin/balancedbio.js).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as P from '../../server/protocol';
import { REPO, fileUri, startSession } from './client';

let ws: string;

before(async () => {
  ws = await realpath(await mkdtemp(path.join(os.tmpdir(), 'bbio-lsp-slurm-')));
  await mkdir(path.join(ws, 'experiments'), { recursive: true });
});

after(() => rm(ws, { recursive: true, force: true }));

const SWEEP = [
  'name: proj', 'ontology:', '  builtin: true', 'slurm:', '  partition: gpu', '  gpus: 1', '  time: "02:00:00"',
  'variants:', '  grid:', '    sft.projection: [none, pcgrad, subspace]', '',
].join('\n');

test('slurmScript returns the sweep\'s array batch script, tasks running the editor\'s CLI; unsaved or invalid files are refused', async (t) => {
  const file = path.join(ws, 'experiments', 'proj.bbio.yaml');
  await writeFile(file, SWEEP);
  const uri = fileUri(file);
  const s = await startSession({ root: ws, initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 20 } });
  t.after(() => s.close());

  const r = await s.conn.sendRequest(P.slurmScript, { uri });
  assert.match(r.script, /^#!/);
  assert.match(r.script, /#SBATCH --array=0-2(%\d+)?\n/);
  assert.match(r.script, /#SBATCH --partition=gpu\n/);
  assert.match(r.script, /#SBATCH --gres=gpu:1\n/);
  assert.ok(r.script.includes(path.join(REPO, 'bin', 'balancedbio.js')), 'the tasks run bin/balancedbio.js, the CLI of the editor\'s runs');
  assert.ok(r.script.includes(file), 'for this experiment file');
  assert.ok(r.notes.some((n) => /sweep's folder is named when it starts/.test(n)), r.notes.join('\n'));

  await s.open(uri, SWEEP + '# edited\n');
  await assert.rejects(s.conn.sendRequest(P.slurmScript, { uri }), /unsaved changes/);
  const bad = path.join(ws, 'experiments', 'bad.bbio.yaml');
  await writeFile(bad, 'name: bad\nslurm: { partition: 3 }\n');
  await assert.rejects(s.conn.sendRequest(P.slurmScript, { uri: fileUri(bad) }), /no Slurm script for bad\.bbio\.yaml: .*partition/s);
  await assert.rejects(s.conn.sendRequest(P.slurmScript, { uri: 'untitled:x.bbio.yaml' }), /saved \*\.bbio\.yaml/);
});

test('cancelSlurmTask sends scancel for a variant running on Slurm; untrusted, non-Slurm and finished tasks are refused', async (t) => {
  // a fake scancel on PATH records its arguments (the server calls Slurm's own commands; no cluster needed here)
  const bin = path.join(ws, 'bin');
  await mkdir(bin, { recursive: true });
  const calls = path.join(ws, 'scancel-calls.txt');
  await writeFile(path.join(bin, 'scancel'), `#!/bin/sh\necho "$@" >> ${JSON.stringify(calls)}\n`, { mode: 0o755 });
  const sweep = path.join(ws, 'runs', '20200103-000000-proj-sweep');
  const runDir = (v: string) => path.join(sweep, v, `20200103-00000${v.length % 10}-run`);
  const variants = [
    { name: 'projection-none_seed-1', status: 'completed', slurm: { jobId: '77', taskId: 0, state: 'COMPLETED', node: 'n1' } },
    { name: 'projection-pcgrad_seed-1', status: 'running', slurm: { jobId: '77', taskId: 1, state: 'RUNNING', node: 'n2' } },
    { name: 'projection-local_seed-1', status: 'running' },
  ];
  for (const v of variants) await mkdir(runDir(v.name), { recursive: true });
  await writeFile(path.join(sweep, 'sweep.json'), JSON.stringify({
    version: 1, sweepId: path.basename(sweep), name: 'proj', experimentFile: path.join(ws, 'experiments', 'proj.bbio.yaml'), experimentSha256: '', status: 'running', executor: 'slurm',
    createdAt: '2020-01-03T00:00:00Z', updatedAt: '2020-01-03T00:00:00Z', parallel: 2, stepsScale: 1,
    variants: variants.map((v) => ({ ...v, group: v.name, groupKey: '{}', seed: 1, set: {}, attempts: 1, runDir: path.relative(sweep, runDir(v.name)) })),
  }));
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env['PATH'] ?? ''}` };

  const untrusted = await startSession({ root: ws, env, initializationOptions: { skipBuiltinOntology: true } });
  t.after(() => untrusted.close());
  await assert.rejects(untrusted.conn.sendRequest(P.cancelSlurmTask, { runDir: runDir('projection-pcgrad_seed-1') }), /not trusted/);

  const s = await startSession({ root: ws, env, initializationOptions: { trusted: true, skipBuiltinOntology: true } });
  t.after(() => s.close());
  const r = await s.conn.sendRequest(P.cancelSlurmTask, { runDir: runDir('projection-pcgrad_seed-1') });
  assert.deepEqual(r, { slurmId: '77_1', task: 'Slurm 77_1 RUNNING on n2' });
  assert.equal(await readFile(calls, 'utf8'), '77_1\n');
  await assert.rejects(s.conn.sendRequest(P.cancelSlurmTask, { runDir: runDir('projection-none_seed-1') }), /nothing to cancel: Slurm 77_0 COMPLETED on n1 has ended/);
  await assert.rejects(s.conn.sendRequest(P.cancelSlurmTask, { runDir: runDir('projection-local_seed-1') }), /not a variant of a sweep submitted to Slurm/);
  await assert.rejects(s.conn.sendRequest(P.cancelSlurmTask, { runDir: path.join(ws, 'runs', 'lonely-run') }), /not a variant of a sweep submitted to Slurm \(no sweep at/);
  assert.equal(await readFile(calls, 'utf8'), '77_1\n', 'scancel ran once, for the running task only');
});
