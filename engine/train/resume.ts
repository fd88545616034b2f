/**
 * Resuming a training stage from its checkpoint through the backend. When the newest checkpoint did not
 * verify (a sha256 mismatch, a torn write) the backend falls back to the previous good one; the stage then
 * says so twice: a warning event for the live views, and a note in state.json for whoever reads the run later.
 */
import * as path from 'node:path';
import type { Compute, RestoredCheckpoint } from '../compute/types';
import type { StageContext } from '../core/stage';

export async function resumeFromCheckpoint<S>(ctx: StageContext, compute: Compute, stage: 'pretrain' | 'sft' | 'grpo'): Promise<RestoredCheckpoint<S> | null> {
  if (!ctx.resume) return null;
  const ck = await compute.loadCheckpoint<S>(ctx.checkpointDir);
  if (ck && ck.rejected.length) {
    const msg = `resumed from ${path.basename(ck.dir)} (step ${ck.step}): ${ck.rejected.map((r) => `${path.basename(r.dir)} ${r.problem}`).join('; ')}`;
    ctx.log.warn(`${stage}: ${msg}`);
    ctx.events.emit({ kind: 'log', stage, level: 'warn', step: ck.step, msg, fields: { checkpoint: path.relative(ctx.runDir, ck.dir), rejected: ck.rejected.map((r) => path.relative(ctx.runDir, r.dir)) } });
    await ctx.note(msg);
  }
  return ck;
}
