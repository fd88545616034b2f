/**
 * TorchCompute's own part and the backend choice: completions cut at stop strings on this side give what
 * the tfjs decode loop gives (ids covering the stop kept, text cut before it, logprobs), and `auto` opens
 * the torch worker when the configured Python imports torch, else wasm, saying which and why in one line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { openCompute } from '../../../engine/compute';
import { TfjsCompute } from '../../../engine/compute/tfjs/compute';
import { openTorchCompute, type TorchCompute } from '../../../engine/compute/torch/compute';
import { disposeModel, initLlama, saveLlama } from '../../../engine/model/llama';
import { createLogger, silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { charTokenizer } from '../eval/helpers';
import { useWasm } from '../model/helpers';

const PYTHON = '/usr/bin/python3';
const needsTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0 ? `${PYTHON} cannot import torch (run scripts/test-worker.sh --install)` : false;

before(useWasm);

let torch: TorchCompute | undefined;
after(() => torch?.dispose());

test('torch compute: greedy completions with EOS and stop strings equal the tfjs ones (ids, text, finish reason, logprobs)', { skip: needsTorch }, async (t) => {
  const dir = await tempDir(t);
  // wide and sharp enough that no argmax ties (the test would then hang on rounding); ids ≥ 3 decode to letters
  const config = tinyLlamaConfig({ vocab_size: 37, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 32 });
  const model = initLlama(config, makeRng(41).fork('init'));
  for (const v of model.params.values()) if (v.rank === 2) v.assign(tf.mul(v, 20));
  await saveLlama(model, dir);
  disposeModel(model);
  const tokenizer = charTokenizer();
  const tfjs = new TfjsCompute({ backend: { name: 'wasm', kind: 'wasm', reason: 'test', threads: 1, simd: true }, log: silentLogger, tokenizer });
  t.after(() => tfjs.dispose());
  torch = await openTorchCompute({ log: silentLogger, python: PYTHON, device: 'cpu', dtype: 'float32', tokenizer });
  await tfjs.loadModel(dir);
  await torch.loadModel(dir);
  const prompts = [[4, 9, 3], [30, 12, 7, 7, 20], [5]];
  const free = await tfjs.generate({ prompts, n: 1, temperature: 0, topP: 1, maxNewTokens: 12, stop: [] });
  // a stop string taken from the middle of one free-running completion, so that one row ends on it
  const text = free[1]![0]!.text;
  const stop = text.slice(4, 6);
  assert.ok(stop.length === 2, `completion long enough to hold a stop string: "${text}"`);
  const req = { prompts, n: 1, temperature: 0, topP: 1, maxNewTokens: 12, stop: [stop, 'never-decoded'] };
  const [want, got] = [await tfjs.generate(req), await torch.generate(req)];
  assert.ok(want.flat().some((c) => c.finishReason === 'stop'), 'a row ended on the stop string');
  assert.deepEqual(got.map((row) => row.map((c) => ({ ids: c.ids, text: c.text, finishReason: c.finishReason }))), want.map((row) => row.map((c) => ({ ids: c.ids, text: c.text, finishReason: c.finishReason }))));
  got.flat().forEach((c, i) => c.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - want.flat()[i]!.logprobs[j]!) < 1e-5, `logprob ${i}/${j}`)));

  // a chat format's end-of-turn id (stopIds): the row ends on it with finish reason stop, the id kept, its text not shown
  const stopId = free[0]![0]!.ids[3]!;
  const turnReq = { prompts, n: 1, temperature: 0, topP: 1, maxNewTokens: 12, stop: [], stopIds: [stopId] };
  const [wantTurn, gotTurn] = [await tfjs.generate(turnReq), await torch.generate(turnReq)];
  assert.equal(wantTurn[0]![0]!.finishReason, 'stop');
  assert.deepEqual(gotTurn.map((row) => row.map((c) => ({ ids: c.ids, text: c.text, finishReason: c.finishReason }))), wantTurn.map((row) => row.map((c) => ({ ids: c.ids, text: c.text, finishReason: c.finishReason }))));
});

test('openCompute auto: torch when the configured Python imports it, else wasm naming why, one log line each', { skip: needsTorch }, async (t) => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const withTorch = await openCompute({ backend: 'auto', workers: 1, device: 'cpu', dtype: 'auto' }, { log, python: PYTHON });
  t.after(() => withTorch.dispose());
  assert.equal(withTorch.describe().kind, 'torch');
  assert.match(withTorch.describe().reason, /^auto: \/usr\/bin\/python3 imports torch; Python 3\.\d+.*torch \d+\.\d+.*device cpu, dtype float32/);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^backend: torch/);

  lines.length = 0;
  const fake = await tempDir(t);
  fs.mkdirSync(path.join(fake, 'torch'));
  fs.writeFileSync(path.join(fake, 'torch', '__init__.py'), 'raise ImportError("no torch in this interpreter")\n');
  const without = await openCompute({ backend: 'auto', workers: 1 }, { log, python: PYTHON, env: { ...process.env, PYTHONPATH: fake } });
  t.after(() => without.dispose());
  assert.equal(without.describe().kind, 'wasm');
  assert.match(without.describe().reason, /torch unavailable \(cannot import torch in .*no torch in this interpreter\)/);
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /^backend: wasm .*torch unavailable/);
});
