import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, test } from 'node:test';
import { loadMmlu, mmluPrompt } from '../../../engine/eval/mmlu';
import { parseMedmcqa } from '../../../engine/eval/tasks/medmcqa';
import { parseMedqa } from '../../../engine/eval/tasks/medqa';
import { mcContext } from '../../../engine/eval/tasks/multiple-choice';
import { parsePubmedqa } from '../../../engine/eval/tasks/pubmedqa';
import { DEFAULT_TASK_OPTIONS, loadMcTask, mmluSet, resolveTaskFile, runTask } from '../../../engine/eval/tasks/registry';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';
import { certainModel, CHAR_VOCAB, charTokenizer, evalModel } from '../eval/helpers';
import { useWasm } from '../model/helpers';

before(useWasm);

const FIXTURES = path.resolve(__dirname, '../../fixtures/tasks');
const read = (f: string): string => readFileSync(path.join(FIXTURES, f), 'utf8');

test('medqa: both published JSONL forms, in the harness medqa_4options prompt', () => {
  const four = parseMedqa(read('medqa_4options.jsonl'), 'medqa_4options.jsonl');
  assert.equal(four.length, 3);
  assert.equal(four[1]!.text, 'Question: Which drug is first-line for type 2 diabetes without contraindications?\nA. Metformin\nB. Insulin glargine\nC. Glipizide\nD. Pioglitazone\nAnswer:');
  assert.deepEqual(four.map((d) => d.gold), [1, 0, 1]);
  const orig = parseMedqa(read('medqa_original.jsonl'), 'medqa_original.jsonl');
  assert.deepEqual(orig[0]!.choices, ['A', 'B', 'C', 'D', 'E']);
  assert.equal(orig[0]!.gold, 2);
  assert.match(orig[1]!.text, /^Question: Which vitamin deficiency causes scurvy\?\nA\. Vitamin A\nB\. Vitamin C\nC\. Vitamin D\nD\. Vitamin K\nAnswer:$/);
});

test('medmcqa and pubmedqa: published fields, harness prompts', () => {
  const mc = parseMedmcqa(read('medmcqa.jsonl'), 'medmcqa.jsonl');
  assert.equal(mc[0]!.text, 'Question: Which nerve is injured in wrist drop?\nChoices:\nA. Median nerve\nB. Radial nerve\nC. Ulnar nerve\nD. Axillary nerve\nAnswer:');
  assert.deepEqual(mc.map((d) => d.gold), [1, 0]);
  const ori = parsePubmedqa(read('pubmedqa_ori_pqal.json'), 'ori_pqal.json');
  const rows = parsePubmedqa(read('pubmedqa_pqa_labeled.jsonl'), 'pqa_labeled.jsonl');
  assert.equal(ori[0]!.text, 'Abstract: Programmed cell death (PCD) is the regulated death of cells within an organism.\nMitochondrial dynamics were followed in leaves at several stages.\nQuestion: Do mitochondria play a role in remodelling lace plant leaves during programmed cell death?\nAnswer:');
  assert.equal(rows[0]!.text, ori[0]!.text);
  assert.deepEqual(ori.map((d) => d.choices[d.gold]), ['yes', 'maybe']);
  assert.deepEqual(rows.map((d) => d.choices[d.gold]), ['yes', 'no']);
});

test('task files: a missing or misnamed field gives file:line, the field and what was expected, with a hint', () => {
  const fails = (fn: () => unknown, re: RegExp): void => assert.throws(fn, (e: BbioError) => e.code === 'E_DATA_RECORD' && re.test(e.message) && /each record follows/.test(e.hint ?? ''));
  fails(() => parseMedqa('{"sent1": "q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 1}\n\n{"sent1": "q", "ending0": "a", "ending1": "b", "ending2": "c", "ending_3": "d", "label": 1}', 'm.jsonl'), /^m\.jsonl:3: field "ending3" missing \(expected option D, a string\)/);
  fails(() => parseMedqa('{"question": "q", "options": {"A": "a", "B": "b"}, "answer": "A"}', 'm.jsonl'), /^m\.jsonl:1: field "answer_idx" missing \(expected the letter of the right option \(A, B\)\)/);
  fails(() => parseMedqa('{"Question": "q"}', 'm.jsonl'), /^m\.jsonl:1: field "sent1" missing/);
  fails(() => parseMedmcqa('{"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "COP": 1}', 'mc.jsonl'), /^mc\.jsonl:1: field "cop" missing \(expected the index of the right option, 0 to 3\); found "COP"/);
  fails(() => parseMedmcqa('{"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": -1}', 'mc.jsonl'), /field "cop" is number -1 \(expected the index/);
  const ori = read('pubmedqa_ori_pqal.json').replace('"final_decision": "maybe"', '"decision": "maybe"');
  fails(() => parsePubmedqa(ori, 'ori_pqal.json'), /^ori_pqal\.json:13: field "final_decision" missing \(expected "yes", "no" or "maybe"\)/);
  fails(() => parsePubmedqa('{"question": "q", "context": {"texts": []}, "final_decision": "yes"}', 'p.jsonl'), /^p\.jsonl:1: field "contexts" missing/);
});

test('an MMLU subject as a task set gives the original MMLU prompt byte for byte', async () => {
  const [s] = await loadMmlu(path.join(FIXTURES, 'multimedqa/mmlu'), { subjects: ['anatomy'] });
  const set = mmluSet(s!);
  assert.equal(mcContext(set, 0, 1, 0), mmluPrompt('anatomy', s!.items[0]!, s!.dev.slice(0, 1)));
  assert.equal(mcContext(set, 0, 0, 0), mmluPrompt('anatomy', s!.items[0]!, []));
});

test('few-shot examples of a file without a few-shot split: k other documents, seeded, never the document itself', () => {
  const docs = parseMedqa(read('medqa_4options.jsonl'), 'm.jsonl');
  const set = { name: 'medqa', file: 'm.jsonl', description: '', docs };
  const ctx = mcContext(set, 0, 2, 7);
  assert.equal(ctx, mcContext(set, 0, 2, 7));
  assert.equal(ctx.split('\n\n').length, 3);
  assert.ok(ctx.endsWith(docs[0]!.text));
  assert.equal(ctx.split(docs[0]!.text).length, 2, 'the scored document is not its own example');
  assert.match(ctx, /Answer: [AB]\n\n/);
});

test('--data folder: the task file is found by name; none or several is an error naming the folder', async (t) => {
  assert.equal(await resolveTaskFile('pubmedqa', path.join(FIXTURES, 'multimedqa')), path.join(FIXTURES, 'multimedqa/pubmedqa.jsonl'));
  await assert.rejects(resolveTaskFile('medqa', FIXTURES), (e: BbioError) => e.code === 'E_FILE_MISSING' && /several medqa files/.test(e.message));
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'other.jsonl'), '{}\n');
  await assert.rejects(resolveTaskFile('medmcqa', dir), (e: BbioError) => /no medmcqa file/.test(e.message) && /starts with medmcqa/.test(e.hint ?? ''));
});

