import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bandRows, createDeduper, jaccard, normaliseText, shingles, weightedOrder } from '../../../engine/synth/curate';
import { synthesize } from '../../../engine/synth/index';
import { toJsonl } from '../../../engine/core/dataset';
import type { SynthExample } from '../../../engine/core/example';
import { BbioError } from '../../../engine/util/errors';
import { silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { loadFixture, synthConfig } from './fixture';

const ont = loadFixture();
const opts = (seed: number): { seed: number; log: typeof silentLogger } => ({ seed, log: silentLogger });

test('split by entity: no held-out entity appears in any training example', async () => {
  const r = await synthesize(ont, synthConfig(), opts(7));
  const central = (xs: SynthExample[]): Set<string> => new Set(xs.map((e) => e.provenance.central));
  const heldOut = new Set([...central(r.val), ...central(r.test)]);
  const testOnly = central(r.test);
  assert.ok(r.test.length > 0 && r.val.length > 0 && r.train.length > 0, 'all three splits are non-empty');
  assert.ok(heldOut.size > 0);
  for (const ex of r.train) for (const id of ex.provenance.entities) assert.ok(!heldOut.has(id), `${id} (held out) in train ${ex.id}`);
  for (const ex of r.val) for (const id of ex.provenance.entities) assert.ok(!testOnly.has(id), `${id} (test) in val ${ex.id}`);
  // an entity is central in one split only
  for (const id of central(r.train)) assert.ok(!heldOut.has(id));
  assert.equal(r.card.totals.total, 160);
  assert.deepEqual(r.card.counts.domain.total, 60);
});

test('same seed gives byte-identical JSONL, a different seed a different dataset', async () => {
  const [a, b, c] = await Promise.all([synthesize(ont, synthConfig(), opts(11)), synthesize(ont, synthConfig(), opts(11)), synthesize(ont, synthConfig(), opts(12))]);
  for (const s of ['train', 'val', 'test'] as const) assert.equal(toJsonl(a[s]), toJsonl(b[s]));
  assert.equal(JSON.stringify(a.card), JSON.stringify(b.card));
  assert.notEqual(toJsonl(a.train), toJsonl(c.train));
});

test('split by example mixes entities across splits (for comparison only)', async () => {
  const r = await synthesize(ont, synthConfig({ split: { by: 'example', val: 0.2, test: 0.2 } }), opts(5));
  const trainEntities = new Set(r.train.map((e) => e.provenance.central));
  assert.ok(r.test.some((e) => trainEntities.has(e.provenance.central)));
});

test('asking for more than the graph supports fails up front with the numbers', async () => {
  const cfg = synthConfig({ examples: { domain: 10, reasoning: 5000, instruction: 10, integration: 10 } });
  await assert.rejects(synthesize(ont, cfg, opts(1)), (e: unknown) => {
    assert.ok(e instanceof BbioError);
    assert.equal(e.code, 'E_SYNTH_SHORTFALL');
    assert.match(e.message, /^asked for 5,000 reasoning examples, graph supports \d[\d,]* unique chains$/);
    assert.match(e.hint ?? '', /synthesis\.examples\.reasoning/);
    return true;
  });
  // more phrasings per fact raise the capacity
  const one = await synthesize(ont, synthConfig({ examples: { domain: 1 } }), opts(1));
  const three = await synthesize(ont, synthConfig({ examples: { domain: 1 }, templates_per_example: 3 }), opts(1));
  assert.equal(three.card.capacity.domain, 3 * one.card.capacity.domain);
});

test('unknown focus term names the term; known ones (by name, synonym or id) oversample their neighbourhood', async () => {
  await assert.rejects(synthesize(ont, synthConfig({ focus_terms: ['hart attack'] }), opts(1)), (e: unknown) => {
    assert.ok(e instanceof BbioError);
    assert.equal(e.code, 'E_ONTOLOGY_TERM_UNKNOWN');
    assert.match(e.message, /"hart attack"/);
    return true;
  });
  const cfg = synthConfig({ examples: { domain: 40 } });
  const plain = await synthesize(ont, cfg, opts(2));
  const focused = await synthesize(ont, { ...cfg, focus_terms: ['heart attack', 'MINI:D12'] }, opts(2));
  assert.deepEqual(focused.card.focus.resolved, ['MINI:D01', 'MINI:D12']);
  const share = (r: typeof plain): number => {
    const all = [...r.train, ...r.val, ...r.test];
    return all.filter((e) => ['MINI:D01', 'MINI:D12'].some((id) => e.provenance.entities.includes(id))).length / all.length;
  };
  assert.ok(share(focused) > share(plain) * 1.5, `focus share ${share(focused)} vs ${share(plain)}`);
});

test('dataset card: counts, capacity, reject reasons, top entities, specialties', async () => {
  const { card } = await synthesize(ont, synthConfig(), opts(4));
  assert.equal(card.counts.reasoning.total, 40);
  assert.ok(card.capacity.reasoning >= 40);
  assert.ok(card.topEntities.length > 0 && card.topEntities[0]!.examples >= card.topEntities.at(-1)!.examples);
  assert.ok(Object.keys(card.specialties.domain).length >= 4);
  assert.ok(Object.keys(card.reasoningHops).every((h) => Number(h) >= 2 && Number(h) <= 4));
  assert.match(card.note, /not clinical advice/);
});

test('cancellation stops synthesis with E_CANCELLED', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(synthesize(ont, synthConfig({ examples: { domain: 200, reasoning: 0, instruction: 0, integration: 0 } }), { ...opts(1), signal: ac.signal }), (e: unknown) => e instanceof BbioError && e.code === 'E_CANCELLED');
});

test('dedupe: exact and near duplicates by word 3-gram Jaccard, via LSH', () => {
  const d = createDeduper(0.9);
  const base = 'Which of the following is a characteristic finding of gout in adults seen in the clinic today with a swollen joint and fever and pain';
  assert.equal(d.admit(base), undefined);
  assert.equal(d.admit(base.toUpperCase() + '!!'), 'duplicate');
  assert.equal(d.admit(base + ' again'), 'near_duplicate');
  assert.equal(d.admit('Which drug interacts with warfarin? A. aspirin B. salbutamol C. budesonide D. levothyroxine'), undefined);
  assert.equal(d.size, 2);
  const a = shingles(normaliseText(base));
  assert.ok(jaccard(a, shingles(normaliseText(base + ' again'))) >= 0.9);
  assert.equal(bandRows(0.9), 4);
  assert.ok(bandRows(0.5) <= 2);
});

test('dedupe scales: 20k texts in well under quadratic time', () => {
  const d = createDeduper(0.9);
  const rng = makeRng(1);
  const words = Array.from({ length: 500 }, (_, i) => `w${i}`);
  let near = 0;
  const t0 = performance.now();
  for (let i = 0; i < 20000; i++) {
    const text = Array.from({ length: 30 }, () => words[rng.int(words.length)]).join(' ');
    if (d.admit(text)) near++;
  }
  assert.equal(near, 0);
  assert.ok(performance.now() - t0 < 20000);
});

test('weightedOrder favours heavy items and is deterministic', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const w = (i: number): number => (i < 10 ? 20 : 1);
  const a = weightedOrder(items, w, makeRng(3));
  assert.deepEqual(a, weightedOrder(items, w, makeRng(3)));
  assert.ok(a.slice(0, 10).filter((i) => i < 10).length >= 6);
});
