import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment, parseExperiment, MAX_EXPERIMENT_BYTES } from '../../../engine/config/load';
import type { Problem } from '../../../engine/config/problems';
import { QUICKSTART, REPO, tempDir, workspaceOf } from '../../helpers/tmp';

const FILE = '/virtual/exp.bbio.yaml';
const parse = (text: string) => parseExperiment(text, FILE, { skipFileChecks: true });
const codes = (ps: Problem[]) => ps.map((p) => p.code);
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

test('the quickstart is valid and resolves every default', async () => {
  const r = await loadExperiment(QUICKSTART, { paths: { workspace: [REPO], allowed: [] } });
  assert.deepEqual(r.problems, []);
  assert.ok(r.config);
  assert.equal(r.config.sft.projection, 'pcgrad');
  assert.equal(r.config.sft.schedule.type, 'cosine'); // not in the file: a default
  assert.equal(r.config.model.dims.hidden_size, 96);
  assert.equal(r.config.grpo.epsilon_high, r.config.grpo.clip_epsilon);
  assert.deepEqual(r.config.ontology.sources, []);
});

test('a misspelt key reports its line and column and suggests the right key', async () => {
  const text = (await readFile(QUICKSTART, 'utf8')).replace('  projection: pcgrad', '  projecton: pcgrad');
  const r = await parse(text);
  assert.equal(r.config, undefined);
  const p = r.problems.find((x) => x.code === 'E_SCHEMA_UNKNOWN_KEY');
  assert.ok(p, JSON.stringify(r.problems));
  assert.equal(p.line, lineOf(text, 'projecton'));
  assert.equal(p.column, 3);
  assert.equal(p.endColumn, 3 + 'projecton'.length);
  assert.match(p.hint ?? '', /did you mean `projection`\?/);
  assert.equal(p.replacement, 'projection');
});

test('a misspelt enum value points at the value and suggests the closest', async () => {
  const text = 'name: x\nsft:\n  projection: pcrgad\n';
  const [p] = (await parse(text)).problems;
  assert.equal(p?.code, 'E_SCHEMA_ENUM');
  assert.deepEqual([p?.line, p?.column, p?.endColumn], [3, 15, 21]);
  assert.equal(p?.replacement, 'pcgrad');
});

test('wrong types are reported on the value with the field description as hint', async () => {
  const text = 'name: x\nsft:\n  steps: "ten"\n';
  const [p] = (await parse(text)).problems;
  assert.equal(p?.code, 'E_SCHEMA_TYPE');
  assert.deepEqual([p?.line, p?.column], [3, 10]);
  assert.match(p?.message ?? '', /sft\.steps must be integer; got the string "ten"/);
  assert.match(p?.hint ?? '', /Optimizer steps/);
});

test('malformed YAML gives a syntax error with its line', async () => {
  const r = await parse('name: x\nsft:\n  steps: 3\n  foo: [1, 2\n');
  assert.equal(r.problems[0]?.code, 'E_YAML_SYNTAX');
  assert.ok((r.problems[0]?.line ?? 0) >= 4);
});

test('duplicate keys are a syntax error, not a silent override', async () => {
  const r = await parse('name: x\nseed: 1\nseed: 2\n');
  assert.deepEqual(codes(r.problems), ['E_YAML_SYNTAX']);
  assert.equal(r.problems[0]?.line, 3);
});

