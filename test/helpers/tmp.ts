import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { PathPolicy } from '../../engine/config/paths';

/** A fresh temp folder removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'bbio-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const REPO = path.resolve(__dirname, '../..');
export const QUICKSTART = path.join(REPO, 'examples/quickstart.bbio.yaml');

/**
 * Load options for an experiment file in a test folder: that folder is its workspace (the engine refuses
 * paths outside the workspace, and the tests' current directory is the repository).
 */
export function workspaceOf(file: string, allowed: string[] = []): { paths: PathPolicy } {
  return { paths: { workspace: [path.dirname(path.resolve(file))], allowed } };
}
