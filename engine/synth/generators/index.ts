/** One generator per capability, keyed by the capability enum. */
import type { Capability } from '../../core/stage';
import type { Generator } from './common';
import { domainGenerator } from './domain';
import { instructionGenerator } from './instruction';
import { integrationGenerator } from './integration';
import { reasoningGenerator } from './reasoning';

export const GENERATORS: Record<Capability, Generator> = {
  domain: domainGenerator,
  reasoning: reasoningGenerator,
  instruction: instructionGenerator,
  integration: integrationGenerator,
};
