/**
 * Where the built-in clinical graph lives. The engine runs from source (engine/ontology/, via tsx) and
 * bundled by esbuild (dist/cli.js, dist/server.js), so a path relative to this module breaks in one of the
 * two; the package root (the nearest folder with package.json) is the same in both.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { BbioError } from '../util/errors';

/** Package-relative location of the curated clinical ontology. */
export const BUILTIN_ONTOLOGY_RELATIVE = path.join('engine', 'ontology', 'data', 'clinical.obo');

async function isFile(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** The nearest ancestor of `from` (inclusive) that holds a package.json. */
export async function findPackageRoot(from: string = __dirname): Promise<string> {
  let dir = path.resolve(from);
  for (;;) {
    if (await isFile(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new BbioError('E_ONTOLOGY_MISSING', `no package.json above ${from}; cannot locate the built-in ontology`, {},
        'reinstall BalancedBio Studio, or set data.ontology to an OBO file');
    }
    dir = parent;
  }
}

/** Absolute path of engine/ontology/data/clinical.obo under the package root found from `from`. */
export async function builtinOntologyPath(from: string = __dirname): Promise<string> {
  return path.join(await findPackageRoot(from), BUILTIN_ONTOLOGY_RELATIVE);
}
