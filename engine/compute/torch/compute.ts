/**
 * The PyTorch backend of the compute interface (compute/types.ts): every method is one request to the
 * torch worker process (worker-process.ts, protocol schemas/compute-protocol.schema.json). The worker owns
 * the tensors (model, adapters, gradients and their projection, optimiser, sampling); this side keeps only
 * what the interface reads synchronously (the config, the step) and what needs the tokenizer, which lives
 * here: completion text and stop strings.
 *
 * Randomness: the worker draws from its own torch.Generator per (seed, stream) (bbio_worker/train.py), not
 * from engine/util/rng.ts, so a torch run and a wasm run of one seed sample different (each reproducible)
 * dropout masks, PCGrad orders and tokens; greedy decoding and everything without randomness agree.
 */
import * as path from 'node:path';
import type { BackendInfo } from '../../model/backend';
import type { LlamaConfig } from '../../model/llama';
import type { LoraSpec } from '../../model/lora';
import type { BackendState, FloatArray, HelloResult, IntArray, ModelResult, TokenBatch as WireBatch } from '../../../schemas/generated/compute-protocol';
import { assertSameFamily, loadLatestCheckpointFiles, saveCheckpointFiles, type CheckpointWriter } from '../checkpoint';
import { BbioError } from '../../util/errors';
import type { Logger } from '../../util/log';
import type {
  Completion, Compute, FinishReason, GenerateRequest, GrpoStepInput, GrpoStepResult, InterferenceEstimate, LoglikResult, LogprobOptions,
  RestoredCheckpoint, RolloutGroup, SftStepInput, SftStepResult, StepOutcome, TokenBatch, TrainingSpec,
} from '../types';
import { decodeFloats, decodeInts, encodeFloats, encodeInts, pythonCommand, type WorkerProcess } from './worker-process';
import { startTorchWorker, type LeasedWorker, type TorchWorkerPool } from './worker-pool';

export type TorchDevice = string;
export type TorchDtype = 'auto' | 'float32' | 'bfloat16';

export interface TorchComputeOptions {
  log: Logger;
  /** The interpreter (balancedbio.python / BALANCEDBIO_PYTHON / python3: pythonCommand in worker-process.ts). */
  python?: string;
  /** model.device: auto | cpu | cuda | cuda:N. */
  device?: TorchDevice;
  /** model.dtype: auto (bf16 on a CUDA device that has it, else fp32) | float32 | bfloat16. */
  dtype?: TorchDtype;
  /**
   * model.devices: data-parallel ranks (bbio_worker/ranks.py). This side still talks to one worker, rank 0,
   * which runs every training request on all ranks, each on its rows of every batch, and all-reduces the
   * gradients before projection; nothing here changes with the rank count.
   */
  devices?: number;
  /** Decodes completions for stop strings and text (the run's tokenizer). */
  tokenizer?: { readonly eosId: number; readonly padId: number; decode(ids: number[], opts?: { skipSpecial?: boolean }): string };
  /** Longest a request may take before the worker is declared hung and killed (default TIMEOUT_MS). */
  timeoutMs?: number;
  /** Why this backend was chosen (auto's one line); the reason adds Python, torch, device and dtype. */
  why?: string;
  env?: NodeJS.ProcessEnv;
  /** The run's worker pool (worker-pool.ts): the worker comes from it and goes back to it on dispose. */
  pool?: TorchWorkerPool;
}

/**
 * A training step of a 7B model's LoRA on a GPU, or a generate call of many rollouts on a CPU, takes
 * minutes; 30 minutes only bounds a worker that hangs (a dead one is noticed at once).
 */
const TIMEOUT_MS = 30 * 60_000;

const ints = (values: readonly number[]): IntArray => encodeInts(Int32Array.from(values), [values.length]);

function wireBatch(b: TokenBatch): WireBatch {
  const T = b.inputs.length / b.batch;
  return { inputs: encodeInts(b.inputs, [b.batch, T]), targets: encodeInts(b.targets, [b.batch, T]), weights: encodeFloats(b.weights, [b.batch, T]) };
}

