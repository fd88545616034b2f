import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { loadOboFile, parseObo } from '../../../engine/ontology/obo';
import { CLINICAL_MINIMUMS, validateClinicalGraph } from '../../../engine/ontology/validate-clinical';
import { buildClinicalObo, CLINICAL_OBO_PATH, parseSynonym } from '../../../scripts/build-clinical-obo';

test('the shipped clinical graph has no problems and meets every minimum count', async () => {
  const ont = await loadOboFile(CLINICAL_OBO_PATH);
  assert.deepEqual(ont.warnings, []);
  const { problems, counts } = validateClinicalGraph(ont);
  assert.deepEqual(problems, []);
  for (const [k, min] of Object.entries(CLINICAL_MINIMUMS)) {
    assert.ok(counts[k as keyof typeof counts] >= (min as number), `${k}: ${counts[k as keyof typeof counts]} < ${min}`);
  }
  assert.equal(ont.header.formatVersion, '1.4');
  assert.equal(ont.header.ontology, 'bbio-clinical');
});

test('clinical.obo is up to date with the tables in engine/ontology/data/src', async () => {
  const committed = await readFile(CLINICAL_OBO_PATH, 'utf8');
  const built = buildClinicalObo();
  assert.ok(committed === built.text, 'clinical.obo is stale: run npx tsx scripts/build-clinical-obo.ts');
  const { counts } = validateClinicalGraph(parseObo(built.text, 'built'));
  assert.equal(counts.diseases, built.counts.diseases);
  assert.equal(counts.interactions, built.counts.interactions);
  assert.equal(counts.complications, built.counts.complications);
});

test('myocardial infarction carries its lay term and abbreviation', async () => {
  const ont = await loadOboFile(CLINICAL_OBO_PATH);
  const mi = [...ont.terms.values()].find((t) => t.name === 'myocardial infarction');
  assert.ok(mi, 'myocardial infarction is missing');
  assert.equal(mi.namespace, 'disease');
  assert.deepEqual(mi.synonyms.find((s) => s.text === 'heart attack'), { text: 'heart attack', scope: 'EXACT', type: 'layperson' });
  assert.deepEqual(mi.synonyms.find((s) => s.text === 'MI'), { text: 'MI', scope: 'EXACT', type: 'abbreviation' });
  assert.ok(mi.xrefs.includes('ICD10CM:I21.9'));
  assert.ok(mi.subsets.includes('cardiology'));
});

test('synonym types: explicit marks win; unmarked short or capitalized forms are abbreviations', () => {
  assert.deepEqual(parseSynonym('heart attack|lay'), { text: 'heart attack', type: 'layperson' });
  assert.deepEqual(parseSynonym('acetylsalicylic acid|exact'), { text: 'acetylsalicylic acid', type: '' });
  assert.deepEqual(parseSynonym('ECG'), { text: 'ECG', type: 'abbreviation' });
  assert.deepEqual(parseSynonym('HbA1c'), { text: 'HbA1c', type: 'abbreviation' });
  assert.deepEqual(parseSynonym('water pill'), { text: 'water pill', type: 'layperson' });
  assert.equal(typeof parseSynonym('x|bogus'), 'string');
});

/** A tiny graph with one deliberate fault per disease; line numbers matter below. */
const BROKEN = [
  'format-version: 1.4', //                                            1
  '',
  '[Term]', //                                                          3
  'id: T:1',
  'name: disease',
  'namespace: disease',
  'def: "root" []',
  '',
  '[Term]', //                                                          9: too few findings, dangling finding id
  'id: T:2',
  'name: tiny disease',
  'namespace: disease',
  'def: "x" []',
  'is_a: T:1',
  'relationship: has_finding T:10',
  'relationship: has_finding T:99',
  'relationship: diagnosed_by T:20',
  'relationship: first_line_treatment T:30',
  '',
  '[Term]', //                                                         20: first-line drug is contraindicated
  'id: T:3',
  'name: conflicted disease',
  'namespace: disease',
  'def: "x" []',
  'is_a: T:1',
  'relationship: has_finding T:10',
  'relationship: has_finding T:11',
  'relationship: has_finding T:12',
  'relationship: diagnosed_by T:20',
  'relationship: first_line_treatment T:30',
  '',
  ...[10, 11, 12].flatMap((n) => ['[Term]', `id: T:${n}`, `name: finding ${n}`, 'namespace: finding', 'def: "x" []', '']),
  '[Term]', 'id: T:20', 'name: test', 'namespace: diagnostic_test', 'def: "x" []', '',
  '[Term]', 'id: T:30', 'name: drug a', 'namespace: drug', 'def: "x" []',
  'relationship: contraindicated_in T:3',
  'relationship: has_finding T:10',
  '',
  ...['has_finding', 'diagnosed_by', 'first_line_treatment', 'contraindicated_in'].flatMap((r) => ['[Typedef]', `id: ${r}`, `name: ${r}`, '']),
].join('\n');

test('the validator reports a dangling id, a first-line drug that is contraindicated, and too few findings', () => {
  const { problems, counts } = validateClinicalGraph(parseObo(BROKEN, 'broken.obo'), { minimums: {} });
  const about = (id: string, re: RegExp): boolean => problems.some((p) => p.id === id && re.test(p.message));
  assert.ok(about('T:2', /has_finding T:99, which is not defined \(dangling id\)/), JSON.stringify(problems));
  assert.ok(about('T:2', /has 2 findings; needs at least 3/), JSON.stringify(problems));
  assert.ok(about('T:3', /T:30 \(drug a\) is both first-line for and contraindicated in T:3/), JSON.stringify(problems));
  assert.equal(problems.find((p) => p.id === 'T:3')?.line, 20);
  // has_finding from a drug breaks the relation's domain.
  assert.ok(about('T:30', /has_finding needs a source in namespace disease/), JSON.stringify(problems));
  assert.equal(problems.length, 4, JSON.stringify(problems));
  assert.equal(counts.diseases, 2);
  assert.equal(counts.contraindications, 1);
});

test('the validator enforces minimum counts and finds is_a cycles', () => {
  const cyclic = [
    'format-version: 1.4', '',
    '[Term]', 'id: C:1', 'name: a', 'namespace: finding', 'def: "x" []', 'is_a: C:2', '',
    '[Term]', 'id: C:2', 'name: b', 'namespace: finding', 'def: "x" []', 'is_a: C:1', '',
  ].join('\n');
  const { problems } = validateClinicalGraph(parseObo(cyclic, 'cyclic.obo'), { minimums: { diseases: 1 } });
  assert.ok(problems.some((p) => /is_a cycle/.test(p.message)), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.id === '' && /only 0 diseases; at least 1 required/.test(p.message)), JSON.stringify(problems));
});
