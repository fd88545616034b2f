/**
 * The run status bar item's tooltip: run, stage, ETA, and the compute backend of the run (from its
 * manifest.json, where each stage records `compute.describe()`). Pure, so it is unit-tested in plain node.
 */
import { formatDuration, type ProgressSnapshot } from './progress';

/**
 * The manifest's `backend` entry as the editor shows it (engine/model/backend.ts BackendInfo, plus the
 * device and dtype a worker backend reports), read defensively: the extension does not import the engine,
 * and a manifest from another version may lack fields.
 */
export interface ManifestBackend {
  /** wasm | cpu | native | gpu | torch. */
  kind: string;
  /** The library's own name (tfjs 'wasm', 'tensorflow'; torch's version). */
  name?: string;
  /** torch: cpu, cuda:0, … */
  device?: string;
  /** torch: float32 | bfloat16. */
  dtype?: string;
  threads?: number;
  simd?: boolean;
  /** Why this backend (auto's one line). */
  reason?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The `backend` of a parsed manifest.json, or undefined when it has none yet (no stage has opened one). */
export function manifestBackend(manifest: unknown): ManifestBackend | undefined {
  const b = (manifest as { backend?: unknown } | null)?.backend;
  if (!b || typeof b !== 'object') return undefined;
  const r = b as Record<string, unknown>;
  const kind = str(r['kind']) ?? str(r['name']);
  if (!kind) return undefined;
  const out: ManifestBackend = { kind };
  for (const k of ['name', 'device', 'dtype', 'reason'] as const) {
    const v = str(r[k]);
    if (v) out[k] = v;
  }
  if (out.kind === 'torch') {
    // TorchCompute.describe() names the device and dtype the worker resolved inside its reason
    // ("…, device cuda:0, dtype bfloat16"); SIMD and threads are tfjs's notions and are not shown for it
    const m = /\bdevice (\S+), dtype (\w+)/.exec(out.reason ?? '');
    if (m && !out.device) out.device = m[1]!;
    if (m && !out.dtype) out.dtype = m[2]!;
    return out;
  }
  if (typeof r['threads'] === 'number') out.threads = r['threads'];
  if (typeof r['simd'] === 'boolean') out.simd = r['simd'];
  return out;
}

/** One line: `backend: torch (cuda:0, bfloat16)` or `backend: wasm (SIMD, 1 thread)`, then auto's reason. */
export function formatBackendLine(b: ManifestBackend): string {
  const details =
    b.device || b.dtype
      ? [b.device, b.dtype]
      : [b.simd === undefined ? undefined : b.simd ? 'SIMD' : 'no SIMD', b.threads ? `${b.threads} thread${b.threads === 1 ? '' : 's'}` : undefined];
  const shown = details.filter((d): d is string => Boolean(d));
  return `backend: ${b.kind}${shown.length ? ` (${shown.join(', ')})` : ''}${b.reason ? ` — ${b.reason}` : ''}`;
}

/** The tooltip's lines: run, stage and step, ETA, the last message, the backend, the click hint. */
export function formatTooltip(p: Readonly<ProgressSnapshot>, runId: string | undefined, backend: ManifestBackend | undefined): string {
  const lines = [`BalancedBio run ${runId ?? '(starting)'}`];
  if (p.stage) lines.push(`stage: ${p.stage}${p.step !== undefined ? `, step ${p.step}${p.total !== undefined ? ` of ${p.total}` : ''}` : ''}`);
  if (p.etaMs !== undefined) lines.push(`about ${formatDuration(p.etaMs)} left in this stage`);
  if (p.message) lines.push(p.message);
  if (backend) lines.push(formatBackendLine(backend));
  lines.push('Click to open the dashboard');
  return lines.join('\n');
}
