/**
 * Writes a small sweep folder for the editor tests: sweep.json, two variant runs (synthetic curves from
 * fixture-run.ts) and a sweep-report.json/.md in the engine's format with made-up numbers, so the Runs
 * view and the comparison's sweep table can be checked without training six models in the test.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSyntheticRun } from './fixture-run';

export const FIXTURE_SWEEP = '20200102-000000-fixture-sweep';

export async function writeFixtureSweep(runsDir: string): Promise<string> {
  const dir = path.join(runsDir, FIXTURE_SWEEP);
  const variants = [
    { name: 'projection-none_seed-1', group: 'projection-none', seed: 1, set: { 'sft.projection': 'none', seed: 1 } },
    { name: 'projection-pcgrad_seed-1', group: 'projection-pcgrad', seed: 1, set: { 'sft.projection': 'pcgrad', seed: 1 } },
  ];
  const entries = [];
  for (const [i, v] of variants.entries()) {
    const runId = `2020010${2 + i}-00000${i}-fixture`;
    await mkdir(path.join(dir, v.name), { recursive: true });
    await writeSyntheticRun(path.join(dir, v.name), { runId, points: 200 });
    entries.push({ ...v, groupKey: JSON.stringify({ 'sft.projection': v.set['sft.projection'] }), status: 'completed', attempts: 1, runDir: `${v.name}/${runId}` });
  }
  const iso = new Date(Date.UTC(2020, 0, 2)).toISOString();
  await writeFile(path.join(dir, 'sweep.json'), JSON.stringify({ version: 1, sweepId: FIXTURE_SWEEP, name: 'fixture', experimentFile: path.join(runsDir, '..', 'experiments', 'smoke.bbio.yaml'), status: 'completed', createdAt: iso, updatedAt: iso, parallel: 1, stepsScale: 1, variants: entries }, null, 2));
  const cell = (mean: number, sd: number, vs: unknown = null) => ({ summary: { mean, sd, n: 1, values: [mean] }, vsFirst: vs });
  const rows = [
    { label: 'projection-none', groupKey: '{"sft.projection":"none"}', variants: [variants[0]!.name], seeds: [1], scored: 1, capabilities: { domain: cell(0.25, 0), reasoning: cell(0.1, 0) }, balance: cell(0.4, 0), interference: cell(0.012, 0), models: ['sft'] },
    { label: 'projection-pcgrad', groupKey: '{"sft.projection":"pcgrad"}', variants: [variants[1]!.name], seeds: [1], scored: 1, capabilities: { domain: cell(0.3125, 0, { n: 6, pRaw: 0.01, p: 0.04, meanDiff: 0.0625, mark: '*' }), reasoning: cell(0.125, 0) }, balance: cell(0.4, 0), interference: cell(-0.003, 0), models: ['sft'] },
  ];
  await writeFile(path.join(dir, 'sweep-report.json'), JSON.stringify({ version: 1, sweepId: FIXTURE_SWEEP, name: 'fixture', createdAt: iso, test: 'fixture numbers, not a test', rows }, null, 2));
  await writeFile(path.join(dir, 'sweep-report.md'), `# Sweep report — ${FIXTURE_SWEEP}\n\nFixture numbers for the editor tests.\n`);
  return dir;
}

export const FIXTURE_SLURM_SWEEP = '20200103-000000-fixture-slurm';

/**
 * A sweep handed to Slurm as one array job, caught mid-way: task 0 completed on node01, task 1 running on
 * node02 (its run written from that node: its writer is on another host, so it shows as running, not as
 * interrupted), task 2 still pending for resources with no run folder yet. The Slurm records are what the
 * submitting process writes into sweep.json from squeue/sacct (engine/slurm/state.ts).
 */
