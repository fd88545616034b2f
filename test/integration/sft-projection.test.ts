import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { EngineEvent } from '../../schemas/generated/events';
import { runTinyPipeline, TINY_GRAPH, TINY_SYNTHESIS, tinyModel, writeTinyExperiment } from '../helpers/tiny-experiment';

type Metric = Extract<EngineEvent, { kind: 'metric' }>;

/** A tiny end-to-end run (fixture graph, 1-layer model) with the given sft settings. */
async function runWith(t: import('node:test').TestContext, sft: string, lora = ''): Promise<{ events: EngineEvent[]; runDir: string }> {
  const { file } = await writeTinyExperiment(t, [
    'name: projection', 'seed: 3', 'stages: [synthesize, pretrain, sft]', TINY_GRAPH, TINY_SYNTHESIS, tinyModel(96),
    'pretrain: { steps: 12, batch_size: 4, warmup_steps: 1, checkpoint_every: 12 }',
    `lora: { rank: 2, alpha: 4, dropout: 0, target_modules: [q_proj, v_proj, up_proj]${lora} }`,
    `sft: { steps: 6, batch_per_capability: 2, interference_every: 3, checkpoint_every: 3, schedule: { warmup_steps: 1 }, ${sft} }`,
  ]);
  return runTinyPipeline(file);
}

const metrics = (events: EngineEvent[], name: string): Metric[] => events.filter((e): e is Metric => e.kind === 'metric' && e.name === name);

test('projection none: the projected cosines equal the raw ones', async (t) => {
  const { events, runDir } = await runWith(t, 'projection: none');
  const raw = metrics(events, 'sft/cosine_raw');
  const proj = metrics(events, 'sft/cosine_projected');
  assert.equal(raw.length, 6 * 6, 'six pairs of four capabilities, every step');
  raw.forEach((r, i) => assert.ok(Math.abs(r.value - proj[i]!.value) < 1e-6));
  const inter = events.filter((e) => e.kind === 'record' && e.type === 'interference');
  assert.equal(inter.length, 2);
  assert.equal(((inter[0] as Extract<EngineEvent, { kind: 'record' }>).data as { matrix: number[][] }).matrix.length, 4);
  assert.equal(metrics(events, 'sft/interference').length, 2 * 16);
  // to first order a step along a capability's own gradient lowers its own held-out loss: the diagonal is progress
  const diag = metrics(events, 'sft/interference').filter((m) => m.labels?.capability === m.labels?.other);
  assert.ok(diag.filter((m) => m.value < 0).length >= 0.75 * diag.length, `own-step changes ${JSON.stringify(diag.map((m) => m.value))}`);
  const probe = metrics(events, 'probe/loss');
  assert.ok(probe.length >= 1 && probe.every((p) => p.labels?.stage === 'sft' && Number.isFinite(p.value)), 'held-out probe curves per capability');
  const val = (await readFile(path.join(runDir, 'artifacts/data/val.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { capability: string; options?: unknown[] });
  const withMc = new Set(val.filter((e) => e.options?.length).map((e) => e.capability));
  assert.deepEqual(new Set(metrics(events, 'probe/accuracy').map((p) => p.labels?.capability)), withMc, 'multiple-choice probe accuracy for each capability that has such held-out items');
});

test('projection pcgrad: conflicting pairs move toward agreement; seeded runs are identical', async (t) => {
  const a = await runWith(t, 'projection: pcgrad');
  const raw = metrics(a.events, 'sft/cosine_raw');
  const proj = metrics(a.events, 'sft/cosine_projected');
  const conflicting = raw.map((r, i) => [r.value, proj[i]!.value] as const).filter(([r]) => r < 0);
  assert.ok(conflicting.length > 0, 'the fixture produces gradient conflicts');
  // With two capabilities PCGrad makes a conflicting pair's cosine ≥ 0 exactly; with four, projecting each
  // against the others in random order only pulls conflicting pairs toward agreement on the whole.
  const improved = conflicting.filter(([r, p]) => p > r).length;
  assert.ok(improved >= 0.75 * conflicting.length, `${improved} of ${conflicting.length} conflicting pairs improved`);
  assert.ok(conflicting.reduce((s, [r, p]) => s + (p - r), 0) > 0);
  const b = await runWith(t, 'projection: pcgrad');
  assert.deepEqual(metrics(b.events, 'sft/cosine_projected').map((m) => m.value), proj.map((m) => m.value));
  assert.deepEqual(metrics(b.events, 'sft/loss').map((m) => m.value), metrics(a.events, 'sft/loss').map((m) => m.value));
});

test('projection subspace: the kept dimension is logged per capability', async (t) => {
  const { events } = await runWith(t, 'projection: subspace, subspace: { window: 4, refresh_every: 2, energy: 0.9, max_rank: 3 }');
  const dims = metrics(events, 'sft/subspace_dim');
  assert.ok(dims.length >= 4);
  assert.ok(dims.every((d) => d.value >= 0 && d.value <= 3));
  assert.ok(dims.some((d) => d.value > 0));
});

test('projection olora: one adapter per capability and the orthogonality penalty', async (t) => {
  const { events, runDir } = await runWith(t, 'projection: olora, olora: { lambda: 0.5 }', ', adapters: per_capability');
  const pen = metrics(events, 'sft/olora_penalty');
  assert.equal(pen.length, 6);
  assert.ok(pen.every((p) => Number.isFinite(p.value) && p.value >= 0));
  const manifest = JSON.parse(await readFile(path.join(runDir, 'artifacts/sft-adapter/adapters.json'), 'utf8')) as { adapters: string[] };
  assert.deepEqual(manifest.adapters.sort(), ['domain', 'instruction', 'integration', 'reasoning']);
  const adapterCfg = JSON.parse(await readFile(path.join(runDir, 'artifacts/sft-adapter/domain/adapter_config.json'), 'utf8')) as { peft_type: string; r: number };
  assert.deepEqual([adapterCfg.peft_type, adapterCfg.r], ['LORA', 2]);
});
