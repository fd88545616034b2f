import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkOntology, loadOboFile, loadOboUrl, mergeOntologies, oboCachePath, parseObo, parseOboLines, unescapeObo } from '../../../engine/ontology/obo';
import { BbioError } from '../../../engine/util/errors';

/** Every construct the loader interprets, as real files write them. Line numbers matter below. */
const CONSTRUCTS = [
  'format-version: 1.4', //                                                             1
  'data-version: releases/2025-01-01',
  'ontology: bbio',
  'default-namespace: clinical',
  'subsetdef: core "Core terms"', //                                                    5
  'synonymtypedef: layperson "layperson term" EXACT',
  '! a comment line',
  '',
  '[Term]',
  'id: BBIO:0000001', //                                                                10
  'name: disease',
  '',
  '[Term]', //                                                                          13
  'id: BBIO:0001001',
  'name: myocardial infarction ! MI',
  'namespace: disease',
  'alt_id: BBIO:0009999',
  'def: "Necrosis of the \\"heart\\" muscle! Caused by ischemia {not a qualifier}." [PMID:123, url:http\\://example.org/a\\,b "a page"] {source="curator"}',
  'comment: See also\\nangina. {source="curator"}',
  'subset: core',
  'synonym: "heart attack" EXACT layperson [PMID:456] {source="x"}',
  'synonym: "MI" EXACT []',
  'synonym: "cardiac infarction" RELATED [] ! old',
  'synonym: "infarct"',
  'exact_synonym: "AMI" []',
  'xref: SNOMEDCT:22298006 "Myocardial infarction"',
  'xref: ICD10CM:I21',
  'is_a: BBIO:0000001 ! disease',
  'is_a: BBIO:0000001 {source="dup"} ! disease again',
  'relationship: has_finding BBIO:0000001 ! disease',
  'created_by: someone',
  'property_value: IAO:0000117 "a \\"quoted\\" value" xsd:string',
  'my_unknown_tag: anything {a=1} goes',
  '',
  '[Instance]',
  'id: inst1',
  'instance_of: BBIO:0001001',
  '',
  '[Term]', //                                                                          39
  'id: BBIO:0001002',
  'name: old term with\\Wescaped\\Wspaces \\! bang',
  'is_obsolete: true',
  'replaced_by: BBIO:0001001',
  'consider: BBIO:0000001',
  '',
  '[Typedef]', //                                                                       46
  'id: has_finding',
  'name: has finding',
  'def: "Links a disease to a finding." []',
  'is_transitive: true',
  'is_symmetric: false',
  'domain: BBIO:0000001',
  'range: BBIO:0000001',
  'is_a: related_to',
  '',
].join('\n');

test('parseObo: header tags, default namespace and unknown header tags', () => {
  const ont = parseObo(CONSTRUCTS, 'mem.obo');
  assert.equal(ont.header.formatVersion, '1.4');
  assert.equal(ont.header.dataVersion, 'releases/2025-01-01');
  assert.equal(ont.header.ontology, 'bbio');
  assert.equal(ont.header.defaultNamespace, 'clinical');
  assert.deepEqual(ont.header.other.subsetdef, ['core "Core terms"']);
  assert.equal(ont.terms.get('BBIO:0000001')?.namespace, 'clinical'); // from default-namespace
  assert.equal(ont.terms.get('BBIO:0001001')?.namespace, 'disease'); // its own wins
  assert.deepEqual(ont.warnings, []);
});

test('parseObo: a term with every interpreted construct', () => {
  const t = parseObo(CONSTRUCTS, 'mem.obo').terms.get('BBIO:0001001');
  assert.ok(t);
  assert.equal(t.name, 'myocardial infarction');
  assert.equal(t.line, 13);
  assert.equal(t.source, 'mem.obo');
  assert.equal(t.def, 'Necrosis of the "heart" muscle! Caused by ischemia {not a qualifier}.');
  assert.deepEqual(t.defXrefs, ['PMID:123', 'url:http://example.org/a,b']);
  assert.equal(t.comment, 'See also\nangina.');
  assert.deepEqual(t.subsets, ['core']);
  assert.deepEqual(t.synonyms, [
    { text: 'heart attack', scope: 'EXACT', type: 'layperson' },
    { text: 'MI', scope: 'EXACT' },
    { text: 'cardiac infarction', scope: 'RELATED' },
    { text: 'infarct', scope: 'RELATED' }, // OBO 1.4: no scope means RELATED
    { text: 'AMI', scope: 'EXACT' }, // OBO 1.2 exact_synonym
  ]);
  assert.deepEqual(t.xrefs, ['SNOMEDCT:22298006', 'ICD10CM:I21']);
  assert.deepEqual(t.isA, ['BBIO:0000001', 'BBIO:0000001']);
  assert.deepEqual(t.relationships, [{ relation: 'has_finding', target: 'BBIO:0000001' }]);
  assert.equal(t.isObsolete, false);
  assert.deepEqual(t.other, {
    alt_id: ['BBIO:0009999'],
    created_by: ['someone'],
    property_value: ['IAO:0000117 "a \\"quoted\\" value" xsd:string'],
    my_unknown_tag: ['anything {a=1} goes'],
  });
});

