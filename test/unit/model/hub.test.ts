import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hubSnapshotDir } from '../../../engine/config/paths';
import { resolveHubModel } from '../../../engine/model/hub';
import { BbioError } from '../../../engine/util/errors';
import { serializeSafetensors } from '../../../engine/model/safetensors';
import { gitBlobSha1, sha256Hex, startTestHub, type HubRepo } from '../../helpers/test-hub';
import { tempDir } from '../../helpers/tmp';

const COMMIT = 'a'.repeat(39) + '1';

/** A repository with what a model needs, plus files the engine must not download. */
function tinyRepo(over: Partial<HubRepo> = {}): HubRepo {
  const weights = serializeSafetensors(new Map([['w', { shape: [64, 64], data: Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)) }]]));
  return {
    commit: COMMIT,
    files: {
      'config.json': Buffer.from('{"model_type":"llama"}\n'),
      'tokenizer.json': Buffer.from('{"model":{}}\n'),
      'generation_config.json': Buffer.from('{"eos_token_id":2}\n'),
      'model.safetensors': weights,
      'consolidated.safetensors': Buffer.concat([weights, Buffer.of(0)]), // the weights again in another layout, as Mistral repositories have
      'pytorch_model.bin': Buffer.from('pickle'),
      'README.md': Buffer.from('# tiny\n'),
    },
    ...over,
  };
}

async function hubEnv(t: TestContext, repos: Record<string, HubRepo>) {
  const dir = await tempDir(t, 'bbio-hub-');
  const hub = await startTestHub(t, repos);
  const env = { HF_HUB_CACHE: path.join(dir, 'cache'), HF_HOME: path.join(dir, 'home'), HF_ENDPOINT: hub.url };
  return { dir, hub, env, storage: path.join(dir, 'cache', 'models--org--tiny') };
}

const hubError = (code: string, pattern: RegExp) => (e: unknown) => e instanceof BbioError && e.code === code && pattern.test(`${e.message} ${e.hint ?? ''}`);

test('a hub id downloads only the needed files into the huggingface_hub cache layout, and a second run asks for nothing', async (t) => {
  const repo = tinyRepo();
  const { hub, env, storage } = await hubEnv(t, { 'org/tiny': repo });
  const dir = await resolveHubModel('org/tiny', 'main', { env });
  assert.equal(dir, path.join(storage, 'snapshots', COMMIT));
  // refs/main holds the commit, without a newline (huggingface_hub writes it so)
  assert.equal(await readFile(path.join(storage, 'refs', 'main'), 'utf8'), COMMIT);
  const etags: Record<string, string> = {
    'config.json': gitBlobSha1(repo.files['config.json']!), 'tokenizer.json': gitBlobSha1(repo.files['tokenizer.json']!),
    'generation_config.json': gitBlobSha1(repo.files['generation_config.json']!), 'model.safetensors': sha256Hex(repo.files['model.safetensors']!),
  };
  assert.deepEqual((await readdir(path.join(storage, 'blobs'))).sort(), Object.values(etags).sort());
  assert.deepEqual((await readdir(dir)).sort(), Object.keys(etags).sort());
  for (const [file, etag] of Object.entries(etags)) {
    assert.equal(await readlink(path.join(dir, file)), `../../blobs/${etag}`, `${file} is a relative symlink to its blob`);
    assert.deepEqual(await readFile(path.join(dir, file)), repo.files[file]);
  }
  assert.equal(hub.resolves.get('README.md'), undefined);
  assert.equal(hub.resolves.get('consolidated.safetensors'), undefined);
  assert.equal(hub.resolves.get('pytorch_model.bin'), undefined);

  const served = new Map(hub.served);
  assert.equal(await resolveHubModel('org/tiny', 'main', { env }), dir);
  assert.deepEqual(hub.served, served, 'a cached snapshot is not downloaded again');
});

test('HF_HUB_OFFLINE=1 resolves from the cache without a request, and says what to do when the model is absent', async (t) => {
  const { hub, env } = await hubEnv(t, { 'org/tiny': tinyRepo() });
  const offline = { ...env, HF_HUB_OFFLINE: '1' };
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env: offline }), hubError('E_HUB_OFFLINE', /no org\/tiny at main.*unset HF_HUB_OFFLINE/));
  assert.equal(hub.resolves.size, 0);
  const dir = await resolveHubModel('org/tiny', 'main', { env });
  const requests = [...hub.resolves.values()].reduce((a, b) => a + b, 0);
  assert.equal(await resolveHubModel('org/tiny', 'main', { env: offline }), dir);
  assert.equal(await resolveHubModel('org/tiny', COMMIT, { env: offline }), dir);
  assert.equal([...hub.resolves.values()].reduce((a, b) => a + b, 0), requests, 'offline makes no request');
  assert.equal(await hubSnapshotDir('org/tiny', 'main', env), dir);
});

