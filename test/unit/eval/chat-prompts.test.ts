/**
 * Issue 18 item 2: evaluation and the training-time probes give a model its prompts in its own chat format.
 * With Qwen2.5-Instruct's published template (test/fixtures/chat-template), every prompt is the template's
 * rendering encoded with its markers as special tokens and no BOS added, generation stops on `<|im_end|>`
 * (as a stop id: the decoded text never shows special tokens), and the probe loss is computed on the
 * assistant turn only. Without a template the built-in format is used, as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Completion, Compute, GenerateRequest, LoglikResult } from '../../../engine/compute/types';
import type { LmBatch } from '../../../engine/model/llama';
import { builtinChatFormat, type ChatFormat } from '../../../engine/core/chat';
import type { SynthExample } from '../../../engine/core/example';
import { loadChatFormat } from '../../../engine/model/chat-template';
import { trainBpe, type BpeTokenizer } from '../../../engine/model/tokenizer';
import { probeAccuracy, probeLoss } from '../../../engine/eval/probe';
import { completeExamples, DEFAULT_SUITE_OPTIONS, runSuite } from '../../../engine/eval/suites';
import { runTask, DEFAULT_TASK_OPTIONS } from '../../../engine/eval/tasks/registry';
import { mcExample } from './helpers';

const QWEN = path.join(__dirname, '../../fixtures/chat-template/qwen2.5-instruct');
const IFEVAL = path.join(__dirname, '../../fixtures/tasks/ifeval_input.jsonl');
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** A Compute that records what evaluation asks of it and answers with fixed completions and scores. */
class RecordingCompute {
  readonly generated: GenerateRequest[] = [];
  readonly contexts: number[][] = [];
  readonly batches: LmBatch[] = [];
  readonly config = { max_position_embeddings: 512 };
  async generate(req: GenerateRequest): Promise<Completion[][]> {
    this.generated.push(req);
    return req.prompts.map(() => [{ ids: [1], logprobs: [0], text: 'Answer: nothing', finishReason: 'stop' as const }]);
  }
  async scoreContinuations(context: readonly number[], conts: readonly (readonly number[])[]): Promise<LoglikResult[]> {
    this.contexts.push([...context]);
    return conts.map((_, i) => ({ logprob: -i, greedy: i === 0 }));
  }
  async loss(batch: LmBatch): Promise<number> {
    this.batches.push(batch);
    return 1;
  }
}

function setup(): { tok: BpeTokenizer; compute: RecordingCompute; model: { name: 'base'; compute: Compute } } {
  const tok = trainBpe(['Which one? zzzz abcd efgh ijkl Answer: A. the patient has a fever'], { vocabSize: 300, specialTokens: SPECIALS });
  const compute = new RecordingCompute();
  return { tok, compute, model: { name: 'base', compute: compute as unknown as Compute } };
}

const reasoning: SynthExample = { ...mcExample('r1', 'A'), capability: 'reasoning', options: undefined, prompt: 'Why does the patient have a fever?', response: 'Step 1. Infection.\nAnswer: infection', answer: 'infection' } as SynthExample;
const ctx = { lexicon: undefined as never, edges: undefined as never };
const opts = { ...DEFAULT_SUITE_OPTIONS, seed: 1, resamples: 10 };

function assertTemplatePrompt(tok: BpeTokenizer, chat: ChatFormat, ids: readonly number[], user: string, tail = ''): void {
  assert.deepEqual([...ids], tok.encode(chat.prompt(user) + tail, { splitSpecial: true }));
  assert.equal(ids[0], tok.tokenToId('<|im_start|>'), 'the template\'s markers are special tokens, and no BOS is added');
}

test('evaluation suites give prompts in the model\'s chat template and stop generation on its end-of-turn token', async () => {
  const { tok, compute, model } = setup();
  const chat = await loadChatFormat(QWEN, tok);
  assert.equal(chat.prompt('x').startsWith('<|im_start|>system\nYou are Qwen'), true);
  await completeExamples({ model, tokenizer: tok, chat, ctx, opts, examples: [reasoning] }, 'reasoning');
  const req = compute.generated[0]!;
  assertTemplatePrompt(tok, chat, req.prompts[0]!, reasoning.prompt);
  assert.deepEqual(req.stop, ['<|im_end|>']);
  assert.deepEqual(req.stopIds, [tok.tokenToId('<|im_end|>')]);
  // multiple choice: the context is the template's prompt followed by `Answer:`
  await runSuite('domain', { model, tokenizer: tok, chat, ctx, opts, testExamples: [mcExample('d1', 'A')] });
  assertTemplatePrompt(tok, chat, compute.contexts[0]!, mcExample('d1', 'A').prompt, 'Answer:');
});

test('without a template, evaluation keeps the built-in <|user|> prompts and stop strings', async () => {
  const { tok, compute, model } = setup();
  await completeExamples({ model, tokenizer: tok, ctx, opts, examples: [reasoning] }, 'reasoning');
  const req = compute.generated[0]!;
  assert.deepEqual([...req.prompts[0]!], tok.encode(`<|user|>\n${reasoning.prompt}\n<|assistant|>\n`, { addBos: true, splitSpecial: false }));
  assert.equal(req.prompts[0]![0], tok.bosId, 'BOS in front, as before');
  assert.deepEqual(req.stop, builtinChatFormat(tok).stop);
  assert.equal(req.stopIds, undefined);
});

test('IFEval prompts are given in the model\'s chat template', async () => {
  const { tok, compute, model } = setup();
  const chat = await loadChatFormat(QWEN, tok);
  await runTask('ifeval', { model, tokenizer: tok, chat, data: IFEVAL, opts: { ...DEFAULT_TASK_OPTIONS, seed: 0, limit: 1, resamples: 10 } });
  const req = compute.generated[0]!;
  assertTemplatePrompt(tok, chat, req.prompts[0]!, 'Explain anemia in one short paragraph without commas.');
  assert.deepEqual(req.stopIds, [tok.tokenToId('<|im_end|>')]);
});

test('the training-time probe scores the assistant turn of the template, and asks its questions in it', async () => {
  const { tok, compute, model } = setup();
  const chat = await loadChatFormat(QWEN, tok);
  const ex = mcExample('p1', 'A');
  await probeLoss(model, tok, { domain: [ex] }, { batchRows: 8, chat });
  const batch = compute.batches[0]!;
  const trained = Array.from(batch.targets).filter((_, t) => batch.weights[t]! > 0);
  assert.equal(tok.decode(trained), chat.response(ex.prompt, ex.response));
  assert.equal(tok.decode(trained), `${ex.response}<|im_end|>\n`, 'the answer and its end of turn, no EOS appended');
  await probeAccuracy(model, tok, { domain: [ex] }, chat);
  assertTemplatePrompt(tok, chat, compute.contexts[0]!, ex.prompt, 'Answer:');
});