function wireGroup(g: RolloutGroup): { prompt: IntArray; completions: IntArray[] } {
  return { prompt: ints(g.prompt), completions: g.completions.map(ints) };
}

/** [rows][len] → a zero-padded [rows, width] float array. */
function paddedRows(rows: readonly (readonly number[])[], width: number): FloatArray {
  const m = new Float32Array(rows.length * width);
  rows.forEach((r, i) => m.set(r.slice(0, width), i * width));
  return encodeFloats(m, [rows.length, width]);
}

/** The interface's NaN for a mean or interval that does not exist (JSON carries null). */
const nan = (rows: (number | null)[][]): number[][] => rows.map((r) => r.map((x) => (x === null ? Number.NaN : x)));

/** What this backend adds to each checkpoint's state.json (checkpoint.ts assertSameFamily). */
const TORCH_WRITER: CheckpointWriter = { writtenBy: { family: 'torch', backend: 'torch' } };

/** The state.json fields that belong to the worker (BackendState), beside the stage's own. */
const BACKEND_KEYS = ['optimizerStep', 'badSteps', 'torchRng', 'subspaceStep'] as const;

export class TorchCompute implements Compute {
  private cfg?: LlamaConfig;
  private stepCount = 0;
  private info: BackendInfo;

  private readonly worker: WorkerProcess;
  /** What the worker said of itself at start (Python, torch, CUDA devices, ranks). */
  private readonly hello: HelloResult;

  constructor(
    private readonly leased: LeasedWorker,
    private readonly options: TorchComputeOptions,
  ) {
    ({ worker: this.worker, hello: this.hello } = leased);
    const hello = this.hello;
    // what the worker will resolve `auto` to (pick_device / pick_dtype in bbio_worker/compute.py), so the line
    // the manifest records at open names the device; loading the model replaces it with the worker's answer
    const device = (options.device ?? 'auto') === 'auto' ? (hello.cuda.length ? 'cuda:0' : 'cpu') : options.device!;
    const dtype = (options.dtype ?? 'auto') === 'auto' && device === 'cpu' ? 'float32' : (options.dtype ?? 'auto');
    this.info = this.backendInfo(device, dtype);
  }

  private backendInfo(device: string, dtype: string): BackendInfo {
    const cuda = this.hello.cuda.length ? `CUDA: ${this.hello.cuda.join(', ')}` : 'no CUDA device';
    const why = this.options.why ?? 'requested by model.backend: torch';
    const via = this.hello.launcher === 'slurm' ? ', started by srun' : '';
    const ranks = (this.hello.ranks ?? 1) > 1 ? `, ${this.hello.ranks} data-parallel ranks (${device.startsWith('cuda') ? 'NCCL' : 'gloo'}${via})` : '';
    return {
      name: 'torch', kind: 'torch', threads: 0, simd: true,
      reason: `${why}; Python ${this.hello.python} (${this.worker.python}), torch ${this.hello.torch}, ${cuda}, device ${device}, dtype ${dtype}${ranks}`,
    };
  }

  describe(): BackendInfo {
    return this.info;
  }

  // ------------------------------------------------------------------------------------ model and adapters

  get config(): LlamaConfig {
    if (!this.cfg) throw new BbioError('E_INTERNAL', 'no model loaded: call initModel or loadModel first');
    return this.cfg;
  }

  private get modelOptions(): { device: string; dtype: TorchDtype } {
    return { device: this.options.device ?? 'auto', dtype: this.options.dtype ?? 'auto' };
  }

  private placed(r: ModelResult): LlamaConfig {
    this.cfg = r.config as unknown as LlamaConfig;
    // the device and dtype the worker resolved `auto` to, for the manifest's backend line
    this.info = this.backendInfo(r.device, r.dtype);
    return this.cfg;
  }

