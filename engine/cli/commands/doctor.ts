/**
 * `balancedbio doctor`: what each compute backend finds on this machine, so a user knows why `auto` chose
 * what it chose. The tfjs backends are probed in-process (engine/model/backend.ts probeBackends); the torch
 * backend through the worker's own `hello` (bbio_worker/runtime.py), started with the same interpreter a
 * run would use. Every problem is one line; the command always exits 0 (it reports, it does not judge).
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HelloResult } from '../../../schemas/generated/compute-protocol';
import { pythonCommand, WorkerProcess } from '../../compute/torch/worker-process';
import { probeBackends, type BackendProbe, type LoadModule } from '../../model/backend';
import { BbioError } from '../../util/errors';
import { EXIT, table, type CliIo } from '../io';

/** Environment variables that change what a backend does (threads, kernels, interpreter, devices). */
export const DOCTOR_ENV = [
  'BALANCEDBIO_PYTHON', 'BALANCEDBIO_BACKEND', 'OPENBLAS_CORETYPE', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_L2_SIZE', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'CUDA_VISIBLE_DEVICES',
] as const;

/**
 * How long the interpreter may take to print its version, and the worker to answer hello. Importing
 * torch takes 1-3 s on a quiet 2-core machine and much longer on a loaded one; past these it is reported
 * as hung rather than waited for.
 */
const VERSION_TIMEOUT_MS = 15_000;
const HELLO_TIMEOUT_MS = 120_000;

export interface PythonProbe {
  /** The command as configured, and where that came from. */
  command: string;
  source: '--python' | 'BALANCEDBIO_PYTHON' | 'default';
  /** sys.executable and sys.version when the interpreter runs. */
  executable?: string;
  version?: string;
  /** Why the interpreter does not run (missing, not executable, crashed), one line. */
  problem?: string;
  /** hello's answer when the worker started and imported torch. */
  torch?: HelloResult;
  /** Why the worker could not answer (no torch, a crash), one line. */
  torchProblem?: string;
}

export interface DoctorReport {
  node: { version: string; platform: string; arch: string; cpus: number; cpu: string; cpuFlags: string[] };
  tfjs: BackendProbe[];
  python: PythonProbe;
  slurm: { sbatch: string | null };
  env: Record<(typeof DOCTOR_ENV)[number], string | null>;
  /** What `model.backend: auto` picks with these findings, and why (DESIGN.md, Backends). */
  auto: { backend: string; reason: string };
}

export interface DoctorOptions {
  json: boolean;
  python?: string;
  /** Tests: a module loader for the tfjs probes, and a shorter hello timeout. */
  load?: LoadModule;
  helloTimeoutMs?: number;
}

/** The first line of an error, plus the last line of the worker's stderr when the message carries it. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const lines = msg.split('\n');
  const head = (lines[0] ?? '').trim();
  const marker = lines.findIndex((l) => l.startsWith('--- worker stderr'));
  const tail = marker < 0 ? '' : (lines.slice(marker + 1).filter((l) => l.trim() && !l.startsWith('--- ')).at(-1) ?? '').trim();
  return tail && !head.includes(tail) ? `${head}: ${tail}` : head;
}

/** The first executable `name` on PATH, or null. */
async function findOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env['PATH'] ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      await access(file, fsConstants.X_OK);
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    }
  }
  return null;
}

/** The CPU flags that decide kernels (OpenBLAS's and torch's): AVX2, FMA, AVX-512 and its bf16 extension. */
export async function cpuFlags(): Promise<string[]> {
  const wanted = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_bf16'];
  try {
    const flags = /^flags\s*:(.*)$/m.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? [];
    return wanted.filter((f) => flags.includes(f));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // not Linux: the flags are not listed
    throw e;
  }
}

/** sys.executable and sys.version of `python`, or why it does not run. */
function pythonVersion(python: string, env: NodeJS.ProcessEnv): Promise<{ executable: string; version: string } | { problem: string }> {
  const code = 'import json, sys; print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0]}))';
  return new Promise((resolve) => {
    execFile(python, ['-c', code], { env, timeout: VERSION_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const errno = (err as NodeJS.ErrnoException).code;
        const why =
          errno === 'ENOENT' ? 'not found'
            : errno === 'EACCES' ? 'not executable'
              : err.killed ? `no answer within ${VERSION_TIMEOUT_MS / 1000} s`
                : `exited with status ${String(err.code)}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`;
        resolve({ problem: `"${python}" ${why}` });
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { executable: string; version: string });
      } catch (e) {
        resolve({ problem: `"${python}" is not a Python interpreter (printed ${JSON.stringify(stdout.slice(0, 80))}: ${oneLine(e)})` });
      }
    });
  });
}

async function probePython(opts: DoctorOptions, env: NodeJS.ProcessEnv): Promise<PythonProbe> {
  const command = pythonCommand(opts.python, env);
  const source = opts.python ? '--python' : env['BALANCEDBIO_PYTHON'] ? 'BALANCEDBIO_PYTHON' : 'default';
  const probe: PythonProbe = { command, source };
  const v = await pythonVersion(command, env);
  if ('problem' in v) return { ...probe, problem: v.problem };
  Object.assign(probe, v);
  const worker = new WorkerProcess({ python: command, timeoutMs: opts.helloTimeoutMs ?? HELLO_TIMEOUT_MS, env });
  try {
    probe.torch = await worker.request('hello');
  } catch (e) {
    if (!(e instanceof BbioError)) throw e;
    probe.torchProblem = oneLine(e);
  } finally {
    await worker.close();
  }
  return probe;
}

