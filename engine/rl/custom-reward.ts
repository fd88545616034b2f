/**
 * User reward components (`grpo.rewards[].name: custom`): a JavaScript module, path relative to the
 * experiment file, exporting
 *
 *   reward(example, completion) => number | { score: number, breakdown?: Record<string, number|string> }
 *
 * where `example` is the JSONL record (prompt, answer, provenance, …) and the score is clipped to [0, 1].
 * Return `null` where the reward does not apply. User code runs only in the engine process, and the
 * editor starts no run in an untrusted workspace. The config loader checks statically that the file
 * exports `reward` (without running it: engine/config/semantic.ts); this loader checks it is a function before the first step.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Experiment } from '../../schemas/generated/experiment';
import type { SynthExample } from '../core/example';
import { BbioError } from '../util/errors';
import type { RewardResult } from '../verify/rewards';
import type { ComponentSpec } from './hybrid-reward';

type UserReward = (example: SynthExample, completion: string) => number | { score: number; breakdown?: Record<string, number | string> } | null;

export async function loadCustomRewards(config: Experiment, experimentFile: string): Promise<Map<string, ComponentSpec>> {
  const out = new Map<string, ComponentSpec>();
  for (const r of config.grpo.rewards) {
    if (r.name !== 'custom') continue;
    const file = path.resolve(path.dirname(experimentFile), r.module!);
    if (/\.tsx?$/.test(file)) throw new BbioError('E_CONFLICT', `reward module ${r.module} is TypeScript; the engine loads JavaScript`, { file }, 'compile it to .js (e.g. with tsc or esbuild) and point `module` at the .js file');
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (e) {
      throw new BbioError('E_FILE_MISSING', `cannot load reward module ${r.module}: ${(e as Error).message}`, { file }, 'check the path and that the module runs under Node', { cause: e });
    }
    const fn = (mod.reward ?? (mod.default as Record<string, unknown> | undefined)?.reward) as UserReward | undefined;
    if (typeof fn !== 'function') throw new BbioError('E_CONFLICT', `reward module ${r.module} does not export a function \`reward\``, { file }, 'export function reward(example, completion) { return 0..1 }');
    out.set(r.id!, {
      id: r.id!,
      weight: r.weight,
      fn: (ex, completion): RewardResult | null => {
        const v = fn(ex, completion);
        if (v === null || v === undefined) return null;
        const score = typeof v === 'number' ? v : v.score;
        if (!Number.isFinite(score)) throw new BbioError('E_NAN', `reward module ${r.module} returned ${String(score)} for example ${ex.id}`, { file }, 'return a finite number in [0, 1]');
        return { score, breakdown: typeof v === 'number' ? {} : (v.breakdown ?? {}) };
      },
    });
  }
  return out;
}
