/**
 * Override paths in `variants:` (set and grid): where a cursor sits in schema terms, which dotted paths
 * are offered, and completion over them, without a language server process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancellationTokenSource, type CompletionItem } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { FIXED_PATHS } from '../../../engine/config/variants';
import { complete } from '../../../server/features/completion';
import type { FeatureContext } from '../../../server/features/context';
import { overrideCandidates, overrideSite } from '../../../server/features/variant-overrides';
import { cursorContext } from '../../../server/yaml-context';

/** Completion at the end of `text` (no ontology terms or files are involved, so no services either). */
async function itemsAtEnd(text: string): Promise<{ items: CompletionItem[]; isIncomplete: boolean } | null> {
  const doc = TextDocument.create('file:///tmp/x.bbio.yaml', 'bbio-yaml', 1, text);
  return complete(doc, doc.positionAt(text.length), {} as FeatureContext, new CancellationTokenSource().token);
}

const labels = (r: { items: CompletionItem[] } | null): string[] => (r?.items ?? []).map((i) => i.label);

test('cursor paths inside nested flow collections (grid values, flow variant lists)', () => {
  const at = (t: string): unknown => {
    const c = cursorContext(t, t.length)!;
    return { kind: c.kind, path: c.path, prefix: c.prefix, existingKeys: c.existingKeys };
  };
  assert.deepEqual(at('variants:\n  grid: { sft.projection: [none, pc'), { kind: 'value', path: ['variants', 'grid', 'sft.projection', 0], prefix: 'pc', existingKeys: [] });
  assert.deepEqual(at('variants:\n  list: [ { name: a, set: { grpo.cap'), { kind: 'key', path: ['variants', 'list', 0, 'set'], prefix: 'grpo.cap', existingKeys: [] });
  assert.deepEqual(at('variants:\n  - { name: a, set: { seed: 2, sft.pro'), { kind: 'key', path: ['variants', 0, 'set'], prefix: 'sft.pro', existingKeys: ['seed'] });
  // the same reading outside variants: keys of the innermost mapping only
  assert.deepEqual(at('synthesis: { hops: { min: 2, ma'), { kind: 'key', path: ['synthesis', 'hops'], prefix: 'ma', existingKeys: ['min'] });
  assert.deepEqual(at('synthesis: { examples: { domain: 3 }, '), { kind: 'key', path: ['synthesis'], prefix: '', existingKeys: ['examples'] });
  assert.deepEqual(at('sft: {projection:no'), { kind: 'value', path: ['sft', 'projection'], prefix: 'no', existingKeys: [] });
});

test('overrideSite maps set and grid positions to the schema path of the dotted key', () => {
  assert.deepEqual(overrideSite(['variants', 0, 'set']), { form: 'set', mapping: ['variants', 0, 'set'] });
  assert.deepEqual(overrideSite(['variants', 'list', 2, 'set', 'sft.projection'])?.target, ['sft', 'projection']);
  assert.deepEqual(overrideSite(['variants', 0, 'set', 'grpo.capability_weights', 'domain'])?.target, ['grpo', 'capability_weights', 'domain']);
  assert.deepEqual(overrideSite(['variants', 'grid', 'sft.projection', 1])?.target, ['sft', 'projection']);
  const gridKey = overrideSite(['variants', 'grid', 'seed'])!;
  assert.equal(gridKey.target, undefined, "a grid key's value is a list of values, not a value");
  assert.deepEqual(gridKey.keyPath, ['seed']);
  assert.equal(overrideSite(['variants', 0, 'name']), undefined);
  assert.equal(overrideSite(['sft', 'projection']), undefined);
});

