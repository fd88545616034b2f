/**
 * A fast per-capability probe for use during training (every `eval.probe_every` steps), so forgetting of
 * one capability while another improves shows as it happens. Two cheap measurements, no generation:
 *
 * - probeLoss: mean next-token cross-entropy over the response tokens (the assistant's part, as SFT's loss
 *   mask has it) of a fixed probe subset per capability, token-weighted across batches.
 * - probeAccuracy: multiple-choice accuracy by log-likelihood (lm-evaluation-harness's `acc`) on the probe
 *   examples that have options (the domain questions), each question's context computed once.
 *
 * The probe subset is fixed for a run: `selectProbeSet` draws it once from the validation split, seeded.
 */
import { makeLmBatch } from '../model/llama';
import type { Capability } from '../core/stage';
import { builtinChatFormat, type ChatFormat } from '../core/chat';
import type { SynthExample } from '../core/example';
import { chatEncoding, domainQuestion, listsOptions, scoreMultipleChoice, selectItems, type EvalModel, type EvalTokenizer } from './suites';

/** The model a probe measures: a backend and the adapter slot under training (absent: the base model). */
export type ProbeModel = Pick<EvalModel, 'compute' | 'adapters'>;

export type ExamplesByCapability = Partial<Record<Capability, readonly SynthExample[]>>;

export interface ProbeOptions {
  /** Rows per forward pass. */
  batchRows: number;
  /** Longest sequence fed (default: the model's context length); longer examples keep the start of the response. */
  maxLen?: number;
  /** The model's chat format, as SFT trains in it (default: the built-in one). */
  chat?: ChatFormat;
}

/** probe_size examples per capability, a seeded sample of `examples` (normally the validation split). */
export function selectProbeSet(examples: readonly SynthExample[], size: number, seed: number): Record<Capability, SynthExample[]> {
  const out = { domain: [], reasoning: [], instruction: [], integration: [] } as Record<Capability, SynthExample[]>;
  for (const c of Object.keys(out) as Capability[]) out[c] = selectItems(examples.filter((e) => e.capability === c), size, seed, `probe:${c}`);
  return out;
}

/** Prompt and response tokens of one example in the chat format, cut to maxLen + 1 tokens (the prompt's tail kept first). */
function tokenize(tok: EvalTokenizer, ex: SynthExample, maxLen: number, chat: ChatFormat): { ids: number[]; promptLength: number } {
  const prompt = tok.encode(chat.prompt(ex.prompt), chatEncoding(tok, chat));
  const response = tok.encode(chat.response(ex.prompt, ex.response), { splitSpecial: chat.splitSpecial });
  if (chat.appendEos && tok.eosId >= 0) response.push(tok.eosId);
  const keptPrompt = prompt.slice(-Math.max(1, Math.floor(maxLen / 2)));
  const ids = [...keptPrompt, ...response].slice(0, maxLen + 1);
  return { ids, promptLength: keptPrompt.length };
}

/**
 * Mean token loss (nats) on the response part, per capability present in `examples`.
 * Σ_rows Σ_{t in response} −log p(x_t | x_<t) / (number of response tokens).
 */
export async function probeLoss(model: ProbeModel, tokenizer: EvalTokenizer, examples: ExamplesByCapability, opts: ProbeOptions): Promise<Partial<Record<Capability, number>>> {
  const window = model.compute.config.max_position_embeddings;
  const maxLen = Math.min(opts.maxLen ?? window, window);
  const pad = Math.max(0, tokenizer.padId);
  const chat = opts.chat ?? builtinChatFormat(tokenizer);
  const out: Partial<Record<Capability, number>> = {};
  for (const [cap, list] of Object.entries(examples) as [Capability, readonly SynthExample[]][]) {
    if (!list?.length) continue;
    const rows = list.map((e) => tokenize(tokenizer, e, maxLen, chat));
    let sum = 0;
    let tokens = 0;
    for (let s = 0; s < rows.length; s += Math.max(1, opts.batchRows)) {
      const chunk = rows.slice(s, s + Math.max(1, opts.batchRows));
      const T = Math.max(...chunk.map((r) => r.ids.length)) - 1;
      const padded = chunk.map((r) => [...r.ids, ...new Array<number>(T + 1 - r.ids.length).fill(pad)]);
      const mask = new Float32Array(chunk.length * T); // [B, T]: 1 where the target is a response token
      let n = 0;
      chunk.forEach((r, b) => {
        for (let t = Math.max(0, r.promptLength - 1); t < r.ids.length - 1; t++) {
          mask[b * T + t] = 1;
          n++;
        }
      });
      if (!n) continue;
      const batch = makeLmBatch(padded, mask); // weights = mask / n
      const mean = await model.compute.loss(batch, model.adapters ? { adapters: model.adapters } : {});
      sum += mean * n;
      tokens += n;
    }
    if (tokens) out[cap] = sum / tokens;
  }
  return out;
}

/** Multiple-choice accuracy by log-likelihood on the examples with options, per capability that has any. */
export async function probeAccuracy(model: ProbeModel, tokenizer: EvalTokenizer, examples: ExamplesByCapability, chat: ChatFormat = builtinChatFormat(tokenizer)): Promise<Partial<Record<Capability, number>>> {
  const out: Partial<Record<Capability, number>> = {};
  for (const [cap, list] of Object.entries(examples) as [Capability, readonly SynthExample[]][]) {
    const mc = (list ?? []).filter((e) => e.options?.length && e.answerLabel);
    if (!mc.length) continue;
    const qs = mc.map((e) => domainQuestion(e, chat));
    const picks = await scoreMultipleChoice(model, tokenizer, qs, chatEncoding(tokenizer, chat));
    // cloze items (no options in the prompt) by log-likelihood per byte, not the raw sum that favours short
    // terms; the evaluate stage's calibrated (PMI) pick needs a second pass the probe does not spend
    out[cap] = picks.filter((d, i) => (listsOptions(mc[i]!) ? d.pick : d.pickNorm) === qs[i]!.gold).length / qs.length;
  }
  return out;
}
