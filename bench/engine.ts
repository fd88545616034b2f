/**
 * Engine benchmark: training tokens/s (forward + backward + AdamW, reading the loss) on the fixed models
 * S and M of ../shared/bench/torch_reference.py, sampling tokens/s with the KV cache on bio-tiny, and
 * peak RSS. When Debian's python3-torch is importable, runs the PyTorch reference in the same process
 * tree, side by side, and reports the ratio. Training is measured once per data-parallel worker count
 * (engine/compute/tfjs/data-parallel.ts), the configurations interleaved step by step, each figure with the load
 * average (the machine may be shared). The torch backend trains the same models through the full engine
 * path (TorchCompute: the protocol, the worker process), bracketed by two reference runs, ratio printed
 * (target ≥ 0.9×). What decides the PyTorch figures is recorded and printed first: the OpenBLAS build
 * variant, kernel (OPENBLAS_CORETYPE or detected) and threads as the worker's hello reports them, the CPU
 * flags, and the CPU other processes took during each measurement (docs/benchmarks.md: the 2-3× spread
 * between two measurements of the same reference came from there). The torch engine path and the reference
 * discard the same number of warm-up steps, and the reference's step also runs interleaved with the engine
 * path's, step by step (bench/torch_reference_steps.py), for a ratio under one load. Run standalone (`--help`
 * says the same): the JSON report goes to stdout, the header and table to stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import type { HelloResult } from '../schemas/generated/compute-protocol';
import { cpuFlags, DOCTOR_ENV, oneLine } from '../engine/cli/commands/doctor';
import { WorkerProcess } from '../engine/compute/torch/worker-process';
import type { Compute, TrainingSpec } from '../engine/compute/types';
import { selectBackend, type BackendChoice } from '../engine/model/backend';
import { decodePrompts, greedyPicker } from '../engine/model/decode';
import { bioTinyConfig, disposeModel, initLlama, lmLoss, makeLmBatch, normalizeConfig, parameterShapes, type LlamaConfig } from '../engine/model/llama';
import { GradientPool } from '../engine/compute/tfjs/data-parallel';
import { Trainer } from '../engine/compute/tfjs/trainer';
import { silentLogger, type Logger } from '../engine/util/log';
import { makeRng } from '../engine/util/rng';

/**
 * Warm-up steps torch_reference.py discards by default. Its first steps are slower than the later ones on
 * both sides (the heap and OpenBLAS's buffers settle: 1.4-1.6 s, then 0.3-0.8 s, then ~0.25 s on S, measured
 * 2026-12-03), so the torch engine path discards as many: with one warm-up and three timed steps its median
 * could land on the second step's transient while the reference's could not.
 */
const TORCH_WARMUP = 2;
/** Timed steps of the torch rows at least: their median survives two disturbed steps on a shared machine. */
const TORCH_STEPS = 5;

export const USAGE = `usage: npx tsx bench/engine.ts [options]
  --models S,M        benchmark models (default S,M)
  --workers 1,2       tfjs-wasm data-parallel worker counts, each a row (default 1,2)
  --no-wasm           no tfjs-wasm rows: only the torch engine path and the PyTorch reference
  --cores 1|2         OpenBLAS threads of the PyTorch reference (default 2, as the torch worker)
  --steps N           timed steps per figure (default 3; the torch rows at least ${TORCH_STEPS})
  --warmup N          untimed steps first (default 1; the torch rows at least ${TORCH_WARMUP}, the reference's own)
  --no-torch          no PyTorch at all (reference and torch engine path)
  --no-torch-engine   the reference without the torch engine path
  --help              this text`;

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
  /** Data-parallel worker threads (1 = in the main thread, no pool). */
  workers: number;
  step_s_median: number;
  train_tok_per_s: number;
  /** Per-step times, seconds (after warm-up). */
  step_s: number[];
  loss: number;
  /** Largest |loss − loss with 1 worker| over all steps (same init, same batch): float rounding only. */
  max_loss_diff_vs_1_worker: number | null;
  params: number;
  /** Fastest step, seconds: the least disturbed by other processes. */
  step_s_min: number;
  /** 1-minute load average before and after this configuration's steps (the machine is shared). */
  load_avg_1m: [number, number];
  /**
   * Cores' worth of CPU that other processes used during this configuration's timed steps (median over
   * steps; from /proc/stat minus this process's own CPU time). Near 0 = a fair figure; ~1 on 2 cores = the
   * second core was taken, and the 2-worker figure is meaningless.
   */
  others_cpu_cores: number | null;
}

