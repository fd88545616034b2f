/**
 * Supervised examples for LoRA stages: SynthExample records tokenised as prompt and response, so the loss
 * covers only the response (the assistant's part), and padded batches with a loss mask. The prompt is
 * encoded on its own exactly as it is at inference (built-in: `<|user|>\n{prompt}\n<|assistant|>\n`; or the
 * model's chat template, see ChatFormat), so training and generation see the same token boundary.
 */
import type { BpeTokenizer } from '../model/tokenizer';
import { makeLmBatch, type LmBatch } from '../model/llama';
import type { Capability } from '../core/stage';
import { CAPABILITIES } from '../core/stage';
import { builtinChatFormat, type ChatFormat } from '../core/chat';
import type { SynthExample } from '../core/example';

export interface TokenizedExample {
  ids: number[];
  /** Tokens before this index are the prompt (no loss). */
  promptLength: number;
  capability: Capability;
  /** Tokens of the prompt and response (end marker and EOS included) that did not fit maxLen + 1. */
  cut: number;
}

/**
 * Tokenises prompt and response separately in the model's chat format (default: the built-in one); cuts
 * the response so the whole fits maxLen + 1 tokens.
 */
export function tokenizeExample(tok: BpeTokenizer, ex: SynthExample, maxLen: number, chat: ChatFormat = builtinChatFormat(tok)): TokenizedExample {
  const prompt = tok.encode(chat.prompt(ex.prompt), { addBos: chat.addBos && tok.bosId >= 0, splitSpecial: chat.splitSpecial });
  const response = tok.encode(chat.response(ex.prompt, ex.response), { splitSpecial: chat.splitSpecial });
  if (chat.appendEos && tok.eosId >= 0) response.push(tok.eosId);
  const keepPrompt = prompt.slice(-Math.max(1, Math.floor(maxLen / 2)));
  const ids = [...(prompt.length > maxLen / 2 ? keepPrompt : prompt), ...response].slice(0, maxLen + 1);
  const promptLength = Math.min(prompt.length > maxLen / 2 ? keepPrompt.length : prompt.length, ids.length - 1);
  return { ids, promptLength, capability: ex.capability, cut: prompt.length + response.length - ids.length };
}

export function groupByCapability<T extends { capability: Capability }>(items: readonly T[]): Record<Capability, T[]> {
  const out = Object.fromEntries(CAPABILITIES.map((c) => [c, [] as T[]])) as Record<Capability, T[]>;
  for (const it of items) out[it.capability].push(it);
  return out;
}

/**
 * One line per capability whose examples do not fit the context: a cut response never trains its last
 * lines (the `Answer:` line of a long vignette), and generation in a window that short cannot reach them
 * either, so the capability's score is 0 whatever the model learns. Empty when everything fits.
 */
export function describeCuts(rows: readonly TokenizedExample[], contextLength: number): string[] {
  const by = groupByCapability(rows);
  return CAPABILITIES.flatMap((c) => {
    const cut = by[c].filter((r) => r.cut > 0);
    if (!cut.length) return [];
    const longest = Math.max(...cut.map((r) => r.ids.length + r.cut));
    return [`${c}: ${cut.length} of ${by[c].length} examples do not fit context_length ${contextLength} (longest ${longest} tokens); their responses are cut, so their last lines are never trained`];
  });
}

/** Right-pads rows to a common length; the loss mask covers response tokens only. */
export function supervisedBatch(rows: readonly TokenizedExample[], padId: number): LmBatch {
  const T = Math.max(...rows.map((r) => r.ids.length)) - 1;
  const padded = rows.map((r) => [...r.ids, ...new Array<number>(T + 1 - r.ids.length).fill(padId)]);
  const mask = new Float32Array(rows.length * T);
  rows.forEach((r, b) => {
    // target position t predicts ids[t+1]; response tokens are ids[promptLength..]
    for (let t = r.promptLength - 1; t < r.ids.length - 1; t++) if (t >= 0) mask[b * T + t] = 1;
  });
  return makeLmBatch(padded, mask);
}

/**
 * The tokens of one example as text pieces, for the editor's dataset preview: `pieces.join('')` is the
 * decoded example, and the pieces from `trainedFrom` on are the targets the SFT loss is computed on (the
 * mask in supervisedBatch covers positions promptLength-1 … n-2, which predict ids[promptLength …]).
 * Each piece is the text the token adds to the decoding of the ones before it, so a character split
 * across byte-level tokens lands on the token that completes it.
 */
export function tokenPieces(tok: BpeTokenizer, row: TokenizedExample): { pieces: string[]; trainedFrom: number } {
  const pieces: string[] = [];
  let prev = '';
  for (let i = 1; i <= row.ids.length; i++) {
    const text = tok.decode(row.ids.slice(0, i));
    // an incomplete UTF-8 sequence decodes to U+FFFD until its last byte arrives: wait for it
    if (text.endsWith('\uFFFD') && i < row.ids.length) {
      pieces.push('');
      continue;
    }
    pieces.push(text.startsWith(prev) ? text.slice(prev.length) : text);
    prev = text;
  }
  return { pieces, trainedFrom: row.promptLength };
}

/** Response tokens in a batch (for throughput). */
export function responseTokens(rows: readonly TokenizedExample[]): number {
  return rows.reduce((s, r) => s + (r.ids.length - r.promptLength), 0);
}
