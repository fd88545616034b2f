/**
 * One data-parallel training worker (a worker_thread started by GradientPool, see data-parallel.ts). It
 * holds its own tfjs backend and a replica of the model; the main thread keeps the master weights and the
 * optimizer. Per step it copies the weights from the shared weight buffer when their version changed,
 * computes loss and gradients on its shard of the batch, and writes the gradients into its own shared
 * gradient buffer. Why threads at all: tfjs-wasm is single-threaded under Node (../shared/backends.md).
 *
 * Bundled as dist/engine-worker.js; in a source checkout it runs under tsx.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../model/backend';
import { disposeModel, initLlama, lmLoss, makeLmBatch, type LlamaModel } from '../../model/llama';
import { BbioError, isBbioError } from '../../util/errors';
import { silentLogger } from '../../util/log';
import { makeRng } from '../../util/rng';
import type { WorkerReply, WorkerRequest, WorkerInit } from './data-parallel';

interface Replica {
  model: LlamaModel;
  vars: tf.Variable[];
  shapes: number[][];
  /** Offsets of each parameter in the flat weight and gradient buffers (floats). */
  offsets: number[];
  weights: Float32Array; // [P] shared, written by the main thread
  grads: Float32Array; // [P] shared, this worker's slot
  version: number;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function createReplica(init: WorkerInit): Promise<Replica> {
  await selectBackend(init.backend, { log: silentLogger, wasmDir: init.wasmDir });
  // The init values are overwritten by the first weight upload; the seed only makes them well-defined.
  const model = initLlama(init.config, makeRng(0));
  if (init.paramNames.length !== model.params.size) {
    disposeModel(model);
    throw new BbioError('E_INTERNAL', `the gradient pool trains whole models: got ${init.paramNames.length} of ${model.params.size} parameters`);
  }
  const vars: tf.Variable[] = [];
  const offsets: number[] = [];
  let offset = 0;
  init.paramNames.forEach((name, i) => {
    const v = model.params.get(name);
    const shape = init.paramShapes[i]!;
    if (!v || v.shape.join(',') !== shape.join(',')) {
      disposeModel(model);
      throw new BbioError('E_INTERNAL', `worker replica has no parameter "${name}" of shape [${shape}]`);
    }
    vars.push(v);
    offsets.push(offset);
    offset += sizeOf(shape);
  });
  const weights = new Float32Array(init.weights);
  const grads = new Float32Array(init.grads);
  if (weights.length !== offset || grads.length !== offset) throw new BbioError('E_INTERNAL', `shared buffers hold ${weights.length} floats, the model ${offset}`);
  return { model, vars, shapes: init.paramShapes, offsets, weights, grads, version: -1 };
}

/** Copies the shared weights into the replica's variables. */
function loadWeights(r: Replica, version: number): void {
  r.vars.forEach((v, i) => {
    const n = sizeOf(r.shapes[i]!);
    const t = tf.tensor(r.weights.subarray(r.offsets[i]!, r.offsets[i]! + n), r.shapes[i]!); // copies out of the SAB
    v.assign(t);
    t.dispose();
  });
  r.version = version;
}

/** Loss of the shard and its gradients written into the shared gradient slot. */
function shardGradients(r: Replica, rows: Int32Array[], lossMask: Float32Array | undefined): number {
  const batch = makeLmBatch(rows, lossMask);
  const { value, grads } = tf.variableGrads(() => lmLoss(r.model, batch), r.vars);
  try {
    r.vars.forEach((v, i) => {
      const g = grads[v.name];
      const n = sizeOf(r.shapes[i]!);
      if (g) r.grads.set(g.dataSync() as Float32Array, r.offsets[i]!);
      else r.grads.fill(0, r.offsets[i]!, r.offsets[i]! + n);
    });
    return value.dataSync()[0]!;
  } finally {
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  }
}

function errorReply(e: unknown, id?: number): WorkerReply {
  if (isBbioError(e)) return { type: 'error', id, code: e.code, message: e.message, hint: e.hint };
  return { type: 'error', id, code: 'E_INTERNAL', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

function main(): void {
  const port = parentPort;
  if (!port) throw new BbioError('E_INTERNAL', 'engine-worker must run as a worker_thread');
  let replica: Replica | null = null;
  const reply = (m: WorkerReply) => port.postMessage(m);
  port.on('message', (msg: WorkerRequest) => {
    switch (msg.type) {
      case 'init':
        createReplica(msg).then(
          (r) => {
            replica = r;
            reply({ type: 'ready', backend: tf.getBackend() });
          },
          (e: unknown) => reply(errorReply(e)),
        );
        return;
      case 'gradients':
        try {
          if (!replica) throw new BbioError('E_INTERNAL', 'gradients requested before the worker was initialised');
          if (replica.version !== msg.version) loadWeights(replica, msg.version);
          const rows = Array.from({ length: msg.tokens.length / msg.rowLength }, (_, i) => msg.tokens.subarray(i * msg.rowLength, (i + 1) * msg.rowLength));
          const loss = shardGradients(replica, rows, msg.lossMask);
          reply({ type: 'gradients', id: msg.id, loss });
        } catch (e) {
          reply(errorReply(e, msg.id));
        }
        return;
      default:
        assertNever(msg);
    }
  });
}

function assertNever(x: never): never {
  throw new BbioError('E_INTERNAL', `unknown worker message ${JSON.stringify(x)}`);
}

main();
