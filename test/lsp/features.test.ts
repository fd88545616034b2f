/**
 * The language server's editor features through a real LSP client over stdio: diagnostics with exact
 * ranges, completion (keys, enums, paths, ontology terms via synonym), hover, code lens, code actions,
 * document symbols, pull diagnostics, and the protocol's handler coverage.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CodeActionRequest,
  CodeLensRequest,
  CompletionRequest,
  DiagnosticSeverity,
  DocumentDiagnosticRequest,
  DocumentSymbolRequest,
  HoverRequest,
  type CompletionItem,
  type CompletionList,
  type Diagnostic,
  type DocumentSymbol,
  type MarkupContent,
  type PublishDiagnosticsParams,
} from 'vscode-languageserver-protocol';
import { FIXTURES, REPO, fileUri, positionOf, startSession, type Session } from './client';

const VALID = `name: lsp-test
stages: [synthesize, sft, grpo]
ontology:
  builtin: false
  sources:
    - path: mini.obo
synthesis:
  examples: { domain: 4, reasoning: 4, instruction: 4, integration: 4 }
  focus_terms:
    - myocardial infarction
model:
  path: ckpt
sft:
  projection: pcgrad
grpo:
  group_size: 4
`;

const BROKEN = `name: lsp-broken
ontology:
  builtin: false
  sources:
    - path: mini.obo
synthesis:
  focus_terms:
    - heart atack
    - T2DM
model:
  backend: wasm
sft:
  projecton: pcgrad
grpo:
  loss_type: dapoo
`;

let dir: string;
let s: Session;
const uri = (name: string): string => fileUri(path.join(dir, name));

async function completion(name: string, text: string, needle: string, delta = needle.length): Promise<CompletionItem[]> {
  const r = (await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: uri(name) }, position: positionOf(text, needle, delta) })) as CompletionList | null;
  return r?.items ?? [];
}

async function openDoc(name: string, text: string): Promise<string> {
  await writeFile(path.join(dir, name), text);
  await s.open(uri(name), text);
  return uri(name);
}

function rangeText(text: string, d: Diagnostic): string {
  const lines = text.split('\n');
  assert.equal(d.range.start.line, d.range.end.line, 'single-line range');
  return lines[d.range.start.line]!.slice(d.range.start.character, d.range.end.character);
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bbio-lsp-'));
  await copyFile(path.join(FIXTURES, 'mini.obo'), path.join(dir, 'mini.obo'));
  s = await startSession({ initializationOptions: { skipBuiltinOntology: true, diagnosticsDelayMs: 20 } });
});

after(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('diagnostics', () => {
  test('schema, enum and ontology-term problems point at the offending key or value', async () => {
    const u = await openDoc('broken.bbio.yaml', BROKEN);
    const p = await s.waitFor<PublishDiagnosticsParams>('textDocument/publishDiagnostics', (d) => d.uri === u && d.diagnostics.some((x) => x.code === 'E_ONTOLOGY_TERM_UNKNOWN'), 15_000);
    const by = (code: string): Diagnostic[] => p.diagnostics.filter((d) => d.code === code);

    const unknownKey = by('E_SCHEMA_UNKNOWN_KEY')[0]!;
    assert.deepEqual(unknownKey.range, { start: { line: 12, character: 2 }, end: { line: 12, character: 11 } });
    assert.equal(rangeText(BROKEN, unknownKey), 'projecton');
    assert.match(unknownKey.message, /did you mean `projection`/);

    const badEnum = by('E_SCHEMA_ENUM')[0]!;
    assert.equal(rangeText(BROKEN, badEnum), 'dapoo');
    assert.deepEqual(badEnum.range.start, { line: 14, character: 13 });

    const terms = by('E_ONTOLOGY_TERM_UNKNOWN');
    assert.equal(terms.length, 1, 'T2DM is a known synonym; only the misspelt term is reported');
    assert.equal(rangeText(BROKEN, terms[0]!), 'heart atack');
    assert.match(terms[0]!.message, /did you mean `heart attack` \(myocardial infarction, LSPT:0000002\)/);
    assert.deepEqual(terms[0]!.data, { replacement: 'heart attack' });
  });

  test('quick fixes replace did-you-mean diagnostics with the suggestion', async () => {
    const u = uri('broken.bbio.yaml');
    const p = await s.waitFor<PublishDiagnosticsParams>('textDocument/publishDiagnostics', (d) => d.uri === u && d.diagnostics.some((x) => x.code === 'E_ONTOLOGY_TERM_UNKNOWN'));
    const fixable = p.diagnostics.filter((d) => d.data);
    const actions = await s.conn.sendRequest(CodeActionRequest.type, { textDocument: { uri: u }, range: fixable[0]!.range, context: { diagnostics: fixable } });
    const titles = (actions ?? []).map((a) => ('title' in a ? a.title : ''));
    assert.deepEqual(titles.sort(), ['Change to dapo', 'Change to heart attack', 'Change to projection'].sort());
    const fix = actions!.find((a) => a.title === 'Change to projection')!;
    assert.ok('edit' in fix && fix.edit?.changes);
    assert.deepEqual(fix.edit.changes[u], [{ range: { start: { line: 12, character: 2 }, end: { line: 12, character: 11 } }, newText: 'projection' }]);
  });

  test('loss_type dr_grpo with a reward-std scaling is a warning on scale_rewards', async () => {
    const text = 'name: drgrpo\ngrpo:\n  loss_type: dr_grpo\n  scale_rewards: batch\n';
    const u = await openDoc('drgrpo.bbio.yaml', text);
    const p = await s.waitFor<PublishDiagnosticsParams>('textDocument/publishDiagnostics', (d) => d.uri === u && d.diagnostics.some((x) => /dr_grpo/.test(x.message)), 15_000);
    const d = p.diagnostics.find((x) => /dr_grpo/.test(x.message))!;
    assert.equal(d.code, 'E_CONFLICT');
    assert.equal(d.severity, 2, 'a warning: the run may still go ahead');
    assert.equal(d.range.start.line, 3);
  });

  test('a fixed document clears its diagnostics; versions are reported', async () => {
    const u = uri('broken.bbio.yaml');
    const fixed = BROKEN.replace('projecton', 'projection').replace('dapoo', 'dapo').replace('heart atack', 'heart attack');
    await s.change(u, fixed, 2);
    const p = await s.diagnostics(u, 2);
    assert.deepEqual(p.diagnostics, []);
  });
});

describe('completion', () => {
  test('keys at the cursor path, with schema docs and the default as a snippet', async () => {
    const text = 'name: x\nsft:\n  projection: pcgrad\n  st';
    await openDoc('keys.bbio.yaml', text);
    const items = await completion('keys.bbio.yaml', text, '  st');
    const labels = items.map((i) => i.label);
    assert.ok(labels.includes('steps') && labels.includes('learning_rate'), labels.join(','));
    assert.ok(!labels.includes('projection'), 'an existing key is not offered again');
    assert.ok(!labels.includes('group_size'), 'only keys of sft');
    const steps = items.find((i) => i.label === 'steps')!;
    assert.equal(steps.insertTextFormat, 2);
    assert.deepEqual(steps.textEdit, { range: { start: { line: 3, character: 2 }, end: { line: 3, character: 4 } }, newText: 'steps: ${1:200}' });
    assert.match((steps.documentation as MarkupContent).value, /Optimizer steps/);
    const proj = (await completion('keys.bbio.yaml', 'name: x\nsft:\n  ', 'sft:\n  ')).find((i) => i.label === 'projection');
    assert.equal(proj?.textEdit?.newText, 'projection: ${1|pcgrad,none,subspace,olora|}');
  });

  test('enum values, the default preselected', async () => {
    const text = 'name: x\ngrpo:\n  loss_type: ';
    await openDoc('enum.bbio.yaml', text);
    const items = await completion('enum.bbio.yaml', text, 'loss_type: ');
    assert.deepEqual(items.map((i) => i.label), ['grpo', 'dr_grpo', 'dapo']);
    assert.equal(items.find((i) => i.preselect)?.label, 'grpo');
    const flow = 'name: x\nstages: [synthesize, pre';
    await openDoc('flow.bbio.yaml', flow);
    const stageItems = await completion('flow.bbio.yaml', flow, ', pre');
    assert.ok(stageItems.some((i) => i.label === 'pretrain'));
    assert.deepEqual(stageItems.find((i) => i.label === 'pretrain')!.textEdit!, { range: { start: { line: 1, character: 21 }, end: { line: 1, character: 24 } }, newText: 'pretrain' });
  });

  test('ontology terms via a synonym: "heart att" offers myocardial infarction (synonym: heart attack)', async () => {
    await s.waitFor<{ state: string }>('balancedbio/ontologyStatusChanged', (st) => st.state === 'ready', 15_000);
    const text = 'name: x\nsynthesis:\n  focus_terms:\n    - heart att';
    await openDoc('terms.bbio.yaml', text);
    const items = await completion('terms.bbio.yaml', text, '- heart att');
    const first = items[0]!;
    assert.equal(first.label, 'myocardial infarction');
    assert.deepEqual(first.labelDetails, { detail: ' (synonym: heart attack)', description: 'LSPT:0000002' });
    assert.deepEqual(first.textEdit, { range: { start: { line: 3, character: 6 }, end: { line: 3, character: 15 } }, newText: 'myocardial infarction' });
    const flow = 'name: x\nsynthesis:\n  focus_terms: ["T2D';
    await openDoc('terms-flow.bbio.yaml', flow);
    const abbrev = await completion('terms-flow.bbio.yaml', flow, '["T2D');
    assert.equal(abbrev[0]?.label, 'type 2 diabetes mellitus');
    assert.equal(abbrev[0]?.textEdit?.newText, '"type 2 diabetes mellitus"');
  });

  test('relative file paths for path-valued fields', async () => {
    const text = 'name: x\nontology:\n  sources:\n    - path: ';
    await openDoc('paths.bbio.yaml', text);
    const items = await completion('paths.bbio.yaml', text, 'path: ');
    assert.ok(items.some((i) => i.label === 'mini.obo'), items.map((i) => i.label).join(','));
    assert.ok(!items.some((i) => i.label.endsWith('.yaml')), 'only .obo files and folders');
  });
});

describe('hover, code lens, symbols', () => {
  test('hover shows schema docs on keys and definition, synonyms, parents and relations on terms', async () => {
    const u = await openDoc('valid.bbio.yaml', VALID);
    const key = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: u }, position: positionOf(VALID, 'projection', 3) });
    assert.match((key!.contents as MarkupContent).value, /\*\*sft\.projection\*\*/);
    assert.match((key!.contents as MarkupContent).value, /Values: `none`, `pcgrad`, `subspace`, `olora`/);
    assert.deepEqual(key!.range, { start: { line: 13, character: 2 }, end: { line: 13, character: 12 } });
    const term = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: u }, position: positionOf(VALID, 'myocardial', 2) });
    const md = (term!.contents as MarkupContent).value;
    assert.match(md, /\*\*myocardial infarction\*\* `LSPT:0000002`/);
    assert.match(md, /Necrosis of heart muscle/);
    assert.match(md, /heart attack _\(exact\)_/);
    assert.match(md, /Is a: cardiovascular disease `LSPT:0000001`/);
    assert.match(md, /has finding → chest pain `LSPT:0000010`/);
    const grpo = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: u }, position: positionOf(VALID, 'grpo:', 1) });
    assert.match((grpo!.contents as MarkupContent).value, /\*\*Memory estimate\*\* ≈ [\d.]+ [KMG]iB peak \(weights/);
  });

  test('hover on a projection value says what it guarantees under AdamW; subspace with a global scope is a warning', async () => {
    const text = 'name: proj\nsft:\n  projection: subspace\n  projection_scope: global\ngrpo:\n  projection: pcgrad\n';
    const u = await openDoc('projection.bbio.yaml', text);
    const p = await s.waitFor<PublishDiagnosticsParams>('textDocument/publishDiagnostics', (d) => d.uri === u && d.diagnostics.some((x) => x.code === 'E_CONFLICT'), 15_000);
    const warn = p.diagnostics.find((d) => d.code === 'E_CONFLICT')!;
    assert.equal(warn.severity, DiagnosticSeverity.Warning);
    assert.equal(warn.range.start.line, 3);
    assert.match(warn.message, /projection_scope global has no effect with the subspace projection/);
    const hover = async (needle: string, delta: number): Promise<string> =>
      ((await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: u }, position: positionOf(text, needle, delta) }))!.contents as MarkupContent).value;
    const sft = await hover('subspace', 2);
    assert.match(sft, /Current value: `subspace`/);
    assert.match(sft, /gradient-window\*\* subspace projection, not GPM/);
    assert.match(sft, /empty bases until step `refresh_every`/);
    assert.match(sft, /`projection_scope`\s+is not read/);
    assert.match(sft, /Under AdamW.*does not preserve inner products/s);
    const grpo = await hover('pcgrad', 2);
    assert.match(grpo, /\*\*grpo\.projection\*\*/);
    assert.match(grpo, /GRPO has no `projection_scope`/);
    assert.match(grpo, /Under AdamW.*does not preserve inner products/s);
  });

  test('code lenses: run, run from here, and the memory estimate', async () => {
    const u = uri('valid.bbio.yaml');
    const lenses = (await s.conn.sendRequest(CodeLensRequest.type, { textDocument: { uri: u } })) ?? [];
    const at = (line: number): string[] => lenses.filter((l) => l.range.start.line === line).map((l) => l.command!.title);
    assert.deepEqual(at(6), ['▶ Run', '▶ Run from here']); // synthesis
    assert.deepEqual(at(12), ['▶ Run', '▶ Run from here']); // sft
    const grpo = at(14);
    assert.match(grpo[0]!, /^≈ .* peak \(weights .* · KV cache .*\) · .*% of .*iB$/);
    assert.deepEqual(grpo.slice(1), ['▶ Run', '▶ Run from here']);
    const fromSft = lenses.find((l) => l.range.start.line === 12 && l.command!.title === '▶ Run from here')!;
    assert.equal(fromSft.command!.command, 'balancedbio.server.startRun');
    assert.deepEqual(fromSft.command!.arguments, [{ uri: u, stages: ['sft', 'grpo'] }]);
    assert.ok(lenses.some((l) => l.range.start.line === 10 && /peak/.test(l.command!.title)), 'memory lens on model');
  });

  test('document symbols outline the sections, stage sections marked', async () => {
    const syms = (await s.conn.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: uri('valid.bbio.yaml') } })) as DocumentSymbol[];
    assert.deepEqual(syms.map((x) => x.name), ['name', 'stages', 'ontology', 'synthesis', 'model', 'sft', 'grpo']);
    const sft = syms.find((x) => x.name === 'sft')!;
    assert.equal(sft.detail, 'stage sft');
    assert.deepEqual(sft.children?.map((c) => c.name), ['projection']);
    assert.deepEqual(sft.selectionRange, { start: { line: 12, character: 0 }, end: { line: 12, character: 3 } });
  });

  test('documents that are not *.bbio.yaml are ignored', async () => {
    const other = fileUri(path.join(dir, 'other.yaml'));
    await s.open(other, 'name: x\nsft:\n  st');
    const r = await s.conn.sendRequest(CompletionRequest.type, { textDocument: { uri: other }, position: { line: 2, character: 4 } });
    assert.equal(r, null);
  });
});

