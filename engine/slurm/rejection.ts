/**
 * sbatch's refusals, pointed at the line of the experiment file they come from: Slurm's own message is
 * passed through unchanged, located at the `slurm:` key it is about (messages of Slurm 22.05's
 * src/common/slurm_errno.c).
 */
import type { SourceMap } from '../config/positions';
import { BbioError } from '../util/errors';

/** Slurm's words → the `slurm:` key they blame, with what to do. */
const CULPRITS: readonly { match: RegExp; key: string; hint: string }[] = [
  // account first: "Invalid account or account/partition combination specified" names both
  { match: /account/i, key: 'account', hint: 'set slurm.account to one of yours (`sacctmgr show assoc user=$USER`), or leave it out' },
  { match: /partition/i, key: 'partition', hint: 'set slurm.partition to one `sinfo -s` lists, or leave it out for the default partition' },
  { match: /qos/i, key: 'qos', hint: 'set slurm.qos to one your account may use, or leave it out' },
  { match: /time limit/i, key: 'time', hint: 'lower slurm.time below the partition\'s limit (`sinfo -o "%P %l"`)' },
  { match: /gres|generic resource/i, key: 'gpus', hint: 'ask for GPUs on a partition that has them, or set slurm.gpus: 0' },
  { match: /memory/i, key: 'memory', hint: 'lower slurm.memory to what the partition\'s nodes have' },
  { match: /cpu/i, key: 'cpus', hint: 'lower slurm.cpus to what the partition\'s nodes have' },
];

/** The `slurm:` key an sbatch message is about, if it names one. */
export function culpritOf(message: string): { key: string; hint: string } | undefined {
  return CULPRITS.find((c) => c.match.test(message));
}

/**
 * An E_SLURM_REJECTED error re-pointed at the experiment file: the line of the `slurm.<key>` it blames,
 * or of the `slurm:` block (or the file) when the message names no key the file sets.
 */
export function locateRejection(err: BbioError, file: string, sourceMap: SourceMap | undefined): BbioError {
  const culprit = culpritOf(err.message);
  const where = sourceMap?.valueRange(culprit ? ['slurm', culprit.key] : ['slurm']);
  const line = where?.line;
  return new BbioError('E_SLURM_REJECTED', err.message, { file, ...(line ? { line, column: where.column } : {}) }, culprit?.hint ?? 'check the slurm: block against what `sinfo` and `sacctmgr` show for your account', { cause: err });
}