test('without a network a cached model is used with a warning, as huggingface_hub does; an uncached one is a clear error', async (t) => {
  const { env } = await hubEnv(t, { 'org/tiny': tinyRepo() });
  const dir = await resolveHubModel('org/tiny', 'main', { env });
  const unreachable = { ...env, HF_ENDPOINT: 'http://127.0.0.1:9' }; // the discard port: nothing listens
  const warnings: string[] = [];
  const log = { debug() {}, info() {}, error() {}, warn: (m: string) => warnings.push(m) };
  assert.equal(await resolveHubModel('org/tiny', 'main', { env: unreachable, log }), dir);
  assert.match(warnings.join('\n'), /cannot reach http:\/\/127\.0\.0\.1:9 .*using the cached org\/tiny at main/);
  await assert.rejects(resolveHubModel('org/other', 'main', { env: unreachable }), hubError('E_HUB', /cannot reach .* the cache has no org\/other at main/));
});

test('an interrupted download resumes from its .incomplete file instead of starting again', async (t) => {
  const repo = tinyRepo();
  const { hub, env, storage } = await hubEnv(t, { 'org/tiny': repo });
  const weights = repo.files['model.safetensors']!;
  const half = Math.floor(weights.length / 2);
  hub.cutAfter.set('model.safetensors', half);
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env }));
  const incomplete = path.join(storage, 'blobs', `${sha256Hex(weights)}.incomplete`);
  assert.equal((await readFile(incomplete)).length, half);

  const progress: number[] = [];
  const dir = await resolveHubModel('org/tiny', 'main', { env, onProgress: (p) => { if (p.file === 'model.safetensors') progress.push(p.bytes); } });
  assert.equal(hub.served.get('model.safetensors'), weights.length, 'the second request sent only the missing bytes');
  assert.deepEqual(await readFile(path.join(dir, 'model.safetensors')), weights);
  assert.equal(existsSync(incomplete), false);
  assert.equal(progress[0], half, 'progress starts where the partial file ended');
  assert.equal(progress.at(-1), weights.length);
});

test('a download that stalls fails after HF_HUB_DOWNLOAD_TIMEOUT instead of hanging, and the next run resumes it', async (t) => {
  const repo = tinyRepo();
  const { hub, env } = await hubEnv(t, { 'org/tiny': repo });
  const weights = repo.files['model.safetensors']!;
  hub.stallAfter.set('model.safetensors', 100);
  const quick = { ...env, HF_HUB_DOWNLOAD_TIMEOUT: '0.2' };
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env: quick }), hubError('E_HUB', /sent nothing for 0\.2 s.*downloads resume/));
  const dir = await resolveHubModel('org/tiny', 'main', { env: quick });
  assert.deepEqual(await readFile(path.join(dir, 'model.safetensors')), weights);
  assert.equal(hub.served.get('model.safetensors'), weights.length);
});

test('two downloads of the same model at once (parallel sweep variants) write each blob once and both succeed', async (t) => {
  const repo = tinyRepo();
  const { hub, env } = await hubEnv(t, { 'org/tiny': repo });
  const [a, b] = await Promise.all([resolveHubModel('org/tiny', 'main', { env }), resolveHubModel('org/tiny', 'main', { env })]);
  assert.equal(a, b);
  assert.deepEqual(await readFile(path.join(a, 'model.safetensors')), repo.files['model.safetensors']);
  assert.equal(hub.served.get('model.safetensors'), repo.files['model.safetensors']!.length, 'the waiting download reused the blob');
});

test('bytes that do not match the Hub ETag are rejected and not kept; the next run downloads them afresh', async (t) => {
  const repo = tinyRepo();
  const { hub, env, storage } = await hubEnv(t, { 'org/tiny': repo });
  hub.corruptOnce.add('model.safetensors');
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env }), hubError('E_HUB_INTEGRITY', /model\.safetensors: the downloaded bytes do not match the Hub's ETag/));
  const blob = sha256Hex(repo.files['model.safetensors']!);
  assert.equal(existsSync(path.join(storage, 'blobs', blob)), false);
  assert.equal(existsSync(path.join(storage, 'blobs', `${blob}.incomplete`)), false);
  const dir = await resolveHubModel('org/tiny', 'main', { env });
  assert.deepEqual(await readFile(path.join(dir, 'model.safetensors')), repo.files['model.safetensors']);
  hub.corruptOnce.add('config.json'); // a small (non-LFS) file is checked against its git blob id
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env: { ...env, HF_HUB_CACHE: `${env.HF_HUB_CACHE}2` } }), hubError('E_HUB_INTEGRITY', /config\.json/));
});

