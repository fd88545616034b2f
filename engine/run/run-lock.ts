/**
 * The lock that lets one process at a time write a run folder, and lets a resume take over from a writer
 * that was killed without two resumes both winning.
 *
 * The lock is a sequence of generations, `.lock/<gen>.json`, each naming its owner (pid, start time, host).
 * The highest generation is the lock: it is held while its owner is alive and has not marked it released.
 * To acquire, a process reads the highest generation g; if it is free (released, or its owner is dead) it
 * creates g+1 with link(2), which creates a file with its whole content at once and fails if the name
 * exists. Of any number of processes that saw the same g, exactly one creates g+1; the others get EEXIST
 * and look again (and then see a live owner). Generations are never deleted, so a name is never created
 * twice and a process with a stale view cannot win with an old number. Releasing rewrites one's own
 * generation (atomically) with `released: true`. No mtime refresh is needed: liveness comes from the owner's
 * pid and start time (schemas/run-writer.ts), so a killed writer's lock is free at once.
 */
import { randomBytes } from 'node:crypto';
import { access, link, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { writerLiveness, type RunWriter } from '../../schemas/run-writer';
import { BbioError, ioError } from '../util/errors';

export const LOCK_DIR = '.lock';

interface LockRecord extends RunWriter {
  acquiredAt: string;
  released?: boolean;
}

export interface RunLock {
  /** The generation file this process created. */
  readonly file: string;
  release(): Promise<void>;
}

/** Rounds of "look, then try the next generation": more than one only when the holder released meanwhile. */
const MAX_ATTEMPTS = 5;

const GEN = /^(\d{8})\.json$/;

async function highest(dir: string): Promise<{ gen: number; record?: LockRecord }> {
  const gens = (await readdir(dir)).map((f) => GEN.exec(f)?.[1]).filter((g): g is string => g !== undefined).map(Number);
  if (!gens.length) return { gen: 0 };
  const gen = Math.max(...gens);
  const file = path.join(dir, genName(gen));
  try {
    return { gen, record: JSON.parse(await readFile(file, 'utf8')) as LockRecord };
  } catch (e) {
    if (e instanceof SyntaxError) return { gen }; // damaged by hand: no owner to wait for
    throw e;
  }
}

function genName(gen: number): string {
  return `${String(gen).padStart(8, '0')}.json`;
}

/** Takes the lock of `runDir` for `owner`; E_RUN_LOCKED when a live process (or one on another host) holds it. */
export async function acquireRunLock(runDir: string, owner: RunWriter, what = 'run'): Promise<RunLock> {
  const dir = path.join(runDir, LOCK_DIR);
  try {
    await mkdir(dir, { recursive: true });
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const top = await highest(dir);
      if (top.record && !top.record.released) {
        const liveness = writerLiveness(top.record);
        if (liveness !== 'dead') {
          const who = `pid ${top.record.pid}${liveness === 'unknown' ? ` on ${top.record.host ?? 'an unknown host'}` : ''}`;
          const hint = liveness === 'unknown'
            ? `if that process is gone, delete ${path.join(dir, genName(top.gen))}`
            : 'wait for it to finish or cancel it';
          throw new BbioError('E_RUN_LOCKED', `${what} ${path.basename(runDir)} is being written by another process (${who})`, { file: runDir }, hint);
        }
      }
      const record: LockRecord = { ...owner, acquiredAt: new Date().toISOString() };
      const tmp = path.join(dir, `.tmp-${owner.pid}-${randomBytes(6).toString('hex')}`);
      await writeFile(tmp, JSON.stringify(record) + '\n');
      const file = path.join(dir, genName(top.gen + 1));
      try {
        await link(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        continue; // another process took generation gen+1 first: look at its owner
      } finally {
        await unlink(tmp);
      }
      let released = false;
      return {
        file,
        async release() {
          if (released) return;
          try {
            await writeFileAtomic(file, JSON.stringify({ ...record, released: true }) + '\n');
          } catch (e) {
            // the run folder was deleted while open (a test's cleanup, a user's rm): no lock is left to release
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || (await access(file).then(() => true, () => false))) throw e;
          }
          released = true;
        },
      };
    }
  } catch (e) {
    if (e instanceof BbioError) throw e;
    throw ioError(e, dir, 'lock');
  }
  throw new BbioError('E_RUN_LOCKED', `${what} ${path.basename(runDir)}: the lock changed hands ${MAX_ATTEMPTS} times while taking it`, { file: runDir }, 'another process is opening this run right now; try again');
}
