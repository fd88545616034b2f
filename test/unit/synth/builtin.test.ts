import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_ONTOLOGY_RELATIVE } from '../../../engine/ontology/builtin';
import { loadOboFile } from '../../../engine/ontology/obo';
import { synthesize } from '../../../engine/synth/index';
import { buildValidationIndex, validateExample } from '../../../engine/synth/validate';
import { silentLogger } from '../../../engine/util/log';
import { synthConfig } from './fixture';

const BUILTIN = path.resolve(import.meta.dirname, '../../..', BUILTIN_ONTOLOGY_RELATIVE);
const missing = existsSync(BUILTIN) ? false : `built-in graph not found at ${BUILTIN}`;

test('quickstart counts from the built-in clinical graph (600/400/400/200), all valid, no leakage', { skip: missing }, async (t) => {
  const ont = await loadOboFile(BUILTIN);
  const cfg = synthConfig({ examples: { domain: 600, reasoning: 400, instruction: 400, integration: 200 } });
  const t0 = performance.now();
  const r = await synthesize(ont, cfg, { seed: 2025, log: silentLogger });
  const seconds = (performance.now() - t0) / 1000;
  const all = [...r.train, ...r.val, ...r.test];
  assert.equal(all.length, 1600);
  for (const c of ['domain', 'reasoning', 'instruction', 'integration'] as const) assert.equal(r.card.counts[c].total, cfg.examples[c]);
  const idx = buildValidationIndex(ont);
  for (const ex of all) assert.deepEqual(validateExample(ex, idx, 'strict'), [], ex.text);
  const heldOut = new Set([...r.val, ...r.test].map((e) => e.provenance.central));
  for (const ex of r.train) assert.ok(ex.provenance.entities.every((id) => !heldOut.has(id)), ex.id);
  assert.ok(Object.keys(r.card.specialties.domain).length >= 12, 'balanced over the specialties');
  // throughput is reported, not asserted: bench/synth.ts holds the speed target
  t.diagnostic(`built-in graph: ${all.length} validated examples in ${seconds.toFixed(2)} s (${Math.round(all.length / seconds)}/s)`);
});
