/**
 * `balancedbio infer`: load a checkpoint directory (or a Hugging Face Hub id, resolved into the HF cache), run
 * a prompt through it, print JSON lines.
 *   --logprobs  → {"logprobs": [[log p(v | prompt[:t+1]) for v in vocab], …]} for every prompt position
 *   generation  → {"prompt_ids": […], "new_ids": […], "finish_reason": "eos" | "stop" | "length", "text": "…"}
 *                 (greedy, or sampled with temperature); new_ids end with the EOS id when EOS ended the generation
 *   --chat TEXT → TEXT as a user turn in the model's chat format (its chat template, else the built-in
 *                 <|user|> format), stopping at the end of the assistant's turn; --show-prompt first prints
 *                 {"prompt": "…", "chat_format": "…"}, the exact text the prompt ids encode
 * Generation is model/decode.ts's loop (KV cache: the prompt is fed once, then one token per step), or the
 * torch worker's with `--backend torch` (and with `auto` when the configured Python imports torch).
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { BbioError } from '../../util/errors';
import { silentLogger, type Logger } from '../../util/log';
import { makeRng } from '../../util/rng';
import { selectBackend, type ModelBackend } from '../../model/backend';
import { openTorchCompute, type TorchCompute } from '../../compute/torch/compute';
import { pythonCommand } from '../../compute/torch/worker-process';
import { decodePrompts, greedyPicker, logSoftmax, promptLogits, samplingPicker } from '../../model/decode';
import { resolveModelArg } from '../../model/hub';
import { disposeModel, loadLlama } from '../../model/llama';
import { BpeTokenizer } from '../../model/tokenizer';
import type { Completion } from '../../compute/types';
import { loadChatFormat } from '../../model/chat-template';

export interface InferOptions {
  /** A checkpoint folder, or a Hub id `ORG/NAME` when no such folder exists (see resolveModelArg). */
  model: string;
  /** Hub revision for a Hub id (default main). */
  revision?: string;
  /** Where a relative `model` resolves (default the process's). */
  cwd?: string;
  /** HF_* variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  prompt?: string;
  promptIds?: number[];
  /** A user turn, rendered in the model's chat format. */
  chat?: string;
  /** Print the exact prompt text first. */
  showPrompt?: boolean;
  maxNewTokens: number;
  logprobs: boolean;
  /** 0 or absent: greedy. */
  temperature?: number;
  seed?: number;
  backend?: ModelBackend;
  log?: Logger;
}

/** The prompt: its ids (checked against the vocabulary) and, for --chat, the chat format's end-of-turn stop. */
interface Prompt {
  ids: number[];
  stop: readonly string[];
  stopIds: readonly number[];
}

/** The prompt from --prompt-ids, --prompt or --chat (exactly one); --show-prompt prints the text first. */
async function preparePrompt(opts: InferOptions, dir: string, tokenizer: BpeTokenizer | null, vocab: number, out: (line: string) => void): Promise<Prompt> {
  const given = [opts.promptIds && '--prompt-ids', opts.prompt !== undefined && '--prompt', opts.chat !== undefined && '--chat'].filter(Boolean);
  if (given.length !== 1) throw new BbioError('E_USAGE', given.length ? `infer takes one of ${given.join(', ')}` : 'infer needs --prompt, --prompt-ids or --chat');
  let ids: number[];
  let stop: { stop: readonly string[]; stopIds: readonly number[] } = { stop: [], stopIds: [] };
  if (opts.promptIds) ids = opts.promptIds;
  else {
    if (!tokenizer) throw new BbioError('E_TOKENIZER', `${opts.model} has no tokenizer.json`, { file: opts.model }, 'pass --prompt-ids instead');
    let text = opts.prompt ?? '';
    let encode = { addBos: tokenizer.bosId >= 0, splitSpecial: true };
    let source = 'none';
    if (opts.chat !== undefined) {
      const chat = await loadChatFormat(dir, tokenizer);
      text = chat.prompt(opts.chat);
      encode = { addBos: chat.addBos && tokenizer.bosId >= 0, splitSpecial: chat.splitSpecial };
      source = chat.source;
      stop = chat;
    }
    if (opts.showPrompt) out(JSON.stringify({ prompt: text, chat_format: source }));
    ids = tokenizer.encode(text, encode);
  }
  if (!ids.length) throw new BbioError('E_USAGE', 'the prompt is empty');
  const bad = ids.find((i) => !(Number.isInteger(i) && i >= 0 && i < vocab));
  if (bad !== undefined) throw new BbioError('E_USAGE', `prompt id ${bad} is outside the vocabulary [0, ${vocab})`);
  return { ids, stop: stop.stop, stopIds: stop.stopIds };
}

