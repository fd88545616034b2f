/**
 * Clinical workflow constraints as explicit rules (DESIGN.md, MKGSG). Each rule is applied by the
 * generators when they choose content (`isSafeTreatment`, `canConfirm`, WORKFLOW_ORDER) and checked
 * afterwards on the finished example, so a generator bug is caught and counted, not shipped.
 * Which rules run is `synthesis.workflow_constraints`.
 */
import type { SynthGraph } from './graph';
import { hasEdge, targets } from './graph';
import type { SynthExample, WorkflowStage } from '../core/example';
import type { RejectReason } from './types';
import { WORKFLOW_ORDER } from '../core/example';

export type WorkflowRule = 'ordering' | 'contraindication' | 'confirmatory_test';

/** Every condition the drug is contraindicated in (directly or through its drug class). */
function contraindications(g: SynthGraph, drug: string): Set<string> {
  const out = new Set<string>();
  for (const d of [drug, ...g.ancestors(drug)]) for (const c of targets(g, d, g.rel.contraindicatedIn)) out.add(c);
  return out;
}

/** True when no stated condition (or an is_a ancestor of one) is a contraindication of the drug. */
export function isSafeTreatment(g: SynthGraph, drug: string, conditions: readonly string[]): boolean {
  const contra = contraindications(g, drug);
  if (!contra.size) return true;
  return conditions.every((c) => !contra.has(c) && ![...g.ancestors(c)].some((a) => contra.has(a)));
}

/** The test can confirm the diagnosis: a `diagnosed_by` edge from the disease (or an is_a ancestor). */
export function canConfirm(g: SynthGraph, test: string, diagnosis: string): boolean {
  return [diagnosis, ...g.ancestors(diagnosis)].some((d) => hasEdge(g, d, g.rel.diagnosedBy, test));
}

/** Where each workflow stage first appears in the response: a `Heading:` line or a `"heading":` JSON key. */
export function stagePositions(response: string): Partial<Record<WorkflowStage, number>> {
  const lower = response.toLowerCase();
  const at: Partial<Record<WorkflowStage, number>> = {};
  for (const stage of WORKFLOW_ORDER) {
    const m = new RegExp(`(^|\\n)\\s*(?:#+\\s*)?(?:\\*\\*)?${stage}(?:\\*\\*)?\\s*:|"${stage}"\\s*:`).exec(lower);
    if (m) at[stage] = m.index;
  }
  return at;
}

function isOrdered(stages: readonly WorkflowStage[]): boolean {
  const idx = stages.map((s) => WORKFLOW_ORDER.indexOf(s));
  return idx.every((v, i) => i === 0 || v >= idx[i - 1]!);
}

interface RuleSpec {
  reason: RejectReason;
  /** True when the example satisfies the rule (examples without clinical content pass vacuously). */
  check(ex: SynthExample, g: SynthGraph): boolean;
}

export const WORKFLOW_RULES: Record<WorkflowRule, RuleSpec> = {
  ordering: {
    reason: 'workflow_ordering',
    check: (ex) => {
      if (!ex.clinical) return true;
      const stepStages = (ex.steps ?? []).flatMap((s) => (s.stage ? [s.stage] : []));
      const pos = stagePositions(ex.response);
      const inResponse = WORKFLOW_ORDER.filter((s) => pos[s] !== undefined);
      const responseOrdered = inResponse.every((s, i) => i === 0 || pos[s]! > pos[inResponse[i - 1]!]!);
      return isOrdered(ex.clinical.order) && isOrdered(stepStages) && responseOrdered;
    },
  },
  contraindication: {
    reason: 'workflow_contraindication',
    check: (ex, g) => {
      if (!ex.clinical) return true;
      const stated = [...ex.clinical.comorbidities, ...(ex.clinical.diagnosis ? [ex.clinical.diagnosis] : [])];
      return ex.clinical.treatments.every((t) => isSafeTreatment(g, t, stated));
    },
  },
  confirmatory_test: {
    reason: 'workflow_confirmatory_test',
    check: (ex, g) => {
      const c = ex.clinical;
      if (!c?.test) return true;
      return c.diagnosis !== undefined && canConfirm(g, c.test, c.diagnosis);
    },
  },
};

/** Reasons the example breaks the enabled rules (empty when it passes). */
export function checkWorkflow(ex: SynthExample, g: SynthGraph, rules: ReadonlySet<WorkflowRule>): RejectReason[] {
  return [...rules].filter((r) => !WORKFLOW_RULES[r].check(ex, g)).map((r) => WORKFLOW_RULES[r].reason);
}
