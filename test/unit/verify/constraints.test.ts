import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Constraint, ConstraintKind } from '../../../engine/verify/constraints';
import { check, checkAll, CONSTRAINT_KINDS, countWords, describeConstraint, looseVariants } from '../../../engine/verify/constraints';

/** Per kind: a constraint, a response that passes strictly, one that fails, and one that fails strict but passes loose. */
const CASES: Record<ConstraintKind, { c: Constraint; pass: string; fail: string; looseOnly: string }> = {
  bullet_count: {
    c: { kind: 'bullet_count', n: 2 },
    pass: '* fever\n* cough',
    fail: '* fever\n* cough\n* wheeze',
    looseOnly: 'Findings:\n* fever\n* cough\n* wheeze',
  },
  numbered_steps: {
    c: { kind: 'numbered_steps', n: 2 },
    pass: '1. a finding\n2. a test',
    fail: '1. a finding\n3. a test',
    looseOnly: '1. preamble line\n1. a finding\n2. a test',
  },
  required_keywords: {
    c: { kind: 'required_keywords', words: ['asthma', 'spirometry'] },
    pass: 'Asthma is confirmed by spirometry.',
    fail: 'Asthmatic patients need tests.',
    looseOnly: 'asthma is confirmed by *spiro*metry.',
  },
  forbidden_words: {
    c: { kind: 'forbidden_words', words: ['cure'] },
    pass: 'Treatment controls symptoms; curettage is unrelated.',
    fail: 'This will cure it.',
    looseOnly: 'Sure, a cure!\nTreatment controls symptoms.',
  },
  json_keys: {
    c: { kind: 'json_keys', keys: ['disease', 'test'], exact: true },
    pass: '```json\n{"disease": "gout", "test": "joint aspiration"}\n```',
    fail: '{"disease": "gout", "test": "x", "extra": 1}',
    looseOnly: 'Here is the JSON:\n{"disease": "gout", "test": "joint aspiration"}',
  },
  max_words: {
    c: { kind: 'max_words', n: 4 },
    pass: 'Gout: use colchicine.',
    fail: 'Gout is treated first line with colchicine.',
    looseOnly: 'Gout: use colchicine.\nHope this helps you today.',
  },
  min_words: {
    c: { kind: 'min_words', n: 3 },
    pass: 'Use colchicine now.',
    fail: 'Colchicine.',
    looseOnly: 'Colchicine.',
  },
  ends_with: {
    c: { kind: 'ends_with', phrase: 'End of answer.' },
    pass: 'Use colchicine.\nEnd of answer.',
    fail: 'End of answer. Use colchicine.',
    looseOnly: 'Use colchicine. End of answer.\nP.S. thanks',
  },
  starts_with: {
    c: { kind: 'starts_with', phrase: 'Clinical note:' },
    pass: 'Clinical note: gout.',
    fail: 'Note: gout.',
    looseOnly: '**Clinical note:** gout.',
  },
  no_commas: {
    c: { kind: 'no_commas' },
    pass: 'Fever and cough.',
    fail: 'Fever, cough.',
    looseOnly: 'Sure, here it is.\nFever and cough.',
  },
  lowercase: {
    c: { kind: 'lowercase' },
    pass: 'fever and cough.',
    fail: 'Fever and cough.',
    looseOnly: 'Answer\nfever and cough.',
  },
  uppercase_words_max: {
    c: { kind: 'uppercase_words_max', n: 1 },
    pass: 'Order an ECG.',
    fail: 'Order an ECG and a CT.',
    looseOnly: 'NOTE BENE\nOrder an ECG.',
  },
  sections: {
    c: { kind: 'sections', n: 2, marker: 'SECTION' },
    pass: 'SECTION 1\nfindings\nSECTION 2\ntreatment',
    fail: 'SECTION 1\nfindings',
    looseOnly: 'SECTION 1\nfindings\nSECTION 2\ntreatment\nSECTION 3',
  },
  ordered_sections: {
    c: { kind: 'ordered_sections', headings: ['Test', 'Diagnosis'] },
    pass: 'Test: ECG\nDiagnosis: AF',
    fail: 'Diagnosis: AF\nTest: ECG',
    looseOnly: 'Diagnosis: preliminary\nTest: ECG\nDiagnosis: AF',
  },
  final_answer_line: {
    c: { kind: 'final_answer_line', prefix: 'Answer:' },
    pass: '1. step\nAnswer: gout',
    fail: 'Answer: gout\nthanks',
    looseOnly: 'Answer: gout\nthanks',
  },
  title: {
    c: { kind: 'title' },
    pass: '<<Gout>>\ntext',
    fail: '<Gout>\ntext',
    looseOnly: '<<Gout>>',
  },
};

