/**
 * The torch compute worker as a child process: spawns `python -m bbio_worker`, sends requests of
 * schemas/compute-protocol.schema.json one JSON line each, and resolves each by its id. A worker that
 * cannot import torch, dies, or does not answer within the timeout rejects every pending request with an
 * E_BACKEND BbioError naming the Python error and the worker's last stderr lines, and is killed: a stage
 * on top of it fails, it never hangs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type {
  AdaptersResult, ComputeMessage, CountResult, EntropyResult, GenerateResult, GrpoStepResult, HelloResult, InterferenceResult, LoadCheckpointResult, LogitsResult,
  LogprobsResult, LossResult, ModelResult, PretrainStepResult, Request, Response, SaveCheckpointResult, ScoreContinuationsResult, SftStepResult, StartTrainingResult,
  WorkerError,
} from '../../../schemas/generated/compute-protocol';
import { BbioError, type ErrorCode } from '../../util/errors';

/** What each method answers (the okResponse `result` alternatives of the schema, by method). */
export interface ResultOf {
  hello: HelloResult;
  init_model: ModelResult;
  load_model: ModelResult;
  save_model: Record<string, never>;
  create_adapters: AdaptersResult;
  load_adapters: AdaptersResult;
  save_adapters: Record<string, never>;
  logits: LogitsResult;
  loss: LossResult;
  generate: GenerateResult;
  parameter_count: CountResult;
  start_training: StartTrainingResult;
  pretrain_step: PretrainStepResult;
  sft_step: SftStepResult;
  interference: InterferenceResult;
  grpo_step: GrpoStepResult;
  logprobs: LogprobsResult;
  entropy: EntropyResult;
  score_continuations: ScoreContinuationsResult;
  save_checkpoint: SaveCheckpointResult;
  load_checkpoint: LoadCheckpointResult;
  reset: Record<string, never>;
  shutdown: Record<string, never>;
}
export type Method = Request['method'] & keyof ResultOf;
type ParamsOf<M extends Method> = Extract<Request, { method: M }> extends { params: infer P } ? P : undefined;

export interface WorkerProcessOptions {
  /** The interpreter: the `balancedbio.python` setting when set, else BALANCEDBIO_PYTHON, else `python3`. */
  python?: string;
  /** Default time a request may take before the worker is declared hung and killed. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** model.devices: data-parallel ranks on this machine (default 1; workerCommand). */
  devices?: number;
}

/** Lines of worker stderr kept for error messages: the traceback's tail plus a few log lines before it. */
const STDERR_LINES = 20;
/** Grace between SIGTERM and SIGKILL when closing a worker that ignores shutdown (as the engine's own cancel). */
const KILL_AFTER_MS = 5000;

/**
 * Where the worker's package and the protocol schema are: beside this file in a source checkout, or in
 * dist/torch-worker/ beside the bundle (scripts/build.ts copies them there; `__dirname` is dist/ then).
 */
export function workerFiles(): { dir: string; schema: string } {
  const layouts = [
    { dir: path.resolve(__dirname, 'worker'), schema: path.resolve(__dirname, '../../../schemas/compute-protocol.schema.json') },
    { dir: path.join(__dirname, 'torch-worker'), schema: path.join(__dirname, 'torch-worker', 'compute-protocol.schema.json') },
  ];
  const found = layouts.find((l) => fs.existsSync(path.join(l.dir, 'bbio_worker', '__main__.py')) && fs.existsSync(l.schema));
  if (!found) throw new BbioError('E_BACKEND', `the torch worker's files are missing (looked in ${layouts.map((l) => l.dir).join(', ')})`, {}, 'rebuild (npx tsx scripts/build.ts) or reinstall the extension');
  return found;
}

/** Worker error codes → engine codes (E_PROTOCOL is the engine's bug or a version skew: a backend error). */
const CODES: Record<WorkerError['code'], ErrorCode> = {
  E_PROTOCOL: 'E_BACKEND', E_CHECKPOINT: 'E_CHECKPOINT', E_MODEL_DIMS: 'E_MODEL_DIMS', E_USAGE: 'E_USAGE', E_NAN: 'E_NAN', E_BACKEND: 'E_BACKEND', E_INTERNAL: 'E_BACKEND',
};

