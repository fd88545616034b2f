/** Shared setup for the MKGSG tests: the mini clinical fixture and a default synthesis config. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseObo } from '../../../engine/ontology/obo';
import type { Ontology } from '../../../engine/ontology/types';
import type { SynthConfig } from '../../../engine/synth/types';
import { defaultExperiment } from '../../../engine/config/schema-validator';

export const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/synth/mini-clinical.obo');

export function loadFixture(): Ontology {
  return parseObo(readFileSync(FIXTURE, 'utf8'), FIXTURE);
}

/** The schema's default synthesis section, a tenth of its size for the small fixture, with overrides. */
export function synthConfig(over: Partial<SynthConfig> = {}): SynthConfig {
  return { ...defaultExperiment().synthesis, examples: { domain: 60, reasoning: 40, instruction: 40, integration: 20 }, ...over };
}
