/**
 * Differentiable building blocks with hand-written gradients. Two reasons for custom gradients here
 * (measured in ../shared/backends.md): tfjs's MatMul gradient uses transposeA/transposeB, which on wasm
 * misses XNNPACK and runs ~10–17× slower than a plain 2-D matmul; and `tf.gather`'s gradient needs
 * UnsortedSegmentSum, which wasm lacks. Fused gradients also cut kernel launches (and avoid `Pow`).
 *
 * Every gradient here is checked against finite differences in test/unit/model/ops.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients (the @tensorflow/tfjs umbrella does it); training needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

type T2 = tf.Tensor2D;

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];

/**
 * tf.customGrad with plain types: `f(inputs, save)` returns the value and a gradient function giving one
 * gradient per input. Tensors the backward pass needs must go through save(): closures over forward
 * intermediates die with the forward tidy.
 */
function customOp(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFn },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const wrapped = (...args: unknown[]) => f(args.slice(0, -1) as tf.Tensor[], args[args.length - 1] as tf.GradSaveFunc);
  return tf.customGrad(wrapped as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
}

/**
 * y = x·Wᵀ for a weight in Hugging Face layout W [out, in]. Backward: dx = dy·W, dW = dyᵀ·x, with the
 * transposes materialised so both matmuls are plain (fast-path) 2-D matmuls.
 * x: [N, in], W: [out, in] → [N, out]
 */
export const linear = customOp(([x, w], save) => {
  const xx = x as T2;
  const ww = w as T2;
  save([xx, ww]);
  const value = tf.matMul(xx, tf.transpose(ww)); // [N, out]
  return {
    value,
    gradFunc: (dy, saved) => {
      const [sx, sw] = saved as [T2, T2];
      const g = dy as T2; // [N, out]
      const dx = tf.matMul(g, sw); // [N, in]
      const dw = tf.matMul(tf.transpose(g), sx); // [out, in]
      return [dx, dw];
    },
  };
}) as (x: T2, w: T2) => T2;

/**
 * y = x·Wᵀ where W is frozen (a LoRA base weight or an inference-only call): W is not an input of the
 * op, so backprop computes only dx and never spends a matmul on dW.
 * x: [N, in], W: [out, in] → [N, out]
 */
export function linearFrozen(x: T2, w: T2): T2 {
  const op = customOp(([xi], save) => {
    // Tensors the backward pass uses must go through save(): closures die with the forward tidy.
    save([w]);
    return {
      value: tf.matMul(xi as T2, tf.transpose(w)), // [N, out]
      gradFunc: (dy, saved) => [tf.matMul(dy as T2, saved[0] as T2)], // [N, in]
    };
  }) as (x: T2) => T2;
  return op(x);
}

/**
 * Embedding lookup rows E[ids]. Forward is a gather; backward scatter-adds dy into a [V, D] gradient on
 * the host (wasm has no UnsortedSegmentSum, and a one-hot matmul would cost N·V·D flops).
 * ids: Int32Array of length N (values < V), E: [V, D] → [N, D]
 */
