/**
 * The contract between the pipeline runner and its stages. A stage is a plain async function registered
 * in one table (engine/cli/stages.ts); it declares what it needs and what it produces so the runner can
 * check dependencies before anything runs and skip finished stages on resume.
 */
import type { Experiment } from '../../schemas/generated/experiment';
import type { EngineEvent, MetricName } from '../../schemas/generated/events';
import type { StageName } from '../../schemas/generated/vocabulary';
import type { Logger } from '../util/log';
import { makeRng } from '../util/rng';

// The stage names and capabilities are the schema's enums (schemas/generated/vocabulary.ts), one list for
// the engine, the language server and the editor.
export { CAPABILITIES, STAGE_ORDER, type Capability, type StageName } from '../../schemas/generated/vocabulary';

/**
 * Named outputs that flow between stages. Each maps to a fixed path inside the run folder
 * (see OUTPUT_PATHS) so a resumed run, the CLI and the editor all find them without a lookup table.
 */
export type StageOutput = 'dataset' | 'base_model' | 'sft_adapter' | 'grpo_adapter' | 'report';

export const OUTPUT_PATHS: Record<StageOutput, string> = {
  /** train.jsonl, val.jsonl, test.jsonl, dataset-card.json */
  dataset: 'artifacts/data',
  /** Hugging Face checkpoint dir: config.json, model.safetensors, tokenizer.json */
  base_model: 'artifacts/base-model',
  /** PEFT adapter dir: adapter_config.json, adapter_model.safetensors */
  sft_adapter: 'artifacts/sft-adapter',
  grpo_adapter: 'artifacts/grpo-adapter',
  /** evaluation report (also copied to report.json / report.md at the run root) */
  report: 'artifacts/eval',
};

/**
 * What each stage reads and writes. The config loader checks these before anything runs (a stage whose
 * inputs no earlier stage produces is an error), and the runner uses them to skip finished stages.
 * `grpo` and `evaluate` also use `sft_adapter`/`grpo_adapter` when present; they are not hard needs.
 */
export const STAGE_IO: Record<StageName, { needs: readonly StageOutput[]; produces: readonly StageOutput[] }> = {
  synthesize: { needs: [], produces: ['dataset'] },
  pretrain: { needs: ['dataset'], produces: ['base_model'] },
  sft: { needs: ['dataset', 'base_model'], produces: ['sft_adapter'] },
  grpo: { needs: ['dataset', 'base_model'], produces: ['grpo_adapter'] },
  evaluate: { needs: ['dataset', 'base_model'], produces: ['report'] },
};

/** Distributive Omit, so each member of the EngineEvent union keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before the runner stamps it with v, t and runId. */
export type EventInput = DistributiveOmit<EngineEvent, 'v' | 't' | 'runId'>;

/** Where a stage sends events: the run's events.jsonl, the engine's stdout and any subscriber. */
export interface EventSink {
  emit(event: EventInput): void;
  /** Shorthand for a metric event. */
  metric(name: MetricName, value: number, opts?: { step?: number; labels?: Record<string, string> }): void;
}

export interface StageContext {
  /** Fully resolved experiment (defaults applied). */
  config: Experiment;
  /** Absolute path of the experiment file; relative paths in the config resolve against its folder. */
  experimentFile: string;
  runId: string;
  /** Absolute path of the run folder. */
  runDir: string;
  /** Absolute paths of this stage's inputs and outputs (OUTPUT_PATHS resolved against runDir). */
  paths: Record<StageOutput, string>;
  /** Absolute path of this stage's checkpoint folder (runDir/checkpoints/<stage>). */
  checkpointDir: string;
  events: EventSink;
  log: Logger;
  /** Aborted on SIGTERM/SIGINT or a cancel request: write a checkpoint, then throw BbioError('E_CANCELLED'). */
  signal: AbortSignal;
  /** Multiplies every step/example count (CLI --steps-scale), for quick runs. */
  stepsScale: number;
  /** Seed for this stage, derived from config.seed and the stage name. */
  seed: number;
  /** True when this stage is being continued from its checkpoint in a resumed run. */
  resume: boolean;
  /** Merges facts into manifest.json (e.g. the backend a model stage chose). */
  updateManifest(patch: Record<string, unknown>): Promise<void>;
  /** Adds a remark to this stage's entry in state.json (e.g. that resume fell back to an older checkpoint). */
  note(message: string): Promise<void>;
}

export interface StageResult {
  /** Headline numbers shown by `runs show` and the editor's code lens (e.g. { 'loss': 1.23 }). */
  summary: Record<string, number>;
}

export interface StageDef {
  name: StageName;
  /** One line, shown in `--help` and the runs view. */
  title: string;
  run(ctx: StageContext): Promise<StageResult>;
  /**
   * What the stage's result depends on, for the stage cache (engine/run/stage-cache.ts): the config blocks it
   * reads, its seed, --steps-scale and digests of its input files. Absent: never cached. Everything the stage
   * reads must be in it, since a setting left out would let a run reuse a result that it should not.
   */
  cacheKey?(ctx: StageContext): Promise<Record<string, unknown>>;
  /**
   * What a run reusing this stage from the cache does not take over: metrics and summary numbers the training run
   * measured on its own data that the key leaves out (pretrain's validation loss on its own val.jsonl).
   */
  notReused?: { metrics: string[]; summary: string[] };
}

/** Stage seed: derived from the master seed and the stage name, so adding a stage never shifts another's. */
export function stageSeed(master: number, stage: StageName): number {
  return makeRng(`${master}:${stage}`).int(2 ** 31 - 1);
}

/** The seed a stage runs with: stageSeed of the experiment's seed, but pretrain's of pretrain.seed when that is set. */
export function stageSeedOf(config: Pick<Experiment, 'seed' | 'pretrain'>, stage: StageName): number {
  return stage === 'pretrain' && config.pretrain.seed !== undefined ? stageSeed(config.pretrain.seed, stage) : stageSeed(config.seed, stage);
}
