/** MKGSG's pipeline types: its config section and why it rejects an example (the record type is engine/core/example.ts). */
import type { Experiment } from '../../schemas/generated/experiment';

export type SynthConfig = Experiment['synthesis'];

/** Why an example was rejected; counted in the dataset card and the `synth/rejected_total` metric. */
export const REJECT_REASONS = [
  'unknown_entity',
  'unknown_edge',
  'wrong_answer',
  'distractor_is_answer',
  'broken_chain',
  'entity_not_mentioned',
  'constraint_unsatisfied',
  'workflow_ordering',
  'workflow_contraindication',
  'workflow_confirmatory_test',
  'duplicate',
  'near_duplicate',
  'split_leak',
  'generation_failed',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type RejectCounts = Partial<Record<RejectReason, number>>;