export function embedding(ids: Int32Array, table: T2): T2 {
  const [vocab, dim] = table.shape;
  for (const id of ids) {
    if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} outside the vocabulary [0, ${vocab})`);
  }
  const idsT = tf.tensor1d(ids, 'int32'); // [N]
  const op = customOp(([e], save) => {
    save([]);
    return {
      value: tf.gather(e as T2, idsT), // [N, D]
      gradFunc: (dy) => {
        const g = (dy as T2).dataSync(); // [N, D]
        const out = new Float32Array(vocab * dim);
        for (let n = 0; n < ids.length; n++) {
          const row = ids[n]! * dim;
          const src = n * dim;
          for (let j = 0; j < dim; j++) out[row + j]! += g[src + j]!;
        }
        return [tf.tensor2d(out, [vocab, dim])]; // [V, D]
      },
    };
  }) as (e: T2) => T2;
  return op(table);
}

/**
 * RMSNorm (Zhang & Sennrich 2019): y = w ⊙ x / sqrt(mean(x²) + eps), over the last axis.
 * Backward with r = (mean(x²)+eps)^-½, g = dy ⊙ w: dx = r·(g − (x·r)·mean(g ⊙ x·r)), dw = Σ_rows dy ⊙ x·r.
 * x: [N, D], w: [D] → [N, D]
 */
export function rmsNorm(x: T2, w: tf.Tensor1D, eps: number): T2 {
  const op = customOp(([xi, wi], save) => {
    const xx = xi as T2;
    const ms = tf.mean(tf.mul(xx, xx), -1, true); // [N, 1]
    const r = tf.rsqrt(tf.add(ms, eps)); // [N, 1]
    const xr = tf.mul(xx, r); // [N, D]
    save([xr, r, wi as tf.Tensor1D]);
    return {
      value: tf.mul(xr, wi), // [N, D]
      gradFunc: (dy, saved) => {
        const [sxr, sr, sw] = saved as [T2, T2, tf.Tensor1D];
        const d = dy as T2;
        const g = tf.mul(d, sw); // [N, D]
        const proj = tf.mean(tf.mul(g, sxr), -1, true); // [N, 1]
        const dx = tf.mul(sr, tf.sub(g, tf.mul(sxr, proj))); // [N, D]
        const dw = tf.sum(tf.mul(d, sxr), 0); // [D]
        return [dx, dw];
      },
    };
  }) as (x: T2, w: tf.Tensor1D) => T2;
  return op(x, w);
}

/** cos/sin tables of rotary embeddings for positions [0, maxPos): each [maxPos, headDim]. */
export function ropeTables(maxPos: number, headDim: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  // RoPE (Su et al. 2021): inv_freq_i = theta^(−2i/hd)
  const inv = new Float64Array(headDim / 2).map((_, i) => Math.pow(theta, (-2 * i) / headDim));
  return ropeTablesFrom(maxPos, inv);
}

/**
 * cos/sin tables for given inverse frequencies (after any rope_scaling), Hugging Face "rotate half" layout:
 * frequency i is used at dims i and i + hd/2. Angles in float64, rounded once (as the torch worker does).
 * invFreq: [hd/2] → cos, sin: [maxPos, hd]
 */
export function ropeTablesFrom(maxPos: number, invFreq: Float64Array): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const headDim = 2 * half;
  const cos = new Float32Array(maxPos * headDim);
  const sin = new Float32Array(maxPos * headDim);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const ang = p * invFreq[i]!;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      cos[p * headDim + i] = c;
      cos[p * headDim + i + half] = c;
      sin[p * headDim + i] = s;
      sin[p * headDim + i + half] = s;
    }
  }
  return { cos, sin };
}

/** rotate_half(x) = concat(−x₂, x₁) on the last axis. */
function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const h = x.shape[3] / 2;
  const [x1, x2] = tf.split(x, [h, h], 3); // [.., h] each
  return tf.concat([tf.neg(x2!), x1!], 3) as tf.Tensor4D; // [.., hd]
}

/** Transpose of rotate_half: concat(z₂, −z₁). */
function rotateHalfT(z: tf.Tensor4D): tf.Tensor4D {
  const h = z.shape[3] / 2;
  const [z1, z2] = tf.split(z, [h, h], 3);
  return tf.concat([z2!, tf.neg(z1!)], 3) as tf.Tensor4D;
}

/**
 * Rotary position embedding (Su et al. 2021): y = x ⊙ cos + rotate_half(x) ⊙ sin; its backward is the
 * transpose rotation: dx = dy ⊙ cos + rotate_halfᵀ(dy ⊙ sin).
 * x: [B, T, H, hd], cos/sin: [T, 1, hd] → [B, T, H, hd]
 */
export function rope(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor4D {
  const op = customOp(([xi], save) => {
    const xx = xi as tf.Tensor4D;
    save([cos, sin]);
    return {
      value: tf.add(tf.mul(xx, cos), tf.mul(rotateHalf(xx), sin)) as tf.Tensor4D, // [B, T, H, hd]
      gradFunc: (dy, saved) => {
        const [c, s] = saved as [tf.Tensor3D, tf.Tensor3D];
        const d = dy as tf.Tensor4D;
        return [tf.add(tf.mul(d, c), rotateHalfT(tf.mul(d, s) as tf.Tensor4D))]; // [B, T, H, hd]
      },
    };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}

/**
 * Weighted token cross-entropy: Σ_n w_n · (logsumexp(z_n) − z_n[t_n]). With w = mask / Σmask this is the
 * masked mean. Backward: dz = (softmax(z) − onehot(t)) ⊙ w.
 * logits: [N, V], targets: Int32Array [N], weights: Float32Array [N] → scalar
 */
export function crossEntropy(logits: T2, targets: Int32Array, weights: Float32Array): tf.Scalar {
  const [n, vocab] = logits.shape;
  const flatIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = targets[i]!;
    if (!(t >= 0 && t < vocab)) throw new RangeError(`target id ${t} outside the vocabulary [0, ${vocab})`);
    flatIdx[i] = i * vocab + t;
  }
  const w = tf.tensor1d(weights); // [N]
  const idx = tf.tensor1d(flatIdx, 'int32'); // [N]
  const op = customOp(([z], save) => {
    const zz = z as T2;
    const lse = tf.logSumExp(zz, -1, true); // [N, 1]
    const zt = tf.gather(tf.reshape(zz, [n * vocab]), idx); // [N]
    const nll = tf.sub(tf.reshape(lse, [n]), zt); // [N]
    save([zz, lse, w]);
    return {
      value: tf.sum(tf.mul(nll, w)), // []
      gradFunc: (dy, saved) => {
        const [sz, slse, sw] = saved as [T2, T2, tf.Tensor1D];
        const p = tf.exp(tf.sub(sz, slse)); // [N, V]
        // tfjs-wasm's OneHot writes integer bits when asked for float32; build int32 and cast.
        const onehot = tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), vocab), 'float32'); // [N, V]
        const scale = tf.mul(tf.reshape(sw, [n, 1]), dy); // [N, 1]
        return [tf.mul(tf.sub(p, onehot), scale)]; // [N, V]
      },
    };
  }) as (z: T2) => tf.Scalar;
  return op(logits);
}

/** SiLU (Elfwing et al. 2018): x·σ(x). x: any shape → same shape */
export function silu<R extends tf.Rank>(x: tf.Tensor<R>): tf.Tensor<R> {
  return tf.mul(x, tf.sigmoid(x));
}

/** √(2/π), the constant of GELU's tanh approximation. */
const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (Hendrycks & Gimpel 2016, eq. in §2): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
 * Hugging Face's `gelu_pytorch_tanh` (Gemma's MLP). x³ as x·x·x: tfjs's Pow gradient is slow on wasm.
 * x: any shape → same shape
 */
export function geluTanh<R extends tf.Rank>(x: tf.Tensor<R>): tf.Tensor<R> {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_TANH_C); // same shape
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * Logit soft-capping (Gemma 2, Team et al. 2024 §2): cap·tanh(z / cap) keeps |z| below cap smoothly.
 * z: any shape → same shape
 */
export function softcap<R extends tf.Rank>(z: tf.Tensor<R>, cap: number): tf.Tensor<R> {
  return tf.mul(tf.tanh(tf.div(z, cap)), cap);
}

/** The parts of tfjs-backend-wasm's BackendWasm that groupMatMul uses (not public API; checked at run time). */
interface WasmBackendInternals {
  dataIdMap: { get(id: object): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...a: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
}

/** Per-backend cache of the wasm BatchMatMul entry point (a WeakMap: no module-level mutable state leaks). */
const wasmMatMulFns = new WeakMap<object, (...a: unknown[]) => void>();

function wasmInternals(): WasmBackendInternals | null {
  if (tf.getBackend() !== 'wasm') return null;
  const be = tf.backend() as unknown as Partial<WasmBackendInternals>;
  if (!be.dataIdMap || typeof be.dataIdNextNumber !== 'number' || !be.makeOutput || !be.wasm?.tfjs?.registerTensor) return null;
  return be as WasmBackendInternals;
}

/**
 * a_g · b_g for every group g. tfjs-wasm runs batched matmuls (batch > 1) on a generic loop at
 * ~1.3 GFLOP/s but 2-D ones on XNNPACK at ~15–20 GFLOP/s (../shared/backends.md); slicing the groups
 * out with tfjs kernels costs more than it saves (Slice/SplitV measured at milliseconds per piece). So on
 * wasm we register zero-copy aliases of each group's slice with the wasm runtime and call its 2-D matmul
 * directly; each alias is disposed right away, which also drops XNNPACK's operator cached for it.
 * Other backends use the batched matmul.
 * a: [G, M, K], b: [G, K, N] → [G, M, N]
 */
export function groupMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [g, m, k] = a.shape;
  const n = b.shape[2];
  const be = wasmInternals();
  if (!be || g === 1) return tf.matMul(a, b);
  let call = wasmMatMulFns.get(be);
  if (!call) {
    call = be.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    wasmMatMulFns.set(be, call);
  }
  const aInfo = be.dataIdMap.get(a.dataId)!;
  const bInfo = be.dataIdMap.get(b.dataId)!;
  const outInfo = be.makeOutput([g, m, n], 'float32');
  const oInfo = be.dataIdMap.get(outInfo.dataId)!;
  const aShape = new Uint8Array(new Int32Array([1, m, k]).buffer);
  const bShape = new Uint8Array(new Int32Array([1, k, n]).buffer);
  for (let i = 0; i < g; i++) {
    const ids = [be.dataIdNextNumber++, be.dataIdNextNumber++, be.dataIdNextNumber++];
    be.wasm.tfjs.registerTensor(ids[0]!, m * k, aInfo.memoryOffset + i * m * k * 4);
    be.wasm.tfjs.registerTensor(ids[1]!, k * n, bInfo.memoryOffset + i * k * n * 4);
    be.wasm.tfjs.registerTensor(ids[2]!, m * n, oInfo.memoryOffset + i * m * n * 4);
    try {
      call(ids[0], aShape, 3, ids[1], bShape, 3, false, false, ids[2]);
    } finally {
      for (const id of ids) be.wasm.tfjs.disposeData(id);
    }
  }
  return tf.engine().makeTensorFromTensorInfo(outInfo) as tf.Tensor3D; // [G, M, N]
}

function swapLast(x: tf.Tensor3D): tf.Tensor3D {
  return tf.transpose(x, [0, 2, 1]);
}

/**
 * Scaled dot-product attention core (Vaswani et al. 2017) with the scale already folded into q:
 * O = softmax(S + mask)·v per group, S = q·kᵀ, or S = cap·tanh(q·kᵀ / cap) with `cap` (Gemma 2's attention
 * logit soft-capping), with a hand-written backward so every matmul is a plain 2-D one:
 *   dP = dO·vᵀ, dV = Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)) [⊙ (1 − tanh²) when capped], dQ = dS·k, dK = dSᵀ·q.
 * q: [G, Tq, hd], k, v: [G, Tk, hd], mask: [Tq, Tk] additive → [G, Tq, hd]
 */
export function attentionCore(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: T2, cap?: number): tf.Tensor3D {
  const op = customOp(([qi, ki, vi], save) => {
    const qq = qi as tf.Tensor3D;
    const kk = ki as tf.Tensor3D;
    const vv = vi as tf.Tensor3D;
    const raw = groupMatMul(qq, swapLast(kk)); // [G, Tq, Tk]
    const th = cap === undefined ? null : (tf.tanh(tf.div(raw, cap)) as tf.Tensor3D); // [G, Tq, Tk]
    const scores = th ? tf.mul(th, cap!) : raw; // [G, Tq, Tk]
    const p = tf.softmax(tf.add(scores, mask)) as tf.Tensor3D; // [G, Tq, Tk]
    save(th ? [qq, kk, vv, p, th] : [qq, kk, vv, p]);
    return {
      value: groupMatMul(p, vv), // [G, Tq, hd]
      gradFunc: (dy, saved) => {
        const [sq, sk, sv, sp, sth] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D | undefined];
        const dO = dy as tf.Tensor3D; // [G, Tq, hd]
        const dP = groupMatMul(dO, swapLast(sv)); // [G, Tq, Tk]
        const dV = groupMatMul(swapLast(sp), dO); // [G, Tk, hd]
        let dS = tf.mul(sp, tf.sub(dP, tf.sum(tf.mul(dP, sp), -1, true))) as tf.Tensor3D; // [G, Tq, Tk]
        // d(cap·tanh(s/cap))/ds = 1 − tanh²(s/cap)
        if (sth) dS = tf.mul(dS, tf.sub(1, tf.mul(sth, sth))) as tf.Tensor3D; // [G, Tq, Tk]
        const dQ = groupMatMul(dS, sk); // [G, Tq, hd]
        const dK = groupMatMul(swapLast(dS), sq); // [G, Tk, hd]
        return [dQ, dK, dV];
      },
    };
  }) as (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D) => tf.Tensor3D;
  return op(q, k, v);
}
