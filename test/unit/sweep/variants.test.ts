import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadExperiment, parseExperiment } from '../../../engine/config/load';
import type { Problem } from '../../../engine/config/problems';
import { applyOverrides, checkOverridePath, createOverrideValidator, expandVariants } from '../../../engine/config/variants';
import { tempDir, workspaceOf } from '../../helpers/tmp';

async function problemsOf(text: string): Promise<Problem[]> {
  return (await parseExperiment(text, '/virtual/exp.bbio.yaml', { skipFileChecks: true })).problems;
}

const at = (p: Problem): string => `${p.line}:${p.column} ${p.code}`;

test('a misspelt override path is reported on its own line and key, with a did-you-mean quick fix', async () => {
  const problems = await problemsOf([
    'name: v',                                   // 1
    'variants:',                                 // 2
    '  - name: ok',                              // 3
    '    set: { sft.projection: none }',         // 4
    '  - name: typo',                            // 5
    '    set:',                                  // 6
    '      seed: 3',                             // 7
    '      sft.projecton: none',                 // 8
  ].join('\n'));
  assert.equal(problems.length, 1, JSON.stringify(problems));
  const p = problems[0]!;
  assert.equal(at(p), '8:7 E_SCHEMA_UNKNOWN_KEY');
  assert.equal(p.endColumn, 7 + 'sft.projecton'.length);
  assert.match(p.message, /unknown path `sft.projecton`: `sft` has no key `projecton`/);
  assert.equal(p.hint, 'did you mean `sft.projection`?');
  assert.equal(p.replacement, 'sft.projection');
});

test('a bare key that exists in several sections suggests each full path', async () => {
  const [p] = await problemsOf('name: v\nvariants:\n  grid:\n    projection: [none, pcgrad]\n');
  assert.equal(at(p!), '4:5 E_SCHEMA_UNKNOWN_KEY');
  assert.equal(p!.hint, 'did you mean `sft.projection` or `grpo.projection`?');
});

test('override values are validated against their key\'s schema, each at its own position', async () => {
  const problems = await problemsOf([
    'name: v',
    'variants:',
    '  grid:',
    '    sft.projection: [none, pcgrd, subspace]',
    '    seed: [1, "two"]',
    '    sft.capability_weights:',
    '      - { domain: 0.4, reasoning: 0.2, instruction: 0.2, integration: 0.2 }',
    '      - { domain: 0.5, reasoning: 0.5, instruction: 0.2, integration: 0.2 }',
  ].join('\n'));
  assert.deepEqual(problems.map(at), ['4:28 E_SCHEMA_ENUM', '5:15 E_SCHEMA_TYPE']);
  assert.match(problems[0]!.message, /override `sft.projection` must be one of `none`, `pcgrad`, `subspace`, `olora`; got `pcgrd`/);
  assert.equal(problems[0]!.replacement, 'pcgrad');
  assert.match(problems[1]!.message, /override `seed` must be integer; got the string "two"/);
  // once the values are valid, the weights that do not sum to 1 are found, at the offending grid value
  const again = await problemsOf([
    'name: v',
    'variants:',
    '  grid:',
    '    sft.capability_weights:',
    '      - { domain: 0.4, reasoning: 0.2, instruction: 0.2, integration: 0.2 }',
    '      - { domain: 0.5, reasoning: 0.5, instruction: 0.2, integration: 0.2 }',
  ].join('\n'));
  assert.deepEqual(again.map(at), ['6:9 E_WEIGHTS']);
  assert.match(again[0]!.message, /with override `sft.capability_weights`: capability weights sum to 1.4, not 1/);
});

test('list entries: duplicate names, fixed paths, list indices and conflicts of a combination', async () => {
  const problems = await problemsOf([
    'name: v',
    'variants:',
    '  - name: a',
    '    set: { name: other }',
    '  - name: a',
    '    set: { grpo.rewards.0.weight: 1 }',
    '  - name: olora',
    '    set: { sft.projection: olora }',
  ].join('\n'));
  assert.deepEqual(problems.map(at), ['4:12 E_CONFLICT', '5:11 E_CONFLICT', '6:12 E_CONFLICT']);
  assert.match(problems[0]!.message, /`name` cannot be overridden/);
  assert.match(problems[1]!.message, /two variants are named `a`/);
  assert.match(problems[2]!.message, /indexes into the list `grpo.rewards`/);
  const combo = await problemsOf('name: v\nvariants:\n  - name: olora\n    set: { sft.projection: olora }\n');
  assert.deepEqual(combo.map(at), ['4:28 E_CONFLICT']);
  assert.match(combo[0]!.message, /O-LoRA needs one adapter per capability/);
});

test('a grid expands to its Cartesian product; seed-only differences share a report row', () => {
  const vs = expandVariants({ grid: { 'sft.projection': ['none', 'pcgrad', 'subspace'], seed: [1, 2, 3] } });
  assert.equal(vs.length, 9);
  assert.deepEqual(vs.slice(0, 4).map((v) => v.name), ['projection-none_seed-1', 'projection-none_seed-2', 'projection-none_seed-3', 'projection-pcgrad_seed-1']);
  assert.deepEqual(vs[4]!.set, { 'sft.projection': 'pcgrad', seed: 2 });
  assert.equal(new Set(vs.map((v) => v.groupKey)).size, 3);
  assert.deepEqual([...new Set(vs.map((v) => v.group))], ['projection-none', 'projection-pcgrad', 'projection-subspace']);
  // list × grid: every entry at every grid point; mappings are numbered
  const both = expandVariants({ list: [{ name: 'gap', set: { 'grpo.weighting': 'gap' } }, { name: 'even' }], grid: { 'grpo.capability_weights': [{ domain: 1 }, { domain: 2 }], seed: [7] } });
  assert.deepEqual(both.map((v) => v.name), ['gap_capability_weights-1_seed-7', 'gap_capability_weights-2_seed-7', 'even_capability_weights-1_seed-7', 'even_capability_weights-2_seed-7']);
  assert.deepEqual(both[0]!.origin, { list: 0, grid: { 'grpo.capability_weights': 0, seed: 0 } });
});

test('applying overrides resolves defaults inside mapping values and keeps epsilon_high tied to clip_epsilon', async () => {
  const { config, raw } = await parseExperiment('name: v\n', '/virtual/exp.bbio.yaml', { skipFileChecks: true });
  const v = createOverrideValidator();
  const out = applyOverrides(raw as never, config!, { 'sft.projection': 'none', 'grpo.clip_epsilon': 0.3, synthesis: { examples: { domain: 5 } } }, v);
  assert.equal(out.config.sft.projection, 'none');
  assert.equal(out.config.grpo.epsilon_high, 0.3);
  assert.equal(out.config.synthesis.examples.domain, 5);
  assert.equal(out.config.synthesis.examples.reasoning, 400, 'defaults fill the rest of an overridden mapping');
  assert.equal(out.config.synthesis.hops.min, 2);
  assert.equal(config!.sft.projection, 'pcgrad', 'the base config is not modified');
  assert.equal(checkOverridePath('sft.projection').ok, true);
});

test('data files that do not exist are reported at their path', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, 'name: v\ndata:\n  mode: real\n  train:\n    - { path: missing.jsonl, format: qa, capability: reasoning }\n');
  const { problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems.map(at), ['5:15 E_FILE_MISSING']);
  assert.match(problems[0]!.message, /train data file not found: missing.jsonl/);
});