test('override candidates: one level below what was typed, sections for mappings, never a fixed path', () => {
  const top = overrideCandidates('').map((c) => c.path);
  for (const p of ['seed', 'sft.', 'sft', 'grpo.', 'output.']) assert.ok(top.includes(p), `${p} in ${top.join(',')}`);
  for (const p of ['name', 'variants', 'variants.', 'sweep', 'sweep.', '$schema']) assert.ok(!top.includes(p), `${p} is fixed`);
  assert.ok(!top.some((p) => p.startsWith('sft.') && p !== 'sft.'), 'only the top level at an empty key');
  const sft = overrideCandidates('sft.pro');
  const proj = sft.find((c) => c.path === 'sft.projection')!;
  assert.deepEqual(proj.node.enum, ['none', 'pcgrad', 'subspace', 'olora']);
  assert.ok(sft.every((c) => c.path.startsWith('sft.')));
  const grpo = overrideCandidates('grpo.').map((c) => c.path);
  assert.ok(grpo.includes('grpo.capability_weights') && grpo.includes('grpo.capability_weights.'), 'a mapping both whole and as a section');
  const output = overrideCandidates('output.').map((c) => c.path);
  assert.ok(output.length > 0 && !output.includes('output.runs_dir'), output.join(','));
  assert.ok(FIXED_PATHS.every((f) => !overrideCandidates(f).some((c) => c.path === f)));
  assert.deepEqual(overrideCandidates('nosuch.'), []);
});

test('completion: dotted keys in set (block, flow) and grid; enum values through the dotted path', async () => {
  const block = await itemsAtEnd('name: x\nvariants:\n  - name: a\n    set:\n      sft.pro');
  assert.equal(block?.isIncomplete, true, 'asks again as the path grows');
  const proj = block!.items.find((i) => i.label === 'sft.projection')!;
  assert.equal(proj.textEdit?.newText, 'sft.projection: ${1|pcgrad,none,subspace,olora|}');
  assert.deepEqual((proj.textEdit as { range: unknown }).range, { start: { line: 4, character: 6 }, end: { line: 4, character: 13 } });

  const flow = await itemsAtEnd('name: x\nvariants:\n  - name: a\n    set: { seed: 2, sft.pro');
  assert.ok(labels(flow).includes('sft.projection'));
  assert.ok(!labels(await itemsAtEnd('name: x\nvariants:\n  - name: a\n    set: { seed: 2, ')).includes('seed'), 'a key already set is not offered again');

  const grid = await itemsAtEnd('name: x\nvariants:\n  grid:\n    sft.pro');
  const gridProj = grid!.items.find((i) => i.label === 'sft.projection')!;
  assert.equal(gridProj.textEdit?.newText, 'sft.projection: [$1]');
  assert.equal(gridProj.command?.command, 'editor.action.triggerSuggest');

  const set = await itemsAtEnd('name: x\nvariants:\n  - name: a\n    set:\n      sft.projection: ');
  assert.deepEqual(labels(set), ['none', 'pcgrad', 'subspace', 'olora']);
  const seq = await itemsAtEnd('name: x\nvariants:\n  grid:\n    sft.projection: [none, ');
  assert.deepEqual(labels(seq), ['none', 'pcgrad', 'subspace', 'olora']);
  const blockSeq = await itemsAtEnd('name: x\nvariants:\n  list:\n    - name: a\n  grid:\n    grpo.loss_type:\n      - ');
  assert.deepEqual(labels(blockSeq), ['grpo', 'dr_grpo', 'dapo']);
  assert.equal(await itemsAtEnd('name: x\nvariants:\n  - name: a\n    set:\n      name: '), null, 'no values for a fixed path');
});

test('completion outside variants offers no dotted paths (regression)', async () => {
  for (const text of ['name: x\n', 'name: x\nsft:\n  ', 'name: x\nvariants:\n  - ', 'name: x\nvariants:\n  ']) {
    const got = labels(await itemsAtEnd(text));
    assert.ok(got.length > 0, JSON.stringify(text));
    assert.ok(!got.some((l) => l.includes('.')), `${JSON.stringify(text)}: ${got.join(',')}`);
  }
});
