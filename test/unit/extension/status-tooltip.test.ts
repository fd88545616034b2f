import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBackendLine, formatTooltip, manifestBackend } from '../../../extension/status/tooltip';

const WASM_MANIFEST = { runId: 'r1', backend: { name: 'wasm', kind: 'wasm', reason: 'auto: gpu unavailable (x); native unavailable (y)', threads: 1, simd: true } };
const TORCH_MANIFEST = { runId: 'r2', backend: { name: 'torch 2.11.0', kind: 'torch', device: 'cuda:0', dtype: 'bfloat16', threads: 1, simd: true, reason: 'auto: /usr/bin/python3 imports torch 2.11.0' } };

test('manifestBackend reads the manifest\'s backend defensively; none before a stage has opened one', () => {
  assert.deepEqual(manifestBackend(TORCH_MANIFEST), { kind: 'torch', name: 'torch 2.11.0', device: 'cuda:0', dtype: 'bfloat16', reason: 'auto: /usr/bin/python3 imports torch 2.11.0' });
  assert.deepEqual(manifestBackend(WASM_MANIFEST), { kind: 'wasm', name: 'wasm', reason: 'auto: gpu unavailable (x); native unavailable (y)', threads: 1, simd: true });
  assert.equal(manifestBackend({ runId: 'r' }), undefined);
  assert.equal(manifestBackend(null), undefined);
  assert.equal(manifestBackend({ backend: 'wasm' }), undefined, 'not an object: an older or hand-edited manifest');
  assert.deepEqual(manifestBackend({ backend: { kind: 'cpu', threads: 'many' } }), { kind: 'cpu' }, 'a field of the wrong type is left out');
});

test('the backend line: torch shows its device and dtype, tfjs its SIMD and threads, then why it was chosen', () => {
  assert.equal(formatBackendLine(manifestBackend(TORCH_MANIFEST)!), 'backend: torch (cuda:0, bfloat16) — auto: /usr/bin/python3 imports torch 2.11.0');
  assert.equal(formatBackendLine(manifestBackend(WASM_MANIFEST)!), 'backend: wasm (SIMD, 1 thread) — auto: gpu unavailable (x); native unavailable (y)');
  assert.equal(formatBackendLine({ kind: 'torch', device: 'cpu' }), 'backend: torch (cpu)');
  assert.equal(formatBackendLine({ kind: 'cpu' }), 'backend: cpu');
});

test('a torch backend line as TorchCompute describes it: device and dtype from its reason, no SIMD or threads', () => {
  const manifest = { backend: { name: 'torch', kind: 'torch', threads: 0, simd: true, reason: 'auto: python3 imports torch; Python 3.12.3 (python3), torch 2.11.0, CUDA: NVIDIA H200, device cuda:0, dtype bfloat16' } };
  const b = manifestBackend(manifest)!;
  assert.equal(b.device, 'cuda:0');
  assert.equal(b.dtype, 'bfloat16');
  assert.equal(formatBackendLine(b), `backend: torch (cuda:0, bfloat16) — ${manifest.backend.reason}`);
  assert.equal(formatBackendLine(manifestBackend({ backend: { kind: 'torch', simd: true, threads: 0, reason: 'requested by model.backend: torch' } })!), 'backend: torch — requested by model.backend: torch');
});

test('the status bar tooltip names the run, stage, ETA, message and backend of the run', () => {
  const running = { runId: 'job1', phase: 'running' as const, stage: 'sft' as const, step: 20, total: 100, etaMs: 8000 };
  assert.equal(
    formatTooltip(running, 'r2', manifestBackend(TORCH_MANIFEST)),
    ['BalancedBio run r2', 'stage: sft, step 20 of 100', 'about 8 s left in this stage', 'backend: torch (cuda:0, bfloat16) — auto: /usr/bin/python3 imports torch 2.11.0', 'Click to open the dashboard'].join('\n'),
  );
  // the last run, ended: its outcome message and still its backend
  assert.equal(
    formatTooltip({ runId: 'job1', phase: 'completed', message: 'run finished in 12.0 s' }, 'r1', manifestBackend(WASM_MANIFEST)),
    ['BalancedBio run r1', 'run finished in 12.0 s', 'backend: wasm (SIMD, 1 thread) — auto: gpu unavailable (x); native unavailable (y)', 'Click to open the dashboard'].join('\n'),
  );
  assert.equal(formatTooltip({ runId: 'job1', phase: 'starting' }, undefined, undefined), 'BalancedBio run (starting)\nClick to open the dashboard');
});
