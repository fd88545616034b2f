/**
 * Child process for the lock race test: a resume that only opens the run store, writes one event and
 * closes, with no model behind it so twenty rounds take seconds. argv: <runDir>. Reads commands on stdin,
 * one a line, and answers each on stdout:
 *   open  → `won` (it holds the run and wrote an event) or `lost <code>` (e.g. E_RUN_LOCKED)
 *   close → `closed`
 */
import * as readline from 'node:readline';
import { RunStore } from '../../engine/run/store';
import { BbioError } from '../../engine/util/errors';

const runDir = process.argv[2]!;
let store: RunStore | undefined;
const say = (line: string): void => {
  process.stdout.write(line + '\n');
};

readline.createInterface({ input: process.stdin }).on('line', (cmd) => {
  const handle = async (): Promise<void> => {
    if (cmd === 'open') {
      try {
        store = await RunStore.open(runDir);
      } catch (e) {
        say(e instanceof BbioError ? `lost ${e.code}` : `error ${String(e)}`);
        return;
      }
      store.appendEvent({ v: 1, t: Date.now(), runId: store.runId, kind: 'log', level: 'info', msg: `writer ${process.pid}` });
      say('won');
    } else if (cmd === 'close') {
      await store?.close();
      store = undefined;
      say('closed');
    }
  };
  handle().catch((e: unknown) => say(`error ${String(e)}`));
});
say('ready');
