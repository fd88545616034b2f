import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EXPERIMENT_SCHEMA, type SchemaNode } from '../../../engine/config/schema-validator';
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
