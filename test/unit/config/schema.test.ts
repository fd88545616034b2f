import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { compileValidators, createConfigValidator, EXPERIMENT_SCHEMA, type SchemaNode } from '../../../engine/config/schema-validator';
import { generate } from '../../../scripts/gen-schema-types';
import { REPO } from '../../helpers/tmp';

function walk(node: SchemaNode, at: string, visit: (n: SchemaNode, at: string) => void): void {
  visit(node, at);
  for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${at}.${k}`, visit);
  if (node.items && typeof node.items === 'object') walk(node.items, `${at}[]`, visit);
}

test('every property is documented for hover and completion', () => {
  const undocumented: string[] = [];
  walk(EXPERIMENT_SCHEMA, '$', (n, at) => {
    if (at === '$' || at.endsWith('[]')) return;
    if (!n.description || !n.markdownDescription) undocumented.push(at);
  });
  assert.deepEqual(undocumented, []);
});

test('every object rejects unknown keys', () => {
  const open: string[] = [];
  walk(EXPERIMENT_SCHEMA, '$', (n, at) => {
    if (n.type === 'object' && n.additionalProperties !== false) open.push(at);
  });
  assert.deepEqual(open, []);
});

test('the schema is JSON Schema 2020-12', () => {
  assert.equal(EXPERIMENT_SCHEMA.$schema, 'https://json-schema.org/draft/2020-12/schema');
});

test('generated TypeScript types match the schemas (run `npm run gen` when this fails)', async () => {
  const files = await generate();
  for (const [rel, text] of Object.entries(files)) {
    assert.equal(await readFile(path.join(REPO, rel), 'utf8'), text, `${rel} is stale`);
  }
});

test('the generated (standalone) validators agree with validators compiled from the schema now', async () => {
  const generated = createConfigValidator();
  const compiled = createConfigValidator(compileValidators());
  const examples = (await readdir(path.join(REPO, 'examples'))).filter((f) => f.endsWith('.bbio.yaml'));
  assert.ok(examples.length >= 4);
  const configs: unknown[] = [];
  for (const f of examples) configs.push(parse(await readFile(path.join(REPO, 'examples', f), 'utf8')));
  // and broken ones: unknown keys, wrong types, out-of-range numbers, a bad enum, nested errors
  configs.push({ name: 'x', projecton: 'pcgrad' }, { name: 3 }, { name: 'x', sft: { steps: -1, projection: 'orthogonal' } }, { name: 'x', grpo: { group_size: 'four', rewards: [{ name: 'nope' }] } }, {});
  for (const c of configs) {
    const strip = (es: { instancePath: string; keyword: string; message?: string }[]) => es.map((e) => `${e.instancePath} ${e.keyword} ${e.message ?? ''}`);
    assert.deepEqual(strip(generated.errors(c)), strip(compiled.errors(c)), JSON.stringify(c).slice(0, 80));
    if (generated.errors(c).length === 0) assert.deepEqual(generated.resolveDefaults(c as never), compiled.resolveDefaults(c as never));
  }
  assert.ok(generated.errors(configs[configs.length - 3]).length >= 2, 'the broken configs do fail');
});