  async initModel(config: LlamaConfig, seed: number): Promise<void> {
    this.placed(await this.worker.request('init_model', { config: config as unknown as Record<string, unknown>, seed, options: this.modelOptions }));
  }

  async loadModel(dir: string): Promise<LlamaConfig> {
    return this.placed(await this.worker.request('load_model', { dir: path.resolve(dir), options: this.modelOptions }));
  }

  async saveModel(dir: string): Promise<void> {
    await this.worker.request('save_model', { dir: path.resolve(dir) });
  }

  async createAdapters(slot: string, names: readonly string[], spec: LoraSpec, seed: number): Promise<void> {
    await this.worker.request('create_adapters', { slot, names: [...names], spec: { ...spec, targetModules: [...spec.targetModules] }, seed });
  }

  async loadAdapters(slot: string, dir: string): Promise<string[]> {
    return (await this.worker.request('load_adapters', { slot, dir: path.resolve(dir) })).names;
  }

  async saveAdapters(slot: string, dir: string, meta: { baseModel: string; stage: string }): Promise<void> {
    await this.worker.request('save_adapters', { slot, dir: path.resolve(dir), ...meta });
  }

  async parameterCount(target: TrainingSpec['params']): Promise<number> {
    return (await this.worker.request('parameter_count', { target })).count;
  }

  // ------------------------------------------------------------------------------------ training

  get step(): number {
    return this.stepCount;
  }

  private track<T extends { outcome: StepOutcome }>(r: T): T {
    this.stepCount = r.outcome.step;
    return r;
  }

  async startTraining(spec: TrainingSpec): Promise<void> {
    await this.worker.request('start_training', spec);
    this.stepCount = 0;
  }

  async pretrainStep(rows: readonly Int32Array[]): Promise<{ loss: number; outcome: StepOutcome }> {
    const width = rows[0]?.length ?? 0;
    const flat = new Int32Array(rows.length * width); // [B, T+1]
    rows.forEach((r, i) => {
      if (r.length !== width) throw new BbioError('E_INTERNAL', `batch rows must have equal length (${r.length} vs ${width})`);
      flat.set(r, i * width);
    });
    const r = await this.worker.request('pretrain_step', { rows: encodeInts(flat, [rows.length, width]) });
    return this.track({ loss: r.loss, outcome: r.outcome });
  }

  async sftStep(input: SftStepInput): Promise<SftStepResult> {
    const r = await this.worker.request('sft_step', {
      capabilities: input.capabilities.map((c) => ({ batches: c.batches.map(wireBatch), ...(c.trainable ? { trainable: [...c.trainable] } : {}) })),
      weights: [...input.weights],
      ...(input.oloraLambda !== undefined ? { oloraLambda: input.oloraLambda } : {}),
    });
    return this.track({ outcome: r.outcome, losses: r.losses, projection: r.projection, ...(r.oloraPenalty !== undefined ? { oloraPenalty: r.oloraPenalty } : {}) });
  }

  async interference(probes: readonly (readonly TokenBatch[])[], lr: number, adapters: string): Promise<InterferenceEstimate> {
    const r = await this.worker.request('interference', { probes: probes.map((bs) => bs.map(wireBatch)), lr, adapters });
    return { mean: nan(r.mean), ci95: nan(r.ci95), batches: r.batches };
  }

  async grpoStep(input: GrpoStepInput): Promise<GrpoStepResult> {
    const r = await this.worker.request('grpo_step', {
      groups: input.groups.map(wireGroup),
      advantages: input.advantages.map((a) => [...a]),
      oldLogps: input.oldLogps.map((g) => paddedRows(g, input.maxLen)),
      refLogps: input.refLogps.map((g) => paddedRows(g, input.maxLen)),
      include: input.include.map((a) => [...a]),
      capabilityOf: [...input.capabilityOf],
      weights: [...input.weights],
      loss: input.loss,
      temperature: input.temperature,
      maxLen: input.maxLen,
      withStats: input.withStats,
    });
    return this.track({ outcome: r.outcome, losses: r.losses, projection: r.projection, ...(r.stats ? { stats: r.stats } : {}) });
  }

