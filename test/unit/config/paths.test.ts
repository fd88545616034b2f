/**
 * Issue 20, item 1: every path of an experiment stays inside the workspace unless allowed explicitly,
 * symlinks resolved; URLs are https: to public hosts; errors never quote data from outside.
 */
import assert from 'node:assert/strict';
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment } from '../../../engine/config/load';
import { hfHubCache, pathFieldsOf, resolveReal, urlRefusal, type PathPolicy } from '../../../engine/config/paths';
import { defaultExperiment, EXPERIMENT_SCHEMA, type SchemaNode } from '../../../engine/config/schema-validator';
import { runRun } from '../../../engine/cli/commands/run';
import { runValidate } from '../../../engine/cli/commands/validate';
import { loadDataFile } from '../../../engine/synth/real-data';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

interface Layout {
  ws: string;
  outside: string;
  file: string;
}

/** A workspace `ws/` and a sibling `outside/` holding one file of each kind an experiment can name. */
async function layout(t: import('node:test').TestContext): Promise<Layout> {
  const root = await resolveReal(await tempDir(t));
  const ws = path.join(root, 'ws');
  const outside = path.join(root, 'outside');
  await mkdir(ws);
  await mkdir(path.join(outside, 'ckpt'), { recursive: true });
  await writeFile(path.join(outside, 'secret.jsonl'), '{"question": "Q?", "answer": "A"}\n');
  await writeFile(path.join(outside, 'x.obo'), 'format-version: 1.4\n');
  await writeFile(path.join(outside, 'ckpt/config.json'), '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128}');
  await writeFile(path.join(outside, 'reward.js'), 'export function reward() { return 1; }\n');
  await writeFile(path.join(outside, 'mmlu.csv'), 'q,a,b,c,d,A\n');
  return { ws, outside, file: path.join(ws, 'exp.bbio.yaml') };
}

const policy = (l: Layout, allowed: string[] = []): { paths: PathPolicy } => ({ paths: { workspace: [l.ws], allowed, env: { HF_HUB_CACHE: path.join(l.ws, '..', 'hf') } } });

/** Each path-carrying field set to a place outside the workspace; `line` is where the value sits. */
const OUTSIDE_CASES: { field: string; yaml: string[]; line: number; resolved: (l: Layout) => string }[] = [
  { field: 'ontology.sources[].path', yaml: ['ontology:', '  sources:', '    - path: ../outside/x.obo'], line: 4, resolved: (l) => path.join(l.outside, 'x.obo') },
  { field: 'data.train[].path', yaml: ['data:', '  mode: real', '  train:', '    - { path: ../outside/secret.jsonl, format: qa, capability: reasoning }'], line: 5, resolved: (l) => path.join(l.outside, 'secret.jsonl') },
  { field: 'data.val[].path', yaml: ['data:', '  val:', '    - { path: /etc/passwd, format: qa, capability: reasoning }'], line: 4, resolved: () => '/etc/passwd' },
  { field: 'data.test[].path', yaml: ['data:', '  test:', '    - { path: ../../../../../../../../etc/passwd, format: qa, capability: reasoning }'], line: 4, resolved: () => '/etc/passwd' },
  { field: 'model.path', yaml: ['stages: [synthesize, sft]', 'model:', '  path: ../outside/ckpt'], line: 4, resolved: (l) => path.join(l.outside, 'ckpt') },
  { field: 'grpo.rewards[].module', yaml: ['grpo:', '  rewards:', '    - { name: custom, id: mine, module: ../outside/reward.js, weight: 1 }'], line: 4, resolved: (l) => path.join(l.outside, 'reward.js') },
  { field: 'eval.mmlu[]', yaml: ['eval:', '  mmlu: [../outside/mmlu.csv]'], line: 3, resolved: (l) => path.join(l.outside, 'mmlu.csv') },
  { field: 'output.runs_dir', yaml: ['output:', '  runs_dir: ../../../elsewhere'], line: 3, resolved: (l) => path.resolve(l.ws, '../../../elsewhere') },
  { field: 'output.runs_dir (absolute)', yaml: ['output:', '  runs_dir: /etc'], line: 3, resolved: () => '/etc' },
];

test('every path field outside the workspace is E_PATH_OUTSIDE at its line, with the resolved path and how to allow it', async (t) => {
  const l = await layout(t);
  for (const c of OUTSIDE_CASES) {
    await writeFile(l.file, ['name: x', ...c.yaml].join('\n') + '\n');
    const { problems, config } = await loadExperiment(l.file, policy(l));
    const outside = problems.filter((p) => p.code === 'E_PATH_OUTSIDE');
    assert.equal(outside.length, 1, `${c.field}: ${JSON.stringify(problems)}`);
    assert.equal(outside[0]!.line, c.line, c.field);
    assert.ok(outside[0]!.message.includes(`resolves to ${c.resolved(l)}`), `${c.field}: ${outside[0]!.message}`);
    assert.match(outside[0]!.hint ?? '', /balancedbio\.allowedPaths.*--allow-path DIR/, c.field);
    assert.equal(config, undefined, `${c.field}: an experiment reaching outside is not runnable`);
    // refused paths are reported, never read: no follow-up "does not export reward" or rank problems from their content
    assert.deepEqual(problems.filter((p) => p.code !== 'E_PATH_OUTSIDE' && p.code !== 'E_STAGE_DEPENDENCY'), [], c.field);
  }
});

