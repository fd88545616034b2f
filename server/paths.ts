/**
 * Where things are, from wherever the server runs: the bundle dist/server.js, or server/*.ts under tsx.
 * Both live in the package, so walking up to package.json finds the repository root and the CLI bin.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'balancedbio-studio';

/** The nearest ancestor of `from` holding this package's package.json. */
export async function findPackageRoot(from: string): Promise<string> {
  let dir = path.resolve(from);
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === PACKAGE_NAME) return dir;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && !(e instanceof SyntaxError)) throw e;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${from}`);
    dir = up;
  }
}

export function cliBinPath(root: string): string {
  return path.join(root, 'bin', 'balancedbio.js');
}

/** Experiment documents are `*.bbio.yaml` / `*.bbio.yml`; every other document is ignored. */
export function isExperimentUri(uri: string): boolean {
  return /\.bbio\.ya?ml$/i.test(uri.split(/[?#]/)[0] ?? '');
}

/** The file path of a document URI; non-file URIs (untitled:) keep their path part. */
export function uriToPath(uri: string): string {
  if (uri.startsWith('file:')) {
    try {
      return fileURLToPath(uri);
    } catch (e) {
      throw new Error(`not a valid file URI: ${uri}`, { cause: e });
    }
  }
  const m = /^[a-z][a-z0-9+.-]*:(.*)$/i.exec(uri);
  return path.resolve(decodeURIComponent(m?.[1] ?? uri));
}