  async loss(batch: TokenBatch, opts: { adapters?: string } = {}): Promise<number> {
    return (await this.worker.request('loss', { ...wireBatch(batch), ...(opts.adapters ? { adapters: opts.adapters } : {}) })).loss;
  }

  // ------------------------------------------------------------------------------------ checkpoints

  async saveCheckpoint<S>(dir: string, state: S, opts: { keep?: number } = {}): Promise<void> {
    let own: BackendState | undefined;
    await saveCheckpointFiles(dir, {
      step: this.stepCount,
      // the worker writes params.safetensors and optimizer.safetensors into the temporary folder itself
      write: async (tmp) => {
        own = (await this.worker.request('save_checkpoint', { dir: path.resolve(tmp) })).state;
      },
      state: () => ({ ...state, ...own, ...TORCH_WRITER }),
    }, opts.keep !== undefined ? { keep: opts.keep } : {});
  }

  async loadCheckpoint<S>(dir: string): Promise<RestoredCheckpoint<S> | null> {
    const ck = loadLatestCheckpointFiles<S & BackendState>(dir);
    if (!ck) return null;
    assertSameFamily(ck.state as Record<string, unknown>, ck.dir, TORCH_WRITER.writtenBy);
    const own: Record<string, unknown> = {};
    for (const k of BACKEND_KEYS) if (ck.state[k] !== undefined) own[k] = ck.state[k];
    if (typeof own['optimizerStep'] !== 'number') {
      throw new BbioError('E_CHECKPOINT', `${ck.dir} was not written by the torch backend (its state has no optimizerStep)`, { file: ck.dir }, "delete the stage's checkpoint folder to restart the stage on this backend");
    }
    const r = await this.worker.request('load_checkpoint', { dir: path.resolve(ck.dir), state: own as BackendState });
    this.stepCount = r.step;
    return { state: ck.state, step: ck.step, dir: ck.dir, rejected: ck.rejected };
  }

  // ------------------------------------------------------------------------------------ inference

  private decode(ids: number[]): string {
    const tok = this.options.tokenizer;
    return tok ? tok.decode(ids, { skipSpecial: true }) : ids.join(' ');
  }

  /**
   * Generation runs in the worker with EOS as its end id; stop strings are matched here, on the decoded text
   * after each token, as engine/model/decode.ts does: the completion ends at the first token whose text
   * contains a stop string, keeping the ids that cover it. The cost: the worker does not know the stop
   * strings, so a row keeps decoding past one until EOS or maxNewTokens, and those tokens are thrown away
   * (at most maxNewTokens per row), and each row is decoded once per token here (quadratic in its length).
   */
  async generate(req: GenerateRequest & { eosIds?: readonly number[] }): Promise<Completion[][]> {
    if (req.signal?.aborted) throw new BbioError('E_CANCELLED', 'generation cancelled');
    const eosId = this.options.tokenizer?.eosId ?? -1;
    // `eosIds`: a checkpoint's own config.json EOS list (infer); the run's tokenizer's EOS otherwise
    const eosIds = req.eosIds ? [...req.eosIds] : eosId >= 0 ? [eosId] : [];
    // a chat format's end-of-turn ids (GenerateRequest.stopIds) end a row in the worker as EOS does; finish()
    // tells them apart again, so the finish reason is `stop` as engine/model/decode.ts reports it
    const stopIds = (req.stopIds ?? []).filter((id) => !eosIds.includes(id));
    const endIds = [...eosIds, ...stopIds];
    const r = await this.worker.request('generate', {
      prompts: req.prompts.map(ints), n: req.n, batchRows: req.batchRows ?? 8, temperature: req.temperature, topP: req.topP, maxNewTokens: req.maxNewTokens,
      endIds, ...(req.adapters ? { adapters: req.adapters } : {}), ...(req.seed !== undefined ? { seed: req.seed } : {}),
    });
    if (req.signal?.aborted) throw new BbioError('E_CANCELLED', 'generation cancelled');
    return r.completions.map((row) => row.map((c) => this.finish([...decodeInts(c.ids)], [...decodeFloats(c.logprobs)], c.truncated, req.stop, stopIds)));
  }