/** auto's rule (DESIGN.md, Backends): torch when the configured Python imports torch, else the first tfjs backend that loads. */
export function autoChoice(tfjs: readonly BackendProbe[], python: PythonProbe): DoctorReport['auto'] {
  if (python.torch) return { backend: 'torch', reason: `${python.executable ?? python.command} imports torch ${python.torch.torch}` };
  const why = python.problem ?? python.torchProblem ?? 'torch is not importable';
  const first = tfjs.find((p) => p.available);
  const skipped = tfjs.slice(0, first ? tfjs.indexOf(first) : tfjs.length).map((p) => `${p.kind} unavailable`);
  return { backend: first?.kind ?? 'none', reason: [`no torch (${why})`, ...skipped].join('; ') };
}

export async function collectDoctorReport(opts: DoctorOptions, env: NodeJS.ProcessEnv): Promise<DoctorReport> {
  const [tfjs, python, sbatch, flags] = await Promise.all([probeBackends(opts.load ? { load: opts.load } : {}), probePython(opts, env), findOnPath('sbatch', env), cpuFlags()]);
  return {
    node: { version: process.version, platform: process.platform, arch: process.arch, cpus: os.availableParallelism(), cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cpuFlags: flags },
    tfjs,
    python,
    slurm: { sbatch },
    env: Object.fromEntries(DOCTOR_ENV.map((k) => [k, env[k] ?? null])) as DoctorReport['env'],
    auto: autoChoice(tfjs, python),
  };
}

const GIB = 1024 ** 3;

/** The torch lines: versions, devices, dtype, attention, BLAS kernel and threads as the worker reports them. */
function torchLines(t: HelloResult, coretypeEnv: string | null): string[][] {
  const devices = t.cuda.length ? `CUDA ${t.cudaVersion ?? '?'}: ${t.cuda.map((n, i) => `cuda:${i} ${n}`).join(', ')}` : `no CUDA device${t.cudaVersion ? ` (built for CUDA ${t.cudaVersion})` : ' (a CPU build)'}`;
  const rows = [
    ['torch', `${t.torch}, ${devices}`],
    ['bf16', t.bf16 ? 'yes: model.dtype auto picks bfloat16' : 'no: model.dtype auto picks float32'],
    ['sdpa', t.sdpa ? 'yes: attention through scaled_dot_product_attention' : 'no (torch < 2.0): attention is an explicit softmax'],
  ];
  const ob = t.blas?.openblas;
  const blas = ob
    ? `OpenBLAS ${ob.variant}, kernel ${ob.coretype ?? '?'} (${coretypeEnv ? 'OPENBLAS_CORETYPE' : 'detected from the CPU'}), ${ob.threads ?? '?'} thread(s) — ${ob.config} (${ob.path})`
    : t.blas ? `${t.blas.mkl ? 'MKL' : `BLAS_INFO=${t.blas.build ?? '?'}`} (no OpenBLAS loaded)` : 'not reported by this worker';
  rows.push(['blas', blas]);
  if (t.threads) rows.push(['threads', `torch ${t.threads.intraop} intra-op, ${t.threads.interop} inter-op${t.cpuCapability ? `; torch CPU kernels ${t.cpuCapability}` : ''}`]);
  if (t.memory?.cudaAllocatedBytes != null) rows.push(['memory', `${(t.memory.cudaAllocatedBytes / GIB).toFixed(2)} GiB allocated on CUDA`]);
  return rows;
}

export function formatDoctor(r: DoctorReport): string[] {
  const rows: string[][] = [['check', 'finding']];
  rows.push(['node', `${r.node.version} ${r.node.platform} ${r.node.arch}, ${r.node.cpus} CPU(s): ${r.node.cpu}${r.node.cpuFlags.length ? ` [${r.node.cpuFlags.join(' ')}]` : ''}`]);
  for (const p of r.tfjs) rows.push([`tfjs ${p.kind}`, `${p.available ? 'available' : 'unavailable'}: ${p.detail}`]);
  const py = r.python;
  const from = py.source === 'default' ? 'default python3' : py.source;
  rows.push(['python', py.problem ? `${py.problem} (from ${from})` : `${py.executable} ${py.version} (${py.command}, from ${from})`]);
  if (!py.problem) {
    if (py.torch) rows.push(...torchLines(py.torch, r.env.OPENBLAS_CORETYPE));
    else rows.push(['torch', `not usable: ${py.torchProblem ?? 'no answer'} (set BALANCEDBIO_PYTHON or --python to a Python that imports torch; on Debian /usr/bin/python3 with python3-torch)`]);
  }
  rows.push(['env', DOCTOR_ENV.map((k) => `${k}=${r.env[k] ?? '(unset)'}`).join(' ')]);
  rows.push(['slurm', r.slurm.sbatch ? `sbatch at ${r.slurm.sbatch}` : 'sbatch not on PATH (executor: slurm unavailable here)']);
  rows.push(['auto', `${r.auto.backend}: ${r.auto.reason}`]);
  return table(rows);
}

/** `balancedbio doctor [--json] [--python CMD]`: always exit 0; problems are findings, one line each. */
export async function runDoctor(opts: DoctorOptions, io: CliIo): Promise<number> {
  const report = await collectDoctorReport(opts, io.env ?? process.env);
  if (opts.json) io.out(JSON.stringify(report, null, 2));
  else for (const line of formatDoctor(report)) io.out(line);
  return EXIT.ok;
}
