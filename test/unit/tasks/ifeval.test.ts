import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CHECKERS, INSTRUCTION_IDS } from '../../../engine/verify/ifeval/checkers';
import { detectLanguage } from '../../../engine/verify/ifeval/language';
import { checkInstruction, ifevalVectors, judgeResponse, looseVariants } from '../../../engine/verify/ifeval/evaluate';
import { countSentences, countWords, wordTokens } from '../../../engine/verify/ifeval/text';
import { parseIfevalInput, parseIfevalResponses, responsesFor } from '../../../engine/eval/tasks/ifeval';
import { BbioError } from '../../../engine/util/errors';
import { IFEVAL_DOC, readCheckerExamples, renderIfevalDoc } from '../../../scripts/gen-ifeval-doc';

const FIXTURES = path.resolve(__dirname, '../../fixtures/tasks');
const EXAMPLES = readCheckerExamples();

test('IFEval: all 25 instruction ids of the reference registry have a checker and an example pair', () => {
  assert.equal(INSTRUCTION_IDS.length, 25);
  assert.deepEqual(EXAMPLES.map((e) => e.id).sort(), [...INSTRUCTION_IDS].sort());
});

for (const ex of EXAMPLES) {
  test(`IFEval checker ${ex.id}: one response passes, one fails (strict)`, () => {
    assert.equal(checkInstruction(ex.id, ex.pass, ex.kwargs), true, `should pass: ${JSON.stringify(ex.pass)}`);
    assert.equal(checkInstruction(ex.id, ex.fail, ex.kwargs), false, `should fail: ${JSON.stringify(ex.fail)}`);
  });
}

test('IFEval checkers: a blank response follows no instruction, even those a blank text would satisfy', () => {
  assert.equal(CHECKERS['punctuation:no_comma'].check('  '), true);
  assert.equal(checkInstruction('punctuation:no_comma', '  ', {}), false);
});

test('IFEval text measures: \\w+ words, sentences with abbreviations and decimals', () => {
  assert.equal(countWords("The patient's dose: 2.5 mg/kg — don't"), 10); // The patient s dose 2 5 mg kg don t
  assert.equal(countSentences('Dr. Smith gave 2.5 mg, e.g. of the drug. Then he left! Why?'), 3);
  assert.equal(countSentences('Given by J. Smith. Then he left.'), 2, 'J. is an initial');
  assert.equal(countSentences('Give 5 mg. daily for a week. Call us.'), 2, 'no break before a lower-case word');
  assert.equal(countSentences('Ask Mr. J. Smith at www.example.com today.'), 1);
  assert.deepEqual(wordTokens("DON'T stop state-of-the-art care."), ['DON', "'T", 'stop', 'state-of-the-art', 'care']);
  assert.equal(CHECKERS['detectable_format:json_format'].check('```json```{"a": 1}```'), true, 'fence prefixes are removed in turn');
  assert.equal(CHECKERS['keywords:frequency'].check('dose dose', { keyword: ' dose ', frequency: 2, relation: 'at least' }), true, 'the keyword is trimmed');
});

test('IFEval language detector: scripts and function words of the languages IFEval asks for', () => {
  const cases: [string, string][] = [
    ['The drug is taken with food and water.', 'en'],
    ['El paciente no tiene fiebre y la tos es leve.', 'es'],
    ['O paciente não tem febre e a tosse é leve.', 'pt'],
    ['Le patient est fatigué et il ne dort pas.', 'fr'],
    ['Il paziente non ha la febbre e la tosse è lieve.', 'it'],
    ['Пациент не спит, и это его беспокоит.', 'ru'],
    ['Пацієнт не спить, і це його турбує.', 'uk'],
    ['患者さんは熱がありません。', 'ja'],
    ['환자는 열이 없습니다.', 'ko'],
    ['मरीज को बुखार नहीं है और वह ठीक है।', 'hi'],
    ['بیمار تب ندارد و این برای او خوب است.', 'fa'],
  ];
  for (const [text, lang] of cases) assert.equal(detectLanguage(text), lang, text);
  assert.equal(detectLanguage('12345 !!!'), null);
});