test('a gated repository needs a token: the error names the licence page and HF_TOKEN; HF_TOKEN or the token file opens it', async (t) => {
  const { hub, env, dir } = await hubEnv(t, { 'org/gated': tinyRepo({ gated: true }) });
  await assert.rejects(resolveHubModel('org/gated', 'main', { env }), (e: unknown) => {
    assert.ok(e instanceof BbioError);
    assert.equal(e.code, 'E_HUB_AUTH');
    assert.match(e.message, /org\/gated is a gated model/);
    assert.ok(e.hint?.includes(`accept the licence at ${hub.url}/org/gated`), e.hint);
    assert.match(e.hint ?? '', /HF_TOKEN/);
    return true;
  });
  assert.ok(existsSync(await resolveHubModel('org/gated', 'main', { env: { ...env, HF_TOKEN: hub.token } })));
  await mkdir(path.join(dir, 'home2'), { recursive: true });
  await writeFile(path.join(dir, 'home2', 'token'), `${hub.token}\n`);
  const other = { ...env, HF_HOME: path.join(dir, 'home2'), HF_HUB_CACHE: path.join(dir, 'cache2') };
  assert.ok(existsSync(await resolveHubModel('org/gated', 'main', { env: other })), 'the token file $HF_HOME/token is read');
});

test('a missing repository or revision, and an HF_ENDPOINT outside the URL policy, are clear errors', async (t) => {
  const { env } = await hubEnv(t, { 'org/tiny': tinyRepo() });
  await assert.rejects(resolveHubModel('org/nope', 'main', { env }), hubError('E_HUB_NOT_FOUND', /org\/nope at main: not found.*ORG\/NAME spelling/));
  await assert.rejects(resolveHubModel('org/tiny', 'v9', { env }), hubError('E_HUB_NOT_FOUND', /no revision `v9`/));
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env: { ...env, HF_ENDPOINT: 'http://hub.example' } }), hubError('E_URL_REFUSED', /plain http: is only allowed to localhost/));
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env: { ...env, HF_ENDPOINT: 'https://10.0.0.1' } }), hubError('E_URL_REFUSED', /private/));
});

test('names from the hub never become paths outside the cache: a shard called ../x or an ETag like a path is refused', async (t) => {
  const index = (name: string) => Buffer.from(JSON.stringify({ weight_map: { w: name } }));
  const evil = '../../../../evil.safetensors';
  const { hub, env, dir } = await hubEnv(t, {
    'org/tiny': { commit: COMMIT, files: { 'config.json': Buffer.from('{}'), 'model.safetensors.index.json': index(evil), [evil]: Buffer.from('x') } },
    'org/etag': tinyRepo(),
  });
  await assert.rejects(resolveHubModel('org/tiny', 'main', { env }), hubError('E_HUB', /names a shard that is not a \.safetensors file at the repository root/));
  hub.etagOverride.set('config.json', '../../../../evil');
  await assert.rejects(resolveHubModel('org/etag', 'main', { env }), hubError('E_HUB', /neither a git sha1 nor a sha256/));
  assert.equal(existsSync(path.join(dir, 'evil')), false);
  assert.equal(existsSync(path.join(dir, 'evil.safetensors')), false);
});

test('a sharded checkpoint downloads the index and only the shards it names', async (t) => {
  const shard = (v: number) => serializeSafetensors(new Map([[`w${v}`, { shape: [2], data: Float32Array.of(v, v) }]]));
  const files = {
    'config.json': Buffer.from('{}'),
    'model.safetensors.index.json': Buffer.from(JSON.stringify({ weight_map: { w1: 'model-00001-of-00002.safetensors', w2: 'model-00002-of-00002.safetensors' } })),
    'model-00001-of-00002.safetensors': shard(1),
    'model-00002-of-00002.safetensors': shard(2),
    'consolidated.safetensors': shard(3),
  };
  const { env } = await hubEnv(t, { 'org/tiny': { commit: COMMIT, files } });
  const dir = await resolveHubModel('org/tiny', 'main', { env });
  assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
});
