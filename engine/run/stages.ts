/**
 * The stage table: every pipeline stage this build can run. A stage whose engine has not landed is absent
 * (the runner reports it as unavailable), never a stand-in that fakes results.
 */
import type { StageDef, StageName } from './types';

export function createStageTable(): Partial<Record<StageName, StageDef>> {
  return {};
}
