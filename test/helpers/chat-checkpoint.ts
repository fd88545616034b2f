/**
 * A tiny chat model for tests of chat templates: a byte-level BPE with ChatML's special tokens, a 1-layer
 * Llama, and Qwen2.5-Instruct's published template (test/fixtures/chat-template) in its tokenizer_config.json,
 * with `<|im_end|>` as EOS as Qwen's own config has it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initLlama, saveLlama } from '../../engine/model/llama';
import { trainBpe, type BpeTokenizer } from '../../engine/model/tokenizer';
import { makeRng } from '../../engine/util/rng';
import { tinyLlamaConfig } from './tiny-llama';
import { REPO } from './tmp';

export async function writeChatMlCheckpoint(dir: string, opts: { text: string; seed: number }): Promise<BpeTokenizer> {
  const tok = trainBpe([opts.text], { vocabSize: 300, specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] });
  await saveLlama(initLlama(tinyLlamaConfig({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 16, max_position_embeddings: 2048 }), makeRng(opts.seed)), dir);
  await tok.save(dir);
  const qwen = JSON.parse(await readFile(path.join(REPO, 'test/fixtures/chat-template/qwen2.5-instruct/tokenizer_config.json'), 'utf8')) as { chat_template: string };
  const config = JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, eos_token: '<|im_end|>', chat_template: qwen.chat_template }));
  return tok;
}