test('parseObo: obsolete term, replaced_by, escaped spaces and bang', () => {
  const t = parseObo(CONSTRUCTS, 'mem.obo').terms.get('BBIO:0001002');
  assert.ok(t);
  assert.equal(t.line, 39);
  assert.equal(t.name, 'old term with escaped spaces ! bang');
  assert.equal(t.isObsolete, true);
  assert.deepEqual(t.replacedBy, ['BBIO:0001001']);
  assert.deepEqual(t.other.consider, ['BBIO:0000001']);
});

test('parseObo: [Typedef] fields; [Instance] skipped without error', () => {
  const ont = parseObo(CONSTRUCTS, 'mem.obo');
  assert.deepEqual(ont.typedefs.get('has_finding'), {
    id: 'has_finding', name: 'has finding', def: 'Links a disease to a finding.', isTransitive: true, isSymmetric: false,
    domain: 'BBIO:0000001', range: 'BBIO:0000001', other: { is_a: ['related_to'] }, line: 46, source: 'mem.obo',
  });
  assert.deepEqual([...ont.terms.keys()], ['BBIO:0000001', 'BBIO:0001001', 'BBIO:0001002']);
  assert.equal(ont.terms.has('inst1'), false);
});

test('parseObo: CRLF line endings and a BOM give the same ontology', () => {
  const lf = parseObo(CONSTRUCTS, 'x.obo');
  const crlf = parseObo('\uFEFF' + CONSTRUCTS.replace(/\n/g, '\r\n'), 'x.obo');
  assert.deepEqual(crlf, lf);
});

test('unescapeObo: OBO 1.4 escape characters', () => {
  assert.equal(unescapeObo('a\\nb\\tc\\Wd\\:e\\,f\\"g\\\\h\\!i\\{j\\}'), 'a\nb\tc d:e,f"g\\h!i{j}');
});

test('parseOboLines and parseObo agree', () => {
  assert.deepEqual(parseOboLines(CONSTRUCTS.split('\n'), 'x.obo'), parseObo(CONSTRUCTS, 'x.obo'));
});

function parseError(text: string): BbioError {
  try {
    parseObo(text, 'bad.obo');
  } catch (e) {
    assert.ok(e instanceof BbioError, String(e));
    return e;
  }
  assert.fail('expected a BbioError');
}

test('errors: a stanza without id (truncated file) names file and stanza line', () => {
  const e = parseError('[Term]\nid: A:1\nname: a\n\n[Term]\nname: cut here');
  assert.equal(e.code, 'E_ONTOLOGY_PARSE');
  assert.deepEqual(e.location, { file: 'bad.obo', line: 5 });
  assert.match(e.message, /bad\.obo:5: .*no "id:"/);
});

test('errors: a quote never closed names the line', () => {
  const e = parseError('[Term]\nid: A:1\nname: a\ndef: "cut in the middle of the defini');
  assert.equal(e.code, 'E_ONTOLOGY_PARSE');
  assert.deepEqual(e.location, { file: 'bad.obo', line: 4 });
  assert.match(e.format(), /^bad\.obo:4: error E_ONTOLOGY_PARSE .*never closed/);
});

test('errors: a stanza header cut off', () => {
  const e = parseError('[Term]\nid: A:1\nname: a\n\n[Ter');
  assert.equal(e.code, 'E_ONTOLOGY_PARSE');
  assert.equal(e.location.line, 5);
});

test('errors: an ontology without terms is E_ONTOLOGY_EMPTY', () => {
  for (const text of ['', 'format-version: 1.4\n', '[Typedef]\nid: part_of\n']) {
    const e = parseError(text);
    assert.equal(e.code, 'E_ONTOLOGY_EMPTY');
    assert.equal(e.location.file, 'bad.obo');
  }
});

test('warnings: malformed line, missing name, repeated tag and repeated id do not stop loading', () => {
  const ont = parseObo('[Term]\nid: A:1\nthis line has no colon\n\n[Term]\nid: A:2\nname: b\nname: c\n\n[Term]\nid: A:2\nname: d\n', 'w.obo');
  assert.equal(ont.terms.get('A:1')?.name, 'A:1');
  assert.equal(ont.terms.get('A:2')?.name, 'd');
  assert.deepEqual(ont.warnings.map((w) => w.line), [3, 1, 8, 10]);
  for (const w of ont.warnings) assert.match(w.message, /^w\.obo:\d+: /);
  assert.match(ont.warnings[3].message, /A:2 is defined again \(first at line 5\)/);
});

const CHECK_BASE = '[Term]\nid: X:1\nname: root\n\n';

