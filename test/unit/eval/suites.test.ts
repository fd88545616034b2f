import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { scoreLoglik } from '../../../engine/compute/tfjs/loglik';
import { scoreSharedContext } from '../../../engine/compute/tfjs/loglik-shared';
import { probeAccuracy, probeLoss, selectProbeSet } from '../../../engine/eval/probe';
import { DEFAULT_SUITE_OPTIONS, domainTextQuestion, encodePair, listsOptions, neutralContext, pmiPick, runSuite, selectItems } from '../../../engine/eval/suites';
import type { Compute } from '../../../engine/compute/types';
import { scoreIntegration, scoreReasoning } from '../../../engine/verify/scorers';
import { initLlama } from '../../../engine/model/llama';
import { EdgeIndex, TermLexicon } from '../../../engine/verify/answers';
import { checkAll } from '../../../engine/verify/constraints';
import { synthesize } from '../../../engine/synth/index';
import { silentLogger } from '../../../engine/util/log';
import { makeRng } from '../../../engine/util/rng';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';
import { useWasm } from '../model/helpers';
import { loadFixture, synthConfig } from '../synth/fixture';
import { CHAR_VOCAB, certainModel, charTokenizer, evalModel, mcExample } from './helpers';

before(useWasm);

const opts = { ...DEFAULT_SUITE_OPTIONS, seed: 1, resamples: 200 };

test('domain MC on a model that is certain of one token: acc is exactly 100% when the gold option is made of it, 0% otherwise', async () => {
  const model = certainModel({ vocab: CHAR_VOCAB, k: 3 }); // token 3 = 'z'
  const tok = charTokenizer();
  const ctx = { lexicon: undefined as never, edges: undefined as never };
  const right = await runSuite('domain', { model: evalModel(model), tokenizer: tok, ctx, opts, testExamples: [0, 1, 2, 3, 4, 5].map((i) => mcExample(`d${i}`, 'A')) });
  assert.equal(right.scores['domain/acc']!.value, 1);
  assert.equal(right.scores['domain/acc_norm']!.value, 1);
  assert.equal(right.scores['domain/acc']!.n, 6);
  assert.equal(right.scores['domain/acc']!.stderr, 0);
  assert.equal(right.headline, right.scores['domain/acc']);
  assert.equal(right.examples.length, 5, 'five example items per suite');
  assert.equal(right.examples[0]!.output, 'A. zzzz');
  const wrong = await runSuite('domain', { model: evalModel(model), tokenizer: tok, ctx, opts, testExamples: ['B', 'C', 'D', 'B'].map((l, i) => mcExample(`w${i}`, l as 'B')) });
  assert.equal(wrong.scores['domain/acc']!.value, 0);
  assert.equal(wrong.scores['domain/acc_norm']!.value, 0);
  assert.equal(wrong.examples[0]!.correct, false);
  // max_items caps the items, the same sample every time
  const capped = await runSuite('domain', { model: evalModel(model), tokenizer: tok, ctx, opts: { ...opts, maxItems: 2 }, testExamples: [0, 1, 2, 3, 4, 5].map((i) => mcExample(`d${i}`, 'A')) });
  assert.equal(capped.scores['domain/acc']!.n, 2);
  assert.deepEqual(selectItems([1, 2, 3, 4, 5, 6], 3, 9, 'x'), selectItems([1, 2, 3, 4, 5, 6], 3, 9, 'x'));
});

