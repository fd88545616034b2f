import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { readSafetensors } from '../../engine/model/safetensors';
import { tempDir } from '../helpers/tmp';

const ROOT = path.resolve(__dirname, '../..');
const CHILD = path.join(__dirname, 'pretrain-child.ts');

const WORDS = ['fever', 'cough', 'aspirin', 'sepsis', 'lactate', 'culture', 'insulin', 'glucose', 'patient', 'presents', 'with', 'treat', 'test', 'diagnosis'];

function writeDataset(runDir: string): void {
  const dir = path.join(runDir, 'artifacts', 'data');
  fs.mkdirSync(dir, { recursive: true });
  const line = (i: number) => JSON.stringify({ text: Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]).join(' ') + '.' });
  fs.writeFileSync(path.join(dir, 'train.jsonl'), Array.from({ length: 40 }, (_, i) => line(i)).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'val.jsonl'), Array.from({ length: 4 }, (_, i) => line(100 + i)).join('\n') + '\n');
}

interface Run { losses: Map<number, number>; events: Array<Record<string, unknown>>; code: number | null }

/** Runs the child to completion, or kills it with SIGKILL once `killAtStep` losses were printed. */
function runChild(runDir: string, opts: { resume?: boolean; killAtStep?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', CHILD, runDir, ...(opts.resume ? ['--resume'] : [])];
    const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, BBIO_TEST_STEP_DELAY_MS: opts.killAtStep ? '150' : '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { losses: new Map(), events: [], code: null };
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`child timed out; stderr: ${stderr.slice(-2000)}`)); }, 60_000);
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      run.events.push(e);
      if (e.kind === 'metric' && e.name === 'pretrain/loss') {
        run.losses.set(e.step as number, e.value as number);
        if (opts.killAtStep !== undefined && (e.step as number) >= opts.killAtStep) child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      run.code = code;
      if (opts.killAtStep === undefined && code !== 0) reject(new Error(`child failed (${code ?? signal}): ${stderr.slice(-2000)}`));
      else resolve(run);
    });
  });
}

test('pretrain: SIGKILL mid-run then --resume reproduces the uninterrupted losses within 1e-6', async (t) => {
  const base = await tempDir(t, 'bbio-resume-');
  const runA = path.join(base, 'a');
  const runB = path.join(base, 'b');
  writeDataset(runA);
  writeDataset(runB);

  const full = await runChild(runA, {});
  assert.equal(full.losses.size, 12);
  const losses = [...full.losses.values()];
  assert.ok(losses[11]! < losses[0]!, `loss falls: ${losses[0]} → ${losses[11]}`);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(fs.existsSync(path.join(runA, 'artifacts/base-model', f)), f);
  assert.ok(full.events.some((e) => e.kind === 'phase' && e.status === 'progress'));

  const killed = await runChild(runB, { killAtStep: 5 });
  assert.notEqual(killed.code, 0, 'child was killed');
  assert.ok(!fs.existsSync(path.join(runB, 'artifacts/base-model/model.safetensors')), 'killed before the end');
  const resumed = await runChild(runB, { resume: true });
  assert.ok(resumed.events.some((e) => e.kind === 'phase' && e.status === 'resumed'));
  const firstResumed = Math.min(...resumed.losses.keys());
  assert.ok(firstResumed > 1 && firstResumed <= 6, `resumed from a checkpoint (first step ${firstResumed})`);
  for (const [step, loss] of [...killed.losses, ...resumed.losses]) {
    assert.ok(Math.abs(loss - full.losses.get(step)!) <= 1e-6, `step ${step}: ${loss} vs ${full.losses.get(step)}`);
  }
  const wa = readSafetensors(path.join(runA, 'artifacts/base-model/model.safetensors')).tensors;
  const wb = readSafetensors(path.join(runB, 'artifacts/base-model/model.safetensors')).tensors;
  for (const [name, t] of wa) {
    const u = wb.get(name)!;
    let worst = 0;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - u.data[i]!));
    assert.ok(worst <= 1e-6, `${name} differs by ${worst}`);
  }
});