test('problems are capped at 200 per file, in source order, plus one "… and N more" at the first left out', async () => {
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}: ${i}`);
  const r = await parse(`name: many\nsft:\n  steps: -1\n${keys.join('\n')}\n`);
  assert.equal(r.problems.length, 201);
  assert.equal(r.problems[0]?.code, 'E_SCHEMA_RANGE'); // sft.steps, on line 3, comes before the unknown keys
  assert.deepEqual(r.problems.slice(1, 200).map((p) => p.line), Array.from({ length: 199 }, (_, i) => i + 4));
  const more = r.problems[200];
  assert.equal(more?.code, 'E_TOO_MANY_PROBLEMS');
  assert.equal(more?.severity, 'error');
  assert.equal(more?.message, '… and 801 more problems (only the first 200 are listed)');
  assert.equal(more?.line, 203); // k199, the first unknown key left out
  assert.equal(r.config, undefined);
});

test('a YAML alias bomb is refused without expanding it', async () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]', 'name: x'].join('\n');
  const r = await parse(bomb);
  assert.deepEqual(codes(r.problems), ['E_YAML_ALIAS']);
});

test('a 50 MB file is refused before it is read', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'big.bbio.yaml');
  const fh = await open(file, 'w');
  await fh.truncate(50 * 1024 * 1024);
  await fh.close();
  const r = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(codes(r.problems), ['E_FILE_TOO_LARGE']);
  assert.match(r.problems[0]!.message, /50\.0 MiB; the limit is 1 MiB/);
  const inMemory = await parse('#'.repeat(MAX_EXPERIMENT_BYTES + 1));
  assert.deepEqual(codes(inMemory.problems), ['E_FILE_TOO_LARGE']);
});

test('an empty file and a missing name are clear errors', async () => {
  assert.deepEqual(codes((await parse('')).problems), ['E_SCHEMA_REQUIRED']);
  const r = await parse('seed: 3\n');
  assert.deepEqual(codes(r.problems), ['E_SCHEMA_REQUIRED']);
  assert.match(r.problems[0]!.message, /missing the required key `name`/);
});

test('schema and semantic problems are all reported at once', async () => {
  const text = ['name: x', 'sft:', '  projecton: pcgrad', '  capability_weights: { domain: 0.5, reasoning: 0.25, instruction: 0.25, integration: 0.25 }', 'lora:', '  rank: 500'].join('\n');
  const r = await parse(text);
  assert.deepEqual(codes(r.problems).sort(), ['E_LORA_RANK', 'E_SCHEMA_UNKNOWN_KEY', 'E_WEIGHTS']);
  const w = r.problems.find((p) => p.code === 'E_WEIGHTS')!;
  assert.equal(w.line, 4);
  assert.match(w.message, /sum to 1\.25/);
  assert.match(w.hint ?? '', /domain: 0\.4, reasoning: 0\.2/);
  const rank = r.problems.find((p) => p.code === 'E_LORA_RANK')!;
  assert.deepEqual([rank.line, rank.column], [6, 9]);
});

test('semantic rules: contradictions and stage dependencies', async () => {
  const olora = await parse('name: x\nsft:\n  projection: olora\n');
  assert.deepEqual(codes(olora.problems), ['E_CONFLICT']);
  assert.match(olora.problems[0]!.hint ?? '', /lora\.adapters: per_capability/);

  const stages = await parse('name: x\nstages: [sft, evaluate]\n');
  assert.deepEqual(codes(stages.problems), ['E_STAGE_DEPENDENCY', 'E_STAGE_DEPENDENCY', 'E_STAGE_DEPENDENCY', 'E_STAGE_DEPENDENCY']);
  assert.match(stages.problems[0]!.message, /stage `sft` needs dataset/);

  const dims = await parse('name: x\nmodel:\n  dims: { hidden_size: 96, heads: 5, kv_heads: 2 }\n');
  assert.ok(codes(dims.problems).includes('E_MODEL_DIMS'));

  const both = await parse('name: x\nstages: [synthesize, sft]\nmodel:\n  preset: bio-tiny\n  path: models/x\n');
  assert.deepEqual(codes(both.problems), ['E_CONFLICT']);

  const rewards = await parse('name: x\ngrpo:\n  rewards:\n    - { name: domain, weight: 0.5 }\n    - { name: domain, weight: 0.5 }\n    - { name: custom, weight: 0.1 }\n');
  assert.deepEqual(codes(rewards.problems).sort(), ['E_CONFLICT', 'E_SCHEMA_REQUIRED', 'E_SCHEMA_REQUIRED']);
});

test('projection_scope global with the subspace projection is a warning at the scope key; per_matrix and pcgrad are not', async () => {
  const text = 'name: x\nsft:\n  projection: subspace\n  projection_scope: global\n';
  const sub = await parse(text);
  assert.deepEqual(codes(sub.problems), ['E_CONFLICT']);
  assert.equal(sub.problems[0]!.severity, 'warning');
  assert.equal(sub.problems[0]!.line, lineOf(text, 'projection_scope'));
  assert.match(sub.problems[0]!.message, /no effect with the subspace projection/);
  const viaOlora = await parse('name: x\nlora:\n  adapters: per_capability\nsft:\n  projection: olora\n  projection_scope: global\n  olora: { combine_with: subspace }\n');
  assert.deepEqual(codes(viaOlora.problems), ['E_CONFLICT']);
  assert.deepEqual((await parse('name: x\nsft:\n  projection: subspace\n  projection_scope: per_matrix\n')).problems, []);
  assert.deepEqual((await parse('name: x\nsft:\n  projection: subspace\n')).problems, []);
  assert.deepEqual((await parse('name: x\nsft:\n  projection: pcgrad\n  projection_scope: global\n')).problems, []);
});

test('model.hub excludes model.path and model.preset, revision needs hub, and a Hub model replaces pretrain', async () => {
  const ok = await parse('name: x\nstages: [synthesize, sft]\nmodel:\n  hub: Qwen/Qwen2.5-0.5B-Instruct\n  revision: main\n');
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config?.model.hub, 'Qwen/Qwen2.5-0.5B-Instruct');
  const text = 'name: x\nstages: [synthesize, sft]\nmodel:\n  hub: org/tiny\n  path: models/x\n';
  const withPath = await parse(text);
  assert.deepEqual(codes(withPath.problems), ['E_CONFLICT']);
  assert.match(withPath.problems[0]!.message, /`model\.hub` and `model\.path` are both set/);
  assert.equal(withPath.problems[0]!.line, lineOf(text, 'hub:'));
  const withPreset = await parse('name: x\nstages: [synthesize, sft]\nmodel:\n  hub: org/tiny\n  preset: bio-tiny\n');
  assert.deepEqual(codes(withPreset.problems), ['E_CONFLICT']);
  assert.match(withPreset.problems[0]!.message, /`model\.hub` and `model\.preset` are both set/);
  const revision = await parse('name: x\nstages: [synthesize, sft]\nmodel:\n  path: models/x\n  revision: main\n');
  assert.deepEqual(codes(revision.problems), ['E_CONFLICT']);
  assert.match(revision.problems[0]!.message, /`model\.revision` only applies to a Hub model/);
  const pretrain = await parse('name: x\nstages: [synthesize, pretrain, sft]\nmodel:\n  hub: org/tiny\n');
  assert.deepEqual(codes(pretrain.problems), ['E_CONFLICT']);
  assert.match(pretrain.problems[0]!.message, /model\.hub names a Hub model/);
  const badId = await parse('name: x\nstages: [synthesize, sft]\nmodel:\n  hub: not-an-id\n');
  assert.ok(badId.problems.some((p) => p.code === 'E_SCHEMA_RANGE' && /model\.hub must match/.test(p.message)), JSON.stringify(badId.problems));
});

test('model.devices above 1 needs the torch backend and no fixed cuda:N; slurm.nodes needs torch and warns without executor slurm', async () => {
  assert.deepEqual((await parse('name: x\nmodel:\n  backend: torch\n  devices: 2\n')).problems, []);
  assert.deepEqual((await parse('name: x\nexecutor: slurm\nmodel:\n  backend: torch\n  device: cuda\n  devices: 4\nslurm:\n  nodes: 2\n')).problems, []);
  const text = 'name: x\nmodel:\n  backend: auto\n  devices: 2\n';
  const auto = await parse(text);
  assert.deepEqual(codes(auto.problems), ['E_CONFLICT']);
  assert.match(auto.problems[0]!.message, /`model\.devices: 2` needs `model\.backend: torch`.*`auto`/);
  assert.equal(auto.problems[0]!.line, lineOf(text, 'devices:'));
  const fixed = await parse('name: x\nmodel:\n  backend: torch\n  device: cuda:1\n  devices: 2\n');
  assert.deepEqual(codes(fixed.problems), ['E_CONFLICT']);
  assert.match(fixed.problems[0]!.message, /names one GPU/);
  const nodes = await parse('name: x\nmodel:\n  backend: wasm\nslurm:\n  nodes: 2\n');
  assert.deepEqual(nodes.problems.map((p) => `${p.code} ${p.severity}`).sort(), ['E_CONFLICT error', 'E_CONFLICT warning']);
  assert.deepEqual(codes((await parse('name: x\nmodel:\n  devices: 0\n')).problems), ['E_SCHEMA_RANGE']);
});

test('referenced files must exist relative to the experiment file', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'onto'));
  await writeFile(path.join(dir, 'onto/present.obo'), 'format-version: 1.4\n');
  const text = ['name: x', 'ontology:', '  sources:', '    - path: onto/present.obo', '    - path: onto/missing.obo', 'eval:', '  mmlu: [data/nothing.csv]'].join('\n');
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, text);
  const r = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(codes(r.problems), ['E_FILE_MISSING', 'E_FILE_MISSING']);
  assert.equal(r.problems[0]!.line, 5);
  assert.match(r.problems[0]!.message, /ontology file not found: onto\/missing\.obo/);
  assert.equal(r.problems[1]!.line, 7);
});

test('LoRA rank is checked against a checkpoint config.json', async (t) => {
  const dir = await tempDir(t);
  await mkdir(path.join(dir, 'ckpt'));
  await writeFile(path.join(dir, 'ckpt/config.json'), JSON.stringify({ hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 1, intermediate_size: 128 }));
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, 'name: x\nstages: [synthesize, sft]\nmodel:\n  path: ckpt\nlora:\n  rank: 32\n  target_modules: [q_proj, k_proj]\n');
  const r = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(codes(r.problems), ['E_LORA_RANK']);
  assert.match(r.problems[0]!.message, /k_proj \(16\)/);
});

test('a missing experiment file is a clear error', async () => {
  const r = await loadExperiment('/nonexistent/exp.bbio.yaml', workspaceOf('/nonexistent/exp.bbio.yaml'));
  assert.deepEqual(codes(r.problems), ['E_FILE_MISSING']);
});

test('preset bio-small sets the dimensions the file leaves unset; a written dimension wins', async () => {
  const small = await parse('name: x\nmodel:\n  preset: bio-small\n');
  assert.deepEqual(small.problems, []);
  const d = small.config!.model.dims;
  assert.deepEqual([d.vocab_size, d.hidden_size, d.heads, d.kv_heads, d.intermediate_size, d.layers, d.context_length], [2048, 192, 6, 2, 512, 4, 256]);
  const narrow = await parse('name: x\nmodel:\n  preset: bio-small\n  dims: { hidden_size: 96, heads: 3, kv_heads: 1 }\n');
  assert.deepEqual(narrow.problems, []);
  assert.equal(narrow.config!.model.dims.hidden_size, 96);
  assert.equal(narrow.config!.model.dims.vocab_size, 2048);
  const tiny = await parse('name: x\nmodel:\n  preset: bio-tiny\n');
  assert.equal(tiny.config!.model.dims.hidden_size, 128);
});

test('every example loads with no problem; capability-transfer scores ≥ 100 held-out items per capability on cloze domain items', async () => {
  const { readdir } = await import('node:fs/promises');
  const files = (await readdir(path.join(REPO, 'examples'))).filter((f) => f.endsWith('.bbio.yaml'));
  assert.ok(files.includes('capability-transfer.bbio.yaml'), files.join(', '));
  for (const f of files) {
    const r = await loadExperiment(path.join(REPO, 'examples', f), { paths: { workspace: [REPO], allowed: [] } });
    assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), [], f);
  }
  const ct = await loadExperiment(path.join(REPO, 'examples', 'capability-transfer.bbio.yaml'), { paths: { workspace: [REPO], allowed: [] } });
  assert.equal(ct.config!.model.dims.hidden_size, 128);
  assert.ok(ct.config!.eval.max_items >= 100, `max_items ${ct.config!.eval.max_items}`);
  assert.equal(ct.config!.synthesis.domain_format, 'cloze');
  assert.equal(ct.config!.pretrain.corpus, 'knowledge');
  assert.ok(ct.config!.ontology.subsets.length > 0);
});

test('pretrain.sequence_length: 0 uses the context; longer than the context is an error at its line with the limit in the hint', async () => {
  const ok = await parseExperiment('name: x\nmodel:\n  dims: { context_length: 256 }\npretrain:\n  sequence_length: 128\n', '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  assert.deepEqual(ok.problems.filter((p) => p.severity === 'error'), []);
  assert.equal(ok.config?.pretrain.sequence_length, 128);
  const bad = await parseExperiment('name: x\nmodel:\n  dims: { context_length: 256 }\npretrain:\n  sequence_length: 512\n', '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  const p = bad.problems.find((x) => x.code === 'E_CONFLICT' && /sequence_length|windows/.test(x.message + x.hint));
  assert.ok(p, JSON.stringify(bad.problems));
  assert.equal(p.severity, 'error');
  assert.equal(p.line, 5);
  assert.match(p.hint ?? '', /at most 256/);
});
