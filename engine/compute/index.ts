/**
 * Opening a compute backend for a stage or command: the backend the experiment asks for (model.backend),
 * recorded in manifest.json by the caller. `auto` prefers torch when the configured Python (pythonCommand:
 * balancedbio.python, BALANCEDBIO_PYTHON, python3) imports torch, else the TensorFlow.js order of
 * selectBackend, and says which and why in one log line either way.
 */
import { availableParallelism } from 'node:os';
import type { Experiment } from '../../schemas/generated/experiment';
import { selectBackend } from '../model/backend';
import { BbioError } from '../util/errors';
import type { Logger } from '../util/log';
import { TfjsCompute, type TfjsComputeOptions } from './tfjs/compute';
import { openTorchCompute, type TorchDtype } from './torch/compute';
import { TorchWorkerPool } from './torch/worker-pool';
import { pythonCommand } from './torch/worker-process';
import type { Compute } from './types';

export type { Compute } from './types';

export interface OpenComputeOptions {
  log: Logger;
  tokenizer?: TfjsComputeOptions['tokenizer'];
  /** The `balancedbio.python` setting, when the caller has one; else BALANCEDBIO_PYTHON, else python3. */
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** Where a torch backend takes its worker from and gives it back to (a run's session); none: its own. */
  torchPool?: TorchWorkerPool;
}

/** What of model: a stage's config passes it whole; commands pass backend and workers (device and dtype default to auto, devices to 1). */
export type ModelChoice = Pick<Experiment['model'], 'backend' | 'workers'> & Partial<Pick<Experiment['model'], 'device' | 'dtype' | 'devices'>>;

/** How a stage gets its backend; stages take one so tests can hand them a fake. */
export type ComputeFactory = (model: ModelChoice, opts: OpenComputeOptions) => Promise<Compute>;

/** First line of an error, for the one-line reason. */
function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? msg).slice(0, 200);
}

export async function openCompute(model: ModelChoice, opts: OpenComputeOptions): Promise<Compute> {
  const env = opts.env ?? process.env;
  const python = pythonCommand(opts.python, env);
  const devices = model.devices ?? 1;
  const torch = (why: string) =>
    openTorchCompute({ log: opts.log, python, env, device: model.device ?? 'auto', dtype: (model.dtype ?? 'auto') as TorchDtype, devices, why, ...(opts.tokenizer ? { tokenizer: opts.tokenizer } : {}), ...(opts.torchPool ? { pool: opts.torchPool } : {}) });
  if (model.backend === 'torch') return torch('requested by model.backend: torch');
  // data-parallel ranks are torch.distributed processes: another backend would silently train on one (semantic.ts checkDevices)
  if (devices > 1) throw new BbioError('E_CONFLICT', `model.devices is ${devices}, which needs the torch backend, but the backend is ${model.backend}`, {}, 'set model.backend: torch (or --backend torch), or model.devices: 1');
  const tried: string[] = [];
  if (model.backend === 'auto') {
    try {
      return await torch(`auto: ${python} imports torch`);
    } catch (e) {
      if (!(e instanceof BbioError)) throw e;
      tried.push(`torch unavailable (${firstLine(e).replace(/^torch worker: /, '')})`);
    }
  }
  const backend = await selectBackend(model.backend, { log: opts.log, tried });
  return new TfjsCompute({ backend, log: opts.log, workers: model.workers, ...(opts.tokenizer ? { tokenizer: opts.tokenizer } : {}) });
}

/**
 * What decides a stage's numbers besides its config and inputs, for the stage cache's keys: the backend `model`
 * resolves to here (name, kind, threads, SIMD, and the worker's Python, torch version, device and dtype, which
 * describe().reason states), the cores a tfjs data-parallel pool would split into (`workers: 0`), and the thread
 * variables of the math libraries. Opens the backend and disposes of it (a session keeps a torch worker for the stage).
 */
export async function computeIdentity(model: ModelChoice, open: ComputeFactory, log: Logger): Promise<Record<string, unknown>> {
  const compute = await open(model, { log });
  try {
    const { name, kind, reason, threads, simd } = compute.describe();
    const env = Object.fromEntries(['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_CORETYPE'].map((k) => [k, process.env[k] ?? null]));
    return { name, kind, reason, threads, simd, cores: availableParallelism(), env };
  } finally {
    await compute.dispose();
  }
}

/** One run's compute: its stages open backends through `open` and share one torch worker, which `close` ends. */
export interface ComputeSession {
  open: ComputeFactory;
  close(): Promise<void>;
}

/**
 * A session for one run (runPipeline closes it when the run ends, however it ends): the torch worker a stage
 * disposes of is kept for the next stage instead of starting Python and torch again (torch/worker-pool.ts).
 */
export function createComputeSession(open: ComputeFactory = openCompute): ComputeSession {
  const torchPool = new TorchWorkerPool();
  return { open: (model, opts) => open(model, { ...opts, torchPool }), close: () => torchPool.close() };
}
