import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  createKvCache, decodeStep, disposeKvCache, forwardLogits, initLlama, loadLlama, lmLoss, makeLmBatch, normalizeConfig,
  parameterShapes, saveLlama, type LlamaConfig,
} from '../../../engine/model/llama';
import { writeSafetensors, type TensorMap } from '../../../engine/model/safetensors';
import { makeRng } from '../../../engine/util/rng';
import { tempDir } from '../../helpers/tmp';
import { randomArray, useWasm } from './helpers';

before(useWasm);

function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return normalizeConfig({
    model_type: 'qwen2', vocab_size: 13, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 16, rms_norm_eps: 1e-6,
    rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', ...over,
  });
}

/** Straightforward float64 reference of the HF Llama/Qwen2 forward pass, written with plain loops. */
function referenceLogits(c: LlamaConfig, w: TensorMap, ids: number[]): number[][] {
  const D = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads, hd = D / H, T = ids.length;
  const get = (n: string) => w.get(n)!;
  const matvec = (name: string, x: number[]) => {
    const t = get(`${name}.weight`); const [out, inp] = t.shape as [number, number];
    const b = w.get(`${name}.bias`);
    const y: number[] = [];
    for (let o = 0; o < out; o++) { let s = b ? b.data[o]! : 0; for (let i = 0; i < inp; i++) s += t.data[o * inp + i]! * x[i]!; y.push(s); }
    return y;
  };
  const norm = (name: string, x: number[]) => {
    const ms = x.reduce((s, v) => s + v * v, 0) / x.length;
    return x.map((v, i) => (v / Math.sqrt(ms + c.rms_norm_eps)) * get(name).data[i]!);
  };
  const ropeAt = (v: number[], pos: number) => {
    const out = v.slice(); const half = hd / 2;
    for (let i = 0; i < half; i++) {
      const ang = pos / Math.pow(c.rope_theta, (2 * i) / hd);
      out[i] = v[i]! * Math.cos(ang) - v[i + half]! * Math.sin(ang);
      out[i + half] = v[i + half]! * Math.cos(ang) + v[i]! * Math.sin(ang);
    }
    return out;
  };
  let xs = ids.map((id) => Array.from(get('model.embed_tokens.weight').data.slice(id * D, (id + 1) * D)));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const hs = xs.map((x) => norm(`${p}.input_layernorm.weight`, x));
    const qs = hs.map((h) => matvec(`${p}.self_attn.q_proj`, h));
    const ks = hs.map((h) => matvec(`${p}.self_attn.k_proj`, h));
    const vs = hs.map((h) => matvec(`${p}.self_attn.v_proj`, h));
    const outs = xs.map(() => new Array<number>(H * hd).fill(0));
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / KV));
      for (let t = 0; t < T; t++) {
        const q = ropeAt(qs[t]!.slice(h * hd, (h + 1) * hd), t);
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          const k = ropeAt(ks[s]!.slice(kvh * hd, (kvh + 1) * hd), s);
          scores.push(q.reduce((a, v, i) => a + v * k[i]!, 0) / Math.sqrt(hd));
        }
        const m = Math.max(...scores); const e = scores.map((s) => Math.exp(s - m)); const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) outs[t]![h * hd + i]! += (e[s]! / z) * vs[s]![kvh * hd + i]!;
      }
    }
    xs = xs.map((x, t) => { const o = matvec(`${p}.self_attn.o_proj`, outs[t]!); return x.map((v, i) => v + o[i]!); });
    xs = xs.map((x) => {
      const h = norm(`${p}.post_attention_layernorm.weight`, x);
      const g = matvec(`${p}.mlp.gate_proj`, h); const u = matvec(`${p}.mlp.up_proj`, h);
      const a = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
      const d = matvec(`${p}.mlp.down_proj`, a);
      return x.map((v, i) => v + d[i]!);
    });
  }
  const head = c.tie_word_embeddings ? 'model.embed_tokens' : 'lm_head';
  return xs.map((x) => matvec(head, norm('model.norm.weight', x)));
}

function randomWeights(c: LlamaConfig, seed: number): TensorMap {
  const rng = makeRng(seed);
  const m: TensorMap = new Map();
  for (const [name, shape] of parameterShapes(c)) m.set(name, { shape, data: randomArray(rng, shape.reduce((a, b) => a * b, 1), name.includes('norm') ? 0.3 : 0.4) });
  for (const [name, t] of m) if (name.includes('norm')) t.data.forEach((v, i) => (t.data[i] = 1 + v));
  return m;
}

async function writeCheckpoint(t: TestContext, c: LlamaConfig, w: TensorMap): Promise<string> {
  const dir = await tempDir(t, 'bbio-llama-');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
  await writeSafetensors(path.join(dir, 'model.safetensors'), w);
  return dir;
}

