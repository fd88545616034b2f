import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObo } from '../../../engine/ontology/obo';
import { filterBySubsets } from '../../../engine/ontology/experiment';
import { BbioError } from '../../../engine/util/errors';

/** Two specialties; a drug shared by both; a contraindication that points out of the cardiology slice. */
const OBO = `format-version: 1.4
subsetdef: cardiology "Cardiology"
subsetdef: pulmonology "Pulmonology"

[Term]
id: X:1
name: disease

[Term]
id: X:2
name: heart disease
is_a: X:1 ! disease

[Term]
id: X:10
name: angina
subset: cardiology
is_a: X:2 ! heart disease
relationship: has_finding X:20 ! chest pain
relationship: first_line_treatment X:30 ! aspirin

[Term]
id: X:11
name: asthma
subset: pulmonology
is_a: X:1 ! disease
relationship: has_finding X:21 ! wheezing

[Term]
id: X:20
name: chest pain

[Term]
id: X:21
name: wheezing

[Term]
id: X:30
name: aspirin
is_a: X:40 ! antiplatelet
relationship: contraindicated_in X:11 ! asthma

[Term]
id: X:40
name: antiplatelet
`;

test('filterBySubsets keeps a subset, its one-hop neighbours and their is_a ancestors, and drops edges that leave the slice', () => {
  const slice = filterBySubsets(parseObo(OBO, 'mem.obo'), ['cardiology']);
  // angina (seed), chest pain and aspirin (its relations), heart disease → disease and antiplatelet (ancestors)
  assert.deepEqual([...slice.terms.keys()].sort(), ['X:1', 'X:10', 'X:2', 'X:20', 'X:30', 'X:40']);
  assert.deepEqual(slice.terms.get('X:10')!.relationships.map((r) => r.target), ['X:20', 'X:30']);
  // asthma is not in the slice, so aspirin's contraindication to it goes too
  assert.deepEqual(slice.terms.get('X:30')!.relationships, []);
  assert.deepEqual(slice.terms.get('X:30')!.isA, ['X:40']);
});

test('filterBySubsets with two subsets is the union of both slices', () => {
  const slice = filterBySubsets(parseObo(OBO, 'mem.obo'), ['cardiology', 'pulmonology']);
  assert.equal(slice.terms.size, 8);
  assert.deepEqual(slice.terms.get('X:30')!.relationships.map((r) => r.target), ['X:11']);
});

test('filterBySubsets names an unknown subset and the known ones', () => {
  assert.throws(() => filterBySubsets(parseObo(OBO, 'mem.obo'), ['cardiolgy'], 'exp.bbio.yaml'), (e: unknown) => {
    assert.ok(e instanceof BbioError);
    assert.equal(e.code, 'E_ONTOLOGY_SUBSET_UNKNOWN');
    assert.match(e.message, /"cardiolgy"/);
    assert.match(e.hint ?? '', /cardiology, pulmonology/);
    return true;
  });
});
