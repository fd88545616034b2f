/**
 * The stage table: every pipeline stage this build can run. A stage whose engine has not landed is absent
 * (the runner reports it as unavailable), never a stand-in that fakes results.
 */
import { openCompute, type ComputeFactory } from '../compute';
import { createEvaluateStage } from '../eval/evaluate-stage';
import { createGrpoStage } from '../rl/grpo-stage';
import { synthesizeStage } from '../synth/synth-stage';
import { createPretrainStage } from '../train/pretrain-stage';
import { createSftStage } from '../train/sft-stage';
import type { StageDef, StageName } from '../core/stage';

/** `open`: how the model stages open their backend (a run's ComputeSession.open shares one torch worker among them). */
export function createStageTable(open: ComputeFactory = openCompute): Partial<Record<StageName, StageDef>> {
  return { synthesize: synthesizeStage, pretrain: createPretrainStage(open), sft: createSftStage(open), grpo: createGrpoStage(open), evaluate: createEvaluateStage(open) };
}
