import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Experiment } from '../../../schemas/generated/experiment';
import type { EventInput, StageContext } from '../../../engine/core/stage';
import { OUTPUT_PATHS } from '../../../engine/core/stage';
import { runSynthCommand } from '../../../engine/cli/commands/synth';
import { synthesizeStage } from '../../../engine/synth/synth-stage';
import type { SynthExample } from '../../../engine/core/example';
import { silentLogger } from '../../../engine/util/log';
import { FIXTURE, synthConfig } from './fixture';
import { defaultExperiment } from '../../../engine/config/schema-validator';

function fakeContext(runDir: string, events: EventInput[]): StageContext {
  const config = {
    name: 'stage-test',
    seed: 0,
    ontology: { builtin: false, sources: [{ path: path.relative(runDir, FIXTURE) }], subsets: [] },
    synthesis: synthConfig({ examples: { domain: 30, reasoning: 20, instruction: 20, integration: 10 } }),
    pretrain: defaultExperiment().pretrain,
  } as unknown as Experiment;
  const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, p]) => [k, path.join(runDir, p)])) as StageContext['paths'];
  return {
    config,
    experimentFile: path.join(runDir, 'exp.bbio.yaml'),
    runId: 'test-run',
    runDir,
    paths,
    checkpointDir: path.join(runDir, 'checkpoints/synthesize'),
    events: {
      emit: (e) => events.push(e),
      metric: (name, value, opts) => events.push({ kind: 'metric', name, value, ...(opts?.labels ? { labels: opts.labels } : {}) }),
    },
    log: silentLogger,
    signal: new AbortController().signal,
    stepsScale: 1,
    seed: 42,
    resume: false,
    updateManifest: async () => {}, note: async () => {},
  };
}

test('synthesize stage writes the splits and the card atomically and emits metrics and artifacts', async () => {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'bbio-synth-'));
  try {
    const events: EventInput[] = [];
    const res = await synthesizeStage.run(fakeContext(runDir, events));
    assert.equal(synthesizeStage.name, 'synthesize');
    assert.equal(res.summary['examples'], 80);
    const dir = path.join(runDir, OUTPUT_PATHS.dataset);
    assert.deepEqual((await readdir(dir)).sort(), ['dataset-card.json', 'knowledge.jsonl', 'test.jsonl', 'train.jsonl', 'val.jsonl']);
    let lines = 0;
    for (const s of ['train', 'val', 'test']) {
      const text = await readFile(path.join(dir, `${s}.jsonl`), 'utf8');
      for (const line of text.split('\n').filter(Boolean)) {
        const ex = JSON.parse(line) as SynthExample;
        assert.equal(ex.split, s);
        assert.ok(ex.provenance.entities.length > 0 && ex.text.includes(ex.response));
        lines++;
      }
    }
    assert.equal(lines, 80);
    const card = JSON.parse(await readFile(path.join(dir, 'dataset-card.json'), 'utf8')) as { totals: { total: number } };
    assert.equal(card.totals.total, 80);
    const metrics = events.filter((e) => e.kind === 'metric');
    for (const m of metrics) assert.ok(m.kind === 'metric' && ['synth/examples_total', 'synth/rejected_total', 'synth/examples_per_s'].includes(m.name));
    assert.ok(metrics.some((m) => m.kind === 'metric' && m.name === 'synth/examples_per_s'));
    assert.equal(metrics.filter((m) => m.kind === 'metric' && m.name === 'synth/examples_total').length, 4);
    const artifacts = events.filter((e) => e.kind === 'artifact');
    assert.deepEqual(artifacts.map((a) => a.kind === 'artifact' && a.path).sort(), ['artifacts/data/dataset-card.json', 'artifacts/data/knowledge.jsonl', 'artifacts/data/test.jsonl', 'artifacts/data/train.jsonl', 'artifacts/data/val.jsonl']);
    assert.ok(events.some((e) => e.kind === 'phase' && e.status === 'progress'));
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});

test('balancedbio synth FILE: writes the dataset; a shortfall exits 1 with the numbers', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bbio-synth-cmd-'));
  try {
    const yaml = (n: number): string =>
      [
        'name: synth-cmd',
        'stages: [synthesize]',
        'ontology:',
        '  builtin: false',
        '  sources:',
        `    - path: ${JSON.stringify(path.relative(dir, FIXTURE))}`,
        'synthesis:',
        `  examples: { domain: 20, reasoning: ${n}, instruction: 10, integration: 5 }`,
        '',
      ].join('\n');
    await writeFile(path.join(dir, 'ok.bbio.yaml'), yaml(10));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    // the temp folder is the workspace; the ontology fixture in the repository is allowed explicitly
    const paths = { workspace: [dir], allowed: [path.dirname(FIXTURE)] };
    const code = await runSynthCommand({ file: path.join(dir, 'ok.bbio.yaml'), json: true, paths }, io);
    assert.equal(code, 0, err.join('\n'));
    const report = JSON.parse(out[0]!) as { out: string; card: { totals: { total: number } } };
    assert.equal(report.card.totals.total, 45);
    assert.deepEqual((await readdir(report.out)).sort(), ['dataset-card.json', 'test.jsonl', 'train.jsonl', 'val.jsonl']);

    await writeFile(path.join(dir, 'big.bbio.yaml'), yaml(5000));
    err.length = 0;
    assert.equal(await runSynthCommand({ file: path.join(dir, 'big.bbio.yaml'), json: false, paths }, io), 1);
    assert.match(err.join('\n'), /E_SYNTH_SHORTFALL asked for 5,000 reasoning examples, graph supports \d+ unique chains/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