export async function writeFixtureSlurmSweep(runsDir: string): Promise<string> {
  const dir = path.join(runsDir, FIXTURE_SLURM_SWEEP);
  const names = ['projection-none_seed-1', 'projection-pcgrad_seed-1', 'projection-subspace_seed-1'];
  const slurm = [
    { jobId: '4242', taskId: 0, state: 'COMPLETED', node: 'node01' },
    { jobId: '4242', taskId: 1, state: 'RUNNING', node: 'node02' },
    { jobId: '4242', taskId: 2, state: 'PENDING', reason: 'Resources' },
  ];
  const entries = [];
  for (const [i, name] of names.entries()) {
    const projection = name.split('_')[0]!.replace('projection-', '');
    const base = { name, group: `projection-${projection}`, seed: 1, set: { 'sft.projection': projection, seed: 1 }, groupKey: JSON.stringify({ 'sft.projection': projection }), slurm: slurm[i] };
    if (i === 2) {
      entries.push({ ...base, status: 'pending', attempts: 0 });
      continue;
    }
    const runId = `2020010${3 + i}-00000${i}-slurm-fixture`;
    await mkdir(path.join(dir, name), { recursive: true });
    const runDir = await writeSyntheticRun(path.join(dir, name), { runId, points: 100 });
    if (i === 1) {
      const statePath = path.join(runDir, 'state.json');
      const state = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, unknown>;
      await writeFile(statePath, JSON.stringify({ ...state, status: 'running', writer: { pid: 4242, host: 'node02' }, stages: { sft: { status: 'running', attempts: 1 } } }, null, 2));
    }
    entries.push({ ...base, status: i === 0 ? 'completed' : 'running', attempts: 1, runDir: `${name}/${runId}` });
  }
  const iso = new Date(Date.UTC(2020, 0, 3)).toISOString();
  await writeFile(
    path.join(dir, 'sweep.json'),
    JSON.stringify({ version: 1, sweepId: FIXTURE_SLURM_SWEEP, name: 'fixture-slurm', experimentFile: path.join(runsDir, '..', 'experiments', 'smoke.bbio.yaml'), status: 'running', executor: 'slurm', createdAt: iso, updatedAt: iso, parallel: 2, stepsScale: 1, variants: entries }, null, 2),
  );
  return dir;
}

export const FIXTURE_SCALING_SWEEP = '20200104-000000-fixture-scaling';

/**
 * A scaling-study sweep (projection × SFT steps) in the engine's report format with made-up means, for the
 * comparison's scaling curves: one chart per capability, a series per projection, steps on the x axis.
 */
export async function writeFixtureScalingSweep(runsDir: string): Promise<string> {
  const dir = path.join(runsDir, FIXTURE_SCALING_SWEEP);
  const groups = ['none', 'pcgrad'].flatMap((projection) => [10, 20, 40].map((steps) => ({ projection, steps })));
  const entries = [];
  for (const [i, g] of groups.entries()) {
    const name = `projection-${g.projection}_steps-${g.steps}_seed-1`;
    const runId = `20200104-00000${i}-scaling-fixture`;
    await mkdir(path.join(dir, name), { recursive: true });
    await writeSyntheticRun(path.join(dir, name), { runId, points: 50 });
    entries.push({ name, group: `projection-${g.projection}_steps-${g.steps}`, seed: 1, set: { 'sft.projection': g.projection, 'sft.steps': g.steps, seed: 1 }, groupKey: JSON.stringify({ 'sft.projection': g.projection, 'sft.steps': g.steps }), status: 'completed', attempts: 1, runDir: `${name}/${runId}` });
  }
  const iso = new Date(Date.UTC(2020, 0, 4)).toISOString();
  await writeFile(path.join(dir, 'sweep.json'), JSON.stringify({ version: 1, sweepId: FIXTURE_SCALING_SWEEP, name: 'fixture-scaling', experimentFile: path.join(runsDir, '..', 'experiments', 'smoke.bbio.yaml'), status: 'completed', createdAt: iso, updatedAt: iso, parallel: 1, stepsScale: 1, variants: entries }, null, 2));
  const cell = (mean: number) => ({ summary: { mean, sd: 0.02, n: 1, values: [mean] }, vsFirst: null });
  const rows = groups.map((g) => {
    const gain = g.steps / 200 + (g.projection === 'pcgrad' ? 0.03 : 0);
    return { label: `projection-${g.projection}_steps-${g.steps}`, groupKey: JSON.stringify({ 'sft.projection': g.projection, 'sft.steps': g.steps }), variants: [], seeds: [1], scored: 1, capabilities: { domain: cell(0.3 + gain), reasoning: cell(0.05 + gain) }, balance: cell(0.2 + gain), interference: cell(0.01 - gain / 10), models: ['sft'] };
  });
  await writeFile(path.join(dir, 'sweep-report.json'), JSON.stringify({ version: 1, sweepId: FIXTURE_SCALING_SWEEP, name: 'fixture-scaling', createdAt: iso, test: 'fixture numbers, not a test', rows }, null, 2));
  await writeFile(path.join(dir, 'sweep-report.md'), `# Sweep report — ${FIXTURE_SCALING_SWEEP}\n\nFixture numbers for the editor tests.\n`);
  return dir;
}
