import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';
import { initLlama, saveLlama } from '../../../engine/model/llama';
import { trainBpe } from '../../../engine/model/tokenizer';
import { makeRng } from '../../../engine/util/rng';
import { startTestHub } from '../../helpers/test-hub';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { tempDir } from '../../helpers/tmp';
import { useWasm } from './helpers';

before(useWasm);

const COMMIT = 'c'.repeat(40);

/** A tiny checkpoint with a tokenizer in `<dir>/ckpt`, served by a test hub as org/tiny; the cache is `<dir>/cache`. */
async function setup(t: TestContext) {
  const dir = await tempDir(t, 'bbio-hub-cli-');
  const ckpt = path.join(dir, 'ckpt');
  const tok = trainBpe(['the patient has a fever and a cough'], { vocabSize: 270 });
  const cfg = tinyLlamaConfig({ vocab_size: tok.vocabSize, intermediate_size: 16, max_position_embeddings: 32, eos_token_id: 100000 });
  await saveLlama(initLlama({ ...cfg, initializer_range: 0.8 }, makeRng(3)), ckpt);
  await tok.save(ckpt);
  const files = Object.fromEntries(await Promise.all((await readdir(ckpt)).map(async (f) => [f, await readFile(path.join(ckpt, f))] as const)));
  const hub = await startTestHub(t, { 'org/tiny': { commit: COMMIT, files } });
  const env = { HF_HUB_CACHE: path.join(dir, 'cache'), HF_HOME: path.join(dir, 'home'), HF_ENDPOINT: hub.url };
  return { dir, hub, env };
}

function capture(cwd: string, env: NodeJS.ProcessEnv): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false, cwd, env }, out, err };
}

test('infer --model ORG/NAME downloads from the hub and generates the same tokens and log-probs as --model <local dir>', async (t) => {
  const { dir, hub, env } = await setup(t);
  const args = ['--prompt', 'the patient has', '--max-new-tokens', '5', '--logprobs'];
  const local = capture(dir, env);
  assert.equal(await main(['infer', '--model', 'ckpt', ...args], local.io), 0);
  assert.equal(hub.resolves.size, 0, 'a local folder does not touch the hub');
  const remote = capture(dir, env);
  assert.equal(await main(['infer', '--model', 'org/tiny', ...args], remote.io), 0, remote.err.join('\n'));
  assert.equal(remote.out.length, 2);
  assert.deepEqual(remote.out, local.out);
  assert.ok((JSON.parse(remote.out[1]!) as { new_ids: number[] }).new_ids.length === 5);
  assert.ok(remote.err.some((l) => /^downloading org\/tiny\/model\.safetensors: 100% of /.test(l)), remote.err.join('\n'));
  // offline, from the cache the first call filled
  const offline = capture(dir, { ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' });
  assert.equal(await main(['infer', '--model', 'org/tiny', ...args], offline.io), 0, offline.err.join('\n'));
  assert.deepEqual(offline.out, local.out);
});

test('infer: a folder that exists wins over a hub id of the same name; a missing hub model exits 2 with the fix', async (t) => {
  const { dir, hub, env } = await setup(t);
  await mkdir(path.join(dir, 'org'));
  await cp(path.join(dir, 'ckpt'), path.join(dir, 'org', 'tiny'), { recursive: true });
  const io = capture(dir, env);
  assert.equal(await main(['infer', '--model', 'org/tiny', '--prompt-ids', '1,2', '--max-new-tokens', '2'], io.io), 0);
  assert.equal(hub.resolves.size, 0);
  const missing = capture(dir, env);
  assert.equal(await main(['infer', '--model', 'org/other', '--prompt-ids', '1', '--max-new-tokens', '1'], missing.io), 2);
  assert.match(missing.err.join('\n'), /E_HUB_NOT_FOUND org\/other at main: not found/);
});

test('eval --model ORG/NAME scores the hub model like the local folder', async (t) => {
  const { dir, env } = await setup(t);
  await mkdir(path.join(dir, 'mmlu'));
  await writeFile(path.join(dir, 'mmlu', 'alpha_test.csv'), 'Which one?,fever,cough,rash,none,B\nAnother?,a,b,c,d,A\n');
  const args = ['--mmlu', 'mmlu', '--shots', '0', '--backend', 'wasm', '--json'];
  const local = capture(dir, env);
  assert.equal(await main(['eval', '--model', 'ckpt', ...args], local.io), 0, local.err.join('\n'));
  const remote = capture(dir, env);
  assert.equal(await main(['eval', '--model', 'org/tiny', ...args], remote.io), 0, remote.err.join('\n'));
  const scores = (out: string[]) => (JSON.parse(out.join('\n')) as { models: Array<{ mmlu: unknown }> }).models.map((m) => m.mmlu);
  assert.deepEqual(scores(remote.out), scores(local.out));
  assert.match((JSON.parse(remote.out.join('\n')) as { model: string }).model, new RegExp(`models--org--tiny/snapshots/${COMMIT}$`));
});