/** CPU seconds the whole machine spent busy (/proc/stat), or null off Linux. */
function machineBusySeconds(): number | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait. USER_HZ is 100 on Linux.
    const busy = f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!;
    return busy / 100;
  } catch {
    return null; // not Linux: the interference figure is left out
  }
}

/**
 * CPU seconds of this process, its waited-for children (/proc/self/stat utime+stime+cutime+cstime) and its
 * live children (the torch worker, which runs for the whole measurement: its CPU is the bench's own, not
 * another process's).
 */
function treeCpuSeconds(): number {
  try {
    const f = procStat('self')!;
    return (f[11]! + f[12]! + f[13]! + f[14]! + childTicks(childPids())) / 100;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
}

/**
 * /proc/<pid>/stat's fields after the parenthesised command name (index 1 the parent pid, 11..14 utime, stime,
 * cutime, cstime in USER_HZ ticks, 100 a second), or null for a process that has ended.
 */
function procStat(pid: number | 'self'): number[] | null {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
  } catch (e) {
    // a process that ended between the listing and the read has no CPU left to count; anything else is a bug
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    return null;
  }
}

/** This process's live children (the torch worker, the interleaved reference). */
function childPids(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => procStat(pid)?.[1] === process.pid);
}

/** CPU ticks (utime + stime) the given processes have used so far. */
function childTicks(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    const c = procStat(pid);
    return sum + (c ? c[11]! + c[12]! : 0);
  }, 0);
}

/**
 * Resolves once this process's children have used no CPU for IDLE_WINDOW_MS (or after IDLE_MAX_MS). A torch
 * process that has just finished a step keeps one core busy for ~0.1 s: OpenBLAS's pthread workers spin
 * before they sleep (80-110 ms of CPU after each S step, measured 2026-12-03). Steps of two torch processes
 * run back to back would each start on one core with the other's spin on the second, and 2-thread OpenBLAS
 * collapses under such contention (docs/benchmarks.md); each side waits for the other's spin to end instead.
 */
async function awaitChildrenIdle(): Promise<void> {
  if (!fs.existsSync('/proc/self/stat')) return; // not Linux: nothing to watch
  const pids = childPids();
  const start = performance.now();
  let last = childTicks(pids);
  while (performance.now() - start < IDLE_MAX_MS) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
    const now = childTicks(pids);
    if (now === last) return;
    last = now;
  }
}

/** Three USER_HZ ticks without CPU: idle, not merely between two ticks of a busy process. */
const IDLE_WINDOW_MS = 30;
/** The longest wait for idle children: a spin ends after ~0.1 s, so 1 s means something else runs. */
const IDLE_MAX_MS = 1000;

/** Runs `f` and measures the wall time and the CPU other processes used meanwhile (in cores). */
async function timed<R>(f: () => Promise<R> | R): Promise<{ value: R; s: number; others: number | null }> {
  const busy0 = machineBusySeconds();
  const own0 = treeCpuSeconds();
  const t0 = performance.now();
  const value = await f();
  const s = (performance.now() - t0) / 1000;
  const own = treeCpuSeconds() - own0;
  const busy1 = machineBusySeconds();
  const others = busy0 === null || busy1 === null ? null : Math.max(0, busy1 - busy0 - own) / s;
  return { value, s, others };
}

