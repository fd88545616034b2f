/** The pre-launch memory estimate of a document, against this machine's memory. */
import { estimateMemory, formatBytes } from '../../engine/config/memory-estimate';
import type { Analysis } from '../analysis';
import type { MemoryEstimateInfo } from '../protocol';
import type { FeatureContext } from './context';

export async function memoryEstimateOf(analysis: Analysis, ctx: FeatureContext): Promise<MemoryEstimateInfo | undefined> {
  if (!analysis.config) return undefined;
  const ckpt = await ctx.analyzer.checkpointConfig(analysis);
  const e = estimateMemory(analysis.config, ckpt);
  return { ...e, machineBytes: ctx.machineMemoryBytes, fraction: e.totalBytes / ctx.machineMemoryBytes };
}

/** `≈ 45 MiB peak (weights 3.3 MiB · LoRA 292 KiB · …) · 0.2% of 24 GiB` */
export function formatEstimate(m: MemoryEstimateInfo): string {
  const p = m.parts;
  const parts = [`weights ${formatBytes(p.weights)}`, `LoRA ${formatBytes(p.lora)}`, `optimizer ${formatBytes(p.optimizer)}`, `activations ${formatBytes(p.activations)}`, `KV cache ${formatBytes(p.kvCache)}`];
  const pct = m.fraction * 100;
  return `≈ ${formatBytes(m.totalBytes)} peak (${parts.join(' · ')}) · ${pct < 0.1 ? '<0.1' : pct.toFixed(pct < 10 ? 1 : 0)}% of ${formatBytes(m.machineBytes)}`;
}
