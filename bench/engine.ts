/**
 * Engine benchmark: training tokens/s (forward + backward + AdamW, reading the loss) on the fixed models
 * S and M of ../shared/bench/torch_reference.py, sampling tokens/s with the KV cache on bio-tiny, and
 * peak RSS. When Debian's python3-torch is importable, runs the PyTorch reference in the same process
 * tree, side by side, and reports the ratio. Run standalone: `npx tsx bench/engine.ts [--cores 1|2]
 * [--models S,M] [--steps N]`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendChoice } from '../engine/model/backend';
import { generate } from '../engine/model/infer';
import { bioTinyConfig, disposeModel, initLlama, lmLoss, makeLmBatch, normalizeConfig, type LlamaConfig } from '../engine/model/llama';
import { Trainer } from '../engine/train/trainer';
import { silentLogger } from '../engine/util/log';
import { makeRng } from '../engine/util/rng';

export const BENCH_MODELS = {
  S: { vocab: 512, d: 128, layers: 4, heads: 4, ctx: 128, batch: 16 },
  M: { vocab: 2048, d: 256, layers: 4, heads: 8, ctx: 256, batch: 8 },
} as const;
export type BenchModel = keyof typeof BENCH_MODELS;

/** The reference architecture: intermediate 4d, untied, no GQA, RMSNorm eps 1e-5, RoPE theta 10000. */
export function benchConfig(name: BenchModel): LlamaConfig {
  const m = BENCH_MODELS[name];
  return normalizeConfig({
    model_type: 'llama', vocab_size: m.vocab, hidden_size: m.d, intermediate_size: 4 * m.d, num_hidden_layers: m.layers,
    num_attention_heads: m.heads, num_key_value_heads: m.heads, max_position_embeddings: m.ctx, rms_norm_eps: 1e-5,
    rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu',
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length / 2);
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

export interface TrainBench {
  model: BenchModel;
  backend: string;
  cores: number;
  step_s_median: number;
  train_tok_per_s: number;
  loss: number;
  params: number;
}

/** Trains `model` for warmup + steps on random tokens (like the reference) and times each step. */
export async function benchTraining(model: BenchModel, opts: { steps: number; warmup: number }): Promise<TrainBench> {
  const m = BENCH_MODELS[model];
  const cfg = benchConfig(model);
  const llama = initLlama(cfg, makeRng(0));
  try {
    const rng = makeRng(1);
    const rows = Array.from({ length: m.batch }, () => Array.from({ length: m.ctx + 1 }, () => rng.int(m.vocab)));
    const batch = makeLmBatch(rows);
    const vars = [...llama.params].map(([name, variable]) => ({ name, variable }));
    const trainer = new Trainer({
      vars,
      schedule: { peak: 1e-3, warmupSteps: 0, totalSteps: 1000, shape: 'constant', minLrRatio: 1 },
      adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
      gradClip: 0,
    });
    const times: number[] = [];
    let loss = NaN;
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      const t0 = performance.now();
      const g = trainer.computeGradients(() => lmLoss(llama, batch));
      trainer.applyGradients(g.grads, { loss: g.loss });
      loss = g.loss;
      if (i >= opts.warmup) times.push((performance.now() - t0) / 1000);
    }
    const med = median(times);
    const params = vars.reduce((s, v) => s + v.variable.size, 0);
    return { model, backend: tf.getBackend(), cores: 1, step_s_median: +med.toFixed(4), train_tok_per_s: +((m.batch * m.ctx) / med).toFixed(1), loss: +loss.toFixed(4), params };
  } finally {
    disposeModel(llama);
  }
}

/** Greedy sampling with the KV cache on the default bio-tiny dims: new tokens per second at batch 1. */
export function benchSampling(opts: { newTokens: number }): { model: string; new_tok_per_s: number; new_tokens: number } {
  const cfg = bioTinyConfig(
    { vocab_size: 1024, hidden_size: 128, layers: 4, heads: 4, kv_heads: 2, intermediate_size: 352, context_length: 256, tie_embeddings: true, rope_theta: 10000 },
    { bosId: 0, eosId: 1, padId: 2 },
  );
  const model = initLlama(cfg, makeRng(2));
  try {
    const prompt = Array.from({ length: 16 }, (_, i) => 3 + i);
    generate(model, prompt, { maxNewTokens: 4, rng: makeRng(0) }); // warm-up
    const t0 = performance.now();
    const out = generate(model, prompt, { maxNewTokens: opts.newTokens, rng: makeRng(0) });
    const s = (performance.now() - t0) / 1000;
    return { model: 'bio-tiny (default dims)', new_tokens: out.length, new_tok_per_s: +(out.length / s).toFixed(1) };
  } finally {
    disposeModel(model);
  }
}

/** Runs ../shared/bench/torch_reference.py when Debian's torch is importable; null otherwise. */
export function torchReference(model: BenchModel, cores: 1 | 2, steps: number): Record<string, unknown> | null {
  const py = '/usr/bin/python3';
  const script = [path.resolve(__dirname, '../../shared/bench/torch_reference.py'), '/work/shared/bench/torch_reference.py'].find((f) => fs.existsSync(f));
  if (!script || !fs.existsSync(py)) return null;
  if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return null;
  const r = spawnSync(py, [script, '--model', model, '--cores', String(cores), '--steps', String(steps)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { error: (r.stderr || '').split('\n').slice(-3).join(' ') };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

export interface BenchOptions {
  cores?: 1 | 2;
  models?: BenchModel[];
  steps?: number;
  backend?: BackendChoice;
  torch?: boolean;
}

export async function benchEngine(opts: BenchOptions = {}): Promise<object> {
  const cores = opts.cores ?? 2;
  const backend = await selectBackend(opts.backend ?? 'auto', { log: silentLogger });
  const steps = opts.steps ?? 3;
  const training: Array<Record<string, unknown>> = [];
  for (const model of opts.models ?? (['S', 'M'] as BenchModel[])) {
    const engine = await benchTraining(model, { steps, warmup: 1 });
    const rssMb = Math.round(process.memoryUsage().rss / 1048576);
    const torch = opts.torch === false ? null : torchReference(model, cores, Math.max(steps, 3));
    const torchTok = torch && typeof torch.train_tok_per_s === 'number' ? torch.train_tok_per_s : null;
    training.push({
      ...engine,
      rss_mb_after: rssMb,
      torch: torch ?? 'skipped: /usr/bin/python3 cannot import torch',
      ratio_vs_torch: torchTok ? +(engine.train_tok_per_s / torchTok).toFixed(3) : null,
      torch_cores: torch ? cores : null,
    });
  }
  const sampling = benchSampling({ newTokens: 64 });
  return {
    backend,
    cores_requested: cores,
    training,
    sampling,
    peak_rss_mb: Math.round(readPeakRssKb() / 1024),
  };
}

/** VmHWM from /proc (peak resident set of this process), or current RSS where /proc is absent. */
function readPeakRssKb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux: fall through to the current RSS
  }
  return process.memoryUsage().rss / 1024;
}

if (require.main === module) {
  const arg = (k: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
  const cores = arg('--cores') === '1' ? 1 : 2;
  const models = (arg('--models') ?? 'S,M').split(',') as BenchModel[];
  benchEngine({ cores, models, steps: Number(arg('--steps') ?? 3), torch: !process.argv.includes('--no-torch') }).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => { process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`); process.exitCode = 1; },
  );
}
