/**
 * The example type. One `SynthExample` is one JSONL line of train/val/test.jsonl, whether MKGSG made it or
 * it came from the user's data files. Field meanings are the dataset format that pretraining, SFT, GRPO
 * rewards and evaluation read.
 */
import type { Capability } from './stage';

/** A directed edge `source --relation--> target`; `is_a` edges use relation `is_a` (engine/ontology re-exports it). */
export interface Edge {
  source: string;
  relation: string;
  target: string;
}

/**
 * A verifiable format constraint in the style of IFEval (Zhou et al., 2023, arXiv:2311.07911). The closed
 * set of kinds; what each means (its instruction text and its checker) is engine/verify/constraints.ts.
 */
export type Constraint =
  | { kind: 'bullet_count'; n: number }
  | { kind: 'numbered_steps'; n: number }
  | { kind: 'required_keywords'; words: string[] }
  | { kind: 'forbidden_words'; words: string[] }
  | { kind: 'json_keys'; keys: string[]; exact: boolean }
  | { kind: 'max_words'; n: number }
  | { kind: 'min_words'; n: number }
  | { kind: 'ends_with'; phrase: string }
  | { kind: 'starts_with'; phrase: string }
  | { kind: 'no_commas' }
  | { kind: 'lowercase' }
  | { kind: 'uppercase_words_max'; n: number }
  | { kind: 'sections'; n: number; marker: string }
  | { kind: 'ordered_sections'; headings: string[] }
  | { kind: 'final_answer_line'; prefix: string }
  | { kind: 'title' };

export type ConstraintKind = Constraint['kind'];
export type ConstraintOf<K extends ConstraintKind> = Extract<Constraint, { kind: K }>;

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
