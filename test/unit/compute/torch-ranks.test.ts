/**
 * model.devices through TorchCompute (issue 16): two gloo ranks on the CPU train to one rank's losses and
 * adapters on the same global batches (SFT with PCGrad and LoRA dropout, three rows split 2 + 1), say so in
 * the backend line, and their checkpoint resumes on one rank; the srun command line of a Slurm job (issue 19).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { openCompute } from '../../../engine/compute';
import type { TorchCompute } from '../../../engine/compute/torch/compute';
import { SRUN_ENV, workerCommand } from '../../../engine/compute/torch/worker-process';
import { readSafetensors } from '../../../engine/model/safetensors';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { openForSft, PYTHON, sftInput as step } from '../../helpers/ranks';
import { tempDir } from '../../helpers/tmp';

const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
/** N ranks equal one rank up to float32 summation order (issue 16: 1e-5 relative). */
const REL = 1e-5;

const opened: TorchCompute[] = [];
after(() => Promise.all(opened.map((c) => c.dispose())));

async function open(devices: number): Promise<TorchCompute> {
  const c = await openForSft(devices);
  opened.push(c);
  return c;
}

async function adapterValues(t: TestContext, c: TorchCompute): Promise<Float32Array[]> {
  const dir = await tempDir(t);
  await c.saveAdapters('sft', dir, { baseModel: 'test', stage: 'sft' });
  return ['domain', 'reasoning'].flatMap((a) => [...readSafetensors(path.join(dir, a, 'adapter_model.safetensors')).tensors.values()].map((v) => v.data));
}

function assertClose(got: readonly number[], want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, what);
  const scale = Math.max(...want.map(Math.abs));
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= REL * scale, `${what}[${i}]: 2 ranks ${g} vs 1 rank ${want[i]}`));
}

test('two gloo ranks: the same SFT losses and adapters as one rank on the global batch, and a checkpoint one rank resumes', { skip: needsTorch }, async (t) => {
  const [one, two] = [await open(1), await open(2)];
  assert.match(two.describe().reason, /device cpu, dtype float32, 2 data-parallel ranks \(gloo\)$/);
  assert.doesNotMatch(one.describe().reason, /ranks/);
  for (let n = 0; n < 2; n++) {
    const [a, b] = [await one.sftStep(step(n)), await two.sftStep(step(n))];
    assertClose(b.losses, a.losses, `losses of step ${n + 1}`);
    assertClose([b.outcome.applied ? b.outcome.gradNorm : NaN], [a.outcome.applied ? a.outcome.gradNorm : NaN], `gradient norm of step ${n + 1}`);
  }
  const want = await adapterValues(t, one);
  (await adapterValues(t, two)).forEach((v, i) => assertClose([...v], [...want[i]!], `adapter tensor ${i}`));

  // rank 0 writes the checkpoint; one rank resumes it and takes the step both would take next
  const ckpt = await tempDir(t);
  await two.saveCheckpoint(ckpt, { stage: 'sft' });
  const resumed = await open(1);
  assert.equal((await resumed.loadCheckpoint<{ stage: string }>(ckpt))?.step, 2);
  const [a, b] = [await one.sftStep(step(2)), await resumed.sftStep(step(2))];
  assertClose(b.losses, a.losses, 'losses after resuming on one rank');
});

test('a Slurm job that exported the srun line starts every rank through it; otherwise rank 0 starts the others', () => {
  assert.deepEqual(workerCommand('py', '/s.json', 1, {}), { command: 'py', args: ['-m', 'bbio_worker', '--schema', '/s.json'] });
  assert.deepEqual(workerCommand('py', '/s.json', 2, {}), { command: 'py', args: ['-m', 'bbio_worker', '--schema', '/s.json', '--devices', '2'] });
  const srun = 'srun --nodes=2 --ntasks=4 --ntasks-per-node=2 --input=0 --kill-on-bad-exit=1';
  assert.deepEqual(workerCommand('/usr/bin/python3', '/s.json', 2, { [SRUN_ENV]: ` ${srun} ` }), {
    command: 'srun',
    args: ['--nodes=2', '--ntasks=4', '--ntasks-per-node=2', '--input=0', '--kill-on-bad-exit=1', '/usr/bin/python3', '-m', 'bbio_worker', '--schema', '/s.json', '--devices', '2', '--launcher', 'slurm'],
  });
});

test('model.devices above 1 on another backend is refused, not trained on one rank', async () => {
  for (const backend of ['wasm', 'auto'] as const) {
    await assert.rejects(openCompute({ backend, workers: 1, devices: 2 }, { log: silentLogger }), (e: unknown) => e instanceof BbioError && e.code === 'E_CONFLICT' && /model\.devices is 2, which needs the torch backend/.test(e.message));
  }
});
