/**
 * Child process for the resume test: runs the pretrain stage on a tiny bio-tiny model and prints every
 * event as one JSON line on stdout. argv: <runDir> [--resume]. Each metric event blocks for
 * BBIO_TEST_STEP_DELAY_MS so the parent can kill it mid-run.
 */
import * as path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import { pretrainStage } from '../../engine/train/pretrain-stage';
import { OUTPUT_PATHS, type StageContext, type StageOutput } from '../../engine/core/stage';
import { silentLogger } from '../../engine/util/log';

const runDir = process.argv[2]!;
const resume = process.argv.includes('--resume');
const delay = Number(process.env.BBIO_TEST_STEP_DELAY_MS ?? 0);
const pause = new Int32Array(new SharedArrayBuffer(4));

const config = {
  seed: 3,
  model: {
    preset: 'bio-tiny', backend: 'wasm', workers: 1,
    dims: { vocab_size: 300, hidden_size: 16, layers: 1, heads: 2, kv_heads: 1, intermediate_size: 32, context_length: 24, tie_embeddings: true, rope_theta: 10000 },
  },
  pretrain: { corpus: 'train', knowledge_passages: 1, steps: 12, batch_size: 4, learning_rate: 0.01, warmup_steps: 2, weight_decay: 0.01, grad_clip: 1, checkpoint_every: 2 },
} as unknown as Experiment;

const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, v]) => [k, path.join(runDir, v)])) as Record<StageOutput, string>;
const out = (e: object): void => { process.stdout.write(JSON.stringify(e) + '\n'); };
const ctx: StageContext = {
  config, experimentFile: path.join(runDir, 'x.bbio.yaml'), runId: 'test', runDir, paths,
  checkpointDir: path.join(runDir, 'checkpoints', 'pretrain'),
  events: {
    emit: (e) => out(e),
    metric: (name, value, opts) => {
      out({ kind: 'metric', name, value, step: opts?.step });
      if (delay && name === 'pretrain/loss') Atomics.wait(pause, 0, 0, delay);
    },
  },
  log: silentLogger, signal: new AbortController().signal, stepsScale: 1, seed: 3, resume,
  updateManifest: async (patch) => { out({ kind: 'manifest', patch }); },
  note: async (message) => { out({ kind: 'note', message }); },
};

pretrainStage.run(ctx).then(
  (r) => out({ kind: 'done', summary: r.summary }),
  (e: unknown) => { out({ kind: 'failed', error: String(e) }); process.exitCode = 1; },
);
