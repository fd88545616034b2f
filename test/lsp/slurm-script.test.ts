/**
 * "Show Slurm Script" (issue 19) through a real LSP client: the server answers `balancedbio/slurmScript` with the
 * batch script `balancedbio run FILE --executor slurm` would submit, built by the engine's own command, whose
 * tasks run the CLI the editor's runs use (bin/balancedbio.js).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
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
