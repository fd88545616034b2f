import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { main } from '../../engine/cli/main';
import { saveLlama } from '../../engine/model/llama';
import { trainBpe } from '../../engine/model/tokenizer';
import { useWasm } from '../unit/model/helpers';
import { certainModel } from '../unit/eval/helpers';
import { tempDir } from '../helpers/tmp';

before(useWasm);

const FIXTURES = path.resolve(__dirname, '../fixtures/tasks');

function captureIo(cwd: string): { io: Parameters<typeof main>[1] & object; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false, cwd }, out, err };
}

interface TaskJson {
  task: string;
  models: { name: string; tasks: Record<string, { value: number; stderr: number | null; n: number }> }[];
}

test('balancedbio eval --task medqa scores a checkpoint certain of " B" on the published 4-option JSONL', async (t) => {
  const dir = await tempDir(t);
  const tok = trainBpe([' B B B B B B B B'], { vocabSize: 260 });
  const k = tok.encode(' B');
  assert.equal(k.length, 1);
  await saveLlama(certainModel({ vocab: tok.vocabSize, k: k[0]!, ctx: 2048 }), path.join(dir, 'ckpt'));
  await tok.save(path.join(dir, 'ckpt'));
  const { io, out } = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--task', 'medqa', '--data', path.join(FIXTURES, 'medqa_4options.jsonl'), '--backend', 'wasm', '--json'], io), 0);
  const res = JSON.parse(out.join('\n')) as TaskJson;
  assert.equal(res.models[0]!.name, 'external');
  assert.equal(res.models[0]!.tasks['medqa/acc']!.value, 2 / 3, 'gold is B on rows 1 and 3');
  assert.equal(res.models[0]!.tasks['medqa/acc']!.n, 3);
  const text = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--task', 'medmcqa', '--data', path.join(FIXTURES, 'medmcqa.jsonl'), '--limit', '1', '--backend', 'wasm'], text.io), 0);
  assert.match(text.out.join('\n'), /medmcqa\/acc\s+100\.0\s+1/);
  // --task mmlu is --mmlu: the same scores through the same path
  const mmluDir = path.join(FIXTURES, 'multimedqa/mmlu');
  const viaTask = captureIo(dir);
  const viaFlag = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--task', 'mmlu', '--data', mmluDir, '--shots', '0', '--backend', 'wasm', '--json'], viaTask.io), 0);
  assert.equal(await main(['eval', '--model', 'ckpt', '--mmlu', mmluDir, '--shots', '0', '--backend', 'wasm', '--json'], viaFlag.io), 0);
  const mmlu = (JSON.parse(viaTask.out.join('\n')) as { models: { mmlu: Record<string, { value: number; n: number }> }[] }).models[0]!.mmlu;
  assert.deepEqual(mmlu, (JSON.parse(viaFlag.out.join('\n')) as { models: { mmlu: unknown }[] }).models[0]!.mmlu);
  assert.equal(mmlu.overall!.n, 6);
  assert.equal(mmlu.overall!.value, 3 / 6, 'gold is B in anatomy, clinical_knowledge and college_medicine');
  const bad = captureIo(dir);
  assert.equal(await main(['eval', '--model', 'ckpt', '--task', 'medqa', '--data', path.join(FIXTURES, 'medmcqa.jsonl'), '--backend', 'wasm'], bad.io), 2, 'a file of another format is bad input');
  assert.match(bad.err.join('\n'), /medmcqa\.jsonl:1: field "options" missing \(expected an object of option letter/);
});

test('balancedbio eval --task ifeval --responses scores given responses without a model', async (t) => {
  const dir = await tempDir(t);
  const { io, out } = captureIo(dir);
  assert.equal(await main(['eval', '--task', 'ifeval', '--data', path.join(FIXTURES, 'ifeval_input.jsonl'), '--responses', path.join(FIXTURES, 'ifeval_responses.jsonl'), '--json'], io), 0);
  const res = JSON.parse(out.join('\n')) as TaskJson;
  assert.deepEqual(Object.keys(res.models[0]!.tasks).sort(), ['ifeval/inst_loose', 'ifeval/inst_strict', 'ifeval/prompt_loose', 'ifeval/prompt_strict']);
  assert.equal(res.models[0]!.tasks['ifeval/prompt_strict']!.value, 1 / 3);
  const bad = captureIo(dir);
  assert.equal(await main(['eval', '--task', 'nope', '--data', 'x'], bad.io), 2);
  assert.match(bad.err.join('\n'), /unknown task "nope".*medqa/);
});
