/** Shared setup for the MKGSG tests: the mini clinical fixture and a default synthesis config. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseObo } from '../../../engine/ontology/obo';
import type { Ontology } from '../../../engine/ontology/types';
import type { SynthConfig } from '../../../engine/synth/types';

export const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/synth/mini-clinical.obo');

export function loadFixture(): Ontology {
  return parseObo(readFileSync(FIXTURE, 'utf8'), FIXTURE);
}

export function synthConfig(over: Partial<SynthConfig> = {}): SynthConfig {
  return {
    examples: { domain: 60, reasoning: 40, instruction: 40, integration: 20 },
    hops: { min: 2, max: 4 },
    workflow_constraints: ['ordering', 'contraindication', 'confirmatory_test'],
    validation: 'strict',
    split: { by: 'entity', val: 0.1, test: 0.15 },
    focus_terms: [],
    templates_per_example: 1,
    near_duplicate_threshold: 0.9,
    ...over,
  };
}
