/**
 * The one decode loop: `balancedbio infer`, GRPO rollouts (compute/tfjs `generate` with a temperature) and
 * evaluation's greedy generation all call `decodePrompts`.
 *
 * - KV cache (llama.ts `decodeStep`): each prompt is fed once, then every new token costs one position.
 * - Batching without padding: the model has no attention mask for padded rows, so rows run in lockstep
 *   instead. One batched prefill of the first L_min tokens every prompt of the batch has, then one token
 *   per row per step, where a row still inside its prompt is fed its next prompt token (teacher forcing)
 *   and a row past it is fed its own pick. Every row is then its own causal sequence, so a row's output is
 *   the same as decoding it alone. Prompts are sorted by length and packed (whole groups of n rows) so the
 *   lockstep part (L_max − L_min steps) stays short; GRPO's G rows of one prompt share one length.
 * - A pluggable picker: greedy, or temperature + nucleus (top-p, Holtzman et al. 2020) with the seeded
 *   rng of util/rng.ts.
 * - Stop conditions: EOS ids (`eos`), stop token ids and stop strings (`stop`), max_new_tokens or the
 *   context window (`length`). The terminating token is **kept** in the row's ids and log-probs, as TRL and
 *   DeepSeek keep EOS in the completion mask, so a policy trained on these rows can learn to stop
 *   (issue 17). The text (for rewards and evaluation) leaves it out: it is the decode of the ids without a
 *   final EOS / stop id, cut before the first stop string.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BbioError } from '../util/errors';
import type { Rng } from '../util/rng';
import { createKvCache, decodeStep, disposeKvCache, forwardLogits, type ForwardOptions, type LlamaModel } from './llama';

export type FinishReason = 'stop' | 'eos' | 'length';

/** A picked token and its log-probability (see `Picker`). */
export interface Pick {
  id: number;
  logprob: number;
}

/**
 * Chooses the next token of one row from its logits [V]. `logprob` is log softmax(logits / T)[id] with the
 * picker's temperature T (T = 1 for greedy): the temperature-scaled distribution before top-p truncation,
 * which is what the GRPO loss receives for π_old (compute/tfjs/policy.ts divides logits by T, as TRL does).
 */
export type Picker = (logits: Float32Array) => Pick;

/** log softmax(row / temperature)[id], in float64. */
function scaledLogprob(row: Float32Array, id: number, temperature: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp((row[i]! - max) / temperature);
  return (row[id]! - max) / temperature - Math.log(z);
}

/** log-softmax of one row, in float64. */
export function logSoftmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i]! - max);
  const lz = max + Math.log(z);
  return Array.from(row, (v) => v - lz);
}

/** Argmax (the first of equal maxima); draws nothing. */
export function greedyPicker(): Picker {
  return (logits) => {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return { id: best, logprob: scaledLogprob(logits, best, 1) };
  };
}

/**
 * A draw from softmax(logits / T) restricted to the smallest set of most likely tokens whose mass reaches
 * topP (nucleus sampling, Holtzman et al. 2020; topP = 1 keeps every token). Exactly one `rng.next()` per
 * pick, by inverse CDF over token ids in id order.
 */
