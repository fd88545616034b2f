import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { EngineEvent } from '../../schemas/generated/events';
import { loadExperiment } from '../../engine/config/load';
import { runPipeline } from '../../engine/run/pipeline';
import { createStageTable } from '../../engine/cli/stages';
import { silentLogger } from '../../engine/util/log';
import { invalidEvents } from './events';
import { REPO, tempDir, workspaceOf } from './tmp';

/**
 * Lines every tiny test pipeline shares: MKGSG on the fixture graph (copied as mini.obo) and a 1-layer model,
 * pinned to wasm: `auto` would pick the torch worker wherever python3 imports torch (CI installs it), and
 * these tests hold the embedded backend's numbers.
 */
export const TINY_GRAPH = 'ontology: { builtin: false, sources: [{ path: mini.obo }] }';
export const TINY_SYNTHESIS = 'synthesis: { examples: { domain: 40, reasoning: 20, instruction: 20, integration: 10 }, hops: { min: 2, max: 3 } }';
export function tinyModel(contextLength: number, opts: { backend?: string } = {}): string {
  return `model: { backend: ${opts.backend ?? 'wasm'}, dims: { vocab_size: 300, hidden_size: 32, layers: 1, heads: 2, kv_heads: 1, intermediate_size: 64, context_length: ${contextLength} } }`;
}

/**
 * A temp folder with the fixture graph and `exp.bbio.yaml` made of `lines` (which usually include
 * TINY_GRAPH, TINY_SYNTHESIS and tinyModel(...)); runs land in its `runs/`. Extra files from
 * test/fixtures can be copied in beside it.
 */
export async function writeTinyExperiment(t: TestContext, lines: string[], copy: string[] = []): Promise<{ dir: string; file: string }> {
  const dir = await tempDir(t);
  await copyFile(path.join(REPO, 'test/fixtures/synth/mini-clinical.obo'), path.join(dir, 'mini.obo'));
  for (const rel of copy) await copyFile(path.join(REPO, rel), path.join(dir, path.basename(rel)));
  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, [...lines, 'output: { runs_dir: runs }'].join('\n'));
  return { dir, file };
}

/** Loads the experiment (asserting it is valid), runs it in-process, asserts it completed with schema-valid events. */
export async function runTinyPipeline(file: string): Promise<{ events: EngineEvent[]; runDir: string }> {
  const { config, problems } = await loadExperiment(file, workspaceOf(file));
  assert.deepEqual(problems, []);
  const events: EngineEvent[] = [];
  const out = await runPipeline({ config: config!, experimentFile: file, stageTable: createStageTable(), log: silentLogger, version: 'test', onEvent: (e) => events.push(e) });
  assert.equal(out.status, 'completed', out.error?.message);
  assert.deepEqual(invalidEvents(events), []);
  return { events, runDir: out.runDir };
}