/** One way of computing a training step: in-process (workers = 1) or through a GradientPool. */
interface StepRunner {
  workers: number;
  step(): Promise<number>;
  close(): Promise<void>;
}

async function makeRunner(model: BenchModel, workers: number, rows: Int32Array[], backend: 'wasm' | 'cpu'): Promise<StepRunner> {
  const cfg = benchConfig(model);
  const llama = initLlama(cfg, makeRng(0));
  const vars = [...llama.params].map(([name, variable]) => ({ name, variable }));
  const trainer = new Trainer({
    vars,
    schedule: { peak: 1e-3, warmupSteps: 0, totalSteps: 1000, shape: 'constant', minLrRatio: 1 },
    adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    gradClip: 0,
  });
  const batch = makeLmBatch(rows);
  let pool: GradientPool | null = null;
  try {
    if (workers > 1) {
      pool = await GradientPool.create({ workers, config: cfg, backend, paramNames: vars.map((v) => v.name), paramShapes: vars.map((v) => [...v.variable.shape]) });
    }
  } catch (e) {
    disposeModel(llama);
    throw e;
  }
  return {
    workers,
    // As in pretrain-stage: weights go out after every update, gradients come back, AdamW runs here.
    step: async () => {
      if (pool) {
        await pool.setWeights(vars.map((v) => v.variable.dataSync() as Float32Array));
        const g = await pool.gradients(rows);
        trainer.applyGradients(g.grads, { loss: g.loss });
        return g.loss;
      }
      const g = trainer.computeGradients(() => lmLoss(llama, batch));
      trainer.applyGradients(g.grads, { loss: g.loss });
      return g.loss;
    },
    close: async () => {
      await pool?.close();
      disposeModel(llama);
    },
  };
}

/**
 * Trains `model` on random tokens (like the reference) once per worker count, the configurations
 * interleaved step by step so that background load on a shared machine hits them alike; times each step.
 */
export async function benchTraining(model: BenchModel, opts: { steps: number; warmup: number; workers?: number[] }): Promise<TrainBench[]> {
  const m = BENCH_MODELS[model];
  const counts = opts.workers ?? [1];
  const rng = makeRng(1);
  const rows = Array.from({ length: m.batch }, () => Int32Array.from({ length: m.ctx + 1 }, () => rng.int(m.vocab)));
  const backend = tf.getBackend() === 'cpu' ? 'cpu' : 'wasm';
  const runners: StepRunner[] = [];
  try {
    for (const w of counts) runners.push(await makeRunner(model, w, rows, backend));
    const times = runners.map(() => [] as number[]);
    const losses = runners.map(() => [] as number[]);
    const load = runners.map(() => [] as number[]);
    const others = runners.map(() => [] as number[]);
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      for (let r = 0; r < runners.length; r++) {
        if (i === opts.warmup) load[r]!.push(os.loadavg()[0]!);
        const t = await timed(() => runners[r]!.step());
        losses[r]!.push(t.value);
        if (i >= opts.warmup) {
          times[r]!.push(t.s);
          if (t.others !== null) others[r]!.push(t.others);
        }
      }
    }
    const params = benchParams(model);
    const base = counts.indexOf(1);
    return runners.map((runner, r) => {
      const med = median(times[r]!);
      const diff = base < 0 ? null : Math.max(...losses[r]!.map((l, i) => Math.abs(l - losses[base]![i]!)));
      return {
        model, backend, workers: runner.workers, step_s_median: +med.toFixed(4), train_tok_per_s: +((m.batch * m.ctx) / med).toFixed(1),
        step_s: times[r]!.map((t) => +t.toFixed(3)), step_s_min: +Math.min(...times[r]!).toFixed(4), loss: +losses[r]!.at(-1)!.toFixed(4),
        max_loss_diff_vs_1_worker: diff === null ? null : +diff.toExponential(2), params,
        load_avg_1m: [+load[r]![0]!.toFixed(2), +os.loadavg()[0]!.toFixed(2)],
        others_cpu_cores: others[r]!.length ? +median(others[r]!).toFixed(2) : null,
      };
    });
  } finally {
    for (const r of runners) await r.close();
  }
}

