/**
 * MKGSG record and pipeline types. One `SynthExample` is one JSONL line of train/val/test.jsonl.
 * Field meanings are the dataset format that pretraining, SFT, GRPO rewards and evaluation read.
 */
import type { Experiment } from '../../schemas/generated/experiment';
import type { Capability } from '../run/types';
import type { Edge } from '../ontology/types';
import type { Constraint } from './constraints';

export type SynthConfig = Experiment['synthesis'];
export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];

/** Clinical workflow stages in the order a clinician meets them (DESIGN.md, MKGSG). */
export type WorkflowStage = 'presentation' | 'differential' | 'test' | 'diagnosis' | 'treatment';
export const WORKFLOW_ORDER: readonly WorkflowStage[] = ['presentation', 'differential', 'test', 'diagnosis', 'treatment'];

export interface McOption {
  label: 'A' | 'B' | 'C' | 'D';
  text: string;
  /** Ontology id of the option's entity (validation re-checks distractors against the graph). */
  id: string;
}

/** One reasoning step: one ontology edge, stated in words. */
export interface ReasoningStep {
  n: number;
  text: string;
  edge: Edge;
  /** Workflow stage the step belongs to, where the chain is clinical. */
  stage?: WorkflowStage;
}

/**
 * The structured clinical content of a vignette or treatment chain, so workflow rules can be checked
 * without parsing prose. All values are ontology ids.
 */
export interface ClinicalFacts {
  findings: string[];
  differential: string[];
  test?: string;
  diagnosis?: string;
  comorbidities: string[];
  treatments: string[];
  /** Workflow stages in the order the response presents them. */
  order: WorkflowStage[];
}

/**
 * What an MC question asks, so validation can decide independently which options are true:
 * `relation(subject, option)` when `inverse` is false, `relation(option, subject)` when true.
 */
/** `McQuery.relation` for "which term matches this definition" questions (no edge; compares `def`). */
export const DEFINITION_QUERY = 'definition';

export interface McQuery {
  subject: string;
  relation: string;
  inverse: boolean;
}

export interface Provenance {
  /** Every ontology id the example mentions. */
  entities: string[];
  /** Every edge the example states or relies on. */
  edges: Edge[];
  /** The entity the example is about; the split is decided by it. */
  central: string;
  /** Ontology ids of the gold answer (one for MC and chains; diagnosis then treatment for vignettes). */
  answerIds: string[];
  /** Present for multiple-choice questions. */
  query?: McQuery;
}

export interface SynthExample {
  id: string;
  capability: Capability;
  specialty?: string;
  prompt: string;
  response: string;
  /** Full training text: `formatChat(prompt, response)` (see text.ts). */
  text: string;
  /** Gold answer for scoring: the MC option text, the chain's final answer, or `diagnosis; treatment`. */
  answer: string;
  /** Every answer the graph also accepts (e.g. another first-line drug); includes `answer`. */
  accept?: string[];
  options?: McOption[];
  answerLabel?: McOption['label'];
  steps?: ReasoningStep[];
  constraints?: Constraint[];
  clinical?: ClinicalFacts;
  provenance: Provenance;
  /** Template id, `<capability>/<fact type>/<index>`. */
  template: string;
  split: Split;
}

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