/** The --logprobs line: log softmax of each prompt position's logits (`rows`, [T·V] row-major). */
function logprobsLine(rows: Float32Array, T: number, vocab: number): string {
  const lp: number[][] = [];
  for (let t = 0; t < T; t++) lp.push(logSoftmax(rows.subarray(t * vocab, (t + 1) * vocab)));
  return JSON.stringify({ logprobs: lp });
}

/** The generation line, the same from either backend (text only when there is a tokenizer to decode with). */
function completionLine(promptIds: readonly number[], c: { ids: readonly number[]; finishReason: string; text: string }, withText: boolean): string {
  return JSON.stringify({ prompt_ids: promptIds, new_ids: c.ids, finish_reason: c.finishReason, ...(withText ? { text: c.text } : {}) });
}

/** config.json's eos_token_id may list several ids (HF); a tokenizer's EOS is the fallback. */
function eosIdsOf(eos: number | number[] | null | undefined, tokenizer: BpeTokenizer | null): number[] {
  return Array.isArray(eos) ? eos : typeof eos === 'number' ? [eos] : tokenizer && tokenizer.eosId >= 0 ? [tokenizer.eosId] : [];
}

/** The torch worker for `torch`, and for `auto` when the configured Python imports torch (else null: tfjs). */
async function torchFor(opts: InferOptions, log: Logger, tokenizer: BpeTokenizer | null): Promise<TorchCompute | null> {
  const backend = opts.backend ?? 'auto';
  if (backend !== 'torch' && backend !== 'auto') return null;
  const env = opts.env ?? process.env;
  const python = pythonCommand(undefined, env);
  try {
    return await openTorchCompute({ log, python, env, why: backend === 'torch' ? 'requested by --backend torch' : `auto: ${python} imports torch`, ...(tokenizer ? { tokenizer } : {}) });
  } catch (e) {
    if (backend === 'torch' || !(e instanceof BbioError)) throw e;
    log.info(`torch unavailable, using TensorFlow.js (${e.message.split('\n')[0]})`);
    return null;
  }
}

export async function runInfer(opts: InferOptions, out: (line: string) => void): Promise<number> {
  const log = opts.log ?? silentLogger;
  const dir = await resolveModelArg(opts.model, opts.cwd ?? process.cwd(), { log, ...(opts.revision ? { revision: opts.revision } : {}), ...(opts.env ? { env: opts.env } : {}) });
  const hasTokenizer = fs.existsSync(path.join(dir, 'tokenizer.json'));
  const tokenizer = hasTokenizer ? await BpeTokenizer.load(path.join(dir, 'tokenizer.json')) : null;
  const torch = await torchFor(opts, log, tokenizer);
  if (torch) {
    try {
      return await inferTorch(torch, dir, opts, tokenizer, out);
    } finally {
      await torch.dispose();
    }
  }
  await selectBackend(opts.backend === 'auto' || opts.backend === undefined || opts.backend === 'torch' ? 'auto' : opts.backend, { log });
  const model = loadLlama(dir);
  try {
    const vocab = model.config.vocab_size;
    const { ids, stop, stopIds } = await preparePrompt(opts, dir, tokenizer, vocab, out);
    if (opts.logprobs) {
      out(logprobsLine(promptLogits(model, ids), ids.length, vocab));
      if (opts.maxNewTokens <= 0) return 0;
    }
    const temperature = opts.temperature ?? 0;
    const [row] = decodePrompts(model, [ids], {
      maxNewTokens: opts.maxNewTokens,
      pick: temperature > 0 ? samplingPicker({ temperature, topP: 1, rng: makeRng(opts.seed ?? 0) }) : greedyPicker(),
      eosIds: eosIdsOf(model.config.eos_token_id, tokenizer),
      stop,
      stopIds,
      ...(tokenizer ? { detokenize: (x: number[]) => tokenizer.decode(x, { skipSpecial: true }) } : {}),
    })[0]!;
    out(completionLine(ids, row!, tokenizer !== null));
    return 0;
  } finally {
    disposeModel(model);
  }
}

/** The same two outputs from the torch worker (sampled tokens come from its own seeded stream, not makeRng's). */
async function inferTorch(torch: TorchCompute, dir: string, opts: InferOptions, tokenizer: BpeTokenizer | null, out: (line: string) => void): Promise<number> {
  const config = await torch.loadModel(dir);
  const vocab = config.vocab_size;
  const { ids, stop, stopIds } = await preparePrompt(opts, dir, tokenizer, vocab, out);
  if (opts.logprobs) {
    out(logprobsLine(await torch.promptLogits(ids), ids.length, vocab));
    if (opts.maxNewTokens <= 0) return 0;
  }
  const [[c]] = (await torch.generate({
    prompts: [ids], n: 1, temperature: opts.temperature ?? 0, topP: 1, maxNewTokens: opts.maxNewTokens, stop, stopIds, seed: opts.seed ?? 0,
    eosIds: eosIdsOf(config.eos_token_id, tokenizer),
  })) as [[Completion]];
  out(completionLine(ids, c, tokenizer !== null));
  return 0;
}
