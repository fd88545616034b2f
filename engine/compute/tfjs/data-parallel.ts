/**
 * Data-parallel gradients on several cores. tfjs-wasm computes on one thread under Node, so the second core
 * is reached with worker_threads, each holding its own backend and model replica (design and measurements
 * in ../shared/backends.md, "Using both cores"). The main thread keeps the Trainer (master weights and
 * AdamW); the pool only turns (weights, batch) into (loss, gradients):
 *
 *   setWeights(master)  main → one shared weight buffer (no per-worker copy), version bumped
 *   gradients(rows)     batch split into contiguous row shards, one per worker; each worker reloads the
 *                       weights if their version changed and writes its gradients into its own shared slot;
 *                       the main thread combines them weighted by each shard's loss-mask token count, so
 *                       the result is the full-batch masked-mean gradient (up to float rounding)
 *
 * Errors inside a worker arrive as BbioErrors; a worker that dies fails the pending call; close() always
 * terminates every worker.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LlamaConfig } from '../../model/llama';
import { BbioError, ERROR_CODES, type ErrorCode } from '../../util/errors';
import type { HostGrads } from './grads';

/** Main → worker. */
export type WorkerRequest =
  | ({ type: 'init' } & WorkerInit)
  | {
      type: 'gradients'; id: number; version: number;
      /** The shard's rows packed row-major: [rows, rowLength] (one compact buffer to clone, never a view's whole backing store). */
      tokens: Int32Array; rowLength: number; lossMask?: Float32Array;
    };

export interface WorkerInit {
  config: LlamaConfig;
  backend: 'wasm' | 'cpu';
  wasmDir?: string;
  paramNames: string[];
  paramShapes: number[][];
  /** Shared flat weights, all parameters in paramNames order: [P] float32. */
  weights: SharedArrayBuffer;
  /** This worker's gradient slot, same layout: [P] float32. */
  grads: SharedArrayBuffer;
}

/** Worker → main. */
export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'gradients'; id: number; loss: number }
  | { type: 'error'; id?: number; code: ErrorCode; message: string; hint?: string };

export interface GradientPoolOptions {
  /** Worker threads (≥ 1). */
  workers: number;
  config: LlamaConfig;
  /** Backend each worker activates (the in-process backends; native ones use all cores already). */
  backend: 'wasm' | 'cpu';
  /** Trainable parameters, in the Trainer's order; must be all of the model's parameters. */
  paramNames: string[];
  paramShapes: number[][];
  wasmDir?: string;
  /** Startup limit per worker (backend + replica), ms; default 120 s. */
  startTimeoutMs?: number;
}

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (e: BbioError) => void;
}

/**
 * Worker script and the Node flags it needs: the bundle ships dist/engine-worker.js next to cli.js; a
 * source checkout (tsx) runs worker.ts through tsx's CommonJS hook, resolved to an absolute path so the
 * worker finds it whatever the working directory. (`--import tsx` does not work here: on Node 20 a worker
 * loads its entry before the asynchronously registered ESM hooks are active — "Unknown file extension".)
 */
export function workerEntry(): { file: string; execArgv: string[] } {
  if (__filename.endsWith('.ts')) {
    // A variable, not a literal: the bundle never takes this branch, and esbuild need not resolve tsx.
    const tsxHook = 'tsx/cjs';
    return { file: path.join(__dirname, 'worker.ts'), execArgv: ['--require', require.resolve(tsxHook)] };
  }
  return { file: path.join(__dirname, 'engine-worker.js'), execArgv: [] };
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function toErrorCode(code: string): ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'E_INTERNAL';
}

/** Contiguous row ranges [start, end) splitting `rows` into `parts` shards whose sizes differ by ≤ 1. */
export function shardRanges(rows: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const base = Math.floor(rows / parts);
  const extra = rows % parts;
  let start = 0;
  for (let k = 0; k < parts; k++) {
    const n = base + (k < extra ? 1 : 0);
    out.push([start, start + n]);
    start += n;
  }
  return out;
}

/** One worker thread with at most one request in flight. */
class PoolWorker {
  private pending: Pending | null = null;
  private failure: BbioError | null = null;
  private closing = false;