test('checkOntology: is_a cycle names every id in it', () => {
  const ont = parseObo(CHECK_BASE + '[Term]\nid: X:2\nname: b\nis_a: X:4\n\n[Term]\nid: X:3\nname: c\nis_a: X:2\n\n[Term]\nid: X:4\nname: d\nis_a: X:3\n', 'cyc.obo');
  const { errors } = checkOntology(ont);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'E_ONTOLOGY_CYCLE');
  assert.equal(errors[0].location.file, 'cyc.obo');
  assert.match(errors[0].message, /X:2 → X:4 → X:3 → X:2/);
});

test('checkOntology: dangling is_a is an error, dangling relationship and undeclared relation are warnings', () => {
  const ont = parseObo(CHECK_BASE + '[Term]\nid: X:2\nname: b\nis_a: X:404\nrelationship: part_of X:405\n', 'dang.obo');
  const { errors, warnings } = checkOntology(ont);
  assert.deepEqual(errors.map((e) => [e.code, e.location.line]), [['E_ONTOLOGY_DANGLING', 5]]);
  assert.match(errors[0].message, /^dang\.obo:5: term X:2 has is_a X:404, which is not defined/);
  assert.deepEqual(warnings.map((w) => w.code), ['E_ONTOLOGY_DANGLING', 'E_ONTOLOGY_DANGLING']);
  assert.match(warnings[0].message, /X:2 has relationship part_of X:405/);
  assert.match(warnings[1].message, /relation part_of .* has no \[Typedef\]/);
});

test('checkOntology: a clean graph has no findings', () => {
  const { errors, warnings } = checkOntology(parseObo(CONSTRUCTS, 'ok.obo'));
  assert.deepEqual([errors.length, warnings.length], [0, 0]);
});

test('mergeOntologies: a later source replaces a duplicate id, with a warning naming both places', () => {
  const builtin = parseObo('[Term]\nid: X:1\nname: built-in\n\n[Term]\nid: X:2\nname: two\n', 'builtin.obo');
  const user = parseObo('\n[Term]\nid: X:1\nname: user\n', 'user.obo');
  const merged = mergeOntologies([builtin, user]);
  assert.equal(merged.terms.get('X:1')?.name, 'user');
  assert.equal(merged.terms.get('X:2')?.name, 'two');
  assert.deepEqual(merged.warnings.map((w) => w.message), ['user.obo:2: term X:1 replaces the one from builtin.obo:1']);
});

test('loadOboFile streams a file; CRLF file equals parseObo; missing file is E_ONTOLOGY_MISSING', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bbio-obo-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'x.obo');
  await writeFile(file, CONSTRUCTS.replace(/\n/g, '\r\n'));
  assert.deepEqual(await loadOboFile(file), parseObo(CONSTRUCTS, file));
  await assert.rejects(loadOboFile(path.join(dir, 'nope.obo')), (e: unknown) => e instanceof BbioError && e.code === 'E_ONTOLOGY_MISSING');
});

test('loadOboUrl: downloads once, reuses the cache, verifies sha256, reports failures', async (t) => {
  const body = CONSTRUCTS;
  const sha = createHash('sha256').update(body).digest('hex');
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/go.obo') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'bbio-cache-'));
  t.after(() => rm(cacheDir, { recursive: true, force: true }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${base}/go.obo`;

  const first = await loadOboUrl(url, { cacheDir, sha256: sha });
  assert.equal(first.terms.get('BBIO:0001001')?.source, url);
  const second = await loadOboUrl(url, { cacheDir, sha256: sha });
  assert.deepEqual(second, first);
  assert.deepEqual(hits, ['/go.obo']); // the second load came from the cache
  assert.deepEqual(await readdir(cacheDir), [path.basename(oboCachePath(url, cacheDir))]); // no temp files left

  // A pinned checksum the file does not have: the cached copy is stale, the fresh download fails the check.
  const bad = '0'.repeat(64);
  await assert.rejects(loadOboUrl(url, { cacheDir, sha256: bad }), (e: unknown) =>
    e instanceof BbioError && e.code === 'E_ONTOLOGY_CHECKSUM' && e.message.includes(sha) && e.location.file === url);
  assert.deepEqual(await readdir(cacheDir), []); // nothing unverified is kept
  assert.equal(hits.length, 2);

  await assert.rejects(loadOboUrl(`${base}/missing.obo`, { cacheDir }), (e: unknown) =>
    e instanceof BbioError && e.code === 'E_ONTOLOGY_DOWNLOAD' && /HTTP 404/.test(e.message) && !!e.hint);

  // Nothing listens on a just-closed port: a network failure.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(loadOboUrl(`http://127.0.0.1:${deadPort}/go.obo`, { cacheDir }), (e: unknown) =>
    e instanceof BbioError && e.code === 'E_ONTOLOGY_DOWNLOAD' && /network/.test(e.hint ?? ''));
});
