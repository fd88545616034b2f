/**
 * Greedy generation for evaluation: many prompts of different lengths decoded together, exactly, with the
 * KV cache and without padding. The model has no attention mask for padded rows, so instead of padding we
 * run the rows in lockstep: one batched prefill of the first L_min tokens every prompt has, then one
 * token per row per step, where a row still inside its prompt is fed its next prompt token (teacher
 * forcing) and a row past it is fed its own previous argmax. Every row is then its own causal sequence,
 * so the result is identical to decoding each prompt alone. Prompts are sorted by length and batched so
 * the lockstep part (L_max − L_min steps) stays short.
 */
import { createKvCache, decodeStep, disposeKvCache, type ForwardOptions, type LlamaModel } from '../../model/llama';
import { BbioError } from '../../util/errors';

export interface GenerateRequest {
  prompt: readonly number[];
  maxNewTokens: number;
}

export interface GreedyOptions {
  /** Rows decoded together. */
  batchRows: number;
  eosId?: number;
  /** Stop strings, checked on the decoded completion; the text is cut before the first one. */
  stop: readonly string[];
  decode: (ids: number[]) => string;
  forward?: ForwardOptions;
  /** Checked between decoding steps. */
  signal?: AbortSignal;
}

export interface GreedyCompletion {
  ids: number[];
  text: string;
  /** Ended by maxNewTokens (or the context window), not by EOS or a stop string. */
  truncated: boolean;
}

function argmax(row: Float32Array, from: number, to: number): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (row[i]! > row[best]!) best = i;
  return best - from;
}

/** Greedy completions of every request, in request order. */
export function generateGreedy(model: LlamaModel, requests: readonly GenerateRequest[], opts: GreedyOptions): GreedyCompletion[] {
  const ctxLen = model.config.max_position_embeddings;
  const order = requests.map((_, i) => i).sort((a, b) => requests[a]!.prompt.length - requests[b]!.prompt.length);
  const out = new Array<GreedyCompletion>(requests.length);
  for (let s = 0; s < order.length; s += Math.max(1, opts.batchRows)) {
    const idx = order.slice(s, s + Math.max(1, opts.batchRows));
    const batch = decodeBatch(model, idx.map((i) => requests[i]!), ctxLen, opts);
    idx.forEach((i, k) => (out[i] = batch[k]!));
  }
  return out;
}

function decodeBatch(model: LlamaModel, reqs: readonly GenerateRequest[], ctxLen: number, opts: GreedyOptions): GreedyCompletion[] {
  const B = reqs.length;
  const V = model.config.vocab_size;
  for (const r of reqs) if (!r.prompt.length) throw new BbioError('E_INTERNAL', 'cannot generate from an empty prompt');
  // prompts longer than the window keep their last tokens, leaving room for at least one new token
  const prompts = reqs.map((r) => r.prompt.slice(Math.max(0, r.prompt.length - (ctxLen - 1))));
  const limits = reqs.map((r, b) => Math.max(0, Math.min(r.maxNewTokens, ctxLen - prompts[b]!.length)));
  const lMin = Math.min(...prompts.map((p) => p.length));
  const total = Math.max(...prompts.map((p, b) => p.length + limits[b]!));
  const rows: number[][] = reqs.map(() => []);
  const done = limits.map((l) => l === 0);
  const cut: (number | undefined)[] = reqs.map(() => undefined);
  const cache = createKvCache(model);
  try {
    const first = new Int32Array(B * lMin);
    prompts.forEach((p, b) => first.set(p.slice(0, lMin), b * lMin));
    let logits = decodeStep(model, first, B, cache, opts.forward); // [B, V]
    // position pos = cache.length: the token fed now sits at pos; logits predict pos + 1
    for (let pos = lMin; pos < total && !done.every(Boolean); pos++) {
      if (opts.signal?.aborted) throw new BbioError('E_CANCELLED', 'evaluation cancelled');
      const next = new Int32Array(B);
      for (let b = 0; b < B; b++) {
        const p = prompts[b]!;
        if (pos < p.length) {
          next[b] = p[pos]!; // still inside this row's prompt
          continue;
        }
        const tok = argmax(logits, b * V, (b + 1) * V);
        next[b] = tok; // finished rows keep decoding their argmax as filler; it is discarded
        if (done[b]) continue;
        if (tok === opts.eosId) {
          done[b] = true;
          continue;
        }
        rows[b]!.push(tok);
        if (opts.stop.length) {
          const text = opts.decode(rows[b]!);
          const hits = opts.stop.map((x) => text.indexOf(x)).filter((i) => i >= 0);
          if (hits.length) {
            done[b] = true;
            cut[b] = Math.min(...hits);
          }
        }
        if (rows[b]!.length >= limits[b]!) done[b] = true;
      }
      if (done.every(Boolean) || pos + 1 >= ctxLen) break;
      logits = decodeStep(model, next, B, cache, opts.forward); // [B, V]
    }
  } finally {
    disposeKvCache(cache);
  }
  return rows.map((ids, b) => {
    const text = opts.decode(ids);
    const c = cut[b];
    if (c !== undefined) return { ids, text: text.slice(0, c), truncated: false };
    return { ids, text, truncated: ids.length >= limits[b]! };
  });
}
