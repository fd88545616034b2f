/** Processes for tests of what a killed writer leaves behind. */
import { spawn } from 'node:child_process';
import { writerOf, type RunWriter } from '../../schemas/run-writer';

/** The identity (pid, start time, host) of a process that was SIGKILLed: what a writer killed mid-run leaves as a lock's owner. */
export async function killedWriter(): Promise<RunWriter> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    p.once('spawn', resolve);
    p.once('error', reject);
  });
  const who = writerOf(p.pid!);
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.kill('SIGKILL');
  await exited;
  return who;
}