export function samplingPicker(o: { temperature: number; topP: number; rng: Rng }): Picker {
  if (!(o.temperature > 0)) throw new BbioError('E_INTERNAL', `samplingPicker needs a temperature > 0, got ${o.temperature}`);
  return (logits) => {
    const V = logits.length;
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[i]!);
    const p = new Float64Array(V); // unnormalised exp((l − max) / T)
    let z = 0;
    for (let i = 0; i < V; i++) z += p[i] = Math.exp((logits[i]! - max) / o.temperature);
    const logZ = Math.log(z);
    if (o.topP < 1) {
      const order = [...Array(V).keys()].sort((a, b) => p[b]! - p[a]!);
      let mass = 0;
      let keep = 0;
      // at least one token even for a degenerate topP ≤ 0
      while (keep < V && (keep === 0 || mass < o.topP * z)) mass += p[order[keep++]!]!;
      for (let k = keep; k < V; k++) p[order[k]!] = 0;
      z = mass;
    }
    const at = (id: number): Pick => ({ id, logprob: (logits[id]! - max) / o.temperature - logZ });
    let u = o.rng.next() * z;
    for (let i = 0; i < V; i++) {
      u -= p[i]!;
      if (u <= 0 && p[i]! > 0) return at(i);
    }
    // rounding left u > 0 after the last kept token: that token
    for (let i = V - 1; i >= 0; i--) if (p[i]! > 0) return at(i);
    return at(0);
  };
}

export interface DecodeOptions {
  /** New tokens per row at most; the context window may allow fewer (finish reason `length` either way). */
  maxNewTokens: number;
  /** Rows per prompt (GRPO's group size G); default 1. */
  n?: number;
  pick: Picker;
  /** Token ids that end a row with finish reason `eos`; kept as the row's last id. */
  eosIds?: readonly number[];
  /** Token ids that end a row with finish reason `stop` (e.g. an end-of-turn token); kept as the row's last id. */
  stopIds?: readonly number[];
  /**
   * Strings that end a row (finish reason `stop`) as soon as its decoded text contains one; the text is cut
   * before the first, the ids keep every token up to the one that completed it (as vLLM returns them).
   */
  stop?: readonly string[];
  /** ids → text (the tokenizer's decode); needed for stop strings, and for `text` ('' without it). */
  detokenize?: (ids: number[]) => string;
  /** Rows decoded together; whole groups of n rows are packed, at least one prompt per batch. Default 8. */
  batchRows?: number;
  /** LoRA hook etc. (the base weights are frozen in decoding). */
  forward?: ForwardOptions;
  /** Checked between decoding steps. */
  signal?: AbortSignal;
}

export interface DecodedRow {
  /** New token ids, the terminating EOS / stop id or stop-string tokens included. */
  ids: number[];
  /** Per id, log-probability under the picker's distribution (see `Picker`). */
  logprobs: number[];
  /** Decoded ids without a final EOS / stop id, cut before the first stop string. */
  text: string;
  finishReason: FinishReason;
}

/** The rows of every prompt, in prompt order: out[p] has n rows. Prompts longer than the context keep their last tokens. */
export function decodePrompts(model: LlamaModel, prompts: readonly (readonly number[])[], opts: DecodeOptions): DecodedRow[][] {
  const n = Math.max(1, opts.n ?? 1);
  if (opts.stop?.length && !opts.detokenize) throw new BbioError('E_INTERNAL', 'stop strings need a detokenize function');
  for (const p of prompts) if (!p.length) throw new BbioError('E_INTERNAL', 'cannot generate from an empty prompt');
  // stable sort by length, so batches hold prompts of similar length (a short lockstep part)
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a]!.length - prompts[b]!.length);
  const perBatch = Math.max(1, Math.floor((opts.batchRows ?? 8) / n));
  const out = new Array<DecodedRow[]>(prompts.length);
  for (let s = 0; s < order.length; s += perBatch) {
    const idx = order.slice(s, s + perBatch);
    const rows = decodeBatch(model, idx.flatMap((i) => Array.from({ length: n }, () => prompts[i]!)), opts);
    idx.forEach((i, k) => (out[i] = rows.slice(k * n, (k + 1) * n)));
  }
  return out;
}

/** One row's state while it decodes. */
interface Row {
  prompt: readonly number[];
  /** New tokens allowed: max_new_tokens, or fewer where the prompt nearly fills the context. */
  limit: number;
  ids: number[];
  logprobs: number[];
  finish?: FinishReason;
  /** Index in the decoded text of the first stop string. */
  cut?: number;
}