test('the same fields inside the workspace, or in an allowed folder, pass', async (t) => {
  const l = await layout(t);
  await writeFile(l.file, ['name: x', 'ontology:', '  sources:', '    - path: ../outside/x.obo', 'eval:', '  mmlu: [../outside/mmlu.csv]'].join('\n') + '\n');
  assert.deepEqual((await loadExperiment(l.file, policy(l, [l.outside]))).problems, []);
});

test('a symlink inside the workspace that points outside is refused; allowing its target admits it', async (t) => {
  const l = await layout(t);
  await symlink(l.outside, path.join(l.ws, 'link'));
  await writeFile(l.file, ['name: x', 'data:', '  mode: real', '  train:', '    - { path: link/secret.jsonl, format: qa, capability: reasoning }', 'output:', '  runs_dir: link/runs'].join('\n') + '\n');
  const refused = await loadExperiment(l.file, policy(l));
  assert.deepEqual(refused.problems.map((p) => [p.line, p.code]), [[5, 'E_PATH_OUTSIDE'], [7, 'E_PATH_OUTSIDE']]);
  assert.ok(refused.problems[0]!.message.includes(path.join(l.outside, 'secret.jsonl')), refused.problems[0]!.message);
  // runs/ does not exist yet: its nearest existing parent (the link) is what gets resolved
  assert.ok(refused.problems[1]!.message.includes(path.join(l.outside, 'runs')), refused.problems[1]!.message);
  assert.deepEqual((await loadExperiment(l.file, policy(l, [l.outside]))).problems, []);
});