function benchParams(model: BenchModel): number {
  return parameterShapes(benchConfig(model)).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
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
    decodePrompts(model, [prompt], { maxNewTokens: 4, pick: greedyPicker() }); // warm-up
    const t0 = performance.now();
    const out = decodePrompts(model, [prompt], { maxNewTokens: opts.newTokens, pick: greedyPicker() })[0]![0]!.ids;
    const s = (performance.now() - t0) / 1000;
    return { model: 'bio-tiny (default dims)', new_tokens: out.length, new_tok_per_s: +(out.length / s).toFixed(1) };
  } finally {
    disposeModel(model);
  }
}

/** Debian's torch is importable from this interpreter only (ENVIRONMENT.md); the reference and the torch backend both use it. */
const TORCH_PYTHON = '/usr/bin/python3';

/** ../shared/bench/torch_reference.py, when it is there and Debian's torch is importable; null otherwise. */
function referenceScript(): string | null {
  const script = [path.resolve(__dirname, '../../shared/bench/torch_reference.py'), '/work/shared/bench/torch_reference.py'].find((f) => fs.existsSync(f));
  if (!script || !fs.existsSync(TORCH_PYTHON)) return null;
  return spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0 ? script : null;
}

/**
 * The environment both PyTorch sides run in: the reference's `--cores 1` sets OPENBLAS_NUM_THREADS=1 before
 * torch loads, and the torch worker and the interleaved reference get the same, so the threads match.
 */
function torchEnv(cores: 1 | 2): NodeJS.ProcessEnv {
  return cores === 1 ? { ...process.env, OPENBLAS_NUM_THREADS: '1' } : process.env;
}

