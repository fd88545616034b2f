import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initLlama, makeLmBatch } from '../../../engine/model/llama';
import { createLoraSet, loraVariables } from '../../../engine/model/lora';
import { addScaled, zerosLike } from '../../../engine/compute/tfjs/grads';
import { capabilityGradients } from '../../../engine/compute/tfjs/lora-grads';
import { Trainer } from '../../../engine/compute/tfjs/trainer';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from '../model/helpers';

before(useWasm);

test('per-capability LoRA gradients feed a combined AdamW step; base weights stay frozen; no tensor leak', () => {
  const cfg = tinyLlamaConfig();
  const model = initLlama(cfg, makeRng(1));
  const set = createLoraSet(model, ['domain', 'reasoning'], { rank: 2, alpha: 4, dropout: 0.1, targetModules: ['q_proj', 'v_proj'] }, makeRng(2));
  const vars = loraVariables(set);
  const trainer = new Trainer({ vars, schedule: { peak: 0.05, warmupSteps: 0, totalSteps: 10, shape: 'constant', minLrRatio: 1 }, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, gradClip: 1 });
  const base = model.params.get('model.layers.0.self_attn.q_proj.weight')!.dataSync().slice();
  const batches = [
    { capability: 'domain', batch: makeLmBatch([[1, 2, 3, 4]]), adapters: ['domain'] },
    { capability: 'reasoning', batch: makeLmBatch([[5, 6, 7, 8]]), adapters: ['reasoning'] },
  ];
  const rng = makeRng(3);
  let first = NaN, last = NaN;
  const tensorsBefore = tf.memory().numTensors;
  for (let s = 0; s < 8; s++) {
    const per = capabilityGradients(model, set, vars, batches, { training: true, rng });
    // domain's gradient is zero on reasoning's adapter and vice versa
    const iReason = vars.findIndex((v) => v.name.endsWith('.reasoning'));
    assert.ok(per[0]!.grads[iReason]!.every((x) => x === 0));
    const combined = zerosLike(per[0]!.grads);
    for (const p of per) addScaled(combined, p.grads, 0.5);
    const mean = (per[0]!.loss + per[1]!.loss) / 2;
    if (s === 0) first = mean;
    last = mean;
    assert.equal(trainer.applyGradients(combined, { loss: mean }).applied, true);
  }
  assert.ok(last < first, `loss falls ${first} → ${last}`);
  assert.deepEqual(Array.from(model.params.get('model.layers.0.self_attn.q_proj.weight')!.dataSync()), Array.from(base));
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors leak per step');
});
