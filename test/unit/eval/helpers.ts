/** Shared setup for the evaluation tests: a model whose every next-token prediction is one token, and a char-level tokenizer. */
import { modelFromTensors, type LlamaModel } from '../../../engine/model/llama';
import { parameterShapes } from '../../../engine/model/llama';
import type { TensorMap } from '../../../engine/model/safetensors';
import type { EvalTokenizer } from '../../../engine/eval/suites';
import type { SynthExample } from '../../../engine/core/example';
import { TfjsCompute } from '../../../engine/compute/tfjs/compute';
import type { Compute } from '../../../engine/compute/types';
import { silentLogger } from '../../../engine/util/log';
import { tinyLlamaConfig } from '../../helpers/tiny-llama';

/**
 * All layer weights zero, every embedding row the same vector u (±1, so RMSNorm(u) = u), untied lm_head with
 * row k = 10·u and the other rows 0: logit_k = 10·|u|² = 10·hidden at every position, every other logit 0,
 * so p(k) ≈ 1 − V·e^(−10·hidden) whatever the input.
 */
export function certainModel(opts: { vocab: number; k: number; hidden?: number; ctx?: number; bos?: number; eos?: number }): LlamaModel {
  const d = opts.hidden ?? 8;
  const cfg = tinyLlamaConfig({ vocab_size: opts.vocab, hidden_size: d, intermediate_size: 8, max_position_embeddings: opts.ctx ?? 512, tie_word_embeddings: false, rms_norm_eps: 1e-6, bos_token_id: opts.bos ?? null, eos_token_id: opts.eos ?? null });
  const u = Array.from({ length: d }, (_, i) => (i % 2 ? -1 : 1));
  const tensors: TensorMap = new Map();
  for (const [name, shape] of parameterShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name === 'model.embed_tokens.weight') for (let r = 0; r < opts.vocab; r++) data.set(u, r * d);
    else if (name === 'lm_head.weight') data.set(u.map((x) => 10 * x), opts.k * d);
    else if (name.endsWith('norm.weight')) data.fill(1);
    tensors.set(name, { shape, data });
  }
  return modelFromTensors(cfg, tensors, 'certain-model');
}

export const CHAR_VOCAB = 64;

/** One token per character: id = 3 + (code point mod 61); 0/1/2 are bos/eos/pad. Lossy decode, enough for scoring. */
export function charTokenizer(): EvalTokenizer {
  return {
    bosId: 0,
    eosId: 1,
    padId: 2,
    encode: (text, o) => [...(o?.addBos ? [0] : []), ...[...text].map((c) => 3 + (c.codePointAt(0)! % 61))],
    decode: (ids) => ids.filter((i) => i >= 3).map((i) => String.fromCharCode(i - 3 + 122)).join(''),
  };
}

/** A 4-option question whose option A is `zzzz` (token 3 = 'z' only) and the others are ordinary words. */
export function mcExample(id: string, answerLabel: 'A' | 'B' | 'C' | 'D'): SynthExample {
  const options = [
    { label: 'A' as const, text: 'zzzz', id: 'X:1' },
    { label: 'B' as const, text: 'abcd', id: 'X:2' },
    { label: 'C' as const, text: 'efgh', id: 'X:3' },
    { label: 'D' as const, text: 'ijkl', id: 'X:4' },
  ];
  return {
    id, capability: 'domain', prompt: `Which one?\n${options.map((o) => `${o.label}. ${o.text}`).join('\n')}`, response: `Answer: ${answerLabel}. ${options.find((o) => o.label === answerLabel)!.text}`,
    text: '', answer: options.find((o) => o.label === answerLabel)!.text, options, answerLabel,
    provenance: { entities: [], edges: [], central: 'X:0', answerIds: [] }, template: 'domain/test/0', split: 'test',
  };
}

/** A model under evaluation served by the tfjs backend (the char tokenizer decodes its completions). */
export function evalModel(model: LlamaModel, opts: { name?: 'base' | 'sft' | 'grpo'; tokenizer?: EvalTokenizer } = {}): { name: 'base' | 'sft' | 'grpo'; compute: Compute } {
  const compute = new TfjsCompute({ backend: { name: 'wasm', kind: 'wasm', reason: 'test', threads: 1, simd: true }, log: silentLogger, tokenizer: opts.tokenizer ?? charTokenizer() });
  compute.useModel(model);
  return { name: opts.name ?? 'base', compute };
}