test('every constraint kind has a case, a description and checks strictly', () => {
  assert.deepEqual(Object.keys(CASES).sort(), [...CONSTRAINT_KINDS].sort());
  for (const [kind, { c, pass, fail }] of Object.entries(CASES)) {
    assert.equal(check(pass, c, 'strict'), true, `${kind} pass`);
    assert.equal(check(fail, c, 'strict'), false, `${kind} fail`);
    for (let v = 0; v < 3; v++) assert.ok(describeConstraint(c, v).length > 10, `${kind} description ${v}`);
  }
});

test('loose mode accepts what strict rejects after removing first/last line or * emphasis', () => {
  const looseOnlyKinds: ConstraintKind[] = [
    'bullet_count', 'numbered_steps', 'required_keywords', 'forbidden_words', 'json_keys', 'max_words', 'ends_with',
    'starts_with', 'no_commas', 'lowercase', 'uppercase_words_max', 'sections', 'ordered_sections', 'final_answer_line',
  ];
  for (const kind of looseOnlyKinds) {
    const { c, looseOnly } = CASES[kind];
    assert.equal(check(looseOnly, c, 'strict'), false, `${kind} strict`);
    assert.equal(check(looseOnly, c, 'loose'), true, `${kind} loose`);
  }
  // a response that fails everywhere stays failed in loose mode
  assert.equal(check('Colchicine.', CASES.min_words.c, 'loose'), false);
  assert.equal(check('<Gout>', CASES.title.c, 'loose'), false);
});

test('looseVariants follows IFEval: 8 variants', () => {
  const v = looseVariants('first\n*mid*\nlast');
  assert.equal(v.length, 8);
  assert.deepEqual(v.slice(0, 5), ['first\n*mid*\nlast', 'first\nmid\nlast', '*mid*\nlast', 'first\n*mid*', '*mid*']);
});

test('checkAll aggregates per constraint and per prompt', () => {
  const cs: Constraint[] = [CASES.no_commas.c, CASES.lowercase.c];
  const r = checkAll('Sure, here it is.\nfever and cough.', cs);
  assert.deepEqual(r.strict, [false, false]);
  assert.deepEqual(r.loose, [true, true]);
  assert.equal(r.promptStrict, false);
  assert.equal(r.promptLoose, true);
  assert.deepEqual(checkAll('anything', []), { strict: [], loose: [], promptStrict: true, promptLoose: true });
});

test('countWords counts hyphenated and apostrophe words once', () => {
  assert.equal(countWords("Crohn's disease is a long-term condition."), 6);
});

test('an empty or blank answer satisfies no constraint, not even a negative one (issue 17)', () => {
  const negative: Constraint[] = [
    { kind: 'max_words', n: 20 },
    { kind: 'no_commas' },
    { kind: 'forbidden_words', words: ['cure'] },
    { kind: 'lowercase' },
    { kind: 'uppercase_words_max', n: 2 },
  ];
  for (const blank of ['', '  \n\t', '**\n--']) {
    const r = checkAll(blank, negative);
    assert.deepEqual(r.strict, negative.map(() => false), `strict on ${JSON.stringify(blank)}`);
    assert.deepEqual(r.loose, negative.map(() => false), `loose on ${JSON.stringify(blank)}`);
    assert.equal(r.promptStrict, false);
  }
  assert.deepEqual(checkAll('gout is treated with colchicine', negative).strict, negative.map(() => true), 'a real answer still passes');
});