const DIED_HINT = 'the worker stopped mid-stage (killed, out of memory, or a crash inside torch: see its stderr above); `balancedbio run FILE --resume RUN_DIR` continues from the last checkpoint';
const HINT = 'check that balancedbio.python (or BALANCEDBIO_PYTHON) names a Python that can `import torch`; on Debian: apt-get install python3-torch libopenblas0-pthread and use /usr/bin/python3';

/**
 * The batch script of a multi-rank Slurm job (engine/slurm/script.ts) exports the srun line that starts the
 * torch ranks under this name; it is whitespace-separated words (the script writes no quoting into it).
 */
export const SRUN_ENV = 'BALANCEDBIO_TORCH_SRUN';

/**
 * The worker's command line. One rank: `python -m bbio_worker`. `devices` ranks on this machine: rank 0 gets
 * `--devices N` and starts the others itself (bbio_worker/ranks.py). Inside a Slurm job whose script exported
 * SRUN_ENV (model.devices × slurm.nodes above 1), every rank is a task of that srun line, `--launcher slurm`
 * tells each its place from Slurm's variables, and srun's stdin and stdout are rank 0's: the engine still talks
 * to one worker.
 */
export function workerCommand(python: string, schema: string, devices: number, env: NodeJS.ProcessEnv): { command: string; args: string[] } {
  const worker = ['-m', 'bbio_worker', '--schema', schema];
  const srun = env[SRUN_ENV]?.trim().split(/\s+/).filter(Boolean) ?? [];
  if (srun.length) return { command: srun[0]!, args: [...srun.slice(1), python, ...worker, '--devices', String(devices), '--launcher', 'slurm'] };
  return { command: python, args: devices > 1 ? [...worker, '--devices', String(devices)] : worker };
}

export function pythonCommand(setting: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return setting || env['BALANCEDBIO_PYTHON'] || 'python3';
}

type CompactArray = { shape: number[]; data: string };

/** Row-major values as the protocol's compact array (little-endian bytes, base64). */
function encode(values: Int32Array | Float32Array, shape: number[]): CompactArray {
  return { shape, data: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64') };
}

/** The bytes of a compact array, copied into fresh 4-byte-aligned memory (base64 output is not aligned). */
function decodeBytes(arr: CompactArray): ArrayBuffer {
  const buf = Buffer.from(arr.data, 'base64');
  const out = new ArrayBuffer(buf.byteLength);
  Buffer.from(out).set(buf);
  return out; // a length that is not a multiple of 4 makes the typed-array view throw, as before
}

export const encodeInts = (values: Int32Array, shape: number[]): CompactArray => encode(values, shape);
export const decodeInts = (arr: CompactArray): Int32Array => new Int32Array(decodeBytes(arr));
export const encodeFloats = (values: Float32Array, shape: number[]): CompactArray => encode(values, shape);
export const decodeFloats = (arr: CompactArray): Float32Array => new Float32Array(decodeBytes(arr));

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (e: BbioError) => void;
  timer: NodeJS.Timeout;
}

export class WorkerProcess {
  readonly python: string;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, Pending>();
  private readonly stderrTail: string[] = [];
  private nextId = 1;
  /** Set once the worker can take no more requests (exited, failed to start, killed as hung). */
  private failure: BbioError | undefined;
  private readonly exited: Promise<void>;
  /** Whether the worker has answered a request successfully (it imported torch and serves). */
  private started = false;
  /** The first write error (EPIPE), kept as the cause of the exit error that follows it. */
  private stdinError: Error | undefined;

