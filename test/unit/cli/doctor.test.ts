/**
 * `balancedbio doctor` (issue 16): what each backend finds, with a Python that has torch, one that lacks
 * it, a missing interpreter and one that dies; each a clear line and exit 0, never a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { autoChoice, type DoctorReport } from '../../../engine/cli/commands/doctor';
import type { CliIo } from '../../../engine/cli/io';
import { main } from '../../../engine/cli/main';
import { probeBackends, type BackendProbe } from '../../../engine/model/backend';
import { REPO, tempDir } from '../../helpers/tmp';

/** Debian's torch lives in /usr/bin/python3 only (ENVIRONMENT.md). */
const PYTHON = '/usr/bin/python3';
const hasPython = fs.existsSync(PYTHON);
const torchMissing = !hasPython || spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0;

/** The environment of a doctor run: this process's, without an interpreter preset from outside. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e['BALANCEDBIO_PYTHON'];
  return { ...e, ...extra };
}

async function doctor(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(l), isTTY: false, cwd: REPO, env: e };
  return { code: await main(['doctor', ...args], io), out, err };
}

/** The row of the doctor's table that starts with `check`. */
function row(out: string[], check: string): string | undefined {
  return out.find((l) => l.startsWith(check + ' '));
}

function assertNoStackTrace(lines: string[]): void {
  for (const l of lines) assert.doesNotMatch(l, /^\s+at |Traceback|File "/, `a stack trace leaked: ${l}`);
}

test('doctor with a Python that imports torch: versions, devices, bf16, SDPA, BLAS kernel and threads; auto picks torch', { skip: torchMissing && `${PYTHON} cannot import torch` }, async () => {
  const { code, out } = await doctor(['--json', '--python', PYTHON], env({ OPENBLAS_CORETYPE: 'Haswell' }));
  assert.equal(code, 0);
  const r = JSON.parse(out.join('\n')) as DoctorReport;
  assert.equal(r.python.source, '--python');
  assert.match(r.python.version ?? '', /^3\.\d+/);
  const t = r.python.torch!;
  assert.match(t.torch, /^\d+\.\d+/);
  assert.equal(typeof t.bf16, 'boolean');
  assert.equal(typeof t.sdpa, 'boolean');
  assert.ok(t.threads && t.threads.intraop >= 1, 'torch threads');
  assert.ok(t.blas, 'the BLAS torch runs on');
  // Debian's torch reaches OpenBLAS through libblas.so.3; the kernel is the one OPENBLAS_CORETYPE names
  if (t.blas.openblas) {
    assert.equal(t.blas.openblas.coretype, 'Haswell');
    assert.match(t.blas.openblas.variant, /^(serial|pthread|openmp)$/);
  }
  assert.equal(r.env.OPENBLAS_CORETYPE, 'Haswell');
  assert.equal(r.auto.backend, 'torch');
  assert.deepEqual(r.tfjs.map((p) => p.kind), ['gpu', 'native', 'wasm', 'cpu']);
});

test('doctor with a Python that lacks torch: one line naming the ImportError, auto falls back to tfjs', { skip: !hasPython && `no ${PYTHON}` }, async (t) => {
  const fake = await tempDir(t);
  fs.mkdirSync(path.join(fake, 'torch'));
  fs.writeFileSync(path.join(fake, 'torch', '__init__.py'), 'raise ImportError("no torch in this interpreter")\n');
  const { code, out } = await doctor(['--python', PYTHON], env({ PYTHONPATH: fake }));
  assert.equal(code, 0);
  assert.match(row(out, 'python') ?? '', new RegExp(`${PYTHON.replace(/\//g, '\\/')}.* 3\\.\\d+`));
  assert.match(row(out, 'torch') ?? '', /not usable: .*cannot import torch.*no torch in this interpreter/);
  assert.match(row(out, 'auto') ?? '', /^auto\s+(wasm|cpu|native|gpu): no torch \(/);
  assertNoStackTrace(out);
});

test('doctor with a missing interpreter: one line saying it was not found; exit 0', async () => {
  const { code, out, err } = await doctor(['--python', '/nonexistent/bin/python3'], env());
  assert.equal(code, 0);
  assert.match(row(out, 'python') ?? '', /"\/nonexistent\/bin\/python3" not found \(from --python\)/);
  assert.equal(row(out, 'torch'), undefined, 'no torch row without an interpreter');
  assert.match(row(out, 'auto') ?? '', /no torch \("\/nonexistent\/bin\/python3" not found\)/);
  assertNoStackTrace([...out, ...err]);
});

test('doctor with an interpreter that dies: its exit status and last stderr line; BALANCEDBIO_PYTHON is the source', async (t) => {
  const fake = path.join(await tempDir(t), 'python');
  fs.writeFileSync(fake, '#!/bin/sh\necho "Traceback (most recent call last):" >&2\necho "Fatal Python error: init_fs_encoding" >&2\nexit 1\n', { mode: 0o755 });
  const { code, out } = await doctor([], env({ BALANCEDBIO_PYTHON: fake }));
  assert.equal(code, 0);
  assert.match(row(out, 'python') ?? '', /exited with status 1: Fatal Python error: init_fs_encoding \(from BALANCEDBIO_PYTHON\)/);
  assert.equal(row(out, 'torch'), undefined);
});

test('probeBackends: a native package that does not load is unavailable with its reason; wasm reports SIMD and threads', async () => {
  const probes = await probeBackends({
    load: (id) => {
      if (id === '@tensorflow/tfjs-node-gpu') throw new Error('libcudart.so.11.0: cannot open shared object file\n    at Module._load');
      if (id === '@tensorflow/tfjs-node') return {};
      return require(id) as unknown;
    },
  });
  const by = Object.fromEntries(probes.map((p) => [p.kind, p])) as Record<BackendProbe['kind'], BackendProbe>;
  assert.deepEqual(by.gpu, { kind: 'gpu', available: false, detail: '@tensorflow/tfjs-node-gpu: libcudart.so.11.0: cannot open shared object file' });
  assert.equal(by.native.available, true);
  assert.equal(by.wasm.available, true);
  assert.match(by.wasm.detail, /SIMD (on|off), single-threaded under Node/);
});

test('autoChoice: torch when the Python imports it, else the first tfjs backend that loads, naming what was skipped', () => {
  const tfjs: BackendProbe[] = [
    { kind: 'gpu', available: false, detail: 'x' },
    { kind: 'native', available: false, detail: 'y' },
    { kind: 'wasm', available: true, detail: 'z' },
    { kind: 'cpu', available: true, detail: 'w' },
  ];
  const hello = { python: '3.11.2', torch: '2.11.0', cuda: ['NVIDIA H200'], sdpa: true, protocol: 'p' };
  assert.deepEqual(autoChoice(tfjs, { command: 'python3', source: 'default', executable: '/usr/bin/python3', torch: hello }), { backend: 'torch', reason: '/usr/bin/python3 imports torch 2.11.0' });
  assert.deepEqual(autoChoice(tfjs, { command: 'python3', source: 'default', torchProblem: 'cannot import torch' }), { backend: 'wasm', reason: 'no torch (cannot import torch); gpu unavailable; native unavailable' });
});
