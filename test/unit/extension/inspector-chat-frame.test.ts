/**
 * Issue 18 item 2: the dataset preview shows every example as SFT trained on it, in the model's chat format.
 * The SFT stage's `examples` record carries the frame its format writes around a prompt and an answer;
 * rows without a token preview are shown in it (context, then the trained span).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../../schemas/generated/events';
import { chatFrameFrom, parseDataset, tokenPreviewsFrom } from '../../../extension/views/inspector-model';

const rec = (data: Record<string, unknown>): EngineEvent => ({ v: 1, t: 0, runId: 'r', kind: 'record', type: 'examples', stage: 'sft', data });
const SYSTEM = '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n';
const FRAME = { prompt: [`${SYSTEM}<|im_start|>user\n`, '<|im_end|>\n<|im_start|>assistant\n'], response: ['', '<|im_end|>\n'] };

test('dataset rows without a token preview show the ChatML text SFT trained on, from the record\'s chat frame', () => {
  const events = [rec({ frame: { prompt: ['x', 1] } }), rec({ chatFormat: 'model/tokenizer_config.json', frame: FRAME, examples: [{ id: 'd-1', pieces: ['a'], trainedFrom: 0 }] })];
  const frame = chatFrameFrom(events);
  assert.deepEqual(frame, FRAME);
  const line = JSON.stringify({ id: 'd-2', capability: 'domain', prompt: 'Which drug treats gout?', response: 'Answer: A. allopurinol' });
  const { rows } = parseDataset(line + '\n', 'train.jsonl', tokenPreviewsFrom(events), frame);
  assert.deepEqual(rows[0]!.rendered, {
    context: `${SYSTEM}<|im_start|>user\nWhich drug treats gout?<|im_end|>\n<|im_start|>assistant\n`,
    trained: 'Answer: A. allopurinol<|im_end|>\n',
  });
  // a malformed frame, or none (a run before SFT): no rendering, the raw prompt and response are shown
  assert.equal(chatFrameFrom([rec({ frame: { prompt: ['x', 1], response: ['', ''] } })]), undefined);
  assert.equal(parseDataset(line + '\n', 'train.jsonl', new Map()).rows[0]!.rendered, undefined);
});