test('tasks are scored by log-likelihood with bootstrap errors; multimedqa pools its members', async () => {
  // every next token is "B" (char id 3 + 66 mod 61 = 8): the model always answers B, and "no" among yes/no/maybe
  const model = evalModel(certainModel({ vocab: CHAR_VOCAB, k: 8 }));
  const tokenizer = charTokenizer();
  const opts = { ...DEFAULT_TASK_OPTIONS, seed: 1, resamples: 50 };
  const medqa = await runTask('medqa', { model, tokenizer, data: path.join(FIXTURES, 'medqa_4options.jsonl'), opts });
  assert.equal(medqa.scores['medqa/acc']!.value, 2 / 3);
  assert.equal(medqa.scores['medqa/acc']!.n, 3);
  assert.ok(medqa.scores['medqa/acc']!.stderr! > 0);
  assert.ok(medqa.scores['medqa/acc_norm']);
  const limited = await runTask('medqa', { model, tokenizer, data: path.join(FIXTURES, 'medqa_4options.jsonl'), opts: { ...opts, limit: 2 } });
  assert.equal(limited.scores['medqa/acc']!.value, 0.5, 'the first 2 documents');
  // per-item scores, so `compare` pairs two runs item by item (issue 17's paired bootstrap)
  assert.deepEqual(Object.keys(medqa.perItem['medqa/acc']!), ['medqa:0', 'medqa:1', 'medqa:2']);
  const items = Object.values(medqa.perItem['medqa/acc']!);
  assert.equal(items.reduce((a, b) => a + b, 0) / items.length, medqa.scores['medqa/acc']!.value);
  const group = await runTask('multimedqa', { model, tokenizer, data: path.join(FIXTURES, 'multimedqa'), opts });
  const members = ['pubmedqa', 'medmcqa', 'medqa', 'mmlu_anatomy', 'mmlu_clinical_knowledge', 'mmlu_college_biology', 'mmlu_college_medicine', 'mmlu_medical_genetics', 'mmlu_professional_medicine'];
  for (const m of members) assert.ok(group.scores[`${m}/acc`], m);
  const n = members.reduce((s, m) => s + group.scores[`${m}/acc`]!.n, 0);
  const correct = members.reduce((s, m) => s + group.scores[`${m}/acc`]!.value * group.scores[`${m}/acc`]!.n, 0);
  assert.equal(group.scores['multimedqa/acc']!.n, n);
  assert.equal(Object.keys(group.perItem['multimedqa/acc']!).length, n, 'the pooled metric pairs every member item');
  assert.ok(Math.abs(group.scores['multimedqa/acc']!.value - correct / n) < 1e-12, 'size-weighted mean of the members');
  assert.equal(group.scores['pubmedqa/acc']!.value, 0.5, 'picks "no": right on the second row only');
  assert.equal(group.files.length, 9);
  assert.ok(group.scores['medmcqa/acc_norm'] && group.scores['medqa/acc_norm'], 'the harness reports acc_norm for medqa and medmcqa');
  assert.equal(group.scores['pubmedqa/acc_norm'], undefined, 'and acc only for pubmedqa and mmlu');
});

test('multimedqa without all six MMLU medical subjects is refused', async () => {
  await assert.rejects(loadMcTask('multimedqa', FIXTURES, 0), (e: BbioError) => e.code === 'E_FILE_MISSING' && /anatomy/.test(e.message));
});

test('ifeval scores a responses file without a model', async () => {
  const r = await runTask('ifeval', { data: path.join(FIXTURES, 'ifeval_input.jsonl'), responses: path.join(FIXTURES, 'ifeval_responses.jsonl'), opts: { ...DEFAULT_TASK_OPTIONS, seed: 0 } });
  assert.equal(r.scores['ifeval/prompt_strict']!.value, 1 / 3);
  assert.equal(r.scores['ifeval/prompt_loose']!.value, 2 / 3);
  assert.equal(r.scores['ifeval/inst_strict']!.n, 4);
  assert.equal(Object.keys(r.perItem['ifeval/prompt_strict']!).length, 3);
  assert.ok(Object.keys(r.perItem['ifeval/inst_strict']!).every((id) => /^.+#\d+$/.test(id)) && Object.keys(r.perItem['ifeval/inst_strict']!).length === 4, 'an instruction is <key>#<k>');
  assert.equal(r.examples[0]!.model, 'external');
});