test('pull diagnostics when the client supports textDocument/diagnostic', async (t) => {
  const pull = await startSession({ initializationOptions: { skipBuiltinOntology: true }, capabilities: { textDocument: { diagnostic: { dynamicRegistration: false } } } });
  t.after(() => pull.close());
  const u = fileUri(path.join(dir, 'pull.bbio.yaml'));
  const text = 'name: x\nsft:\n  steps: -3\n';
  await pull.open(u, text);
  const r = await pull.conn.sendRequest(DocumentDiagnosticRequest.type, { textDocument: { uri: u } });
  assert.equal(r.kind, 'full');
  const items = (r as { items: Diagnostic[] }).items;
  assert.deepEqual(items.map((d) => [d.code, d.range]), [['E_SCHEMA_RANGE', { start: { line: 2, character: 9 }, end: { line: 2, character: 11 } }]]);
  assert.ok(!pull.notifications.some((n) => n.method === 'textDocument/publishDiagnostics'), 'no push diagnostics in pull mode');
});

test('every custom request and client notification in server/protocol.ts has a server handler', async () => {
  const P = await import('../../server/protocol');
  const handlers = (await Promise.all(['runs.ts', 'ontology.ts'].map((f) => readFile(path.join(REPO, 'server/handlers', f), 'utf8')))).join('\n');
  const serverToClient = new Set(['runEvent', 'jobState', 'ontologyStatusChanged']);
  const methods = Object.entries(P).filter(([, v]) => v && typeof v === 'object' && 'method' in v) as [string, { method: string }][];
  assert.ok(methods.length >= 10);
  for (const [name, v] of methods) {
    assert.match(v.method, /^balancedbio\//);
    if (serverToClient.has(name)) continue;
    assert.match(handlers, new RegExp(`P\\.${name}\\b`), `${v.method} has no handler`);
  }
});

test('`balancedbio lsp --stdio` starts the same server', async (t) => {
  const viaBin = await startSession({ args: [path.join(REPO, 'bin/balancedbio.js'), 'lsp', '--stdio'], initializationOptions: { skipBuiltinOntology: true } });
  t.after(() => viaBin.close());
  const u = fileUri(path.join(dir, 'bin.bbio.yaml'));
  await viaBin.open(u, 'name: x\nsft:\n  projecton: pcgrad\n');
  const d = await viaBin.diagnostics(u, 1);
  assert.deepEqual(d.diagnostics.map((x) => x.code), ['E_SCHEMA_UNKNOWN_KEY']);
});

describe('variant overrides', () => {
  const SWEEP = `name: sweep-test
sft:
  projection: pcgrad
variants:
  list:
    - name: no-projection
      set:
        sft.projection: none
        seed: 2
    - name: flow
      set: { grpo.loss_type: dapo, sft.projecton: none }
  grid:
    sft.projection: [none, pcgrad]
    seed: [1, 2]
`;

  test('dotted paths complete in set (block and flow) and grid; sections re-trigger; fixed paths are never offered', async () => {
    const block = 'name: x\nvariants:\n  - name: a\n    set:\n      sft.pro';
    await openDoc('ov-block.bbio.yaml', block);
    const items = await completion('ov-block.bbio.yaml', block, 'sft.pro');
    const proj = items.find((i) => i.label === 'sft.projection')!;
    assert.ok(proj, items.map((i) => i.label).join(','));
    assert.deepEqual(proj.textEdit, { range: { start: { line: 4, character: 6 }, end: { line: 4, character: 13 } }, newText: 'sft.projection: ${1|pcgrad,none,subspace,olora|}' });
    assert.match((proj.documentation as MarkupContent).value, /\*\*sft\.projection\*\*[\s\S]*How per-capability gradients/);

    const flow = 'name: x\nvariants:\n  - { name: a, set: { seed: 2, sft.pro';
    await openDoc('ov-flow.bbio.yaml', flow);
    const flowItems = await completion('ov-flow.bbio.yaml', flow, 'sft.pro');
    assert.equal(flowItems.find((i) => i.label === 'sft.projection')?.textEdit?.newText, 'sft.projection: ${1|pcgrad,none,subspace,olora|}');

    const grid = 'name: x\nvariants:\n  grid:\n    sft.pro';
    await openDoc('ov-grid.bbio.yaml', grid);
    const gridProj = (await completion('ov-grid.bbio.yaml', grid, 'sft.pro')).find((i) => i.label === 'sft.projection')!;
    assert.equal(gridProj.textEdit?.newText, 'sft.projection: [$1]');
    assert.equal(gridProj.command?.command, 'editor.action.triggerSuggest');

    const empty = 'name: x\nvariants:\n  - name: a\n    set:\n      ';
    await openDoc('ov-empty.bbio.yaml', empty);
    const top = await completion('ov-empty.bbio.yaml', empty, 'set:\n      ');
    const labels = top.map((i) => i.label);
    assert.ok(labels.includes('seed') && labels.includes('grpo.') && !labels.includes('grpo.capability_weights'), `one level at a time: ${labels.join(',')}`);
    assert.equal(top.find((i) => i.label === 'sft.')?.command?.command, 'editor.action.triggerSuggest');
    for (const fixed of ['name', 'variants', 'variants.', 'sweep', 'sweep.', '$schema']) assert.ok(!labels.includes(fixed), `${fixed} cannot be overridden`);
    const out = 'name: x\nvariants:\n  grid:\n    output.';
    await openDoc('ov-output.bbio.yaml', out);
    const outLabels = (await completion('ov-output.bbio.yaml', out, 'output.')).map((i) => i.label);
    assert.ok(outLabels.includes('output.keep_checkpoints') && !outLabels.includes('output.runs_dir'), outLabels.join(','));
    const weights = 'name: x\nvariants:\n  grid:\n    grpo.cap';
    await openDoc('ov-weights.bbio.yaml', weights);
    const wLabels = (await completion('ov-weights.bbio.yaml', weights, 'grpo.cap')).map((i) => i.label);
    assert.ok(wLabels.includes('grpo.capability_weights') && wLabels.includes('grpo.capability_weights.'), 'a mapping is offered whole and as a section');
  });

  test('values complete through the dotted path: enum values in set and in a grid list', async () => {
    const set = 'name: x\nvariants:\n  - name: a\n    set:\n      sft.projection: ';
    await openDoc('ov-set-value.bbio.yaml', set);
    const values = await completion('ov-set-value.bbio.yaml', set, 'sft.projection: ');
    assert.deepEqual(values.map((i) => i.label), ['none', 'pcgrad', 'subspace', 'olora']);
    assert.equal(values.find((i) => i.preselect)?.label, 'pcgrad');
    const seq = 'name: x\nvariants:\n  grid:\n    sft.projection: [none, ';
    await openDoc('ov-grid-value.bbio.yaml', seq);
    const seqValues = await completion('ov-grid-value.bbio.yaml', seq, '[none, ');
    assert.deepEqual(seqValues.map((i) => i.label), ['none', 'pcgrad', 'subspace', 'olora']);
    assert.deepEqual((seqValues[0]!.textEdit as { range: unknown }).range, { start: { line: 3, character: 27 }, end: { line: 3, character: 27 } });
  });

  test('hover on a dotted key documents the path it names; an unknown path says so', async () => {
    const u = await openDoc('ov-hover.bbio.yaml', SWEEP);
    const at = async (needle: string, delta: number, n = 0): Promise<string | undefined> => {
      const h = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri: u }, position: positionOf(SWEEP, needle, delta, n) });
      return (h?.contents as MarkupContent | undefined)?.value;
    };
    const inSet = await at('sft.projection: none', 5);
    assert.match(inSet ?? '', /^\*\*sft\.projection\*\* · `enum`/);
    assert.match(inSet ?? '', /Values: `none`, `pcgrad`, `subspace`, `olora`/);
    assert.match((await at('seed: 2', 1)) ?? '', /^\*\*seed\*\*[\s\S]*Master random seed/);
    assert.match((await at('grpo.loss_type', 6)) ?? '', /^\*\*grpo\.loss_type\*\*/);
    assert.match((await at('sft.projection: [', 3)) ?? '', /^\*\*sft\.projection\*\*/, 'a grid key');
    assert.match((await at('pcgrad]', 2)) ?? '', /Current value: `pcgrad`/, 'a grid value');
    const unknown = (await at('sft.projecton', 4)) ?? '';
    assert.match(unknown, /unknown path `sft\.projecton`/);
    assert.match(unknown, /did you mean `sft\.projection`/);
  });

  test('no dotted paths outside variants (regression)', async () => {
    const text = 'name: x\nsft:\n  ';
    await openDoc('ov-outside.bbio.yaml', text);
    const inSft = (await completion('ov-outside.bbio.yaml', text, 'sft:\n  ')).map((i) => i.label);
    assert.ok(inSft.includes('projection') && !inSft.some((l) => l.includes('.')), inSft.join(','));
    const root = 'name: x\n';
    await openDoc('ov-root.bbio.yaml', root);
    const atRoot = (await completion('ov-root.bbio.yaml', root, 'x\n', 2)).map((i) => i.label);
    assert.ok(atRoot.includes('sft') && !atRoot.some((l) => l.includes('.')), atRoot.join(','));
  });
});
