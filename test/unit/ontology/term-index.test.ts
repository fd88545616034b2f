import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { builtinOntologyPath, findPackageRoot } from '../../../engine/ontology/builtin';
import { runOntologyLookup } from '../../../engine/cli/commands/lookup';
import { loadOboFile } from '../../../engine/ontology/obo';
import { normalizeLabel, TermIndex } from '../../../engine/ontology/term-index';

const FIXTURE = path.resolve(__dirname, '../../fixtures/ontology/mini-clinical.obo');
const MI = 'BBIO:0001001';

async function fixtureIndex(): Promise<TermIndex> {
  return TermIndex.build(await loadOboFile(FIXTURE));
}

test('normalizeLabel: case, punctuation and accents', () => {
  assert.equal(normalizeLabel('  Crohn’s  Disease (CD) '), 'crohn s disease cd');
  assert.equal(normalizeLabel('Sjögren syndrome'), 'sjogren syndrome');
});

test('termCount and get (by id and alt_id-free fixture)', async () => {
  const index = await fixtureIndex();
  assert.equal(index.termCount, 9);
  assert.equal(index.get(MI)?.name, 'myocardial infarction');
  assert.equal(index.get('bbio:0001001')?.id, MI); // ids are case-insensitive
  assert.equal(index.get('BBIO:404'), undefined);
});

test('lookup by exact id', async () => {
  const index = await fixtureIndex();
  const [first] = index.lookup('BBIO:0001001');
  assert.deepEqual(first, { id: MI, name: 'myocardial infarction', namespace: 'disease', matched: MI, matchedKind: 'id', score: 1 });
});

test('lookup("heart attack") finds myocardial infarction by its EXACT synonym, first', async () => {
  const index = await fixtureIndex();
  const hits = index.lookup('heart attack');
  assert.equal(hits[0].id, MI);
  assert.equal(hits[0].matched, 'heart attack');
  assert.equal(hits[0].matchedKind, 'synonym');
  assert.equal(hits[0].synonymScope, 'EXACT');
  // The term whose name merely starts with the phrase ranks below the exact synonym.
  assert.equal(hits[1].id, 'BBIO:0001002');
  assert.ok(hits[0].score > hits[1].score);
});

test('lookup("heart att"), a prefix as typed in an editor, ranks myocardial infarction first', async () => {
  const index = await fixtureIndex();
  const hits = index.lookup('heart att');
  assert.equal(hits[0].id, MI);
  assert.equal(hits[0].matched, 'heart attack');
  // "heart attack risk assessment" also starts with the prefix, but is longer: closer first.
  assert.deepEqual(hits.map((h) => h.id), [MI, 'BBIO:0001002']);
});

test('lookup with a typo ("myocardal infarction") finds it', async () => {
  const index = await fixtureIndex();
  const hits = index.lookup('myocardal infarction');
  assert.equal(hits[0].id, MI);
  assert.equal(hits[0].matchedKind, 'name');
  assert.ok(hits[0].score < 0.4, `typo tier score, got ${hits[0].score}`);
});

test('ranking: exact name > exact synonym (EXACT over other scopes) > prefix > word prefix > typo', async () => {
  const index = await fixtureIndex();
  const score = (q: string, id: string): number => index.lookup(q, { limit: 50 }).find((h) => h.id === id)?.score ?? 0;
  const exactName = score('myocardial infarction', MI);
  const exactSynExact = score('heart attack', MI);
  const exactSynNarrow = score('acute myocardial infarction', MI);
  const prefix = score('myocardial inf', MI);
  const wordPrefix = score('infarction myoc', MI);
  const typo = score('myocardial infraction', MI);
  assert.ok(exactName > exactSynExact, `${exactName} > ${exactSynExact}`);
  assert.ok(exactSynExact > exactSynNarrow, `${exactSynExact} > ${exactSynNarrow}`);
  assert.ok(exactSynNarrow > prefix, `${exactSynNarrow} > ${prefix}`);
  assert.ok(prefix > wordPrefix, `${prefix} > ${wordPrefix}`);
  assert.ok(wordPrefix > typo && typo > 0, `${wordPrefix} > ${typo} > 0`);
});

