/**
 * Experiment templates for "BalancedBio: New Experiment", one per method choice, all on the built-in
 * clinical ontology and the bio-tiny model. Pure text (no vscode) so a unit test validates every template
 * against the schema and the semantic rules through the engine's loader.
 */

export interface ExperimentTemplate {
  id: string;
  label: string;
  detail: string;
  render(name: string): string;
}

interface Knobs {
  description: string;
  stages: string;
  projection: 'none' | 'pcgrad' | 'subspace' | 'olora';
  weighting: 'fixed' | 'gap' | 'gradnorm';
  sftSteps: number;
  grpoSteps: number;
  comment: string;
}

function body(name: string, k: Knobs): string {
  return `# ${k.comment}
name: ${name}
description: ${JSON.stringify(k.description)}
seed: 1
stages: ${k.stages}

ontology:
  builtin: true          # the clinical graph shipped with BalancedBio (research data, not clinical advice)

synthesis:
  examples:              # validated examples per capability, before the split
    domain: 600
    reasoning: 400
    instruction: 400
    integration: 200
  hops: { min: 2, max: 3 }
  validation: strict
  split: { by: entity, val: 0.1, test: 0.15 }

model:
  preset: bio-tiny
  backend: auto

lora:
  rank: 8
  alpha: 16
  target_modules: [q_proj, v_proj, o_proj, up_proj, down_proj]

sft:
  steps: ${k.sftSteps}
  batch_per_capability: 4
  projection: ${k.projection}
  capability_weights: { domain: 0.25, reasoning: 0.25, instruction: 0.25, integration: 0.25 }

grpo:
  steps: ${k.grpoSteps}
  group_size: 8
  weighting: ${k.weighting}
  rewards:
    - { name: domain, weight: 0.3 }
    - { name: reasoning, weight: 0.3 }
    - { name: instruction, weight: 0.3 }
    - { name: format, weight: 0.1 }

eval:
  suites: [domain, reasoning, instruction, integration]

output:
  runs_dir: ../runs
`;
}

export const TEMPLATES: readonly ExperimentTemplate[] = [
  {
    id: 'balanced',
    label: 'BalancedBio: full method',
    detail: 'MKGSG data → bio-tiny → LoRA with PCGrad projection → capability-aware GRPO (gap weighting) → evaluation',
    render: (name) => body(name, { description: 'The whole BalancedBio method on the built-in clinical graph.', stages: '[synthesize, pretrain, sft, grpo, evaluate]', projection: 'pcgrad', weighting: 'gap', sftSteps: 120, grpoSteps: 20, comment: 'Full method: orthogonal gradient projection (PCGrad) and gap-based adaptive reward weights.' }),
  },
  {
    id: 'subspace',
    label: 'Subspace (gradient-window) projection',
    detail: 'Each capability keeps an orthonormal gradient subspace; updates are projected out of the others',
    render: (name) => body(name, { description: 'LoRA with a subspace projection between capabilities (bases from recent per-capability gradients).', stages: '[synthesize, pretrain, sft, evaluate]', projection: 'subspace', weighting: 'gap', sftSteps: 120, grpoSteps: 20, comment: 'Subspace projection: compare against the PCGrad run to see which keeps capabilities apart.' }),
  },
  {
    id: 'ablation-no-projection',
    label: 'Ablation: no projection',
    detail: 'Plain weighted sum of per-capability gradients (the baseline the method improves on)',
    render: (name) => body(name, { description: 'Ablation: projection off, everything else as the full method.', stages: '[synthesize, pretrain, sft, grpo, evaluate]', projection: 'none', weighting: 'gap', sftSteps: 120, grpoSteps: 20, comment: 'Ablation baseline: compare with "BalancedBio: Compare Runs" against a PCGrad run.' }),
  },
  {
    id: 'ablation-fixed-weights',
    label: 'Ablation: fixed reward weights',
    detail: 'Capability-aware GRPO with fixed instead of adaptive weights',
    render: (name) => body(name, { description: 'Ablation: fixed GRPO reward weights.', stages: '[synthesize, pretrain, sft, grpo, evaluate]', projection: 'pcgrad', weighting: 'fixed', sftSteps: 120, grpoSteps: 20, comment: 'Ablation: the reward weights stay fixed during GRPO.' }),
  },
];

/** A file-name-safe experiment name: lower case, digits and dashes. */
export function slugify(input: string): string {
  return (
    input
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'experiment'
  );
}
