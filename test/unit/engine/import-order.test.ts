/**
 * The dependency order between engine folders (issue 15): each folder may import only folders of its own
 * level or below, and no two folders may import each other, directly or round a loop. Type-only imports
 * count too: a type is part of a folder's vocabulary, so it lives where every user may reach it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../../helpers/tmp';

/** Lowest first. A folder may import its own level and the levels below it. `compute` may not exist yet. */
const LEVELS: readonly (readonly string[])[] = [
  ['util'],
  ['core'],
  ['config'],
  ['ontology', 'model', 'verify'],
  ['compute'],
  ['synth', 'train', 'rl', 'eval'],
  ['run'],
  ['slurm'],
  ['cli'],
];
const LEVEL = new Map(LEVELS.flatMap((names, level) => names.map((n) => [n, level] as const)));
const ENGINE = path.join(REPO, 'engine');

/** Static imports, re-exports and dynamic imports of a relative module path. */
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

export interface FolderEdge { from: string; to: string; file: string; spec: string }

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The engine folder a path lies in, or `(engine root)` for a file directly under engine/; undefined outside engine/. */
function folderOf(file: string): string | undefined {
  const rel = path.relative(ENGINE, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0]! : '(engine root)';
}

export function engineImportEdges(): FolderEdge[] {
  const edges: FolderEdge[] = [];
  for (const file of tsFiles(ENGINE)) {
    const from = folderOf(file)!;
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT_RE)) {
      const to = folderOf(path.resolve(path.dirname(file), m[1]!));
      if (to !== undefined && to !== from) edges.push({ from, to, file: path.relative(REPO, file), spec: m[1]! });
    }
  }
  return edges;
}

/** One folder cycle as `a → b → … → a`, or undefined when the folder graph is acyclic. */
function findCycle(edges: readonly FolderEdge[]): string | undefined {
  const next = new Map<string, Set<string>>();
  for (const e of edges) next.set(e.from, (next.get(e.from) ?? new Set()).add(e.to));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string | undefined => {
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n].join(' → ');
    if (state.get(n) === 'done') return undefined;
    state.set(n, 'open');
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      const found = visit(m);
      if (found) return found;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of next.keys()) {
    const found = visit(n);
    if (found) return found;
  }
  return undefined;
}

test('every engine folder has a place in the dependency order', () => {
  const folders = readdirSync(ENGINE, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  const unplaced = folders.filter((f) => !LEVEL.has(f));
  assert.deepEqual(unplaced, [], `engine folders outside the order ${LEVELS.map((l) => l.join(', ')).join(' → ')}: place them in LEVELS`);
  const loose = readdirSync(ENGINE, { withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => e.name);
  assert.deepEqual(loose, [], 'engine source files belong in a folder of the order');
});

test('no engine folder imports a folder above it', () => {
  const back = engineImportEdges()
    .filter((e) => LEVEL.has(e.from) && LEVEL.has(e.to) && LEVEL.get(e.to)! > LEVEL.get(e.from)!)
    .map((e) => `${e.file}: ${e.from} → ${e.to} ('${e.spec}')`);
  assert.deepEqual(back, []);
});

test('engine folders do not import each other round a loop', () => {
  assert.equal(findCycle(engineImportEdges()), undefined);
});

test('the import scan sees imports of every form', () => {
  const src = `import a from '../x/a';\nimport type { B } from '../y/b';\nexport { c } from "../z/c";\nconst d = await import('../w/d');\nimport '../v/e';`;
  assert.deepEqual([...src.matchAll(IMPORT_RE)].map((m) => m[1]), ['../x/a', '../y/b', '../z/c', '../w/d', '../v/e']);
});
