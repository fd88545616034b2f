/**
 * bench/gpu/gpu_bench.py end to end on the CPU (`--tiny`): it starts the product's worker, drives it
 * through the protocol and writes its JSON report, the same path it takes on a GPU machine with no Node.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { REPO, tempDir } from '../../helpers/tmp';

const PYTHON = '/usr/bin/python3';
const torchMissing = !fs.existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0;
/** Importing torch twice (driver's matmul probe, worker) takes seconds, a minute on a loaded 2-core machine. */
const TIMEOUT_MS = 180_000;

interface Memory { peakRssBytes: number; cudaPeakBytes: number | null }
interface SftRow { tokens_per_step: number; tok_per_s: number; mfu_vs_probe: number; losses: number[]; memory: Memory }
interface Report {
  device: string;
  methods: string[];
  peak: { probe_flops: number };
  models: { model: string; parameters: number; device: string; dtype: string; sft: Record<string, SftRow> & { unavailable?: string }; rollout: { group: number; new_tokens: number; tok_per_s: number; memory: Memory } }[];
}

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, [path.join(REPO, 'bench/gpu/gpu_bench.py'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), TIMEOUT_MS);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('gpu_bench.py --tiny: LoRA SFT with each projection, rollouts at G = 8, MFU and memory, as JSON', { skip: torchMissing && `${PYTHON} cannot import torch`, timeout: TIMEOUT_MS + 10_000 }, async (t) => {
  const out = await tempDir(t);
  const { code, stderr } = await run(['--tiny', '--out', out]);
  assert.equal(code, 0, stderr);
  const r = JSON.parse(fs.readFileSync(path.join(out, 'gpu-bench.json'), 'utf8')) as Report;
  assert.equal(r.device, 'cpu');
  assert.ok(r.peak.probe_flops > 0);
  const [m] = r.models;
  assert.ok(m, 'one model');
  assert.equal(m.model, 'tiny');
  assert.ok(m.parameters > 0);
  assert.deepEqual([m.device, m.dtype], ['cpu', 'float32']);
  // 2 prompts × G = 8 completions × 6 new tokens, none ended early (no end ids)
  assert.equal(m.rollout.group, 8);
  assert.equal(m.rollout.new_tokens, 2 * 8 * 6);
  assert.ok(m.rollout.tok_per_s > 0);
  assert.ok(m.rollout.memory.peakRssBytes > 0);
  if (r.methods.includes('sft_step')) {
    for (const method of ['none', 'pcgrad', 'subspace']) {
      const s = m.sft[method];
      assert.ok(s, `sft ${method}`);
      assert.equal(s.tokens_per_step, 3 * 2 * 16, '3 capabilities × [2, 16]');
      assert.ok(s.tok_per_s > 0 && s.mfu_vs_probe > 0, `${method}: ${JSON.stringify(s)}`);
      assert.equal(s.losses.length, 3);
      for (const l of s.losses) assert.ok(Number.isFinite(l) && l > 0);
    }
  } else {
    // the training methods (issue 16's other half) are not in this checkout: said, not faked
    assert.match(m.sft.unavailable ?? '', /sft_step/);
    assert.deepEqual(Object.keys(m.sft), ['unavailable']);
  }
  assert.ok(fs.existsSync(path.join(out, 'worker.log')));
});

test('gpu_bench.py without a GPU and without --tiny says so and exits 1, leaving its report', { skip: torchMissing && `${PYTHON} cannot import torch`, timeout: TIMEOUT_MS + 10_000 }, async (t) => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  if (probe.stdout.trim() === 'True') return t.skip('this machine has a CUDA device');
  const out = await tempDir(t);
  const { code, stderr } = await run(['--out', out]);
  assert.equal(code, 1);
  assert.match(stderr, /no CUDA device: run with --tiny/);
  assert.match(fs.readFileSync(path.join(out, 'gpu-bench.json'), 'utf8'), /no CUDA device/);
});