test('domain acc scores the letter when the prompt lists the options; acc_norm keeps the length-normalised full text (issue 17)', async () => {
  const tok = charTokenizer();
  const letterId = (l: string): number => tok.encode(l)[0]!;
  // A model that likes the gold letter B but, over full option texts, the shortest one (option A):
  // one-token continuations (` B` is two characters, a space then the letter) are letters, the rest full texts.
  const compute = {
    scoreContinuations: async (_ctx: readonly number[], conts: readonly (readonly number[])[]) =>
      conts.map((c) => ({ logprob: c.length === 2 ? (c[1] === letterId('B') ? -0.1 : -3) : -(c.length ** 2), greedy: false })),
  } as unknown as Compute;
  const base = mcExample('q', 'B');
  const options = [
    { label: 'A' as const, text: 'gout', id: 'X:1' },
    { label: 'B' as const, text: 'systemic lupus erythematosus', id: 'X:2' },
    { label: 'C' as const, text: 'psoriatic arthritis', id: 'X:3' },
    { label: 'D' as const, text: 'rheumatoid arthritis', id: 'X:4' },
  ];
  const listed = { ...base, options, answer: options[1]!.text, prompt: `Which disease?\n${options.map((o) => `${o.label}. ${o.text}`).join('\n')}` };
  assert.equal(listsOptions(listed), true);
  const r = await runSuite('domain', { model: { name: 'base', compute }, tokenizer: tok, ctx: { lexicon: undefined as never, edges: undefined as never }, opts, testExamples: [listed, { ...listed, id: 'q2' }] });
  assert.equal(r.scores['domain/acc']!.value, 1, 'the letter B wins although option A has the shortest text');
  assert.equal(r.scores['domain/acc_norm']!.value, 0, 'the full-text score still prefers the shortest option');
  assert.equal(r.examples[0]!.output, 'B. systemic lupus erythematosus');
  // options not listed in the prompt: the letter means nothing, so acc falls back to the full texts
  const unlisted = { ...listed, id: 'q3', prompt: 'Which disease?' };
  assert.equal(listsOptions(unlisted), false);
  const u = await runSuite('domain', { model: { name: 'base', compute }, tokenizer: tok, ctx: { lexicon: undefined as never, edges: undefined as never }, opts, testExamples: [unlisted] });
  assert.equal(u.scores['domain/acc']!.value, 0);
});

test('cloze domain items rank the option texts by PMI against a neutral context: neither short nor frequent terms win by themselves (issue 17)', async () => {
  const tok = charTokenizer();
  const neutralLength = tok.encode(neutralContext().trimEnd(), { addBos: true }).length;
  const gold = ' systemic lupus erythematosus';
  // log p(text | neutral) = −length²: short terms are likely anywhere; the question adds 1 nat to the gold term only
  const contexts: number[] = [];
  const compute = {
    scoreContinuations: async (ctx: readonly number[], conts: readonly (readonly number[])[]) => {
      contexts.push(ctx.length);
      return conts.map((c) => ({ logprob: -(c.length ** 2) + (ctx.length > neutralLength && c.length === gold.length ? 1 : 0), greedy: false }));
    },
  } as unknown as Compute;
  const options = [
    { label: 'A' as const, text: 'gout', id: 'X:1' },
    { label: 'B' as const, text: 'systemic lupus erythematosus', id: 'X:2' },
    { label: 'C' as const, text: 'psoriatic arthritis', id: 'X:3' },
    { label: 'D' as const, text: 'rheumatoid arthritis', id: 'X:4' },
  ];
  const cloze = { ...mcExample('c1', 'B'), options, answer: options[1]!.text, prompt: 'Name the disease with a malar rash.', response: 'Answer: systemic lupus erythematosus' };
  assert.equal(listsOptions(cloze), false);
  assert.deepEqual(domainTextQuestion(cloze).continuations, options.map((o) => o.text), 'cloze continuations are the bare terms, no letters');
  const r = await runSuite('domain', { model: { name: 'sft', compute }, tokenizer: tok, ctx: { lexicon: undefined as never, edges: undefined as never }, opts, testExamples: [cloze, { ...cloze, id: 'c2' }] });
  assert.equal(r.scores['domain/acc']!.value, 1, 'PMI picks the term the question made more likely');
  assert.equal(r.scores['domain/acc_norm']!.value, 0, 'per byte, the short term still wins');
  assert.equal(r.examples[0]!.output, 'systemic lupus erythematosus');
  // the neutral scores are computed once per model and term: 2 questions + 1 neutral pass
  assert.equal(contexts.filter((n) => n === neutralLength).length, 1);
  assert.equal(pmiPick([-5, -1], [-1, -4]), 1);
});

test('encodePair moves trailing context whitespace into the continuation (lm-eval _encode_pair)', () => {
  const tok = charTokenizer();
  const r = encodePair(tok, 'Answer: ', 'A. x');
  assert.equal(r.context.length, 1 + 'Answer:'.length); // BOS + context without the space
  assert.deepEqual(r.continuation, tok.encode(' A. x'));
});

test('shared-context scoring equals scoring each (context, option) pair alone; the batched scorer agrees', () => {
  const cfg = tinyLlamaConfig({ vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64 });
  const model = initLlama({ ...cfg, initializer_range: 0.5 }, makeRng(2));
  const rng = makeRng(5);
  const context = Array.from({ length: 11 }, () => rng.int(40));
  const conts = [[3], [4, 5, 6], [7, 8], [9, 10, 11, 12]];
  const before = tf.memory().numTensors;
  const shared = scoreSharedContext(model, context, conts, { padId: 0 });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  const single = conts.map((c) => scoreLoglik(model, [{ context, continuation: c }], { batchRows: 1, padId: 0 })[0]!);
  const batched = scoreLoglik(model, conts.map((c) => ({ context, continuation: c })), { batchRows: 4, padId: 0 });
  shared.forEach((s, i) => {
    assert.ok(Math.abs(s.logprob - single[i]!.logprob) < 1e-3, `${s.logprob} vs ${single[i]!.logprob}`);
    assert.ok(Math.abs(batched[i]!.logprob - single[i]!.logprob) < 1e-3);
    assert.equal(s.greedy, single[i]!.greedy);
  });
});