test('IFEval loose scoring: the eight variants, and a preamble line or bold markers only fail strict', () => {
  assert.deepEqual(looseVariants('Sure:\n**hi**\nbye'), ['Sure:\n**hi**\nbye', 'Sure:\nhi\nbye', '**hi**\nbye', 'Sure:\n**hi**', '**hi**', 'hi\nbye', 'Sure:\nhi', 'hi']);
  const p = { key: 1, prompt: 'p', instructionIds: ['startend:quotation' as const, 'punctuation:no_comma' as const], kwargs: [{}, {}] };
  const j = judgeResponse(p, 'Sure, here it is:\n"Rest and drink water."');
  assert.deepEqual(j.strict, [false, false]);
  assert.deepEqual(j.loose, [true, true]);
  const v = ifevalVectors([j, judgeResponse(p, '"Rest and drink water."')]);
  assert.deepEqual(v, { prompt_strict: [0, 1], prompt_loose: [1, 1], inst_strict: [0, 0, 1, 1], inst_loose: [1, 1, 1, 1] });
});

test('IFEval input and responses files in their published format', () => {
  const file = path.join(FIXTURES, 'ifeval_input.jsonl');
  const prompts = parseIfevalInput(readFileSync(file, 'utf8'), file);
  assert.equal(prompts.length, 3);
  assert.deepEqual(prompts[0]!.instructionIds, ['punctuation:no_comma', 'length_constraints:number_words']);
  assert.equal(Object.hasOwn(prompts[0]!.kwargs[1]!, 'num_sentences'), false, 'null-valued kwargs are dropped');
  const rfile = path.join(FIXTURES, 'ifeval_responses.jsonl');
  const responses = responsesFor(prompts, parseIfevalResponses(readFileSync(rfile, 'utf8'), rfile), rfile);
  const v = ifevalVectors(prompts.map((p, i) => judgeResponse(p, responses[i]!)));
  assert.deepEqual(v.prompt_strict, [1, 0, 0]);
  assert.deepEqual(v.prompt_loose, [1, 1, 0]);
});

test('IFEval input: a missing field or kwarg names file:line, the field and what is expected', () => {
  const bad = (text: string, re: RegExp): void => assert.throws(() => parseIfevalInput(text, 'in.jsonl'), (e: BbioError) => e.code === 'E_DATA_RECORD' && re.test(e.message) && !!e.hint);
  bad('\n{"key": 1, "prompt": "p", "instruction_ids": [], "kwargs": []}', /^in\.jsonl:2: field "instruction_id_list" missing \(expected a list of instruction ids\)/);
  bad('{"key": 1, "prompt": "p", "instruction_id_list": ["keywords:existence"], "kwargs": [{"keyword": ["a"]}]}', /^in\.jsonl:1: field "kwargs\[0\]\.keywords" missing \(expected a list of strings/);
  bad('{"key": 1, "prompt": "p", "instruction_id_list": ["keywords:frequency"], "kwargs": [{"keyword": "a", "frequency": 2, "relation": "more than"}]}', /field "kwargs\[0\]\.relation" is not "less than" or "at least"/);
  bad('{"key": 1, "prompt": "p", "instruction_id_list": ["detectable_format:nope"], "kwargs": [{}]}', /unknown instruction id "detectable_format:nope"/);
  assert.throws(() => parseIfevalResponses('{"prompt": "p", "answer": "x"}', 'r.jsonl'), /r\.jsonl:1: field "response" missing/);
});

test('docs/ifeval.md lists every instruction id with its rule and examples, and is up to date', () => {
  const doc = readFileSync(IFEVAL_DOC, 'utf8');
  assert.equal(doc, renderIfevalDoc(EXAMPLES), 'run npx tsx scripts/gen-ifeval-doc.ts');
  for (const id of INSTRUCTION_IDS) assert.match(doc, new RegExp(`\\| \`${id}\` \\|`));
});
