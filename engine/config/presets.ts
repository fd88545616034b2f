/**
 * The built-in model presets as `model.dims` values. A preset only supplies the dimensions the experiment
 * leaves unset; the schema's defaults (bio-tiny's) fill the rest, so bio-tiny's entry is empty and its
 * numbers live once, in schemas/experiment.schema.json.
 */
import type { Experiment, ExperimentInput } from '../../schemas/generated/experiment';

type Preset = Experiment['model']['preset'];
type Dims = Partial<Experiment['model']['dims']>;

export const PRESET_DIMS: Record<Preset, Dims> = {
  // d 128, 4 layers, vocabulary 1,024: about 0.9 M parameters (the schema defaults)
  'bio-tiny': {},
  // Between bio-tiny and the benches' M (d 256, vocabulary 2,048; bench/engine.ts): about 2.3 M parameters.
  // d 192 with 6 heads keeps bio-tiny's head dimension 32; intermediate 512 ≈ 8/3·d, the SwiGLU width of
  // Llama; vocabulary 2,048 cuts the tokens per clinical sentence (fewer steps per fact) at ~0.4 M
  // embedding parameters (tied with the output projection).
  'bio-small': { vocab_size: 2048, hidden_size: 192, heads: 6, kv_heads: 2, intermediate_size: 512 },
};

/** `input` with its preset's dimensions under every `model.dims` key it does not set (a copy). */
export function withPresetDims(input: ExperimentInput): ExperimentInput {
  const model = input.model;
  if (!model?.preset || model.path !== undefined || model.hub !== undefined) return input;
  const fill = PRESET_DIMS[model.preset];
  if (!Object.keys(fill).length) return input;
  return { ...input, model: { ...model, dims: { ...fill, ...model.dims } } };
}
