/**
 * The `synthesize` pipeline stage: load the experiment's ontologies, run MKGSG, and write
 * train/val/test.jsonl and dataset-card.json into the run's dataset folder, each atomically
 * (temp file + rename) so a crash never leaves a half-written split under its final name.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Experiment } from '../../schemas/generated/experiment';
import { loadExperimentOntology } from '../ontology/experiment';
import type { Ontology } from '../ontology/types';
import type { StageContext, StageDef, StageResult } from '../core/stage';
import { CAPABILITIES, stageSeed } from '../core/stage';
import { combineWithUserData, loadUserData } from './real-data';
import { DATASET_FILES, toJsonl } from '../core/dataset';
import { BbioError } from '../util/errors';
import type { SynthOptions, SynthResult } from './index';
import { synthesize } from './index';
import type { Split } from '../core/example';
import type { RejectReason } from './types';
import { SPLITS } from '../core/example';
import { buildKnowledgeCorpus, KNOWLEDGE_FILE } from './corpus';
import { buildSynthGraph } from './graph';
import { makeRng } from '../util/rng';

/**
 * Sentences per knowledge passage: about 12 short sentences of ~15 tokens fit bio-tiny's 256-token context
 * with room for the opening, so a passage is rarely cut by window packing.
 */
const KNOWLEDGE_MAX_FACTS = 12;

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data, 'utf8');
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new BbioError('E_IO', `cannot write ${file}: ${(e as Error).message}`, { file }, undefined, { cause: e });
  }
}

/** Writes the three splits and the card; returns the absolute paths written. */
export async function writeDataset(dir: string, result: SynthResult): Promise<Record<Split | 'card', string>> {
  await mkdir(dir, { recursive: true });
  const files = Object.fromEntries(Object.entries(DATASET_FILES).map(([k, f]) => [k, path.join(dir, f)])) as Record<Split | 'card', string>;
  for (const s of SPLITS) await writeAtomic(files[s], toJsonl(result[s]));
  await writeAtomic(files.card, JSON.stringify(result.card, null, 2) + '\n');
  return files;
}

/** Synthesize and write, shared by the stage and `balancedbio synth`; `combine` adds user data first. */
export async function synthesizeToDir(ont: Ontology, cfg: Experiment['synthesis'], dir: string, opts: SynthOptions, combine?: (r: SynthResult) => SynthResult): Promise<{ result: SynthResult; files: Record<Split | 'card', string>; examplesPerS: number }> {
  const t0 = performance.now();
  const synthetic = await synthesize(ont, cfg, opts);
  const seconds = Math.max((performance.now() - t0) / 1000, 1e-6);
  const result = combine ? combine(synthetic) : synthetic;
  const files = await writeDataset(dir, result);
  return { result, files, examplesPerS: result.card.totals.total / seconds };
}

async function runSynthesize(ctx: StageContext): Promise<StageResult> {
  const { events } = ctx;
  events.emit({ kind: 'phase', stage: 'synthesize', status: 'progress', message: 'loading ontology' });
  const ont = await loadExperimentOntology(ctx.config, ctx.experimentFile);
  const cfg = ctx.config.synthesis;
  // data.mode real/mixed and data.test: the user's JSONL records replace or join MKGSG's (engine/synth/real-data.ts)
  // (configs built in code before the data section existed have none)
  const userFiles = ctx.config.data ? await loadUserData(ctx.config.data, ctx.experimentFile) : [];
  const combine = userFiles.length ? (r: SynthResult): SynthResult => combineWithUserData(r, ctx.config.data, userFiles) : undefined;
  const { result, files, examplesPerS } = await synthesizeToDir(ont, cfg, ctx.paths.dataset, {
    seed: ctx.seed,
    log: ctx.log,
    signal: ctx.signal,
    onProgress: (p) => events.emit({ kind: 'phase', stage: 'synthesize', status: 'progress', step: p.done, total: p.total, message: p.capability ? `${p.phase} ${p.capability}` : p.phase }),
  }, combine);
  for (const f of userFiles) ctx.log.info(`data: ${f.records.length} ${f.spec.format} records from ${f.spec.path} → ${f.split} (${f.spec.capability})`);
  const card = result.card;
  for (const c of CAPABILITIES) {
    events.metric('synth/examples_total', card.counts[c].total, { labels: { capability: c } });
    for (const [reason, n] of Object.entries(card.rejectedByCapability[c]) as [RejectReason, number][]) {
      events.metric('synth/rejected_total', n, { labels: { capability: c, reason } });
    }
  }
  events.metric('synth/examples_per_s', examplesPerS);
  for (const s of SPLITS) {
    events.emit({ kind: 'artifact', stage: 'synthesize', path: path.relative(ctx.runDir, files[s]), type: 'dataset', description: `${s} split: ${card.totals[s]} examples` });
  }
  events.emit({ kind: 'artifact', stage: 'synthesize', path: path.relative(ctx.runDir, files.card), type: 'dataset_card', description: 'dataset card: counts, capacity, reject reasons' });
  // the pretraining knowledge corpus: every entity of the graph, in prose (corpus.ts)
  // pretrain.seed pins the base model, its corpus included (pipeline.ts stageSeedOf); unset, it follows this stage's seed
  const corpusSeed = ctx.config.pretrain.seed !== undefined ? stageSeed(ctx.config.pretrain.seed, 'synthesize') : ctx.seed;
  const corpus = buildKnowledgeCorpus(buildSynthGraph(ont), makeRng(corpusSeed).fork('knowledge-corpus'), { passages: ctx.config.pretrain.knowledge_passages, maxFacts: KNOWLEDGE_MAX_FACTS });
  const corpusFile = path.join(ctx.paths.dataset, KNOWLEDGE_FILE);
  await writeAtomic(corpusFile, toJsonl(corpus));
  events.emit({ kind: 'artifact', stage: 'synthesize', path: path.relative(ctx.runDir, corpusFile), type: 'dataset', description: `knowledge corpus for pretraining: ${corpus.length} passages over every ontology entity` });
  const rejected = Object.values(card.rejected).reduce((a, b) => a + (b ?? 0), 0);
  ctx.log.info(`synthesized ${card.totals.total} examples (train ${card.totals.train}, val ${card.totals.val}, test ${card.totals.test}); rejected ${rejected}`);
  return {
    summary: { examples: card.totals.total, train: card.totals.train, val: card.totals.val, test: card.totals.test, rejected, examples_per_s: Math.round(examplesPerS) },
  };
}

export const synthesizeStage: StageDef = {
  name: 'synthesize',
  title: 'Generate knowledge-grounded examples per capability (MKGSG), validated against the ontology',
  run: runSynthesize,
};
