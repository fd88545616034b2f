import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readSweepState } from '../../engine/run/sweep-store';
import { TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';
import { REPO } from '../helpers/tmp';

const BIN = path.join(REPO, 'bin/balancedbio.js');
/** Debian's interpreter, the one that imports torch here (ENVIRONMENT.md). */
const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;

test('run --backend torch on a sweep: each variant\'s child process runs on torch, with the BALANCEDBIO_PYTHON of the parent', { skip: needsTorch }, async (t) => {
  // the file says wasm; the command line's --backend must reach the children of --parallel 2
  const { dir, file } = await writeTinyExperiment(t, [
    'name: sweep-backend', 'stages: [synthesize, pretrain]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(32),
    'pretrain: { steps: 2, batch_size: 2, warmup_steps: 0, checkpoint_every: 2 }', 'variants:', '  grid:', '    seed: [1, 2]',
  ]);
  const child = spawn(process.execPath, [BIN, 'run', file, '--backend', 'torch', '--parallel', '2'], { cwd: dir, env: { ...process.env, BALANCEDBIO_PYTHON: PYTHON, BALANCEDBIO_BACKEND: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  const sweepId = (await readdir(path.join(dir, 'runs'))).find((n) => n.endsWith('-sweep')); // beside it: .stage-cache
  const sweep = await readSweepState(path.join(dir, 'runs', sweepId!));
  assert.deepEqual(sweep.variants.map((v) => v.status), ['completed', 'completed']);
  for (const v of sweep.variants) {
    const manifest = JSON.parse(await readFile(path.join(dir, 'runs', sweepId!, v.runDir!, 'manifest.json'), 'utf8')) as { backend?: { name: string; reason: string } };
    assert.equal(manifest.backend?.name, 'torch', `${v.name}: ${JSON.stringify(manifest.backend)}`);
    assert.match(manifest.backend!.reason, new RegExp(`\\(${PYTHON.replace(/\//g, '\\/')}\\)`));
  }
});
