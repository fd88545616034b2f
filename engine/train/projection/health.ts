/**
 * Plain-language health notes for the gradient projection, from the numbers SFT already measures each
 * logged step (pairwise cosines before and after projection, per-capability norms, how often a pair
 * conflicts). Each rule is a threshold and a sentence a researcher can act on; the editor's health panel
 * shows them next to the GRPO notes. Thresholds are rules of thumb, not results: a conflict is a negative
 * cosine (Yu et al. 2020, "Gradient Surgery", §3), and PCGrad removes it pairwise, so a clearly negative
 * cosine after projection means the projection could not remove it (three or more capabilities projected
 * in sequence can re-introduce small conflicts).
 */
import type { PairStat, ProjectionMethod } from '../../compute/projection/combine';

export interface HealthNote {
  metric: 'sft/cosine_raw' | 'sft/cosine_projected' | 'sft/grad_norm_projected' | 'sft/conflict_fraction';
  value: number;
  capability: string;
  other?: string;
  meaning: string;
}

/** A conflict this strong, left unprojected, is worth a note. */
export const RAW_CONFLICT = -0.1;
/** After projection, a cosine below this is a conflict the projection did not remove. */
export const PROJECTED_CONFLICT = -0.1;
/** Projection that keeps less than this share of a capability's gradient slows that capability down. */
export const KEPT_NORM = 0.5;
/** A pair that conflicts on more than this share of steps is fighting over the same parameters. */
export const FREQUENT_CONFLICT = 0.5;

export interface HealthInput {
  capabilities: readonly string[];
  method: ProjectionMethod;
  pairs: readonly PairStat[];
  normsRaw: readonly number[];
  normsProjected: readonly number[];
  /** pair index in `pairs` → share of logged steps on which the pair conflicted so far */
  conflictFractions: readonly number[];
  /** steps logged so far: the conflict-frequency rule waits for a few, one step is no frequency */
  loggedSteps: number;
}

export function projectionHealth(h: HealthInput): HealthNote[] {
  const notes: HealthNote[] = [];
  const name = (i: number): string => h.capabilities[i] ?? String(i);
  h.pairs.forEach((p, k) => {
    const a = name(p.a);
    const b = name(p.b);
    if (h.method === 'none' && p.cosineRaw < RAW_CONFLICT) {
      notes.push({ metric: 'sft/cosine_raw', value: p.cosineRaw, capability: a, other: b, meaning: `the ${a} and ${b} gradients point against each other (cosine ${p.cosineRaw.toFixed(2)}) and nothing removes the conflict: a step that helps one undoes part of the other; try sft.projection: pcgrad` });
    }
    if (h.method !== 'none' && p.cosineProjected < PROJECTED_CONFLICT) {
      notes.push({ metric: 'sft/cosine_projected', value: p.cosineProjected, capability: a, other: b, meaning: `after projection the ${a} and ${b} updates still conflict (cosine ${p.cosineProjected.toFixed(2)}): with several capabilities, a later projection can re-introduce a conflict; subspace projection handles many capabilities at once` });
    }
    const f = h.conflictFractions[k];
    if (f !== undefined && h.loggedSteps >= 5 && f > FREQUENT_CONFLICT) {
      notes.push({ metric: 'sft/conflict_fraction', value: f, capability: a, other: b, meaning: `${a} and ${b} conflict on ${(f * 100).toFixed(0)} % of steps: they compete for the same LoRA parameters; ${h.method === 'none' ? 'enable a projection' : 'the projection is doing real work here'}, and consider per-capability adapters (lora.adapters: per_capability)` });
    }
  });
  if (h.method !== 'none') {
    h.normsRaw.forEach((raw, i) => {
      const kept = raw > 0 ? (h.normsProjected[i] ?? 0) / raw : 1;
      if (kept < KEPT_NORM) {
        notes.push({ metric: 'sft/grad_norm_projected', value: kept, capability: name(i), meaning: `projection removed ${((1 - kept) * 100).toFixed(0)} % of the ${name(i)} gradient: ${name(i)} learns slowly while it conflicts this much; a larger capability weight or a subspace projection keeps more of it` });
      }
    });
  }
  return notes;
}
