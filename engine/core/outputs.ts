/**
 * Whether a stage output is complete on disk. Each output has a marker file that its stage writes last
 * (atomically), so a folder left half-written by a killed stage never counts as done.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { StageOutput } from './stage';

export const OUTPUT_MARKERS: Record<StageOutput, string> = {
  dataset: 'dataset-card.json',
  base_model: 'model.safetensors',
  sft_adapter: 'adapters.json',
  grpo_adapter: 'adapters.json',
  report: 'report.json',
};

export async function outputExists(output: StageOutput, dir: string): Promise<boolean> {
  try {
    return (await stat(path.join(dir, OUTPUT_MARKERS[output]))).isFile();
  } catch {
    return false; // absent: the output is not there yet
  }
}
