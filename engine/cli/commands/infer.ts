/**
 * `balancedbio infer`: load a checkpoint directory (or a Hugging Face Hub id, resolved into the HF cache), run
 * a prompt through it, print JSON lines.
 *   --logprobs  → {"logprobs": [[log p(v | prompt[:t+1]) for v in vocab], …]} for every prompt position
 *   generation  → {"prompt_ids": […], "new_ids": […], "finish_reason": "eos" | "stop" | "length", "text": "…"}
 *                 (greedy, or sampled with temperature); new_ids end with the EOS id when EOS ended the generation
 *   --chat TEXT → TEXT as a user turn in the model's chat format (its chat template, else the built-in
 *                 <|user|> format), stopping at the end of the assistant's turn; --show-prompt first prints
 *                 {"prompt": "…", "chat_format": "…"}, the exact text the prompt ids encode
 * Generation is model/decode.ts's loop (KV cache: the prompt is fed once, then one token per step).
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { BbioError } from '../../util/errors';
import { silentLogger, type Logger } from '../../util/log';
import { makeRng } from '../../util/rng';
import { selectBackend, type BackendChoice } from '../../model/backend';
import { decodePrompts, greedyPicker, logSoftmax, promptLogits, samplingPicker } from '../../model/decode';
import { resolveModelArg } from '../../model/hub';
import { disposeModel, loadLlama } from '../../model/llama';
import { BpeTokenizer } from '../../model/tokenizer';
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
  backend?: BackendChoice;
  log?: Logger;
}

export async function runInfer(opts: InferOptions, out: (line: string) => void): Promise<number> {
  const log = opts.log ?? silentLogger;
  const dir = await resolveModelArg(opts.model, opts.cwd ?? process.cwd(), { log, ...(opts.revision ? { revision: opts.revision } : {}), ...(opts.env ? { env: opts.env } : {}) });
  await selectBackend(opts.backend ?? 'auto', { log });
  const model = loadLlama(dir);
  try {
    const hasTokenizer = fs.existsSync(path.join(dir, 'tokenizer.json'));
    const tokenizer = hasTokenizer ? await BpeTokenizer.load(path.join(dir, 'tokenizer.json')) : null;
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
    const vocab = model.config.vocab_size;
    const bad = ids.find((i) => !(Number.isInteger(i) && i >= 0 && i < vocab));
    if (bad !== undefined) throw new BbioError('E_USAGE', `prompt id ${bad} is outside the vocabulary [0, ${vocab})`);

    if (opts.logprobs) {
      const rows = promptLogits(model, ids); // [T·V]
      const lp: number[][] = [];
      for (let t = 0; t < ids.length; t++) lp.push(logSoftmax(rows.subarray(t * vocab, (t + 1) * vocab)));
      out(JSON.stringify({ logprobs: lp }));
      if (opts.maxNewTokens <= 0) return 0;
    }
    // config.json's eos_token_id may list several ids (HF); a tokenizer's EOS is the fallback
    const eos = model.config.eos_token_id;
    const eosIds = Array.isArray(eos) ? eos : typeof eos === 'number' ? [eos] : tokenizer && tokenizer.eosId >= 0 ? [tokenizer.eosId] : [];
    const temperature = opts.temperature ?? 0;
    const [row] = decodePrompts(model, [ids], {
      maxNewTokens: opts.maxNewTokens,
      pick: temperature > 0 ? samplingPicker({ temperature, topP: 1, rng: makeRng(opts.seed ?? 0) }) : greedyPicker(),
      eosIds,
      stop: stop.stop,
      stopIds: stop.stopIds,
      ...(tokenizer ? { detokenize: (x: number[]) => tokenizer.decode(x, { skipSpecial: true }) } : {}),
    })[0]!;
    out(JSON.stringify({ prompt_ids: ids, new_ids: row!.ids, finish_reason: row!.finishReason, ...(tokenizer ? { text: row!.text } : {}) }));
    return 0;
  } finally {
    disposeModel(model);
  }
}
