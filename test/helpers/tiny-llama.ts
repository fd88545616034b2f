import { normalizeConfig, type LlamaConfig } from '../../engine/model/llama';

/**
 * The tiny Llama configs tests build models from (hundreds of parameters: a forward pass takes
 * milliseconds on wasm). A test passes only what it exercises (vocabulary, depth, heads, context,
 * special tokens); the rest are these small defaults. Goes through normalizeConfig like a config.json.
 */
export function tinyLlamaConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return normalizeConfig({
    model_type: 'llama', vocab_size: 11, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1,
    num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 16, ...over,
  });
}
