import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createComputeSession, type ModelChoice } from '../../../engine/compute';
import { loadExperiment } from '../../../engine/config/load';
import { normalizeConfig } from '../../../engine/model/llama';
import { runPipeline } from '../../../engine/run/pipeline';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { TINY_GRAPH, tinyModel, writeTinyExperiment } from '../../helpers/tiny-experiment';
import { tempDir, workspaceOf } from '../../helpers/tmp';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;
const MODEL: ModelChoice = { backend: 'torch', workers: 1, device: 'cpu', dtype: 'float32' };
const CONFIG = normalizeConfig({
  model_type: 'llama', vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
  max_position_embeddings: 16, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, hidden_act: 'silu',
});

/** An interpreter that appends its pid to a log, then becomes Debian's python3 (exec: the same pid): which workers a test started. */
async function countingPython(t: TestContext): Promise<{ python: string; pids(): Promise<number[]> }> {
  const dir = await tempDir(t);
  const log = path.join(dir, 'starts.log');
  const python = path.join(dir, 'python3');
  await writeFile(python, `#!/bin/sh\necho $$ >> '${log}'\nexec ${PYTHON} "$@"\n`);
  await chmod(python, 0o755);
  await writeFile(log, '');
  return { python, pids: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean).map(Number) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

test('a run\'s stages share one torch worker, reset between them, and closing the session ends it', { skip: needsTorch }, async (t) => {
  const { python, pids } = await countingPython(t);
  const session = createComputeSession();
  t.after(() => session.close()); // also when an assertion fails: a worker left open keeps the test process alive
  const first = await session.open(MODEL, { log: silentLogger, python });
  await first.initModel(CONFIG, 0);
  assert.ok((await first.parameterCount({ kind: 'model' })) > 0);
  await first.dispose();
  const second = await session.open(MODEL, { log: silentLogger, python });
  // the next stage finds a fresh worker's state: no model until it loads one
  await assert.rejects(second.parameterCount({ kind: 'model' }), /no model/);
  await second.dispose();
  const started = await pids();
  assert.equal(started.length, 1, 'one worker for both stages');
  assert.ok(alive(started[0]!));
  await session.close();
  assert.ok(!alive(started[0]!), 'the worker ended with the session');
});

test('a worker that died between stages is replaced by the next stage\'s', { skip: needsTorch }, async (t) => {
  const { python, pids } = await countingPython(t);
  const session = createComputeSession();
  t.after(() => session.close());
  await (await session.open(MODEL, { log: silentLogger, python })).dispose();
  process.kill((await pids())[0]!, 'SIGKILL');
  const next = await session.open(MODEL, { log: silentLogger, python });
  await next.initModel(CONFIG, 0);
  assert.ok((await next.parameterCount({ kind: 'model' })) > 0);
  await next.dispose();
  assert.equal((await pids()).length, 2);
});

test('runPipeline closes the run\'s worker when a stage fails', { skip: needsTorch }, async (t) => {
  const { python, pids } = await countingPython(t);
  const { file } = await writeTinyExperiment(t, ['name: close', 'stages: [synthesize]', TINY_GRAPH, tinyModel(32, { backend: 'torch' })]);
  const { config } = await loadExperiment(file, workspaceOf(file));
  const session = createComputeSession();
  const outcome = await runPipeline({
    config: config!, experimentFile: file, log: silentLogger, version: 'test', compute: session,
    stageTable: {
      synthesize: {
        name: 'synthesize', title: 'opens the worker, then fails',
        run: async () => {
          const compute = await session.open(MODEL, { log: silentLogger, python });
          await compute.initModel(CONFIG, 0);
          await compute.dispose(); // kept for a next stage that never comes
          throw new BbioError('E_IO', 'the stage failed after its model work');
        },
      },
    },
  });
  assert.equal(outcome.status, 'failed');
  const [pid] = await pids();
  assert.ok(pid !== undefined && !alive(pid), 'no worker outlives its run');
});
