/**
 * Tensor backend selection (see ../shared/backends.md for the measurements behind the order).
 *
 * Preference for `auto`: CUDA (`@tensorflow/tfjs-node-gpu`) → native (`@tensorflow/tfjs-node`) → wasm
 * (XNNPACK, SIMD) → pure JS. The native packages are optionalDependencies whose install usually fails, so
 * they are required lazily and a failure becomes one log line, never a stack trace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BbioError } from '../util/errors';
import type { Logger } from '../util/log';

export type BackendChoice = 'auto' | 'gpu' | 'native' | 'wasm' | 'cpu';

/** model.backend / --backend: the TensorFlow.js choices plus `torch`, the PyTorch worker (engine/compute/torch/). */
export const MODEL_BACKENDS = ['auto', 'torch', 'gpu', 'native', 'wasm', 'cpu'] as const;
export type ModelBackend = (typeof MODEL_BACKENDS)[number];

/** What the run manifest and the first event record about the backend. */
export interface BackendInfo {
  /** tfjs backend name actually in use: 'tensorflow' (node/node-gpu), 'wasm' or 'cpu'; 'torch' for the PyTorch worker. */
  name: string;
  /** Which choice produced it: gpu | native | wasm | cpu, or torch (the PyTorch worker, compute/torch/). */
  kind: Exclude<BackendChoice, 'auto'> | 'torch';
  /** One sentence: why this backend (what was tried before it and why that failed). */
  reason: string;
  /** Threads the backend computes with (wasm is single-threaded under Node). */
  threads: number;
  /** Whether SIMD kernels are in use. */
  simd: boolean;
}

export interface SelectBackendOptions {
  log: Logger;
  /** Overrides where the wasm binaries are looked for (tests). */
  wasmDir?: string;
  /** Backends `auto` tried before the TensorFlow.js ones and why they failed (torch), for the one log line. */
  tried?: string[];
}

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** First line of an error message: what the user sees instead of a stack trace. */
function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? msg).slice(0, 200);
}

/**
 * Folder that holds the wasm binaries. After esbuild bundles the engine into dist/cli.js the build copies
 * them next to it, so `__dirname` comes first; in a source checkout they are in the package's dist/.
 */
