import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { checkOntology, loadOboFile } from '../../engine/ontology/obo';
import { TermIndex } from '../../engine/ontology/term-index';

const ROOT = path.resolve(__dirname, '../..');
const GO_OBO = path.join(ROOT, 'test/fixtures/large/go.obo');

/** GO.db 3.16 (GO release 2022-07-01): 43,559 live terms (incl. the GO.db `all` root) + 3,910 obsolete. */
const LIVE_TERMS = 43_559;
const OBSOLETE_TERMS = 3_910;

test('real Gene Ontology: load, check and look up at scale', { timeout: 300_000 }, async (t) => {
  if (!existsSync(GO_OBO)) {
    const { stdout } = await promisify(execFile)('bash', [path.join(ROOT, 'scripts/fetch-go-obo.sh')], { timeout: 240_000 });
    if (!existsSync(GO_OBO)) {
      t.skip(`GO not available: ${stdout.trim().split('\n').pop() ?? 'scripts/fetch-go-obo.sh built nothing'}`);
      return;
    }
  }

  const t0 = performance.now();
  const ont = await loadOboFile(GO_OBO);
  const index = TermIndex.build(ont);
  const seconds = (performance.now() - t0) / 1000;

  const terms = [...ont.terms.values()];
  const live = terms.filter((x) => !x.isObsolete).length;
  const synonyms = terms.reduce((n, x) => n + x.synonyms.length, 0);
  t.diagnostic(`GO: ${terms.length} terms, ${live} non-obsolete, ${synonyms} synonyms; load+index ${seconds.toFixed(2)} s`);
  assert.equal(live, LIVE_TERMS);
  assert.equal(terms.length, LIVE_TERMS + OBSOLETE_TERMS);
  assert.equal(index.termCount, terms.length);
  // GO.db's 121,434 synonym rows include 3,450 secondary ids (written as alt_id): ~118k label synonyms.
  assert.ok(synonyms > 110_000 && synonyms < 130_000, `synonyms ${synonyms}`);
  assert.deepEqual([...ont.typedefs.keys()].sort(), ['negatively_regulates', 'part_of', 'positively_regulates', 'regulates']);

  const { errors, warnings } = checkOntology(ont);
  assert.deepEqual(errors.map((e) => e.message), []); // no dangling is_a, no is_a cycle
  assert.deepEqual(warnings.map((e) => e.message), []);
  assert.deepEqual(ont.warnings, []);

  assert.equal(index.lookup('apoptotic process')[0].id, 'GO:0006915');
  assert.equal(index.lookup('GO:0008150')[0].name, 'biological_process');
  assert.equal(index.lookup('GO:0019952')[0].id, 'GO:0000003'); // a secondary id resolves to its term
  const prefix = index.lookup('cell dea');
  assert.equal(prefix[0].id, 'GO:0008219'); // cell death
  // Every other hit has a word "cell" and a word starting with "dea" in the label that matched.
  for (const m of prefix) assert.ok(/\bcell\b/i.test(m.matched) && /\bdea/i.test(m.matched), m.matched);
  assert.equal(index.lookup('apoptotc process')[0].id, 'GO:0006915'); // typo
  assert.equal(index.lookup('mitochondrial inheritance')[0].id, 'GO:0000001'); // synonym

  // The ordered scan stops early; a larger limit (which stops later) must agree on the top 10.
  for (const q of ['regulation of', 'reg', 'positive regulation of cell', 'kinase act', 'membrane']) {
    const top10 = index.lookup(q, { limit: 10 }).map((m) => m.id);
    const top500 = index.lookup(q, { limit: 500 }).map((m) => m.id).slice(0, 10);
    assert.deepEqual(top10, top500, q);
  }
});
