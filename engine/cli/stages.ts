/**
 * The stage table: every pipeline stage this build can run. A stage whose engine has not landed is absent
 * (the runner reports it as unavailable), never a stand-in that fakes results.
 */
import { evaluateStage } from '../eval/evaluate-stage';
import { grpoStage } from '../rl/grpo-stage';
import { synthesizeStage } from '../synth/synth-stage';
import { pretrainStage } from '../train/pretrain-stage';
import { sftStage } from '../train/sft-stage';
import type { StageDef, StageName } from '../core/stage';

export function createStageTable(): Partial<Record<StageName, StageDef>> {
  return { synthesize: synthesizeStage, pretrain: pretrainStage, sft: sftStage, grpo: grpoStage, evaluate: evaluateStage };
}
