import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { forwardLogits, initLlama, lmLoss, makeLmBatch } from '../../../engine/model/llama';
import {
  createLoraSet, loadLoraAdapter, loraHook, loraVariables, mergeLora, saveLoraSet, unmergeLora, type LoraSpec,
} from '../../../engine/model/lora';
import { readSafetensors } from '../../../engine/model/safetensors';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { randomArray, useWasm } from './helpers';

before(useWasm);

const cfg = tinyLlamaConfig({ num_hidden_layers: 2 });
const spec: LoraSpec = { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] };

/** Gives B non-zero values so the delta is visible. */
function randomizeB(set: ReturnType<typeof createLoraSet>, seed: number, scale = 0.5): void {
  const rng = makeRng(seed);
  for (const a of set.values()) for (const p of a.modules.values()) p.B.assign(tf.tensor(randomArray(rng, p.B.size, scale), p.B.shape));
}

test('a fresh adapter (B = 0) leaves the model unchanged; merge equals the hooked forward; unmerge restores W within 1e-6', () => {
  const model = initLlama({ ...cfg, initializer_range: 0.5 }, makeRng(1));
  const set = createLoraSet(model, ['default'], spec, makeRng(2));
  const ids = new Int32Array([1, 4, 2, 9]);
  const base = forwardLogits(model, ids, 1).dataSync();
  const hooked0 = forwardLogits(model, ids, 1, { freezeBase: true, hook: loraHook(set, { training: false }) }).dataSync();
  assert.deepEqual(Array.from(hooked0), Array.from(base));
  randomizeB(set, 3);
  const hooked = forwardLogits(model, ids, 1, { freezeBase: true, hook: loraHook(set, { training: false }) }).dataSync();
  assert.ok(Math.max(...Array.from(hooked, (v, i) => Math.abs(v - base[i]!))) > 1e-3, 'delta is visible');
  const before = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice()]));
  mergeLora(model, set.get('default')!);
  const merged = forwardLogits(model, ids, 1).dataSync();
  assert.ok(Math.max(...Array.from(merged, (v, i) => Math.abs(v - hooked[i]!))) < 1e-5);
  unmergeLora(model, set.get('default')!);
  for (const [n, v] of model.params) {
    const now = v.dataSync();
    const was = before.get(n)!;
    for (let i = 0; i < now.length; i++) assert.ok(Math.abs(now[i]! - was[i]!) <= 1e-6, `${n}[${i}]`);
  }
});

test('LoRA gradients w.r.t. A and B match finite differences; base weights get none', () => {
  const model = initLlama({ ...cfg, initializer_range: 0.3 }, makeRng(4));
  const set = createLoraSet(model, ['default'], spec, makeRng(5));
  randomizeB(set, 6, 0.1);
  const batch = makeLmBatch([[1, 2, 3, 4, 5]]);
  const loss = () => lmLoss(model, batch, { freezeBase: true, hook: loraHook(set, { training: false }) });
  const vars = loraVariables(set);
  const { grads } = tf.variableGrads(loss, vars.map((v) => v.variable));
  assert.equal(Object.keys(grads).length, vars.length);
  const rng = makeRng(7);
  for (const { name, variable: v } of vars) {
    const g = grads[v.name]!.dataSync() as Float32Array;
    const u = randomArray(rng, v.size);
    let analytic = 0;
    for (let i = 0; i < g.length; i++) analytic += g[i]! * u[i]!;
    const orig = v.clone();
    const eps = 1e-3;
    v.assign(tf.add(orig, tf.mul(tf.tensor(u, v.shape), eps)));
    const up = loss().dataSync()[0]!;
    v.assign(tf.sub(orig, tf.mul(tf.tensor(u, v.shape), eps)));
    const down = loss().dataSync()[0]!;
    v.assign(orig);
    const numeric = (up - down) / (2 * eps);
    assert.ok(Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(analytic)) < 2e-2, `${name}: ${analytic} vs ${numeric}`);
  }
});

test('dropout on the LoRA path is seeded: same rng state, same output; off at inference', () => {
  const model = initLlama(cfg, makeRng(8));
  const set = createLoraSet(model, ['default'], { ...spec, dropout: 0.5 }, makeRng(9));
  randomizeB(set, 10);
  const ids = new Int32Array([1, 2, 3]);
  const run = (seed: number) => forwardLogits(model, ids, 1, { freezeBase: true, hook: loraHook(set, { training: true, rng: makeRng(seed) }) }).dataSync();
  assert.deepEqual(Array.from(run(1)), Array.from(run(1)));
  assert.notDeepEqual(Array.from(run(1)), Array.from(run(2)));
});

test('per-capability adapters: gradients of one adapter only; PEFT files and key names; save → load round trip', async (t) => {
  const model = initLlama(cfg, makeRng(11));
  const set = createLoraSet(model, ['default', 'domain', 'reasoning'], spec, makeRng(12));
  randomizeB(set, 13);
  const batch = makeLmBatch([[1, 2, 3, 4]]);
  const domainVars = loraVariables(set, ['domain']);
  assert.ok(domainVars.every((v) => v.name.endsWith('.domain')));
  const { grads } = tf.variableGrads(
    () => lmLoss(model, batch, { freezeBase: true, hook: loraHook(set, { training: false, active: ['domain'] }) }),
    domainVars.map((v) => v.variable),
  );
  assert.equal(Object.keys(grads).length, domainVars.length);

  const dir = await tempDir(t, 'bbio-lora-');
  await saveLoraSet(set, dir, { baseModel: 'bio-tiny' });
  const cfgJson = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(cfgJson.peft_type, 'LORA');
  assert.equal(cfgJson.r, 2);
  assert.equal(cfgJson.lora_alpha, 4);
  assert.deepEqual(cfgJson.target_modules, ['q_proj', 'v_proj', 'down_proj']);
  const keys = [...readSafetensors(path.join(dir, 'adapter_model.safetensors')).tensors.keys()];
  assert.ok(keys.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'));
  assert.ok(keys.includes('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'));
  assert.equal(keys.length, 2 * 3 * 2);
  assert.ok(fs.existsSync(path.join(dir, 'domain', 'adapter_model.safetensors')));

  const loaded = loadLoraAdapter(model, path.join(dir, 'domain'), 'domain');
  for (const [module, pair] of set.get('domain')!.modules) {
    assert.deepEqual(Array.from(loaded.modules.get(module)!.A.dataSync()), Array.from(pair.A.dataSync()));
    assert.deepEqual(Array.from(loaded.modules.get(module)!.B.dataSync()), Array.from(pair.B.dataSync()));
  }
  assert.throws(() => createLoraSet(model, ['x'], { ...spec, rank: 9 }, makeRng(1)), /exceeds/);
});