test('the Hugging Face cache is always allowed ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)', async (t) => {
  const l = await layout(t);
  const hub = path.join(l.ws, '..', 'hf');
  await mkdir(path.join(hub, 'models--tiny/snapshots/abc'), { recursive: true });
  await writeFile(path.join(hub, 'models--tiny/snapshots/abc/config.json'), '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128}');
  await writeFile(l.file, ['name: x', 'stages: [synthesize, sft]', 'model:', '  path: ../hf/models--tiny/snapshots/abc'].join('\n') + '\n');
  assert.deepEqual((await loadExperiment(l.file, policy(l))).problems, []);
  assert.equal(hfHubCache({ HF_HOME: '/h' }), '/h/hub');
  assert.equal(hfHubCache({ HF_HUB_CACHE: '/c', HF_HOME: '/h' }), '/c');
  assert.match(hfHubCache({}), /\.cache\/huggingface\/hub$/);
  // as huggingface_hub reads them: XDG_CACHE_HOME moves the default home, HUGGINGFACE_HUB_CACHE is the older name
  assert.equal(hfHubCache({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
  assert.equal(hfHubCache({ XDG_CACHE_HOME: '/x', HF_HOME: '/h' }), '/h/hub');
  assert.equal(hfHubCache({ HUGGINGFACE_HUB_CACHE: '/old', HF_HOME: '/h' }), '/old');
  assert.equal(hfHubCache({ HUGGINGFACE_HUB_CACHE: '/old', HF_HUB_CACHE: '/c' }), '/c');
});

test('URLs: https to public hosts and http to localhost only; private, link-local and non-http schemes are refused', () => {
  for (const ok of ['https://example.org/doid.obo', 'http://localhost:8080/x.obo', 'http://127.0.0.1:9/x.obo', 'http://[::1]:9/x.obo', 'https://localhost/x.obo']) assert.equal(urlRefusal(ok), undefined, ok);
  const refused = [
    'http://169.254.169.254/latest/meta-data/',
    'https://169.254.169.254/latest/meta-data/',
    'http://2852039166/', // 169.254.169.254 written as one number
    'https://10.0.0.8/x.obo',
    'https://192.168.1.1/x.obo',
    'https://172.16.5.4/x.obo',
    'https://172.31.255.255/x.obo',
    'https://[fe80::1]/x.obo',
    'https://[fd00::1]/x.obo',
    'https://[::ffff:169.254.169.254]/x.obo',
    'http://example.org/x.obo',
    'file:///etc/passwd',
    'ftp://example.org/x.obo',
    'not a url',
  ];
  for (const bad of refused) assert.ok(urlRefusal(bad), bad);
  assert.equal(urlRefusal('https://172.32.0.1/x.obo'), undefined, '172.32/16 is public');
});

test('an ontology URL to a metadata address is E_URL_REFUSED at its line, even without file checks', async (t) => {
  const l = await layout(t);
  await writeFile(l.file, ['name: x', 'ontology:', '  sources:', '    - url: http://169.254.169.254/latest/meta-data/iam'].join('\n') + '\n');
  for (const opts of [policy(l), { skipFileChecks: true as const }]) {
    const { problems } = await loadExperiment(l.file, opts);
    assert.deepEqual(problems.map((p) => [p.line, p.code]), [[4, 'E_URL_REFUSED']]);
  }
});

test('pathFieldsOf covers every string field of the schema that names a path, file, folder, URL or module', () => {
  const named: string[] = [];
  const walk = (n: SchemaNode | undefined, at: string): void => {
    if (!n) return;
    for (const [k, v] of Object.entries(n.properties ?? {})) {
      const p = at ? `${at}.${k}` : k;
      const isString = v.type === 'string' || (v.items && v.items.type === 'string');
      if (isString && /path|file|dir|url|module|mmlu/i.test(k) && k !== '$schema') named.push(v.type === 'array' ? `${p}[]` : p);
      walk(v, p);
      if (v.items) walk(v.items, `${p}[]`);
    }
  };
  walk(EXPERIMENT_SCHEMA, '');
  const config = defaultExperiment();
  config.ontology.sources = [{ path: 'a.obo' }, { url: 'https://example.org/b.obo' }];
  config.data.train = config.data.val = config.data.test = [{ path: 'd.jsonl', format: 'qa', capability: 'reasoning', max_records: 0 }];
  config.model.path = 'ckpt';
  config.grpo.rewards = [{ name: 'custom', id: 'c', module: 'r.js', weight: 1 }];
  config.eval.mmlu = ['m.csv'];
  const covered = new Set(pathFieldsOf(config).map((f) => f.at.map((s) => (typeof s === 'number' ? '[]' : `.${s}`)).join('').slice(1).replace(/\.\[\]/g, '[]')));
  assert.deepEqual([...new Set(named)].sort(), [...covered].sort());
});

test('validate: --allow-path admits a folder outside, --workspace moves the workspace; refused without them', async (t) => {
  const l = await layout(t);
  await writeFile(l.file, ['name: x', 'ontology:', '  sources:', '    - path: ../outside/x.obo'].join('\n') + '\n');
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: () => undefined, isTTY: false, cwd: l.ws };
  assert.equal(await runValidate(['exp.bbio.yaml'], { json: false }, io), 2);
  assert.match(out.join('\n'), /exp\.bbio\.yaml:4:13: error E_PATH_OUTSIDE ontology file is outside the workspace/);
  assert.equal(await runValidate(['exp.bbio.yaml'], { json: false, allowPath: ['../outside'] }, io), 0);
  assert.equal(await runValidate(['exp.bbio.yaml'], { json: false, workspace: '..' }, io), 0);
});

test('run refuses a data file outside the workspace before reading it: no run folder, no excerpt of the file', async (t) => {
  const l = await layout(t);
  await writeFile(l.file, ['name: x', 'stages: [synthesize]', 'data:', '  mode: real', '  train:', '    - { path: /etc/passwd, format: qa, capability: reasoning }', 'output:', '  runs_dir: runs'].join('\n') + '\n');
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s), isTTY: false, cwd: l.ws };
  assert.equal(await runRun('exp.bbio.yaml', { stepsScale: 1, json: true, version: 'test' }, io), 2);
  const text = lines.join('\n');
  assert.match(text, /E_PATH_OUTSIDE train data file is outside the workspace: \/etc\/passwd resolves to \/etc\/passwd/);
  assert.doesNotMatch(text, /root:/);
  await assert.rejects(stat(path.join(l.ws, 'runs')), { code: 'ENOENT' });
});

test('a bad record is quoted as a short escaped excerpt, never verbatim', async (t) => {
  const l = await layout(t);
  const secret = 'root:*:20200:0:99999:7:::\u001b[2J' + 'x'.repeat(200);
  await writeFile(path.join(l.ws, 'bad.jsonl'), secret + '\n');
  const e = await loadDataFile({ spec: { path: 'bad.jsonl', format: 'qa', capability: 'reasoning', max_records: 0 }, split: 'train', baseDir: l.ws }).then(
    () => assert.fail('expected E_DATA_RECORD'),
    (err: unknown) => err as BbioError,
  );
  assert.equal(e.code, 'E_DATA_RECORD');
  assert.match(e.message, /not valid JSON: the line starts "root:\*:20200:0:99999:7:::\\u001b\[2Jx{11}…"$/);
  assert.doesNotMatch(e.message, /\u001b/);
  assert.ok(!e.message.includes('x'.repeat(41)), e.message);
});
