/**
 * `npm run bench:ablation`: the paper's first experiment as a benchmark. On the quickstart's data and
 * bio-tiny base model, train the SFT stage with each projection (none, pcgrad, subspace, olora) and three
 * seeds, same steps and learning rate, and report per-capability validation loss, mean raw vs projected
 * gradient cosine, the interference matrix and the step-time overhead of each projection relative to
 * `none`. Whatever the result, it is reported as measured (JSON + Markdown under bench/results/).
 *
 *   npx tsx bench/ablation.ts [--steps-scale 0.5] [--seeds 1,2,3] [--base RUN_DIR]
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EngineEvent } from '../schemas/generated/events';
import type { Experiment } from '../schemas/generated/experiment';
import { loadExperiment } from '../engine/config/load';
import { runPipeline } from '../engine/run/pipeline';
import { createStageTable } from '../engine/cli/stages';
import { OUTPUT_PATHS, type EventInput, type StageContext, type StageOutput } from '../engine/core/stage';
import { runSft } from '../engine/train/sft-stage';
import { createLogger, silentLogger } from '../engine/util/log';

const ROOT = path.resolve(__dirname, '..');
const METHODS = ['none', 'pcgrad', 'subspace', 'olora'] as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface VariantResult {
  method: string;
  seed: number;
  valLoss: Record<string, number>;
  cosineRaw: number;
  cosineProjected: number;
  interference: number[][] | null;
  capabilities: string[];
  stepMs: number;
  projectionMs: number;
}

const meanOf = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

async function baseRun(config: Experiment, file: string, stepsScale: number): Promise<string> {
  const given = arg('base', '');
  if (given) return path.resolve(given);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bbio-ablation-'));
  const cfg = { ...config, output: { ...config.output, runs_dir: dir } };
  const out = await runPipeline({ config: cfg, experimentFile: file, stages: ['synthesize', 'pretrain'], stepsScale, stageTable: createStageTable(), log: createLogger({ level: 'warn' }), version: 'bench' });
  if (out.status !== 'completed') throw new Error(`base run failed: ${out.error?.message}`);
  return out.runDir;
}

async function variant(config: Experiment, file: string, runDir: string, method: (typeof METHODS)[number], seed: number, stepsScale: number): Promise<VariantResult> {
  const cfg: Experiment = structuredClone(config);
  cfg.seed = seed;
  cfg.sft.projection = method;
  if (method === 'olora') cfg.lora.adapters = 'per_capability';
  const events: EngineEvent[] = [];
  const out = await mkdtemp(path.join(os.tmpdir(), `bbio-sft-${method}-`));
  const paths = Object.fromEntries(Object.entries(OUTPUT_PATHS).map(([k, rel]) => [k, path.join(runDir, rel)])) as Record<StageOutput, string>;
  paths.sft_adapter = path.join(out, 'adapter');
  const emit = (e: EventInput): void => void events.push({ v: 1, t: Date.now(), runId: 'ablation', ...e } as EngineEvent);
  const ctx: StageContext = {
    config: cfg, experimentFile: file, runId: 'ablation', runDir: out, paths, checkpointDir: path.join(out, 'ckpt'),
    events: { emit, metric: (name, value, o) => emit({ kind: 'metric', stage: 'sft', name, value, ...(o?.step !== undefined ? { step: o.step } : {}), ...(o?.labels ? { labels: o.labels } : {}) }) },
    log: silentLogger, signal: new AbortController().signal, stepsScale, seed: seed * 1000 + 17, resume: false, updateManifest: async () => {}, note: async () => {},
  };
  await runSft(ctx);
  const metrics = events.filter((e): e is Extract<EngineEvent, { kind: 'metric' }> => e.kind === 'metric');
  const last = Math.max(...metrics.map((m) => m.step ?? 0));
  const valLoss = Object.fromEntries(metrics.filter((m) => m.name === 'sft/val_loss' && m.step === last).map((m) => [m.labels?.capability ?? '?', m.value]));
  const inter = [...events].reverse().find((e) => e.kind === 'record' && e.type === 'interference') as Extract<EngineEvent, { kind: 'record' }> | undefined;
  return {
    method, seed, valLoss,
    cosineRaw: meanOf(metrics.filter((m) => m.name === 'sft/cosine_raw').map((m) => m.value)),
    cosineProjected: meanOf(metrics.filter((m) => m.name === 'sft/cosine_projected').map((m) => m.value)),
    interference: ((inter?.data as Record<string, unknown> | undefined)?.matrix as number[][] | undefined) ?? null,
    capabilities: ((inter?.data as Record<string, unknown> | undefined)?.capabilities as string[] | undefined) ?? Object.keys(valLoss),
    stepMs: meanOf(metrics.filter((m) => m.name === 'system/step_ms').map((m) => m.value).slice(2)),
    projectionMs: meanOf(metrics.filter((m) => m.name === 'sft/projection_ms').map((m) => m.value).slice(2)),
  };
}

function summarise(results: VariantResult[]): { json: object; md: string } {
  const caps = results[0]?.capabilities ?? [];
  const byMethod = METHODS.map((m) => {
    const rs = results.filter((r) => r.method === m);
    const ms = (xs: number[]): { mean: number; sd: number } => {
      const mu = meanOf(xs);
      return { mean: mu, sd: xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mu) ** 2, 0) / (xs.length - 1)) : 0 };
    };
    const interference = caps.map((_, i) => caps.map((_, j) => meanOf(rs.map((r) => r.interference?.[i]?.[j] ?? Number.NaN))));
    return { method: m, valLoss: Object.fromEntries(caps.map((c) => [c, ms(rs.map((r) => r.valLoss[c] ?? Number.NaN))])), cosineRaw: meanOf(rs.map((r) => r.cosineRaw)), cosineProjected: meanOf(rs.map((r) => r.cosineProjected)), stepMs: meanOf(rs.map((r) => r.stepMs)), projectionMs: meanOf(rs.map((r) => r.projectionMs)), interference };
  });
  const none = byMethod.find((b) => b.method === 'none')!;
  const rows = byMethod.map((b) => `| ${b.method} | ${caps.map((c) => `${b.valLoss[c]!.mean.toFixed(4)} ± ${b.valLoss[c]!.sd.toFixed(4)}`).join(' | ')} | ${b.cosineRaw.toFixed(4)} | ${b.cosineProjected.toFixed(4)} | ${b.stepMs.toFixed(0)} | ${(100 * (b.stepMs / none.stepMs - 1)).toFixed(1)}% |`);
  const inter = byMethod.flatMap((b) => ['', `**${b.method}** — interference (row: step on capability, column: Δ probe loss of capability)`, '', `| | ${caps.join(' | ')} |`, `|---|${caps.map(() => '---').join('|')}|`, ...caps.map((c, i) => `| ${c} | ${b.interference[i]!.map((x) => x.toExponential(2)).join(' | ')} |`)]);
  const md = [
    '# Projection ablation (SFT, bio-tiny, quickstart data)', '',
    `Seeds: ${[...new Set(results.map((r) => r.seed))].join(', ')}. Validation loss per capability (mean ± sd over seeds), mean gradient cosine over steps and pairs, mean step time and its overhead relative to \`none\`.`, '',
    `| projection | ${caps.map((c) => `val loss ${c}`).join(' | ')} | cos raw | cos projected | step ms | overhead |`,
    `|---|${caps.map(() => '---').join('|')}|---|---|---|---|`,
    ...rows, ...inter, '',
  ].join('\n');
  return { json: { capabilities: caps, methods: byMethod, runs: results }, md };
}

async function main(): Promise<void> {
  const stepsScale = Number(arg('steps-scale', '1'));
  const seeds = arg('seeds', '1,2,3').split(',').map(Number);
  const file = path.join(ROOT, 'examples/quickstart.bbio.yaml');
  const { config, problems } = await loadExperiment(file, { paths: { workspace: [ROOT], allowed: [] } });
  if (!config) throw new Error(problems.map((p) => p.message).join('\n'));
  const runDir = await baseRun(config, file, stepsScale);
  process.stderr.write(`base run: ${runDir}\n`);
  const results: VariantResult[] = [];
  for (const method of METHODS) {
    for (const seed of seeds) {
      const t0 = Date.now();
      results.push(await variant(config, file, runDir, method, seed, stepsScale));
      process.stderr.write(`${method} seed ${seed}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  }
  const { json, md } = summarise(results);
  const dir = path.join(ROOT, 'bench/results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await writeFile(path.join(dir, `ablation-${stamp}.json`), JSON.stringify({ createdAt: new Date().toISOString(), stepsScale, baseRun: runDir, ...json }, null, 2) + '\n');
  await writeFile(path.join(dir, `ablation-${stamp}.md`), md);
  process.stdout.write(md);
}

main().catch((e: unknown) => {
  process.stderr.write(`ablation failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
