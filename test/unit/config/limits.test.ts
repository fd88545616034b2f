/**
 * Issue 20, items 6 and 8: counts have maxima that say how to go beyond, a memory estimate above the
 * machine's memory is an error, absurd nesting says so with its limit, and devices or FIFOs are named as
 * what they are rather than "not found".
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadExperiment, MAX_NESTING_DEPTH, parseExperiment } from '../../../engine/config/load';
import { tempDir, workspaceOf } from '../../helpers/tmp';

const FILE = '/virtual/exp.bbio.yaml';
const parse = (text: string, machineMemoryBytes?: number) => parseExperiment(text, FILE, { skipFileChecks: true, ...(machineMemoryBytes ? { machineMemoryBytes } : {}) });

test('steps: 1e30 is out of range, with a hint that says how to train longer', async () => {
  const r = await parse('name: x\npretrain:\n  steps: 1e30\n');
  assert.deepEqual(r.problems.map((p) => [p.line, p.code]), [[3, 'E_SCHEMA_RANGE']]);
  assert.match(r.problems[0]!.message, /pretrain\.steps must be at most 1,000,000; got number 1e\+30/);
  assert.match(r.problems[0]!.hint ?? '', /--steps-scale N/);
  const batch = await parse('name: x\ngrpo:\n  prompts_per_step: 100000\n');
  assert.deepEqual(batch.problems.map((p) => [p.line, p.code]), [[3, 'E_SCHEMA_RANGE']]);
  assert.match(batch.problems[0]!.hint ?? '', /guards against typos.*open an issue/);
});

test('a memory estimate above the machine memory is an error; below it, none', async () => {
  const small = await parse('name: x\nmodel:\n  dims: { hidden_size: 1024, layers: 16, context_length: 2048 }\n', 64 * 1024 * 1024);
  assert.deepEqual(small.problems.map((p) => [p.code, p.severity]), [['E_MEMORY', 'error']]);
  assert.match(small.problems[0]!.message, /estimated peak memory .* exceeds this machine's 64(\.0)? MiB/);
  assert.equal(small.config, undefined);
  const fits = await parse('name: x\n', 64 * 1024 * 1024 * 1024);
  assert.deepEqual(fits.problems, []);
});

test('absurd nesting says the file nests too deeply, with the limit, not "check indentation"', async () => {
  const overflow = 'x: ' + '['.repeat(10_000) + ']'.repeat(10_000) + '\n';
  const deep = 'x: ' + '['.repeat(MAX_NESTING_DEPTH + 5) + ']'.repeat(MAX_NESTING_DEPTH + 5) + '\n';
  for (const text of [overflow, deep]) {
    const r = await parse(text);
    assert.deepEqual(r.problems.map((p) => p.code), ['E_YAML_SYNTAX']);
    assert.match(r.problems[0]!.message, new RegExp(`nests too deeply: more than ${MAX_NESTING_DEPTH} levels`));
    assert.doesNotMatch(`${r.problems[0]!.message} ${r.problems[0]!.hint}`, /indentation|call stack/);
  }
});

test('/dev/zero and FIFOs are "not a regular file", as the experiment and as a data file', async (t) => {
  const dir = await tempDir(t);
  const fifo = path.join(dir, 'pipe.jsonl');
  await promisify(execFile)('mkfifo', [fifo]);
  const asExperiment = await loadExperiment('/dev/zero', workspaceOf('/dev/zero'));
  assert.deepEqual(asExperiment.problems.map((p) => p.code), ['E_FILE_NOT_REGULAR']);
  assert.match(asExperiment.problems[0]!.message, /\/dev\/zero is not a regular file \(a device, FIFO or socket\)/);
  assert.deepEqual((await loadExperiment(fifo, workspaceOf(fifo))).problems.map((p) => p.code), ['E_FILE_NOT_REGULAR']);

  const file = path.join(dir, 'exp.bbio.yaml');
  await writeFile(file, ['name: x', 'data:', '  mode: real', '  train:', '    - { path: pipe.jsonl, format: qa, capability: reasoning }', '    - { path: /dev/zero, format: qa, capability: reasoning }'].join('\n') + '\n');
  const r = await loadExperiment(file, workspaceOf(file, ['/dev']));
  assert.deepEqual(r.problems.map((p) => [p.line, p.code]), [[5, 'E_FILE_NOT_REGULAR'], [6, 'E_FILE_NOT_REGULAR']]);
  assert.match(r.problems[0]!.message, /train data file is not a regular file: pipe\.jsonl .* is a device, FIFO or socket/);
});
