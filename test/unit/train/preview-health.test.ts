import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import { describeCuts, supervisedBatch, tokenizeExample, tokenPieces } from '../../../engine/train/examples';
import { BpeTokenizer } from '../../../engine/model/tokenizer';
import { projectionHealth, type HealthInput } from '../../../engine/train/projection/health';
import type { SynthExample } from '../../../engine/core/example';
import { REPO } from '../../helpers/tmp';

const example = (prompt: string, response: string): SynthExample => ({ id: 'x-1', capability: 'domain', prompt, response }) as unknown as SynthExample;

test('tokenPieces: pieces decode to the example and the trained span is what the loss mask covers', async () => {
  const tok = await BpeTokenizer.load(path.join(REPO, 'test/fixtures/tokenizer/qwen2-tiny'));
  const row = tokenizeExample(tok, example('Which drug treats gout?', 'Answer: allopurinol — ça va, 痛风 ✓'), 200);
  const { pieces, trainedFrom } = tokenPieces(tok, row);
  assert.equal(pieces.length, row.ids.length);
  assert.equal(pieces.join(''), tok.decode(row.ids));
  assert.equal(trainedFrom, row.promptLength);
  // the prompt part ends with the assistant marker line; the trained part is the response and end marker
  assert.ok(pieces.slice(0, trainedFrom).join('').endsWith('<|assistant|>\n'), pieces.slice(0, trainedFrom).join(''));
  assert.ok(pieces.slice(trainedFrom).join('').startsWith('Answer: allopurinol'));
  // the batch mask: position t predicts ids[t+1]; masked targets are exactly ids[trainedFrom…]
  const batch = supervisedBatch([row], 0);
  const mask = Array.from(batch.weights);
  const targets = mask.flatMap((m, t) => (m ? [t + 1] : []));
  assert.deepEqual(targets, Array.from({ length: row.ids.length - trainedFrom }, (_, i) => trainedFrom + i));
});

test('tokenizeExample counts what a short context cuts, and describeCuts names the capability', async () => {
  const tok = await BpeTokenizer.load(path.join(REPO, 'test/fixtures/tokenizer/qwen2-tiny'));
  const long = example('Work through the case.', Array.from({ length: 40 }, (_, i) => `Step ${i}: the finding points to the disease.`).join('\n') + '\nAnswer: asthma');
  const whole = tokenizeExample(tok, long, 2000);
  assert.equal(whole.cut, 0);
  const row = tokenizeExample(tok, long, 128);
  assert.equal(row.ids.length, 129);
  assert.equal(row.cut, whole.ids.length - 129);
  // the cut is the response's tail: the Answer line is what never trains
  assert.ok(!tok.decode(row.ids).includes('Answer: asthma'));
  const short = tokenizeExample(tok, { ...example('Which drug treats gout?', 'Answer: allopurinol'), capability: 'reasoning' } as SynthExample, 128);
  assert.equal(short.cut, 0);
  const lines = describeCuts([row, short], 129);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^domain: 1 of 1 examples do not fit context_length 129 \\(longest ${whole.ids.length} tokens\\)`));
  assert.deepEqual(describeCuts([short], 129), []);
});

const base = (over: Partial<HealthInput>): HealthInput => ({
  capabilities: ['domain', 'reasoning'],
  method: 'pcgrad',
  pairs: [{ a: 0, b: 1, cosineRaw: -0.5, cosineProjected: 0, conflict: true }],
  normsRaw: [1, 1],
  normsProjected: [0.9, 0.9],
  conflictFractions: [0.2],
  loggedSteps: 10,
  ...over,
});

test('projectionHealth: each rule trips on its side of the threshold only', () => {
  // a conflict removed by pcgrad, norms mostly kept, rare conflicts: nothing to say
  assert.deepEqual(projectionHealth(base({})), []);
  // the same conflict with no projection: a note naming both capabilities
  const raw = projectionHealth(base({ method: 'none' }));
  assert.deepEqual(raw.map((n) => [n.metric, n.capability, n.other]), [['sft/cosine_raw', 'domain', 'reasoning']]);
  assert.match(raw[0]!.meaning, /pcgrad/);
  assert.deepEqual(projectionHealth(base({ method: 'none', pairs: [{ a: 0, b: 1, cosineRaw: -0.09, cosineProjected: -0.09, conflict: true }] })), []);
  // a conflict left after projection
  assert.deepEqual(projectionHealth(base({ pairs: [{ a: 0, b: 1, cosineRaw: -0.5, cosineProjected: -0.2, conflict: true }] })).map((n) => n.metric), ['sft/cosine_projected']);
  // most of a gradient removed: value is the kept share
  const kept = projectionHealth(base({ normsProjected: [0.4, 0.9] }));
  assert.deepEqual(kept.map((n) => [n.metric, n.capability, n.value]), [['sft/grad_norm_projected', 'domain', 0.4]]);
  assert.match(kept[0]!.meaning, /60 %/);
  // frequent conflicts, but only once a few steps are logged
  assert.deepEqual(projectionHealth(base({ conflictFractions: [0.8] })).map((n) => n.metric), ['sft/conflict_fraction']);
  assert.deepEqual(projectionHealth(base({ conflictFractions: [0.8], loggedSteps: 2 })), []);
});