  constructor(
    readonly index: number,
    private readonly worker: Worker,
  ) {
    worker.on('message', (m: WorkerReply) => this.settle(m));
    worker.on('error', (e: Error) => this.fail(new BbioError('E_INTERNAL', `data-parallel worker ${index} crashed: ${e.message}`, {}, undefined, { cause: e })));
    worker.on('messageerror', (e: Error) => this.fail(new BbioError('E_INTERNAL', `data-parallel worker ${index}: unreadable message (${e.message})`)));
    worker.on('exit', (code: number) => {
      this.fail(new BbioError('E_INTERNAL', this.closing ? 'the gradient pool was closed' : `data-parallel worker ${index} exited (code ${code})`));
    });
  }

  /** Sends `msg` and resolves with the worker's reply; a reply of type 'error' rejects. */
  request(msg: WorkerRequest, timeoutMs?: number): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new BbioError('E_INTERNAL', `data-parallel worker ${this.index} is busy`));
    return new Promise<WorkerReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.pending = null;
      };
      this.pending = {
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => this.fail(new BbioError('E_INTERNAL', `data-parallel worker ${this.index} did not answer within ${timeoutMs} ms`)), timeoutMs);
      }
      this.worker.postMessage(msg);
    });
  }

  private settle(m: WorkerReply): void {
    const p = this.pending;
    if (!p) {
      // A reply nobody waits for means the protocol broke: poison the worker so the next call fails loudly.
      this.failure ??= new BbioError('E_INTERNAL', `data-parallel worker ${this.index} sent an unexpected "${m.type}" message`);
      return;
    }
    if (m.type === 'error') p.reject(new BbioError(toErrorCode(m.code), `data-parallel worker ${this.index}: ${m.message}`, {}, m.hint));
    else p.resolve(m);
  }

  private fail(e: BbioError): void {
    this.failure ??= e;
    this.pending?.reject(e);
  }

  async terminate(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}

export class GradientPool {
  private version = 0;
  private requests = 0;
  private busy = false;
  private closed = false;

  private constructor(
    private readonly workers: PoolWorker[],
    private readonly paramSizes: number[],
    private readonly weights: Float32Array,
    private readonly gradSlots: Float32Array[],
    /** tfjs backend the workers run ('wasm' or 'cpu'). */
    readonly backend: string,
  ) {}