test('generative suites score the reference responses of MKGSG data as correct, and an unrelated answer as wrong', async () => {
  const ont = loadFixture();
  const data = await synthesize(ont, synthConfig({ examples: { domain: 10, reasoning: 20, instruction: 20, integration: 12 } }), { seed: 3, log: silentLogger });
  const ctx = { lexicon: new TermLexicon(ont), edges: new EdgeIndex(ont) };
  const all = [...data.train, ...data.val, ...data.test];
  const reasoning = all.filter((e) => e.capability === 'reasoning');
  const integration = all.filter((e) => e.capability === 'integration');
  const instruction = all.filter((e) => e.capability === 'instruction');
  assert.ok(reasoning.length && integration.length && instruction.length);
  for (const ex of reasoning) assert.deepEqual(scoreReasoning(ex, ex.response, ctx), { answer: true, chain: 1 }, ex.id);
  for (const ex of integration) assert.equal(scoreIntegration(ex, ex.response, ctx).fully, true, `${ex.id}: ${JSON.stringify(scoreIntegration(ex, ex.response, ctx))}\n${ex.response}`);
  for (const ex of instruction) assert.equal(checkAll(ex.response, ex.constraints!).promptStrict, true, ex.id);
  const r0 = reasoning[0]!;
  assert.equal(scoreReasoning(r0, '1. Something unrelated.\nAnswer: nothing', ctx).answer, false);
  const i0 = integration[0]!;
  const s = scoreIntegration(i0, 'Diagnosis: none\nTreatment: none', ctx);
  assert.equal(s.diagnosis || s.treatment || s.fully, false);
});

test('generative suites run end to end with the KV-cache generator and report sample counts', async () => {
  const model = certainModel({ vocab: CHAR_VOCAB, k: 3, ctx: 512 });
  const ex = { ...mcExample('r1', 'A'), capability: 'reasoning' as const, prompt: 'Why?', response: '1. x\nAnswer: y', answer: 'y' };
  const ont = loadFixture();
  const r = await runSuite('reasoning', { model: evalModel(model, { name: 'sft' }), tokenizer: charTokenizer(), ctx: { lexicon: new TermLexicon(ont), edges: new EdgeIndex(ont) }, opts: { ...opts, maxNewTokens: { reasoning: 5 } }, testExamples: [ex, { ...ex, id: 'r2' }] });
  assert.equal(r.scores['reasoning/answer_acc']!.value, 0);
  assert.equal(r.scores['reasoning/answer_acc']!.n, 2);
  assert.equal(r.examples[0]!.output, 'zzzzz', 'the certain model writes token k until max new tokens');
  assert.equal(r.examples[0]!.model, 'sft');
});

test('probe: response-token loss orders the capabilities by how certain the model is of their responses; MC accuracy by log-likelihood', async () => {
  const model = certainModel({ vocab: CHAR_VOCAB, k: 3 });
  const tok = charTokenizer();
  const easy = { ...mcExample('p1', 'A'), response: 'zzzzzzzzzzzzzzzzzzzz' };
  const hard = { ...mcExample('p2', 'B'), capability: 'reasoning' as const, response: 'abcdefghijklmnopqrst' };
  const loss = await probeLoss(evalModel(model, { tokenizer: tok }), tok, { domain: [easy], reasoning: [hard] }, { batchRows: 4 });
  assert.ok(loss.domain! < loss.reasoning!, JSON.stringify(loss));
  assert.ok(loss.reasoning! > 20, 'wrong tokens cost ~80 nats each');
  const acc = await probeAccuracy(evalModel(model, { tokenizer: tok }), tok, { domain: [mcExample('a', 'A'), mcExample('b', 'A'), mcExample('c', 'C')] });
  assert.ok(Math.abs(acc.domain! - 2 / 3) < 1e-12);
  assert.equal(acc.reasoning, undefined);
  const set = selectProbeSet([easy, hard, { ...easy, id: 'p3' }], 1, 0);
  assert.equal(set.domain.length, 1);
  assert.equal(set.reasoning.length, 1);
});
