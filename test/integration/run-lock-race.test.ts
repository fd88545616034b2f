import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import * as readline from 'node:readline';
import { test } from 'node:test';
import { acquireRunLock } from '../../engine/run/run-lock';
import { readEvents, RunStore } from '../../engine/run/store';
import { killedWriter } from '../helpers/processes';
import { QUICKSTART, REPO, tempDir } from '../helpers/tmp';

const CHILD = path.join(__dirname, 'run-lock-child.ts');
const ROUNDS = 20;

/** A run-lock-child process: send a command, await its one-line answer (with a timeout, never a sleep). */
function startWorker(runDir: string): { ask(cmd?: string): Promise<string>; kill(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, runDir], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (l) => (waiters.length ? waiters.shift()!(l) : lines.push(l)));
  return {
    ask(cmd?: string) {
      if (cmd) child.stdin!.write(cmd + '\n');
      return new Promise<string>((resolve, reject) => {
        if (lines.length) return resolve(lines.shift()!);
        const timer = setTimeout(() => reject(new Error(`worker ${child.pid}: no answer to ${cmd ?? 'start'} in 30 s`)), 30_000);
        waiters.push((l) => {
          clearTimeout(timer);
          resolve(l);
        });
      });
    },
    kill: () => child.kill('SIGKILL'),
  };
}

test(`lock race: ${ROUNDS} concurrent resume pairs on a run whose writer was SIGKILLed, exactly one writer each time`, async (t) => {
  const dir = await tempDir(t);
  const created = await RunStore.create({ runsDir: dir, name: 'race', experimentFile: QUICKSTART, resolvedYaml: 'name: race\n', sourceText: 'name: race\n', manifest: {} });
  await created.close();
  const runDir = created.runDir;
  const workers = [startWorker(runDir), startWorker(runDir)];
  t.after(() => workers.forEach((w) => w.kill()));
  assert.deepEqual(await Promise.all(workers.map((w) => w.ask())), ['ready', 'ready']);

  for (let round = 0; round < ROUNDS; round++) {
    // The lock is left held by a writer that no longer exists, as after `kill -9` of a run. (The killed
    // process is a bare node that never opened the run: its identity is what the lock records.)
    await acquireRunLock(runDir, await killedWriter());
    const answers = await Promise.all(workers.map((w) => w.ask('open')));
    const winners = answers.flatMap((a, i) => (a === 'won' ? [i] : []));
    assert.equal(winners.length, 1, `round ${round}: exactly one resume wins, got ${answers.join(' / ')}`);
    assert.equal(answers[1 - winners[0]!], 'lost E_RUN_LOCKED', `round ${round}: the other gets E_RUN_LOCKED`);
    assert.equal(await workers[winners[0]!]!.ask('close'), 'closed');
  }
  const { events, badLines } = await readEvents(runDir);
  assert.deepEqual(badLines, []);
  assert.equal(events.filter((e) => e.kind === 'log' && e.msg.startsWith('writer ')).length, ROUNDS, 'one writer appended per round');
});
