import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { combineWithUserData, loadDataFile, questionHash, type DataFileSpec } from '../../../engine/synth/real-data';
import type { SynthResult } from '../../../engine/synth/index';
import type { SynthExample } from '../../../engine/core/example';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

async function write(dir: string, name: string, rows: (object | string)[]): Promise<string> {
  await writeFile(path.join(dir, name), rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return name;
}

function spec(p: string, format: DataFileSpec['format'], capability: DataFileSpec['capability'], max = 0): DataFileSpec {
  return { path: p, format, capability, max_records: max };
}

/** The BbioError a load throws: code, line and message. */
async function failure(dir: string, s: DataFileSpec): Promise<BbioError> {
  try {
    await loadDataFile({ spec: s, split: 'train', baseDir: dir });
  } catch (e) {
    assert.ok(e instanceof BbioError, String(e));
    return e;
  }
  assert.fail('expected the load to fail');
}

test('mcqa: MedQA maps with answer_idx, lists with an index, letters and option text', async (t) => {
  const dir = await tempDir(t);
  const f = await write(dir, 'mc.jsonl', [
    { question: 'Which drug treats X?', options: { A: 'aspirin', B: 'metformin', C: 'insulin', D: 'statin' }, answer_idx: 'B', answer: 'metformin', meta_info: 'step1' },
    '',
    { question: 'Q2?', options: ['one', 'two', 'three'], answer: 2 },
    { question: 'Q3?', options: ['one', 'two'], answer: 'a' },
    { question: 'Q4?', options: ['alpha', 'beta'], answer: 'Beta' },
  ]);
  const { records, sha256 } = await loadDataFile({ spec: spec(f, 'mcqa', 'domain'), split: 'train', baseDir: dir });
  assert.equal(records.length, 4);
  assert.match(sha256, /^[0-9a-f]{64}$/);
  const r = records[0]!;
  assert.equal(r.prompt, 'Which drug treats X?\nA. aspirin\nB. metformin\nC. insulin\nD. statin');
  assert.equal(r.response, 'Answer: B. metformin');
  assert.equal(r.text, '<|user|>\nWhich drug treats X?\nA. aspirin\nB. metformin\nC. insulin\nD. statin\n<|assistant|>\nAnswer: B. metformin\n<|end|>');
  assert.equal(r.answerLabel, 'B');
  assert.equal(r.capability, 'domain');
  assert.equal(r.split, 'train');
  assert.deepEqual(r.provenance, { entities: [], edges: [], central: questionHash('Which drug treats X?'), answerIds: [] });
  assert.equal(r.id, 'real-mc-1');
  assert.deepEqual(records.slice(1).map((x) => [x.answerLabel, x.answer, x.id]), [['C', 'three', 'real-mc-3'], ['A', 'one', 'real-mc-4'], ['B', 'beta', 'real-mc-5']]);
});

test('mcqa: the first offending record is named by file and line, with what was expected', async (t) => {
  const dir = await tempDir(t);
  const ok = { question: 'Q?', options: ['a', 'b'], answer: 0 };
  const cases: [object | string, RegExp][] = [
    [{ question: 'Q?', options: ['a', 'b'], answer: 5 }, /"answer" as a number is a 0-based option index, 0 to 1; got 5/],
    [{ question: 'Q?', options: { A: 'a', C: 'c' }, answer: 'A' }, /"options" keys must be A, B in order; got A, C/],
    [{ question: 'Q?', options: ['a', 'b', 'c', 'd', 'e'], answer: 0 }, /2 to 4 options/],
    [{ question: 'Q?', options: { A: 'x', B: 'y' }, answer_idx: 'B', answer: 'x' }, /"answer" the string "x" is not the text of option B/],
    [{ options: ['a', 'b'], answer: 0 }, /"question" must be a non-empty string; got nothing/],
    ['{"question": "Q?", "options": [', /not valid JSON/],
    ['[1, 2]', /expected a JSON object; got a list/],
  ];
  for (const [bad, re] of cases) {
    const f = await write(dir, 'bad.jsonl', [ok, ok, bad, { nonsense: true }]);
    const e = await failure(dir, spec(f, 'mcqa', 'domain'));
    assert.equal(e.code, 'E_DATA_RECORD');
    assert.equal(e.location.line, 3, `${String(re)}: ${e.message}`);
    assert.equal(e.location.file, path.join(dir, 'bad.jsonl'));
    assert.match(e.message, /record on line 3 of bad.jsonl does not fit format `mcqa`/);
    assert.match(e.message, re);
    assert.match(e.format(), new RegExp(`${path.join(dir, 'bad.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:1: error E_DATA_RECORD`));
    assert.match(e.hint ?? '', /answer_idx/);
  }
});

test('qa: free-text answers with a rationale and accepted alternatives; errors name the line', async (t) => {
  const dir = await tempDir(t);
  const f = await write(dir, 'qa.jsonl', [
    { question: 'First-line drug for T2DM?', answer: 'metformin', rationale: '1. Type 2 diabetes is treated first with metformin.', accept: ['Metformin hydrochloride'] },
    { question: 'Dose in mg?', answer: 500 },
  ]);
  const { records } = await loadDataFile({ spec: spec(f, 'qa', 'reasoning'), split: 'test', baseDir: dir });
  assert.equal(records[0]!.response, '1. Type 2 diabetes is treated first with metformin.\nAnswer: metformin');
  assert.deepEqual(records[0]!.accept, ['metformin', 'Metformin hydrochloride']);
  assert.equal(records[0]!.split, 'test');
  assert.equal(records[1]!.answer, '500');
  const bad = await write(dir, 'qa-bad.jsonl', [{ question: 'ok?', answer: 'yes' }, { question: 'Q?', answer: '' }]);
  const e = await failure(dir, spec(bad, 'qa', 'reasoning'));
  assert.equal(e.location.line, 2);
  assert.match(e.message, /"answer" must be a non-empty string; got an empty string/);
  const accept = await write(dir, 'qa-accept.jsonl', [{ question: 'Q?', answer: 'a', accept: 'b' }]);
  assert.match((await failure(dir, spec(accept, 'qa', 'reasoning'))).message, /line 1 .* "accept" must be a list of strings; got the string "b"/);
});

test('instruction: constraints in the format of engine/verify/constraints.ts, checked against the response', async (t) => {
  const dir = await tempDir(t);
  const good = { instruction: 'List two causes of anaemia as bullets, in lowercase.', response: '* iron deficiency\n* blood loss', constraints: [{ kind: 'bullet_count', n: 2 }, { kind: 'lowercase' }] };
  const f = await write(dir, 'ins.jsonl', [good, { instruction: 'Say hi.', response: 'Hi.' }]);
  const { records } = await loadDataFile({ spec: spec(f, 'instruction', 'instruction', 1), split: 'train', baseDir: dir });
  assert.equal(records.length, 1, 'max_records caps the file');
  assert.deepEqual(records[0]!.constraints, good.constraints);
  assert.equal(records[0]!.prompt, good.instruction);
  const cases: [object, RegExp][] = [
    [{ ...good, constraints: [{ kind: 'max_word', n: 3 }] }, /constraint 1 has an unknown "kind" the string "max_word"; kinds: bullet_count/],
    [{ ...good, constraints: [{ kind: 'lowercase' }, { kind: 'max_words', count: 3 }] }, /constraint 2 \(max_words\) needs "n": a non-negative integer; got nothing/],
    [{ ...good, constraints: [{ kind: 'no_commas', n: 1 }] }, /constraint 1 \(no_commas\) has unexpected field "n"; it takes no fields/],
    [{ ...good, constraints: [{ kind: 'bullet_count', n: 3 }] }, /"response" does not satisfy constraint 1 \(bullet_count\)/],
    [{ ...good, constraints: { kind: 'lowercase' } }, /"constraints" must be a list of constraint objects; got an object/],
  ];
  for (const [bad, re] of cases) {
    const name = await write(dir, 'ins-bad.jsonl', [good, bad]);
    const e = await failure(dir, spec(name, 'instruction', 'instruction'));
    assert.equal(e.location.line, 2, e.message);
    assert.match(e.message, re);
  }
});

test('an empty or missing file is an error naming it', async (t) => {
  const dir = await tempDir(t);
  const empty = await write(dir, 'empty.jsonl', ['', '  ']);
  assert.match((await failure(dir, spec(empty, 'qa', 'reasoning'))).message, /train data file empty.jsonl has no records/);
  const e = await failure(dir, spec('nope.jsonl', 'qa', 'reasoning'));
  assert.equal(e.code, 'E_FILE_MISSING');
});

test('real replaces MKGSG training splits, mixed appends, the test split follows test_source; the card is recounted', () => {
  const ex = (id: string, split: SynthExample['split'], capability: SynthExample['capability'] = 'domain'): SynthExample => ({
    id, capability, prompt: id, response: 'r', text: 't', answer: 'a', provenance: { entities: [], edges: [], central: id, answerIds: [] }, template: 'x', split,
  });
  const card = { note: 'MKGSG.', counts: {}, totals: {} } as unknown as SynthResult['card'];
  const synth: SynthResult = { train: [ex('s1', 'train'), ex('s2', 'train')], val: [ex('s3', 'val')], test: [ex('s4', 'test')], card };
  const files = [
    { spec: spec('u.jsonl', 'qa', 'reasoning'), split: 'train' as const, file: '/u.jsonl', sha256: 'h1', records: [ex('u1', 'train', 'reasoning')] },
    { spec: spec('t.jsonl', 'qa', 'reasoning'), split: 'test' as const, file: '/t.jsonl', sha256: 'h2', records: [ex('u1', 'test', 'reasoning'), ex('t2', 'test', 'reasoning')] },
  ];
  const data = (mode: 'synthetic' | 'real' | 'mixed', test_source: 'synthetic' | 'files' | 'both') => ({ mode, test_source, train: [], val: [], test: [] });
  const real = combineWithUserData(synth, data('real', 'files'), files);
  assert.deepEqual(real.train.map((e) => e.id), ['u1']);
  assert.deepEqual(real.val.map((e) => e.id), []);
  assert.deepEqual(real.test.map((e) => e.id), ['u1', 't2']);
  assert.deepEqual(real.card.totals, { train: 1, val: 0, test: 2, total: 3 });
  assert.deepEqual(real.card.counts.reasoning, { train: 1, val: 0, test: 2, total: 3 });
  assert.equal(real.card.data.trainTestOverlap, 1, 'u1 is in both train and test files');
  assert.deepEqual(real.card.data.files.map((f) => [f.path, f.split, f.records, f.sha256]), [['u.jsonl', 'train', 1, 'h1'], ['t.jsonl', 'test', 2, 'h2']]);
  const mixed = combineWithUserData(synth, data('mixed', 'both'), files);
  assert.deepEqual(mixed.train.map((e) => e.id), ['s1', 's2', 'u1']);
  assert.deepEqual(mixed.test.map((e) => e.id), ['s4', 'u1', 't2']);
  assert.match(mixed.card.note, /^MKGSG\. Also holds 3 records from user files/);
});