/** Records a picked token on a live row and decides whether the row ends with it. */
function accept(row: Row, picked: Pick, opts: DecodeOptions): void {
  row.ids.push(picked.id);
  row.logprobs.push(picked.logprob);
  if (opts.eosIds?.includes(picked.id)) row.finish = 'eos';
  else if (opts.stopIds?.includes(picked.id)) row.finish = 'stop';
  else if (opts.stop?.length) {
    const text = opts.detokenize!(row.ids);
    const hits = opts.stop.map((x) => text.indexOf(x)).filter((i) => i >= 0);
    if (hits.length) {
      row.finish = 'stop';
      row.cut = Math.min(...hits);
    }
  }
  if (!row.finish && row.ids.length >= row.limit) row.finish = 'length';
}

function decodeBatch(model: LlamaModel, prompts: readonly (readonly number[])[], opts: DecodeOptions): DecodedRow[] {
  const ctxLen = model.config.max_position_embeddings;
  const V = model.config.vocab_size;
  const B = prompts.length;
  // a prompt longer than the window keeps its last tokens, leaving room for at least one new token
  const rows: Row[] = prompts.map((p) => {
    const prompt = p.slice(Math.max(0, p.length - (ctxLen - 1)));
    const limit = Math.max(0, Math.min(opts.maxNewTokens, ctxLen - prompt.length));
    return { prompt, limit, ids: [], logprobs: [], ...(limit === 0 ? { finish: 'length' as const } : {}) };
  });
  const lMin = Math.min(...rows.map((r) => r.prompt.length));
  const total = Math.max(...rows.map((r) => r.prompt.length + r.limit));
  const cache = createKvCache(model);
  try {
    const first = new Int32Array(B * lMin); // [B, L_min]
    rows.forEach((r, b) => first.set(r.prompt.slice(0, lMin), b * lMin));
    let logits = decodeStep(model, first, B, cache, opts.forward); // [B, V]
    // the token fed at step `pos` sits at position pos (= cache.length); its logits predict pos + 1
    for (let pos = lMin; pos < total && !rows.every((r) => r.finish); pos++) {
      if (opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'generation cancelled');
      const next = new Int32Array(B); // [B]
      rows.forEach((r, b) => {
        if (pos < r.prompt.length) {
          next[b] = r.prompt[pos]!; // still inside this row's prompt: no pick
          return;
        }
        // Every row past its prompt picks once per step, finished or not, so a row's draws from the rng do
        // not depend on when the other rows finish. A finished row is fed its pick as filler (the batch
        // stays rectangular); what it decodes after that is discarded.
        const picked = opts.pick(logits.subarray(b * V, (b + 1) * V));
        next[b] = picked.id;
        if (!r.finish) accept(r, picked, opts);
      });
      if (rows.every((r) => r.finish) || pos + 1 >= ctxLen) break;
      logits = decodeStep(model, next, B, cache, opts.forward); // [B, V]
    }
  } finally {
    disposeKvCache(cache);
  }
  return rows.map((r) => finishRow(r, opts));
}

function finishRow(r: Row, opts: DecodeOptions): DecodedRow {
  const finishReason = r.finish ?? 'length';
  const endsWithMarker = (finishReason === 'eos' || finishReason === 'stop') && r.cut === undefined;
  const shown = endsWithMarker ? r.ids.slice(0, -1) : r.ids;
  const full = opts.detokenize ? opts.detokenize(shown) : '';
  return { ids: r.ids, logprobs: r.logprobs, text: r.cut === undefined ? full : full.slice(0, r.cut), finishReason };
}

/** The logits of every prompt position, [T·V] row-major, base weights frozen (no tensors left behind). */
export function promptLogits(model: LlamaModel, ids: readonly number[]): Float32Array {
  return tf.tidy(() => forwardLogits(model, Int32Array.from(ids), 1, { freezeBase: true }).dataSync()) as Float32Array;
}