export function findWasmDir(override?: string): string {
  const candidates: string[] = [];
  if (override) candidates.push(override);
  // `__dirname` exists under CommonJS (the bundle, tsx); guard for ESM loaders.
  if (typeof __dirname === 'string') candidates.push(__dirname, path.join(__dirname, 'wasm'));
  try {
    candidates.push(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')));
  } catch (e) {
    // Not resolvable from here (e.g. a bundle without node_modules): the candidates above must do.
    candidates.push(`(unresolvable: ${firstLine(e)})`);
  }
  for (const dir of candidates) {
    if (WASM_FILES.every((f) => fs.existsSync(path.join(dir, f)))) return dir;
  }
  throw new BbioError('E_BACKEND', `tfjs wasm binaries not found (looked in ${candidates.join(', ')})`, {}, 'reinstall @tensorflow/tfjs-backend-wasm');
}

interface Attempt {
  kind: Exclude<BackendChoice, 'auto'>;
  activate(): Promise<Omit<BackendInfo, 'reason' | 'kind'>>;
}

function nativeAttempt(kind: 'gpu' | 'native', pkg: string): Attempt {
  return {
    kind,
    activate: async () => {
      // Lazy: the package registers the 'tensorflow' backend as a side effect of being required.
      require(pkg);
      const ok = await tf.setBackend('tensorflow');
      if (!ok) throw new Error(`${pkg} loaded but the 'tensorflow' backend did not initialise`);
      await tf.ready();
      return { name: 'tensorflow', threads: 0, simd: true };
    },
  };
}

function wasmAttempt(opts: SelectBackendOptions): Attempt {
  return {
    kind: 'wasm',
    activate: async () => {
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
      const dir = findWasmDir(opts.wasmDir);
      // setWasmPaths throws once the backend was initialised in this process; then it is already set up.
      if (tf.findBackend('wasm') === null || tf.getBackend() !== 'wasm') {
        try {
          wasm.setWasmPaths(dir.endsWith(path.sep) ? dir : dir + path.sep);
        } catch (e) {
          if (!/already initialized/.test(firstLine(e))) throw e;
        }
      }
      const ok = await tf.setBackend('wasm');
      if (!ok) throw new Error('wasm backend did not initialise');
      await tf.ready();
      const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      let threads = 1;
      try {
        threads = wasm.getThreadsCount();
      } catch (e) {
        opts.log.debug('wasm thread count unavailable', { error: firstLine(e) });
      }
      return { name: 'wasm', threads, simd };
    },
  };
}

function cpuAttempt(): Attempt {
  return {
    kind: 'cpu',
    activate: async () => {
      require('@tensorflow/tfjs-backend-cpu');
      const ok = await tf.setBackend('cpu');
      if (!ok) throw new Error('cpu backend did not initialise');
      await tf.ready();
      return { name: 'cpu', threads: 1, simd: false };
    },
  };
}

/**
 * Activates the backend `choice` asks for and returns what the manifest records. `auto` walks the
 * preference order; an explicit choice that fails is an E_BACKEND error (no silent substitution).
 * Logs exactly one info line: which backend and why.
 */
export async function selectBackend(choice: BackendChoice, opts: SelectBackendOptions): Promise<BackendInfo> {
  const all: Record<Exclude<BackendChoice, 'auto'>, Attempt> = {
    gpu: nativeAttempt('gpu', '@tensorflow/tfjs-node-gpu'),
    native: nativeAttempt('native', '@tensorflow/tfjs-node'),
    wasm: wasmAttempt(opts),
    cpu: cpuAttempt(),
  };
  const order: Attempt[] = choice === 'auto' ? [all.gpu, all.native, all.wasm, all.cpu] : [all[choice]];
  const failures: string[] = [...(opts.tried ?? [])];
  for (const attempt of order) {
    try {
      const got = await attempt.activate();
      const reason =
        choice === 'auto'
          ? failures.length
            ? `auto: ${failures.join('; ')}`
            : 'auto: first choice available'
          : `requested by model.backend: ${choice}`;
      const info: BackendInfo = { ...got, kind: attempt.kind, reason };
      opts.log.info(
        `backend: ${attempt.kind} (tfjs '${info.name}', ${info.threads} thread${info.threads === 1 ? '' : 's'}, simd ${info.simd ? 'on' : 'off'}) — ${reason}`,
      );
      return info;
    } catch (e) {
      failures.push(`${attempt.kind} unavailable (${firstLine(e)})`);
    }
  }
  throw new BbioError(
    'E_BACKEND',
    `no tensor backend could be initialised: ${failures.join('; ')}`,
    {},
    choice === 'auto' ? 'reinstall dependencies (npm ci)' : `set model.backend: auto`,
  );
}

/** What one tfjs backend finds on this machine, without activating it (balancedbio doctor). */
export interface BackendProbe {
  kind: Exclude<BackendChoice, 'auto'>;
  available: boolean;
  /** What loaded and how it would run, or the first line of why it cannot. */
  detail: string;
}

/** Loads a module by name: Node's `require` by default; tests pass their own to get either outcome. */
export type LoadModule = (id: string) => unknown;

const NATIVE_PACKAGES = { gpu: '@tensorflow/tfjs-node-gpu', native: '@tensorflow/tfjs-node' } as const;

/**
 * Each tfjs backend in `auto`'s order (gpu → native → wasm → cpu), as `auto` would find it: the native
 * packages are loaded (their install usually failed, and loading says why), wasm's binaries are looked up
 * and its SIMD and threads flags read. Nothing is activated, so this can run beside a chosen backend.
 */
export async function probeBackends(opts: { load?: LoadModule; wasmDir?: string } = {}): Promise<BackendProbe[]> {
  const load = opts.load ?? ((id: string) => require(id));
  const native = (kind: 'gpu' | 'native'): BackendProbe => {
    const pkg = NATIVE_PACKAGES[kind];
    try {
      load(pkg);
      return { kind, available: true, detail: `${pkg} loads (libtensorflow${kind === 'gpu' ? ' with CUDA' : ''})` };
    } catch (e) {
      return { kind, available: false, detail: `${pkg}: ${firstLine(e)}` };
    }
  };
  const wasm = async (): Promise<BackendProbe> => {
    try {
      load('@tensorflow/tfjs-backend-wasm'); // registers the WASM_HAS_* flags read below
      const dir = findWasmDir(opts.wasmDir);
      const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      const threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
      // tfjs-backend-wasm turns its threads off under Node (WASM_HAS_MULTITHREAD_SUPPORT, tfjs#3830); the
      // second core comes from model.workers, data-parallel worker threads (../shared/backends.md)
      const how = threads ? 'threads on' : 'single-threaded under Node (model.workers adds data-parallel worker threads)';
      return { kind: 'wasm', available: true, detail: `SIMD ${simd ? 'on' : 'off'}, ${how}; binaries in ${dir}` };
    } catch (e) {
      return { kind: 'wasm', available: false, detail: firstLine(e) };
    }
  };
  const cpu = (): BackendProbe => {
    try {
      load('@tensorflow/tfjs-backend-cpu');
      return { kind: 'cpu', available: true, detail: 'pure JavaScript kernels, one thread (the slowest)' };
    } catch (e) {
      return { kind: 'cpu', available: false, detail: firstLine(e) };
    }
  };
  return [native('gpu'), native('native'), await wasm(), cpu()];
}
