import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { readEvents, RunStore } from '../../engine/run/store';
import { invalidEvents } from '../helpers/events';
import { QUICKSTART, REPO, tempDir } from '../helpers/tmp';

const BIN = path.join(REPO, 'bin/balancedbio.js');

function cli(args: string[], cwd = REPO): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The quickstart copied into a temp folder, with its runs kept there, on wasm (`auto` picks torch where python3 imports it). */
async function quickstartCopy(t: import('node:test').TestContext, edit: (s: string) => string = (s) => s): Promise<{ dir: string; file: string }> {
  const dir = await tempDir(t);
  const file = path.join(dir, 'quickstart.bbio.yaml');
  await writeFile(file, edit((await readFile(QUICKSTART, 'utf8')).replace('runs_dir: ../runs', 'runs_dir: runs').replace(/backend: auto\b/, 'backend: wasm')));
  return { dir, file };
}

test('validate: the quickstart is valid (exit 0)', async () => {
  const r = await cli(['validate', 'examples/quickstart.bbio.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 file\(s\) valid/);
});

test('validate: a misspelt key prints file:line:col and a suggestion (exit 2)', async (t) => {
  const { dir, file } = await quickstartCopy(t, (s) => s.replace('  projection: pcgrad', '  projecton: pcgrad'));
  const line = (await readFile(file, 'utf8')).split('\n').findIndex((l) => l.includes('projecton')) + 1;
  const r = await cli(['validate', 'quickstart.bbio.yaml'], dir);
  assert.equal(r.code, 2);
  assert.equal(r.stdout.trim(), `quickstart.bbio.yaml:${line}:3: error E_SCHEMA_UNKNOWN_KEY unknown key \`projecton\` in sft (did you mean \`projection\`?)`);
  // run from the repository, so the temp folder is named as the workspace
  const json = await cli(['validate', '--json', '--workspace', dir, file]);
  const parsed = JSON.parse(json.stdout) as { ok: boolean; files: { problems: { line: number; code: string }[] }[] };
  assert.equal(parsed.ok, false);
  assert.deepEqual(parsed.files[0]!.problems.map((p) => [p.line, p.code]), [[line, 'E_SCHEMA_UNKNOWN_KEY']]);
});

test('usage errors exit 2; --help exits 0 on every command', async () => {
  assert.equal((await cli(['frobnicate'])).code, 2);
  assert.equal((await cli(['run'])).code, 2);
  for (const args of [['--help'], ['validate', '--help'], ['run', '--help'], ['runs', 'list', '--help'], ['runs', 'show', '--help']]) {
    const r = await cli(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage: balancedbio/);
  }
});

test('run on the quickstart writes a run store whose events validate; runs list/show read it', async (t) => {
  // the first two stages at a twentieth of their steps: the later stages are exercised on tiny models
  // in sft-projection, grpo and eval tests, so this stays a fast check of the store and the stream
  const { dir, file } = await quickstartCopy(t);
  const r = await cli(['run', file, '--stages', 'synthesize,pretrain', '--steps-scale', '0.05', '--json'], dir);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; runId: string });
  assert.ok(lines.length > 0, r.stderr);
  const runId = lines[0]!.runId;
  const runDir = path.join(dir, 'runs', runId);
  const { events, badLines } = await readEvents(runDir);
  assert.deepEqual(badLines, []);
  assert.equal(events.length, lines.length, 'stdout streams exactly the stored events');
  assert.deepEqual(invalidEvents(events), []);
  const manifest = JSON.parse(await readFile(path.join(runDir, 'manifest.json'), 'utf8')) as { seeds: { master: number }; backend?: { name: string } };
  assert.equal(manifest.seeds.master, 1);
  assert.ok(manifest.backend?.name, 'the backend the model stages chose is in the manifest');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(events.some((e) => e.kind === 'artifact' && e.type === 'model'));

  const list = await cli(['runs', 'list', '--dir', 'runs'], dir);
  assert.equal(list.code, 0);
  assert.match(list.stdout, new RegExp(runId));
  const show = await cli(['runs', 'show', runId, '--dir', 'runs'], dir);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /STAGE\s+STATUS/);
  assert.match(show.stdout, new RegExp(`run ${runId}`));
});

test('bad input: invalid experiment, unwritable runs dir, a locked run and a missing run all exit 2 with a message', async (t) => {
  const { dir, file } = await quickstartCopy(t, (s) => s.replace('runs_dir: runs', 'runs_dir: blocker/runs'));
  await writeFile(path.join(dir, 'blocker'), 'a file, not a folder');
  const unwritable = await cli(['run', file], dir);
  assert.equal(unwritable.code, 2);
  assert.match(unwritable.stderr, /E_RUNS_DIR_UNWRITABLE/);

  const store = await RunStore.create({ runsDir: path.join(dir, 'runs'), name: 'held', experimentFile: file, resolvedYaml: 'name: held\n', sourceText: '', manifest: {} });
  t.after(() => store.close());
  const locked = await cli(['run', file, '--resume', store.runDir], dir);
  assert.equal(locked.code, 2);
  assert.match(locked.stderr, /error E_RUN_LOCKED run \S+held is being written by another process/);

  const missing = await cli(['runs', 'show', 'no-such-run', '--dir', 'runs'], dir);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /E_RUN_NOT_FOUND/);

  const invalid = await cli(['run', path.join(dir, 'nope.bbio.yaml')], dir);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /E_FILE_MISSING/);
});