  constructor(private readonly opts: WorkerProcessOptions) {
    this.python = pythonCommand(opts.python, opts.env);
    const files = workerFiles();
    const env = opts.env ?? process.env;
    const { command, args } = workerCommand(this.python, files.schema, opts.devices ?? 1, env);
    this.child = spawn(command, args, {
      cwd: files.dir,
      env: { ...env, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    readline.createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_LINES) this.stderrTail.shift();
    });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    // A worker that exits before reading (no torch) closes the pipe under a pending write: EPIPE. The
    // worker's own reason (its error line, its exit status and stderr) arrives through stdout and 'close',
    // which always follow; a worker that closed stdin and lives on is caught by the request timeout.
    this.child.stdin.on('error', (e) => {
      this.stdinError ??= e;
    });
    this.child.on('error', (e) => {
      this.fail(new BbioError('E_BACKEND', `cannot start the torch worker with "${this.python}": ${e.message}`, {}, HINT, { cause: e }));
    });
    this.child.on('close', (code, signal) => {
      const how = signal ? `signal ${signal}` : `status ${code}`;
      // a worker that started and then died (killed, out of memory, a crash in torch) is not a setup problem
      const hint = this.started ? DIED_HINT : HINT;
      this.fail(new BbioError('E_BACKEND', `the torch worker (${this.python}) exited with ${how}${this.stderrText()}`, {}, hint, { cause: this.stdinError }));
    });
  }

  /** Whether the worker can still take requests (it has not exited, failed to start, been killed or closed). */
  get alive(): boolean {
    return this.failure === undefined;
  }

  /** Sends one request; resolves with its result or rejects with a BbioError. */
  request<M extends Method>(method: M, ...[params, opts]: ParamsOf<M> extends undefined ? [undefined?, { timeoutMs?: number }?] : [ParamsOf<M>, { timeoutMs?: number }?]): Promise<ResultOf[M]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const msg = (params === undefined ? { id, method } : { id, method, params }) as ComputeMessage;
    const timeoutMs = opts?.timeoutMs ?? this.opts.timeoutMs;
    return new Promise<ResultOf[M]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new BbioError('E_BACKEND', `the torch worker (${this.python}) did not answer ${method} within ${timeoutMs / 1000} s and was stopped${this.stderrText()}`, {}, 'a larger model may need a longer timeout; otherwise report the worker log'));
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (r: unknown) => void, reject, timer });
      this.child.stdin.write(JSON.stringify(msg) + '\n'); // a failed write reaches the stdin 'error' listener
    });
  }

  /** Asks the worker to exit; kills it when it does not within KILL_AFTER_MS. */
  async close(): Promise<void> {
    if (!this.failure) {
      await this.request('shutdown', undefined, { timeoutMs: KILL_AFTER_MS }).catch((e: unknown) => {
        // a worker that cannot shut down cleanly is killed below; its error has already been recorded
        if (!(e instanceof BbioError)) throw e;
      });
      this.fail(new BbioError('E_BACKEND', 'the torch worker was closed'));
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), KILL_AFTER_MS);
      await this.exited;
      clearTimeout(kill);
    }
  }

  private stderrText(): string {
    return this.stderrTail.length ? `\n--- worker stderr (last ${this.stderrTail.length} lines) ---\n${this.stderrTail.join('\n')}` : '';
  }

  private onLine(line: string): void {
    let res: Response;
    try {
      res = JSON.parse(line) as Response;
    } catch (e) {
      this.fail(new BbioError('E_BACKEND', `the torch worker wrote a line that is not JSON: ${line.slice(0, 200)}`, {}, 'the worker must keep stdout for protocol messages', { cause: e }));
      this.child.kill('SIGKILL');
      return;
    }
    if (res.ok) {
      this.started = true;
      const p = this.take(res.id);
      p?.resolve(res.result);
      return;
    }
    const tb = res.error.traceback.length ? `\n--- Python traceback (tail) ---\n${res.error.traceback.join('\n')}` : '';
    const err = new BbioError(CODES[res.error.code], `torch worker: ${res.error.message}${tb}`, {}, res.error.code === 'E_BACKEND' ? HINT : undefined);
    if (res.id === null) {
      this.fail(err); // not tied to a request: the worker could not start (no torch) or read a line
      return;
    }
    this.take(res.id)?.reject(err);
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(id);
    }
    return p;
  }

  /** Marks the worker unusable and rejects everything pending with `e` (the first failure wins). */
  private fail(e: BbioError): void {
    this.failure ??= e;
    for (const id of [...this.pending.keys()]) this.take(id)!.reject(this.failure);
  }
}