test('ranking: among prefix matches, shorter labels first; a name edges out a synonym of near length', async () => {
  const index = await fixtureIndex();
  assert.deepEqual(index.lookup('heart').map((h) => h.matched),
    ['heartburn', 'heart failure', 'heart attack', 'heart disease', 'heart attack risk assessment']);
});

test('one match per term, with the best label', async () => {
  const index = await fixtureIndex();
  const hits = index.lookup('infarct', { limit: 20 });
  assert.equal(new Set(hits.map((h) => h.id)).size, hits.length);
  assert.deepEqual(hits.slice(0, 2).map((h) => [h.id, h.matched]), [['BBIO:0001007', 'infarct'], [MI, 'myocardial infarction']]);
});

test('options: limit, namespaces, includeObsolete', async () => {
  const index = await fixtureIndex();
  assert.equal(index.lookup('heart', { limit: 2 }).length, 2);
  assert.deepEqual(index.lookup('cardiac', { namespaces: ['test'] }).map((h) => h.id), ['BBIO:0002001']);
  assert.deepEqual(index.lookup('old infarct code').map((h) => h.id), []);
  assert.deepEqual(index.lookup('old infarct code', { includeObsolete: true }).map((h) => h.id), ['BBIO:0001005']);
});

test('no match and empty query return []', async () => {
  const index = await fixtureIndex();
  assert.deepEqual(index.lookup('zzzz qqqq'), []);
  assert.deepEqual(index.lookup('   '), []);
});

test('findPackageRoot / builtinOntologyPath walk up to package.json', async () => {
  const root = await findPackageRoot(__dirname);
  assert.ok(existsSync(path.join(root, 'package.json')));
  assert.equal(await builtinOntologyPath(path.join(root, 'dist')), path.join(root, 'engine/ontology/data/clinical.obo'));
});

test('runOntologyLookup: aligned table, JSON, no-match and error exit codes', async () => {
  const lines: string[] = [];
  assert.equal(await runOntologyLookup({ ontology: FIXTURE, json: false, term: 'heart attack', limit: 2 }, (l) => lines.push(l)), 0);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^ID\s+NAME\s+SCORE\s+MATCHED$/);
  assert.match(lines[1], /^BBIO:0001001\s+myocardial infarction\s+0\.950\s+synonym EXACT: heart attack$/);
  assert.equal(lines[1].indexOf('0.950'), lines[0].indexOf('SCORE')); // columns aligned

  const json: string[] = [];
  assert.equal(await runOntologyLookup({ ontology: FIXTURE, json: true, term: 'heart att' }, (l) => json.push(l)), 0);
  const parsed = JSON.parse(json[0]) as { query: string; matches: { id: string }[] };
  assert.equal(parsed.query, 'heart att');
  assert.equal(parsed.matches[0].id, MI);

  const none: string[] = [];
  assert.equal(await runOntologyLookup({ ontology: FIXTURE, json: false, term: 'zzzz' }, (l) => none.push(l)), 1);
  assert.match(none[0], /no match/);

  const err: string[] = [];
  assert.equal(await runOntologyLookup({ ontology: '/nonexistent/x.obo', json: false, term: 'mi' }, (l) => err.push(l)), 2);
  assert.match(err[0], /error E_ONTOLOGY_MISSING/);
});

test('built-in clinical graph: lookup("heart attack") returns myocardial infarction first', async (t) => {
  const file = await builtinOntologyPath();
  if (!existsSync(file)) {
    t.skip(`built-in ontology not present yet: ${file}`);
    return;
  }
  const index = TermIndex.build(await loadOboFile(file));
  const [first] = index.lookup('heart attack');
  assert.ok(first, 'no match for "heart attack"');
  assert.equal(first.name.toLowerCase(), 'myocardial infarction');
});
