/**
 * Writes a synthetic, schema-valid run folder with many points per series: the dashboard's frame-rate
 * probe needs 50,000 points per series whatever the engine of this build can train. Deterministic.
 * Curves are made-up shapes (decaying losses, cosines around zero), labelled as such in the run name.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';

const CAPS = ['domain', 'reasoning', 'instruction', 'integration'] as const;

export async function writeSyntheticRun(runsDir: string, opts: { runId: string; points: number }): Promise<string> {
  const dir = path.join(runsDir, opts.runId);
  await mkdir(path.join(dir, 'artifacts'), { recursive: true });
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const t0 = Date.UTC(2026, 0, 1);
  const out = createWriteStream(path.join(dir, 'events.jsonl'));
  const write = async (e: Record<string, unknown>): Promise<void> => {
    if (!out.write(JSON.stringify({ v: 1, runId: opts.runId, ...e }) + '\n')) await once(out, 'drain');
  };
  await write({ t: t0, kind: 'phase', stage: 'run', status: 'started', message: 'synthetic run for the dashboard frame-rate probe' });
  await write({ t: t0, kind: 'phase', stage: 'sft', status: 'started', total: opts.points });
  const pairs = [['domain', 'reasoning'], ['instruction', 'integration']] as const;
  for (let step = 1; step <= opts.points; step++) {
    const t = t0 + step * 10;
    for (const [i, cap] of CAPS.entries()) {
      const value = 0.4 + (2.5 + i * 0.3) * Math.exp(-step / (8000 + i * 3000)) + 0.08 * (rand() - 0.5);
      await write({ t, step, stage: 'sft', kind: 'metric', name: 'sft/loss', value, labels: { capability: cap } });
    }
    for (const [a, b] of pairs) {
      const raw = -0.2 + 0.3 * Math.sin(step / 3000) + 0.2 * (rand() - 0.5);
      await write({ t, step, stage: 'sft', kind: 'metric', name: 'sft/cosine_raw', value: raw, labels: { capability: a, other: b } });
      await write({ t, step, stage: 'sft', kind: 'metric', name: 'sft/cosine_projected', value: Math.max(0, raw) * 0.5 + 0.02 * (rand() - 0.5), labels: { capability: a, other: b } });
    }
  }
  for (const a of CAPS) for (const b of CAPS) await write({ t: t0 + opts.points * 10, step: opts.points, stage: 'sft', kind: 'metric', name: 'sft/interference', value: a === b ? -0.05 : (rand() - 0.4) * 0.02, labels: { capability: a, other: b } });
  await write({ t: t0 + opts.points * 10 + 1, kind: 'phase', stage: 'sft', status: 'completed' });
  // two logged GRPO steps for the rollout inspector, and a health note (made-up texts, like the curves)
  for (const step of [1, 5]) {
    const completions = ['Answer: allopurinol', 'Answer: colchicine', 'I am not sure.', 'Answer: Allopurinol'].map((text, i) => ({
      text, truncated: i === 2, reward: i === 0 || i === 3 ? 1.2 : i === 1 ? 0.3 : 0, advantage: [0.9, -0.3, -1.2, 0.9][i], components: { domain: i === 1 ? 0 : i === 2 ? 0 : 1, format: i === 2 ? 0 : 0.2 }, extracted: text.startsWith('Answer: ') ? text.slice(8) : '',
    }));
    await write({ t: t0 + opts.points * 10 + 1, step, stage: 'grpo', kind: 'record', type: 'rollouts', data: { groups: [{ capability: 'domain', exampleId: 'domain-000001', prompt: 'Which drug lowers uric acid production in gout?', gold: 'allopurinol', completions }] } });
  }
  await write({ t: t0 + opts.points * 10 + 1, step: 5, stage: 'grpo', kind: 'record', type: 'health', data: { metric: 'grpo/tie_fraction', value: 0.75, meaning: 'over half of the groups tie (every completion got the same reward): they carry no signal; raise temperature or group_size' } });
  for (const [i, cap] of CAPS.entries()) {
    await write({ t: t0 + opts.points * 10 + 2, stage: 'evaluate', kind: 'metric', name: 'eval/score', value: 0.5 + i * 0.05, labels: { suite: cap, metric: 'accuracy', model: 'sft' } });
    await write({ t: t0 + opts.points * 10 + 2, stage: 'evaluate', kind: 'metric', name: 'eval/stderr', value: 0.02, labels: { suite: cap, metric: 'accuracy', model: 'sft' } });
  }
  await write({ t: t0 + opts.points * 10 + 3, kind: 'phase', stage: 'run', status: 'completed' });
  out.end();
  await once(out, 'finish');
  const iso = new Date(t0).toISOString();
  await writeFile(
    path.join(dir, 'state.json'),
    JSON.stringify({ version: 1, runId: opts.runId, name: 'synthetic', experimentFile: path.join(runsDir, '..', 'experiments', 'quickstart.bbio.yaml'), status: 'completed', createdAt: iso, updatedAt: iso, stages: { sft: { status: 'completed', attempts: 1, summary: { steps: opts.points } } } }, null, 2),
  );
  await writeFile(path.join(dir, 'experiment.yaml'), `name: synthetic\nseed: 1\nsft:\n  steps: ${opts.points}\n  projection: pcgrad\n`);
  return dir;
}
