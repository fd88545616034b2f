/** Config sections that configure a pipeline stage, and the stage each one configures (the stages in order: schemas/generated/vocabulary.ts). */
import type { StageName } from '../protocol';

export const SECTION_STAGES: Readonly<Record<string, StageName>> = {
  synthesis: 'synthesize',
  pretrain: 'pretrain',
  sft: 'sft',
  grpo: 'grpo',
  eval: 'evaluate',
};
