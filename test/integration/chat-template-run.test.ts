/**
 * Issue 18 item 2 end to end: a tiny checkpoint whose tokenizer_config.json carries Qwen2.5-Instruct's
 * published ChatML template (test/fixtures/chat-template), run through synthesize → sft → grpo → evaluate.
 * SFT trains on the ChatML rendering (the dataset preview's `examples` record shows its tokens, the loss on
 * the assistant turn only), and GRPO's rollouts and evaluation give every prompt in it, ending with the
 * generation prompt, stopped on `<|im_end|>`.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineEvent } from '../../schemas/generated/events';
import { openCompute, type ComputeFactory } from '../../engine/compute';
import type { GenerateRequest } from '../../engine/compute/types';
import { loadExperiment } from '../../engine/config/load';
import { readExamples } from '../../engine/core/dataset';
import { OUTPUT_PATHS } from '../../engine/core/stage';
import { createEvaluateStage } from '../../engine/eval/evaluate-stage';
import { createGrpoStage } from '../../engine/rl/grpo-stage';
import { runPipeline } from '../../engine/run/pipeline';
import { createStageTable } from '../../engine/cli/stages';
import { silentLogger } from '../../engine/util/log';
import { useWasm } from '../unit/model/helpers';
import { invalidEvents } from '../helpers/events';
import { TINY_GRAPH, writeTinyExperiment } from '../helpers/tiny-experiment';
import { writeChatMlCheckpoint } from '../helpers/chat-checkpoint';
import { workspaceOf } from '../helpers/tmp';

before(useWasm);

const QWEN_SYSTEM = '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n';
/** ChatML as Qwen2.5's template writes one user turn (its default system turn first) and the assistant's answer. */
const chatmlPrompt = (user: string): string => `${QWEN_SYSTEM}<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n`;
const chatmlAnswer = (answer: string): string => `${answer}<|im_end|>\n`;

