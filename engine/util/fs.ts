/** Small file-system helpers shared by the run store, sweeps and the Slurm executor. */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { BbioError } from './errors';

/** The entries of `dir`; none when it does not exist (yet); any other failure is E_IO naming the folder. */
export async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BbioError('E_IO', `cannot list ${dir}: ${(e as Error).message}`, { file: dir }, undefined, { cause: e });
  }
}
