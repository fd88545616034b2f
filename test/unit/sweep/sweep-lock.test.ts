/**
 * The sweep's lock is the run lock (issue 20 item 2, applied to sweeps): two `--resume`s of one killed
 * sweep never both win, and the loser gets E_RUN_LOCKED, not a lock library's internal error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acquireRunLock } from '../../../engine/run/run-lock';
import { SweepStore } from '../../../engine/run/sweep-store';
import { BbioError } from '../../../engine/util/errors';
import { killedWriter } from '../../helpers/processes';
import { tempDir } from '../../helpers/tmp';

test('two resumes of a killed sweep: exactly one wins, the other gets E_RUN_LOCKED; a live holder keeps it', async (t) => {
  const runsDir = await tempDir(t);
  const store = await SweepStore.create({ runsDir, name: 'lock', experimentFile: 'x.bbio.yaml', sourceText: 'name: lock\n', variants: [], parallel: 1, stepsScale: 1 });
  const dir = store.sweepDir;
  await store.close();
  for (let round = 0; round < 5; round++) {
    await acquireRunLock(dir, await killedWriter(), 'sweep'); // what `kill -9` of the sweep leaves behind
    const [a, b] = await Promise.allSettled([SweepStore.open(dir), SweepStore.open(dir)]);
    const won = [a, b].filter((r): r is PromiseFulfilledResult<SweepStore> => r.status === 'fulfilled');
    const lost = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, `round ${round}: exactly one resume wins (${lost.map((l) => String(l.reason)).join('; ')})`);
    assert.ok(lost[0]!.reason instanceof BbioError && lost[0]!.reason.code === 'E_RUN_LOCKED', `round ${round}: ${String(lost[0]!.reason)}`);
    await assert.rejects(SweepStore.open(dir), (e: unknown) => e instanceof BbioError && e.code === 'E_RUN_LOCKED' && /sweep .* is being written by another process/.test(e.message));
    await won[0]!.value.close();
  }
});