test('a checkpoint with a ChatML chat template is fine-tuned, GRPO-trained and evaluated in ChatML, the loss on the assistant turn only', async (t) => {
  const { dir, file } = await writeTinyExperiment(t, [
    'name: chatml', 'seed: 5', 'stages: [synthesize, sft, grpo, evaluate]', TINY_GRAPH,
    'synthesis: { examples: { domain: 12, reasoning: 6, instruction: 4, integration: 2 }, hops: { min: 2, max: 3 } }',
    'model: { path: model, backend: wasm }',
    'lora: { rank: 2, alpha: 4 }',
    'sft: { steps: 2, batch_per_capability: 1, interference_every: 0, checkpoint_every: 2, schedule: { warmup_steps: 0 } }',
    'grpo: { steps: 1, prompts_per_step: 2, group_size: 2, max_new_tokens: 4, probe_every: 0 }',
    'eval: { suites: [domain, reasoning], max_items: 2, bootstrap: 10 }',
  ]);
  // the checkpoint: a byte-level BPE with ChatML's special tokens, a 1-layer Llama, and Qwen's template
  const modelDir = path.join(dir, 'model');
  const tok = await writeChatMlCheckpoint(modelDir, { text: 'the patient has a fever and a cough; which drug treats it? Answer: A.', seed: 3 });

  // the backends of GRPO and evaluation, recording what they are asked (the real ones answer)
  const asked = { rollouts: [] as GenerateRequest[], generate: [] as GenerateRequest[], contexts: [] as number[][] };
  const recording = (into: GenerateRequest[]): ComputeFactory => async (model, opts) => {
    const compute = await openCompute(model, opts);
    const generate = compute.generate.bind(compute);
    const score = compute.scoreContinuations.bind(compute);
    compute.generate = (req) => (into.push(req), generate(req));
    compute.scoreContinuations = (context, conts, o) => (asked.contexts.push([...context]), score(context, conts, o));
    return compute;
  };
  const { config: cfg, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  const events: EngineEvent[] = [];
  const out = await runPipeline({ config: cfg!, experimentFile: file, stageTable: { ...createStageTable(), grpo: createGrpoStage(recording(asked.rollouts)), evaluate: createEvaluateStage(recording(asked.generate)) }, log: silentLogger, version: 'test', onEvent: (e) => events.push(e) });
  assert.equal(out.status, 'completed', out.error?.message);
  assert.deepEqual(invalidEvents(events), []);

  const manifest = JSON.parse(await readFile(path.join(out.runDir, 'manifest.json'), 'utf8')) as { chatFormat?: string };
  assert.equal(manifest.chatFormat, path.join(modelDir, 'tokenizer_config.json'), 'the manifest names the chat format the run trained in');

  // SFT: the dataset preview's record is the ChatML rendering, the trained tokens are the assistant turn
  const record = events.find((e) => e.kind === 'record' && e.type === 'examples');
  assert.ok(record && record.kind === 'record');
  const data = record.data as { chatFormat: string; examples: Array<{ id: string; pieces: string[]; trainedFrom: number }> };
  assert.equal(data.chatFormat, path.join(modelDir, 'tokenizer_config.json'));
  const train = new Map(readExamples(path.join(out.runDir, OUTPUT_PATHS.dataset, 'train.jsonl')).map((e) => [e.id, e]));
  const previewed = data.examples;
  assert.ok(previewed.length >= 3);
  // every other example is shown in the frame the record carries: the same ChatML text
  const frame = (record.data as { frame: { prompt: [string, string]; response: [string, string] } }).frame;
  for (const ex of train.values()) assert.equal(frame.prompt[0] + ex.prompt + frame.prompt[1] + frame.response[0] + ex.response + frame.response[1], chatmlPrompt(ex.prompt) + chatmlAnswer(ex.response));
  for (const p of previewed) {
    const ex = train.get(p.id)!;
    assert.equal(p.pieces.join(''), chatmlPrompt(ex.prompt) + chatmlAnswer(ex.response), p.id);
    assert.equal(p.pieces.slice(p.trainedFrom).join(''), chatmlAnswer(ex.response), `${p.id}: the loss covers the answer and its <|im_end|> line only`);
  }

  // evaluation: generation prompts and multiple-choice contexts are ChatML ending with the generation prompt
  const test = readExamples(path.join(out.runDir, OUTPUT_PATHS.dataset, 'test.jsonl'));
  const imStart = tok.tokenToId('<|im_start|>')!;
  const imEnd = tok.tokenToId('<|im_end|>')!;
  const prompts = asked.generate.flatMap((r) => r.prompts.map((p) => tok.decode([...p])));
  assert.ok(prompts.length > 0, 'the reasoning suite generated');
  for (const r of asked.generate) {
    assert.deepEqual(r.stopIds, [imEnd], 'generation stops on <|im_end|>');
    for (const p of r.prompts) assert.equal(p[0], imStart, 'the prompt starts with the <|im_start|> token, no BOS added');
  }
  for (const p of prompts) {
    assert.ok(p.endsWith('<|im_end|>\n<|im_start|>assistant\n'), p);
    assert.ok(test.some((e) => p === chatmlPrompt(e.prompt)), `a test prompt in ChatML: ${p}`);
  }
  assert.ok(asked.contexts.length > 0, 'the domain suite scored options');
  for (const c of asked.contexts) assert.ok(tok.decode(c).endsWith('<|im_start|>assistant\nAnswer:'), tok.decode(c));

  // GRPO: rollouts are sampled from ChatML prompts of training examples and stop on <|im_end|>
  assert.ok(asked.rollouts.length > 0, 'GRPO sampled');
  for (const r of asked.rollouts) {
    assert.deepEqual(r.stopIds, [imEnd]);
    assert.ok(r.stop.includes('<|im_end|>'));
    for (const p of r.prompts) assert.ok([...train.values()].some((e) => tok.decode([...p]) === chatmlPrompt(e.prompt)), tok.decode([...p]));
  }
});