  /** Worker threads in the pool. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts `workers` threads, each activating the backend and building a model replica. Rejects with a
   * BbioError (every started worker terminated) when any of them fails to start.
   */
  static async create(opts: GradientPoolOptions): Promise<GradientPool> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new BbioError('E_USAGE', `workers must be a positive integer, got ${opts.workers}`);
    if (opts.paramNames.length !== opts.paramShapes.length) throw new BbioError('E_INTERNAL', 'paramNames and paramShapes differ in length');
    const sizes = opts.paramShapes.map(sizeOf);
    const total = sizes.reduce((a, b) => a + b, 0);
    const weightsSab = new SharedArrayBuffer(total * 4);
    const gradSabs = Array.from({ length: opts.workers }, () => new SharedArrayBuffer(total * 4));
    const entry = workerEntry();
    const started: PoolWorker[] = [];
    try {
      for (let i = 0; i < opts.workers; i++) {
        // stdout carries the engine's JSON event stream: whatever a worker prints (tfjs notices) goes to stderr.
        const worker = new Worker(entry.file, { execArgv: entry.execArgv, stdout: true });
        worker.stdout.pipe(process.stderr, { end: false });
        started.push(new PoolWorker(i, worker));
      }
      const replies = await Promise.all(
        started.map((w, i) =>
          w.request(
            {
              type: 'init', config: opts.config, backend: opts.backend, wasmDir: opts.wasmDir,
              paramNames: opts.paramNames, paramShapes: opts.paramShapes, weights: weightsSab, grads: gradSabs[i]!,
            },
            opts.startTimeoutMs ?? 120_000,
          ),
        ),
      );
      const first = replies[0];
      const backend = first?.type === 'ready' ? first.backend : opts.backend;
      return new GradientPool(started, sizes, new Float32Array(weightsSab), gradSabs.map((s) => new Float32Array(s)), backend);
    } catch (e) {
      await Promise.allSettled(started.map((w) => w.terminate()));
      throw e instanceof BbioError ? e : new BbioError('E_INTERNAL', `data-parallel workers failed to start: ${e instanceof Error ? e.message : String(e)}`, {}, undefined, { cause: e });
    }
  }

  /** Publishes new weights (host arrays in paramNames order); workers pick them up on their next shard. */
  async setWeights(params: readonly Float32Array[]): Promise<void> {
    this.assertIdle();
    if (params.length !== this.paramSizes.length) throw new BbioError('E_INTERNAL', `expected ${this.paramSizes.length} weight tensors, got ${params.length}`);
    let offset = 0;
    params.forEach((p, i) => {
      if (p.length !== this.paramSizes[i]) throw new BbioError('E_INTERNAL', `weight tensor ${i} has ${p.length} values, expected ${this.paramSizes[i]}`);
      this.weights.set(p, offset);
      offset += p.length;
    });
    this.version += 1;
  }

  /**
   * Loss and gradients of the masked-mean next-token loss over the whole batch (as `lmLoss(makeLmBatch(rows,
   * lossMask))` in one process). rows: B token rows of T+1; lossMask: [B, T] row-major (default all ones).
   */
  async gradients(rows: readonly Int32Array[], lossMask?: Float32Array): Promise<{ loss: number; grads: HostGrads }> {
    this.assertIdle();
    if (!rows.length) throw new BbioError('E_INTERNAL', 'gradients of an empty batch');
    const T = rows[0]!.length - 1;
    if (rows.some((r) => r.length !== T + 1)) throw new BbioError('E_INTERNAL', `batch rows must have equal length (${T + 1})`);
    if (lossMask && lossMask.length !== rows.length * T) throw new BbioError('E_INTERNAL', `loss mask has ${lossMask.length} entries, batch needs ${rows.length * T}`);
    this.busy = true;
    const id = ++this.requests;
    try {
      const shards = shardRanges(rows.length, this.workers.length)
        .map(([s, e], k) => ({ k, s, e, tokens: maskCount(lossMask, s * T, e * T) }))
        .filter((sh) => sh.e > sh.s);
      // allSettled, not all: after a failure no worker may still be busy with this step when we return.
      const settled = await Promise.allSettled(
        shards.map((sh) =>
          this.workers[sh.k]!.request({
            type: 'gradients', id, version: this.version,
            tokens: packRows(rows, sh.s, sh.e), rowLength: T + 1, lossMask: lossMask?.slice(sh.s * T, sh.e * T),
          }),
        ),
      );
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const replies = settled.map((r) => (r as PromiseFulfilledResult<WorkerReply>).value);
      const total = shards.reduce((a, sh) => a + sh.tokens, 0);
      const grads: HostGrads = this.paramSizes.map((n) => new Float32Array(n));
      let loss = 0;
      shards.forEach((sh, j) => {
        const r = replies[j]!;
        if (r.type !== 'gradients') throw new BbioError('E_INTERNAL', `data-parallel worker ${sh.k} answered "${r.type}" to a gradient request`);
        // A shard's loss is the mean over its own tokens; weight n_k/N turns the shards' means into the batch mean.
        const w = total > 0 ? sh.tokens / total : 0;
        if (w === 0) return;
        loss += w * r.loss;
        const slot = this.gradSlots[sh.k]!;
        let offset = 0;
        for (const g of grads) {
          for (let j2 = 0; j2 < g.length; j2++) g[j2] = g[j2]! + w * slot[offset + j2]!;
          offset += g.length;
        }
      });
      return { loss, grads };
    } finally {
      this.busy = false;
    }
  }

  /** Terminates every worker (idempotent); a pending call rejects with a BbioError. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled(this.workers.map((w) => w.terminate()));
  }

  private assertIdle(): void {
    if (this.closed) throw new BbioError('E_INTERNAL', 'the gradient pool is closed');
    if (this.busy) throw new BbioError('E_INTERNAL', 'the gradient pool is busy: await the previous call');
  }
}

/** rows[from..to) as one row-major buffer. */
function packRows(rows: readonly Int32Array[], from: number, to: number): Int32Array {
  const len = rows[from]!.length;
  const out = new Int32Array((to - from) * len);
  for (let i = from; i < to; i++) out.set(rows[i]!, (i - from) * len);
  return out;
}

/** Σ lossMask[from..to) (the loss-weight of a shard), or the element count without a mask. */
function maskCount(mask: Float32Array | undefined, from: number, to: number): number {
  if (!mask) return to - from;
  let s = 0;
  for (let i = from; i < to; i++) s += mask[i]!;
  return s;
}