  private finish(ids: number[], logprobs: number[], truncated: boolean, stop: readonly string[], stopIds: readonly number[]): Completion {
    const last = ids[ids.length - 1];
    let finishReason: FinishReason = truncated ? 'length' : last !== undefined && stopIds.includes(last) ? 'stop' : 'eos';
    const endsWithMarker = !truncated;
    let cut: number | undefined;
    if (stop.length) {
      // an EOS-ended row is searched without its EOS: the EOS itself decodes to nothing
      const searchable = truncated ? ids.length : ids.length - 1;
      for (let k = 1; k <= searchable; k++) {
        const text = this.decode(ids.slice(0, k));
        const hits = stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        if (hits.length) {
          cut = Math.min(...hits);
          finishReason = 'stop';
          ids = ids.slice(0, k);
          logprobs = logprobs.slice(0, k);
          break;
        }
      }
    }
    // an EOS or end-of-turn id decodes to nothing the text should show; a stop-string cut keeps its covering ids
    const shown = endsWithMarker && cut === undefined ? ids.slice(0, -1) : ids;
    const full = this.decode(shown);
    return { ids, logprobs, text: cut === undefined ? full : full.slice(0, cut), finishReason };
  }

  /** The logits of every prompt position, [T·V] row-major, base model only (infer --logprobs). */
  async promptLogits(ids: readonly number[]): Promise<Float32Array> {
    return decodeFloats((await this.worker.request('logits', { ids: encodeInts(Int32Array.from(ids), [1, ids.length]) })).logits);
  }

  async logprobs(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number[][][]> {
    const r = await this.worker.request('logprobs', { groups: groups.map(wireGroup), temperature: opts.temperature, ...(opts.adapters ? { adapters: opts.adapters } : {}) });
    return r.logprobs.map((arr, g) => {
      const flat = decodeFloats(arr);
      const width = arr.shape[1] ?? 0;
      return groups[g]!.completions.map((c, i) => Array.from(flat.subarray(i * width, i * width + c.length)));
    });
  }

  async entropy(groups: readonly RolloutGroup[], opts: LogprobOptions): Promise<number> {
    return (await this.worker.request('entropy', { groups: groups.map(wireGroup), temperature: opts.temperature, ...(opts.adapters ? { adapters: opts.adapters } : {}) })).entropy;
  }

  async scoreContinuations(context: readonly number[], continuations: readonly (readonly number[])[], opts: { adapters?: string } = {}): Promise<LoglikResult[]> {
    const r = await this.worker.request('score_continuations', { context: ints(context), continuations: continuations.map(ints), ...(opts.adapters ? { adapters: opts.adapters } : {}) });
    return r.results;
  }

  /** Closes the worker, or gives it back to the run's pool for the next stage. */
  async dispose(): Promise<void> {
    if (this.options.pool) await this.options.pool.release(this.leased);
    else await this.worker.close();
  }
}

/**
 * Starts the worker (or takes the run's kept one from `opts.pool`) and asks its Python, torch and devices; a
 * Python without torch, or a worker that dies or hangs, is an E_BACKEND error naming the cause
 * (worker-process.ts).
 */
export async function openTorchCompute(opts: TorchComputeOptions): Promise<TorchCompute> {
  const start = { python: pythonCommand(opts.python, opts.env), timeoutMs: opts.timeoutMs ?? TIMEOUT_MS, devices: opts.devices ?? 1, ...(opts.env ? { env: opts.env } : {}) };
  const leased = opts.pool ? await opts.pool.acquire(start) : await startTorchWorker(start);
  const compute = new TorchCompute(leased, opts);
  opts.log.info(`backend: torch — ${compute.describe().reason}`);
  return compute;
}