/** Runs ../shared/bench/torch_reference.py when Debian's torch is importable; null otherwise. */
export function torchReference(model: BenchModel, cores: 1 | 2, steps: number, warmup = TORCH_WARMUP): Record<string, unknown> | null {
  const py = TORCH_PYTHON;
  const script = referenceScript();
  if (!script) return null;
  const r = spawnSync(py, [script, '--model', model, '--cores', String(cores), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { error: (r.stderr || '').split('\n').slice(-3).join(' ') };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

/**
 * What decides PyTorch's CPU speed here, as the worker's hello reports it in this environment (the
 * reference runs in the same one): OpenBLAS variant, kernel and threads, torch's threads, plus the CPU
 * flags and the environment variables that steer them. An error string when no worker answers.
 */
export async function torchRuntime(python = TORCH_PYTHON): Promise<{ hello: HelloResult } | { error: string }> {
  const worker = new WorkerProcess({ python, timeoutMs: 120_000 });
  try {
    return { hello: await worker.request('hello') };
  } catch (e) {
    return { error: oneLine(e) };
  } finally {
    await worker.close();
  }
}

/** The part of TorchCompute (engine/compute/torch/compute.ts, issue 16) the bench drives. */
type OpenTorchCompute = (opts: { log: Logger; python?: string; device?: string; dtype?: 'auto' | 'float32' | 'bfloat16'; why?: string; env?: NodeJS.ProcessEnv }) => Promise<Compute>;

/**
 * openTorchCompute, or why the torch backend cannot run here (its module not on this branch yet, or no
 * torch). Loaded by path so the bench still type-checks and runs where compute/torch/compute.ts is absent.
 */
function loadOpenTorchCompute(): OpenTorchCompute | string {
  const file = path.resolve(__dirname, '../engine/compute/torch/compute');
  try {
    const mod = require(file) as { openTorchCompute?: OpenTorchCompute };
    return mod.openTorchCompute ?? `${path.relative(process.cwd(), file)} has no openTorchCompute`;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? `${path.relative(process.cwd(), file)}.ts is not in this checkout (issue 16's TorchCompute)` : oneLine(e);
  }
}

/** AdamW as the reference's torch.optim.AdamW(lr=1e-3): betas (0.9, 0.999), eps 1e-8, decay 0.01 on every tensor, no clip. */
const REFERENCE_TRAINING: TrainingSpec = {
  params: { kind: 'model' },
  schedule: { peak: 1e-3, warmupSteps: 0, totalSteps: 1000, shape: 'constant', minLrRatio: 1 },
  adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  decay: 'all',
  gradClip: 0,
  rng: { seed: 0, stream: 'bench' },
};

/** The reference's step run in its own process on request (bench/torch_reference_steps.py). */
interface ReferenceStepper {
  /** One reference step; its time as the reference measures it (inside its process), seconds. */
  step(): Promise<number>;
  close(): Promise<void>;
}

function startReferenceStepper(script: string, model: BenchModel, env: NodeJS.ProcessEnv): ReferenceStepper {
  const child = spawn(TORCH_PYTHON, [path.join(__dirname, 'torch_reference_steps.py'), '--reference', script, '--model', model], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    step: async () => {
      child.stdin.write('\n');
      const next = await lines.next();
      if (next.done) throw new Error(`torch_reference_steps.py ended: ${stderr.join('').trim().split('\n').slice(-3).join(' ')}`);
      return (JSON.parse(next.value) as { step_s: number }).step_s;
    },
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** The reference's steps interleaved with the torch engine path's (one after each), and the ratio between them. */
export interface InterleavedReference {
  /** Its step times after the warm-up, seconds, each measured right after an engine step. */
  step_s: number[];
  step_s_median: number;
  train_tok_per_s: number;
  /** The torch engine path's tok/s over the reference's, both under the same load, step by step. */
  ratio: number;
}

/**
 * Trains `model` through the torch backend's full engine path (TorchCompute.pretrainStep: rows encoded,
 * one protocol round trip, the worker's forward, backward and AdamW, the loss read back), CPU float32 as
 * the reference, and with `interleave` (torch_reference.py's path) the reference's step after each of its
 * own. Returns the figures, or why the backend is not available.
 */
export async function benchTorchEngine(
  model: BenchModel,
  opts: { steps: number; warmup: number; cores?: 1 | 2; interleave?: string | null },
): Promise<(TrainBench & { bench_node_cpu_cores: number; interleaved_reference: InterleavedReference | null }) | string> {
  const open = loadOpenTorchCompute();
  if (typeof open === 'string') return open;
  const m = BENCH_MODELS[model];
  const rng = makeRng(1);
  const rows = Array.from({ length: m.batch }, () => Int32Array.from({ length: m.ctx + 1 }, () => rng.int(m.vocab)));
  const env = torchEnv(opts.cores ?? 2);
  let compute: Compute;
  try {
    compute = await open({ log: silentLogger, python: TORCH_PYTHON, device: 'cpu', dtype: 'float32', why: 'bench', env });
  } catch (e) {
    return oneLine(e);
  }
  const reference = opts.interleave ? startReferenceStepper(opts.interleave, model, env) : null;
  try {
    await compute.initModel(benchConfig(model), 0);
    await compute.startTraining(REFERENCE_TRAINING);
    const times: number[] = [];
    const refTimes: number[] = [];
    const others: number[] = [];
    const nodeCores: number[] = [];
    let loss = Number.NaN;
    let loadBefore = os.loadavg()[0]!;
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      if (i === opts.warmup) loadBefore = os.loadavg()[0]!;
      // the CPU this (Node) process spends during the step, which should only wait on the worker's pipe
      let node = { user: 0, system: 0 };
      const t = await timed(async () => {
        const node0 = process.cpuUsage();
        const value = await compute.pretrainStep(rows);
        node = process.cpuUsage(node0);
        return value;
      });
      let r: number | null = null;
      if (reference) {
        await awaitChildrenIdle();
        r = await reference.step();
        await awaitChildrenIdle();
      }
      loss = t.value.loss;
      if (i >= opts.warmup) {
        times.push(t.s);
        nodeCores.push((node.user + node.system) / 1e6 / t.s);
        if (r !== null) refTimes.push(r);
        if (t.others !== null) others.push(t.others);
      }
    }
    const med = median(times);
    const tok = (m.batch * m.ctx) / med;
    const refMed = refTimes.length ? median(refTimes) : null;
    return {
      model, backend: 'torch', workers: 1, step_s_median: +med.toFixed(4), train_tok_per_s: +tok.toFixed(1),
      step_s: times.map((t) => +t.toFixed(3)), step_s_min: +Math.min(...times).toFixed(4), loss: +loss.toFixed(4), max_loss_diff_vs_1_worker: null,
      params: benchParams(model), load_avg_1m: [+loadBefore.toFixed(2), +os.loadavg()[0]!.toFixed(2)], others_cpu_cores: others.length ? +median(others).toFixed(2) : null,
      bench_node_cpu_cores: +median(nodeCores).toFixed(3),
      interleaved_reference: refMed === null ? null : {
        step_s: refTimes.map((t) => +t.toFixed(3)), step_s_median: +refMed.toFixed(4), train_tok_per_s: +((m.batch * m.ctx) / refMed).toFixed(1),
        ratio: +(tok / ((m.batch * m.ctx) / refMed)).toFixed(3),
      },
    };
  } finally {
    await reference?.close();
    await compute.dispose();
  }
}

/** The header printed before the figures: everything that moves the PyTorch numbers by 2×. */
export function formatBenchHeader(setup: { cpu: string; cpuFlags: string[]; load: number[]; env: Record<string, string | null>; torch: { hello: HelloResult } | { error: string } | null }): string[] {
  const env = Object.entries(setup.env).filter(([k]) => k.startsWith('OPENBLAS_') || k.endsWith('_NUM_THREADS')).map(([k, v]) => `${k}=${v ?? '(unset)'}`).join(' ');
  const lines = [`bench engine: ${setup.cpu} [${setup.cpuFlags.join(' ')}], load ${setup.load.map((x) => x.toFixed(2)).join(' ')}`, `  env: ${env}`];
  const t = setup.torch;
  if (t === null) lines.push('  torch: skipped (--no-torch)');
  else if ('error' in t) lines.push(`  torch: ${t.error}`);
  else {
    const ob = t.hello.blas?.openblas;
    const blas = ob ? `OpenBLAS ${ob.variant}, kernel ${ob.coretype ?? '?'}, ${ob.threads ?? '?'} thread(s) (${ob.config})` : `no OpenBLAS (BLAS_INFO=${t.hello.blas?.build ?? '?'})`;
    lines.push(`  torch ${t.hello.torch} (Python ${t.hello.python}): ${blas}; torch ${t.hello.threads?.intraop ?? '?'} thread(s), CPU kernels ${t.hello.cpuCapability ?? '?'}`);
  }
  return lines;
}

/**
 * The closing table: tok/s and the ratio to the reference per model and backend, with the CPU others took;
 * the torch engine path's row also gives its ratio to the reference's steps interleaved with its own
 * (`interleaved`: the reference's tok/s in parentheses).
 */
export function formatBenchTable(training: readonly { model: string; engine: readonly (TrainBench & { ratio_vs_torch: number | null; interleaved_reference?: InterleavedReference | null })[]; torch_ref_tok_per_s: number | null; torch_ref_others_cpu_cores: number | null }[]): string[] {
  const rows = [['model', 'backend', 'tok/s', 'vs reference', 'interleaved', 'others cores']];
  for (const t of training) {
    for (const r of t.engine) {
      const inter = r.interleaved_reference ? `${r.interleaved_reference.ratio.toFixed(2)}× (${Math.round(r.interleaved_reference.train_tok_per_s)})` : '–';
      rows.push([t.model, r.backend === 'torch' ? 'torch (engine path)' : `${r.backend} ${r.workers}w`, String(Math.round(r.train_tok_per_s)), r.ratio_vs_torch === null ? '–' : `${r.ratio_vs_torch.toFixed(2)}×`, inter, r.others_cpu_cores === null ? '–' : r.others_cpu_cores.toFixed(2)]);
    }
    rows.push([t.model, 'torch_reference.py', t.torch_ref_tok_per_s === null ? '–' : String(Math.round(t.torch_ref_tok_per_s)), '1×', '–', t.torch_ref_others_cpu_cores === null ? '–' : t.torch_ref_others_cpu_cores.toFixed(2)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const busy = training.filter((t) => (t.torch_ref_others_cpu_cores ?? 0) > BUSY_CORES).map((t) => t.model);
  if (busy.length) lines.push(`warning: other processes took > ${BUSY_CORES} cores during the reference on ${busy.join(', ')}: 2-thread OpenBLAS then collapses (up to 20× here), so those ratios say nothing (docs/benchmarks.md)`);
  return lines;
}

/**
 * CPU (in cores) other processes may take during a PyTorch figure before it stops being comparable: with
 * one of two cores partly taken, OpenBLAS's second thread waits on a descheduled partner (measured in
 * docs/benchmarks.md); 0.3 leaves room for the editor and the shell.
 */
const BUSY_CORES = 0.3;

export interface BenchOptions {
  /** Threads the PyTorch reference may use (1 or 2). */
  cores?: 1 | 2;
  /** Data-parallel worker counts to measure side by side (default 1 and 2); empty: no tfjs-wasm rows. */
  workers?: number[];
  models?: BenchModel[];
  steps?: number;
  warmup?: number;
  backend?: BackendChoice;
  torch?: boolean;
  /** Also train through the torch backend's engine path (default: when torch is on). */
  torchEngine?: boolean;
  /** Where the header and the closing table go (default: stderr). */
  print?: (line: string) => void;
}

export async function benchEngine(opts: BenchOptions = {}): Promise<object> {
  const cores = opts.cores ?? 2;
  const workers = opts.workers ?? [1, 2];
  const backend = await selectBackend(opts.backend ?? 'auto', { log: silentLogger });
  const steps = opts.steps ?? 3;
  const print = opts.print ?? ((l: string) => process.stderr.write(l + '\n'));
  const setup = {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cpuFlags: await cpuFlags(), load: os.loadavg(),
    env: Object.fromEntries(DOCTOR_ENV.map((k) => [k, process.env[k] ?? null])),
    torch: opts.torch === false ? null : await torchRuntime(),
  };
  for (const l of formatBenchHeader(setup)) print(l);
  const training: Array<{ model: BenchModel; engine: (TrainBench & { ratio_vs_torch: number | null })[]; torch_ref_tok_per_s: number | null; torch_ref_others_cpu_cores: number | null } & Record<string, unknown>> = [];
  for (const model of opts.models ?? (['S', 'M'] as BenchModel[])) {
    const runs = workers.length ? await benchTraining(model, { steps, warmup: opts.warmup ?? 1, workers }) : [];
    const torchSteps = Math.max(steps, TORCH_STEPS);
    const torchWarmup = Math.max(opts.warmup ?? 1, TORCH_WARMUP);
    const rssMb = Math.round(process.memoryUsage().rss / 1048576);
    // the torch backend's engine path runs between two reference runs, so drifting load hits both sides
    const reference = async (): Promise<(Record<string, unknown> & { others_cpu_cores: number | null }) | null> => {
      const loadBefore = os.loadavg()[0]!;
      const run = await timed(() => (opts.torch === false ? null : torchReference(model, cores, torchSteps, torchWarmup)));
      return run.value ? { ...run.value, cores, load_avg_1m: [+loadBefore.toFixed(2), +os.loadavg()[0]!.toFixed(2)], others_cpu_cores: run.others === null ? null : +run.others.toFixed(2) } : null;
    };
    const torch = await reference();
    const torchEngine = opts.torch === false || opts.torchEngine === false || !torch ? null : await benchTorchEngine(model, { steps: torchSteps, warmup: torchWarmup, cores, interleave: referenceScript() });
    if (typeof torchEngine === 'string') print(`torch backend not available: ${torchEngine}`);
    const torchAfter = torchEngine && typeof torchEngine !== 'string' ? await reference() : null;
    const refs = [torch, torchAfter].map((r) => (r && typeof r.train_tok_per_s === 'number' ? r.train_tok_per_s : null)).filter((x): x is number => x !== null);
    const torchTok = refs.length ? refs.reduce((a, b) => a + b, 0) / refs.length : null;
    const refOthers = [torch, torchAfter].map((r) => r?.others_cpu_cores ?? null).filter((x): x is number => x !== null);
    const one = runs.find((r) => r.workers === 1);
    const engineRows = [...runs, ...(torchEngine && typeof torchEngine !== 'string' ? [torchEngine] : [])];
    training.push({
      model,
      engine: engineRows.map((r) => ({
        ...r,
        speedup_vs_1_worker: one && r.backend !== 'torch' ? +(r.train_tok_per_s / one.train_tok_per_s).toFixed(3) : null,
        ratio_vs_torch: torchTok ? +(r.train_tok_per_s / torchTok).toFixed(3) : null,
      })),
      rss_mb_after: rssMb,
      torch: torch ?? 'skipped: /usr/bin/python3 cannot import torch',
      ...(torchAfter ? { torch_after: torchAfter } : {}),
      torch_ref_tok_per_s: torchTok === null ? null : +torchTok.toFixed(1),
      // the CPU other processes took while the reference ran: above ~0.3 cores its 2-thread OpenBLAS figure collapses (docs/benchmarks.md)
      torch_ref_others_cpu_cores: refOthers.length ? +Math.max(...refOthers).toFixed(2) : null,
      ...(typeof torchEngine === 'string' ? { torch_engine_note: `not available: ${torchEngine}` } : {}),
    });
  }
  for (const l of formatBenchTable(training)) print(l);
  const sampling = benchSampling({ newTokens: 64 });
  return {
    backend,
    machine: { cpus: os.availableParallelism(), cpu: setup.cpu, cpu_flags: setup.cpuFlags, load_avg: os.loadavg().map((x) => +x.toFixed(2)), load_avg_at_start: setup.load.map((x) => +x.toFixed(2)), env: setup.env },
    torch_runtime: setup.torch === null ? 'skipped' : 'error' in setup.torch ? { error: setup.torch.error } : torchRuntimeRecord(setup.torch.hello),
    training,
    sampling,
    peak_rss_mb: Math.round(readPeakRssKb() / 1024),
  };
}

/** The hello fields that decide CPU speed, for the JSON report. */
function torchRuntimeRecord(h: HelloResult): Record<string, unknown> {
  return { python: h.python, torch: h.torch, cuda: h.cuda, blas: h.blas ?? null, threads: h.threads ?? null, cpu_capability: h.cpuCapability ?? null };
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

if (require.main === module && (process.argv.includes('--help') || process.argv.includes('-h'))) {
  process.stdout.write(USAGE + '\n');
} else if (require.main === module) {
  const arg = (k: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined; };
  const cores = arg('--cores') === '1' ? 1 : 2;
  const models = (arg('--models') ?? 'S,M').split(',') as BenchModel[];
  const workers = process.argv.includes('--no-wasm') ? [] : (arg('--workers') ?? '1,2').split(',').map(Number);
  benchEngine({ cores, workers, models, steps: Number(arg('--steps') ?? 3), warmup: Number(arg('--warmup') ?? 1), torch: !process.argv.includes('--no-torch'), torchEngine: !process.argv.includes('--no-torch-engine') }).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (e: unknown) => { process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`); process.exitCode = 1; },
  );
}
