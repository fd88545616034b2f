/**
 * What a Hugging Face config.json may leave out that decides a checkpoint's sizes: the defaults of each
 * family's <Type>Config class (transformers' configuration_<type>.py). The decoder (engine/model/llama.ts)
 * fills them when it loads a checkpoint; the loader's rank check and the memory estimate (engine/config)
 * read them before any checkpoint is loaded, so the table lives below both.
 */
export interface SizeDefaults {
  /** Absent: hidden_size / num_attention_heads. */
  head_dim?: number;
  tie_word_embeddings: boolean;
}

export const SIZE_DEFAULTS: Readonly<Record<string, SizeDefaults>> = {
  llama: { tie_word_embeddings: false },
  qwen2: { tie_word_embeddings: false },
  qwen3: { head_dim: 128, tie_word_embeddings: false },
  mistral: { tie_word_embeddings: false },
  gemma2: { head_dim: 256, tie_word_embeddings: true },
  gemma3_text: { head_dim: 256, tie_word_embeddings: true },
};

/** The size defaults of a config.json's `model_type` (a Llama's for an absent or unknown type: the loader reports those). */
export function sizeDefaults(modelType: unknown): SizeDefaults {
  return (typeof modelType === 'string' ? SIZE_DEFAULTS[modelType] : undefined) ?? SIZE_DEFAULTS['llama']!;
}
