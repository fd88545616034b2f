/** Shared test helpers for engine/model and engine/train tests. */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../engine/model/backend';
import { silentLogger } from '../../../engine/util/log';
import { makeRng, type Rng } from '../../../engine/util/rng';

/** Activates the wasm backend (the portable product path) once per test process. */
export async function useWasm(): Promise<void> {
  if (tf.getBackend() === 'wasm') return;
  await selectBackend('wasm', { log: silentLogger });
}

export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/**
 * Checks d/dθ f along random directions: ⟨∇f(θ), u⟩ against the central difference
 * (f(θ+εu) − f(θ−εu)) / 2ε for every input tensor. f must return a scalar. Returns the worst relative error.
 */
export function directionalGradError(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  opts: { seed?: number; eps?: number; directions?: number } = {},
): number {
  const rng = makeRng(opts.seed ?? 7);
  const eps = opts.eps ?? 1e-2;
  let worst = 0;
  const grads = tf.grads(f)(inputs);
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i]!;
    const g = grads[i]!.dataSync();
    for (let d = 0; d < (opts.directions ?? 3); d++) {
      const u = randomArray(rng, x.size);
      let analytic = 0;
      for (let j = 0; j < u.length; j++) analytic += g[j]! * u[j]!;
      const shifted = (s: number) =>
        tf.tidy(() => {
          const xs = inputs.map((t, k) => (k === i ? tf.add(t, tf.mul(tf.tensor(u, t.shape), s)) : t));
          return f(...xs).dataSync()[0]!;
        });
      const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
      const err = Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(analytic), Math.abs(numeric));
      worst = Math.max(worst, err);
    }
  }
  for (const g of grads) g.dispose();
  return worst;
}