for (const variant of [
  { label: 'Qwen2 (q/k/v bias, GQA, untied)', cfg: {} },
  { label: 'Llama (no bias, tied, MHA)', cfg: { model_type: 'llama' as const, num_key_value_heads: 4, tie_word_embeddings: true } },
]) {
  test(`forward of a checkpoint equals a plain-loop reference: ${variant.label}`, async (t) => {
    const c = tinyConfig(variant.cfg);
    const w = randomWeights(c, 21);
    const dir = await writeCheckpoint(t, c, w);
    const model = loadLlama(dir);
    const ids = [3, 1, 12, 7, 7, 0];
    const got = forwardLogits(model, new Int32Array(ids), 1).arraySync() as number[][];
    const want = referenceLogits(c, w, ids);
    let worst = 0;
    for (let t = 0; t < ids.length; t++) for (let v = 0; v < c.vocab_size; v++) worst = Math.max(worst, Math.abs(got[t]![v]! - want[t]![v]!));
    assert.ok(worst < 1e-4, `max |Δlogit| = ${worst}`);
    // Round trip through saveLlama keeps config keys and weights.
    const dir2 = path.join(dir, 'copy');
    await saveLlama(model, dir2);
    const cfg2 = JSON.parse(fs.readFileSync(path.join(dir2, 'config.json'), 'utf8'));
    assert.equal(cfg2.num_key_value_heads, c.num_key_value_heads);
    assert.equal(cfg2.model_type, c.model_type);
    const again = forwardLogits(loadLlama(dir2), new Int32Array(ids), 1).dataSync();
    assert.deepEqual(Array.from(again), (got as number[][]).flat().map((v) => Math.fround(v)));
  });
}

test('model gradients (attention with RoPE + GQA + bias, SwiGLU, embeddings) match finite differences', () => {
  const c = tinyConfig();
  const model = initLlama({ ...c, initializer_range: 0.5 }, makeRng(4));
  const batch = makeLmBatch([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
  const names = [...model.params.keys()];
  const vars = names.map((n) => model.params.get(n)!);
  // Gradients through variables: compare tf.variableGrads with directional finite differences.
  const { grads } = tf.variableGrads(() => lmLoss(model, batch), vars);
  const rng = makeRng(5);
  for (const name of names) {
    const v = model.params.get(name)!;
    const g = grads[v.name]!.dataSync() as Float32Array;
    const u = randomArray(rng, v.size);
    let analytic = 0;
    for (let i = 0; i < g.length; i++) analytic += g[i]! * u[i]!;
    const eps = 1e-2;
    const orig = v.clone();
    v.assign(tf.add(orig, tf.mul(tf.tensor(u, v.shape), eps)));
    const up = lmLoss(model, batch).dataSync()[0]!;
    v.assign(tf.sub(orig, tf.mul(tf.tensor(u, v.shape), eps)));
    const down = lmLoss(model, batch).dataSync()[0]!;
    v.assign(orig);
    const numeric = (up - down) / (2 * eps);
    const err = Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(analytic));
    assert.ok(err < 2e-2, `${name}: analytic ${analytic} vs numeric ${numeric}`);
  }
});

test('KV-cache decoding gives the same logits as the full forward', () => {
  const c = tinyConfig();
  const model = initLlama({ ...c, initializer_range: 0.5 }, makeRng(9));
  const ids = [4, 8, 1, 11, 2, 5, 9];
  const full = forwardLogits(model, new Int32Array(ids), 1).arraySync() as number[][];
  const cache = createKvCache(model);
  const first = decodeStep(model, new Int32Array(ids.slice(0, 3)), 1, cache);
  let worst = Math.max(...Array.from(first, (v, i) => Math.abs(v - full[2]![i]!)));
  for (let t = 3; t < ids.length; t++) {
    const step = decodeStep(model, new Int32Array([ids[t]!]), 1, cache);
    worst = Math.max(worst, ...Array.from(step, (v, i) => Math.abs(v - full[t]![i]!)));
  }
  assert.equal(cache.length, ids.length);
  disposeKvCache(cache);
  assert.ok(worst < 1e-5, `max |Δ| = ${worst}`);
});

test('config validation names the problem', () => {
  assert.throws(() => tinyConfig({ num_key_value_heads: 3 }), /must divide/);
  assert.throws(() => normalizeConfig({ model_type: 'gpt2', vocab_size: 1, hidden_size: 1, intermediate_size: 1, num_hidden_layers: 1, num_attention_heads: 1 }), /not supported/);
});

test('grouped and batched attention layouts give the same loss and gradients (GQA)', () => {
  const model = initLlama({ ...tinyConfig(), initializer_range: 0.5 }, makeRng(12));
  const batch = makeLmBatch([[1, 2, 3, 4, 5, 6], [6, 7, 8, 9, 10, 11]]);
  const vars = [...model.params.values()];
  const run = (attention: 'grouped' | 'batched') => {
    const { value, grads } = tf.variableGrads(() => lmLoss(model, batch, { attention }), vars);
    return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync()) };
  };
  const a = run('grouped');
  const b = run('batched');
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6);
  a.grads.forEach((g, i) => g.forEach((x, j) => assert.ok(Math.abs(x - b.grads[i]![j]!) < 1e-5, `grad ${i}[${j}]`)));
});
