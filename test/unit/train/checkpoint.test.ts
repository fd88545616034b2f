import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { TensorMap } from '../../../engine/model/safetensors';
import type { EngineEvent } from '../../../schemas/generated/events';
import { loadLatestCheckpoint, saveCheckpoint } from '../../../engine/compute/checkpoint';
import type { Compute } from '../../../engine/compute/types';
import { resumeFromCheckpoint } from '../../../engine/train/resume';
import type { EventInput, StageContext } from '../../../engine/core/stage';
import { silentLogger } from '../../../engine/util/log';
import { tempDir } from '../../helpers/tmp';

function tensors(step: number): TensorMap {
  return new Map([['w', { shape: [2, 2], data: new Float32Array([step, step + 1, step + 2, step + 3]) }]]);
}

async function saveSteps(dir: string, steps: number[], keep?: number): Promise<void> {
  for (const step of steps) await saveCheckpoint(dir, { step, params: tensors(step), optimizer: tensors(-step), state: { cursor: step } }, keep !== undefined ? { keep } : {});
}

/** Damage that keeps the size: overwrite the last byte of a tensor's data (its header still parses). */
function flipLastByte(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  const before = fs.statSync(file).size;
  fs.writeFileSync(file, bytes);
  assert.equal(fs.statSync(file).size, before);
}

test('checkpoint: each folder records a sha256 per file in its manifest, and at least two checkpoints are kept', async (t) => {
  const dir = await tempDir(t);
  await saveSteps(dir, [1, 2, 3], 1);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('step-')).sort(), ['step-00000002', 'step-00000003'], 'keep: 1 still keeps two, so a bad newest has a fallback');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'step-00000003', 'manifest.json'), 'utf8')) as { sha256: Record<string, string> };
  assert.deepEqual(Object.keys(manifest.sha256).sort(), ['optimizer.safetensors', 'params.safetensors', 'state.json']);
  for (const hex of Object.values(manifest.sha256)) assert.match(hex, /^[0-9a-f]{64}$/);
  const ck = loadLatestCheckpoint<{ cursor: number }>(dir)!;
  assert.equal(ck.step, 3);
  assert.deepEqual(ck.rejected, []);
});

test('checkpoint: a latest one damaged in place (same size) is rejected and the previous one loads', async (t) => {
  const dir = await tempDir(t);
  await saveSteps(dir, [2, 4]);
  flipLastByte(path.join(dir, 'step-00000004', 'params.safetensors'));
  const ck = loadLatestCheckpoint<{ cursor: number }>(dir)!;
  assert.equal(ck.step, 2, 'fell back to the previous checkpoint');
  assert.equal(ck.state.cursor, 2);
  assert.deepEqual(Array.from(ck.params.get('w')!.data), [2, 3, 4, 5]);
  assert.equal(ck.rejected.length, 1);
  assert.equal(path.basename(ck.rejected[0]!.dir), 'step-00000004');
  assert.match(ck.rejected[0]!.problem, /params\.safetensors does not match its sha256/);

  flipLastByte(path.join(dir, 'step-00000002', 'optimizer.safetensors'));
  assert.throws(() => loadLatestCheckpoint(dir), (e: Error & { code?: string }) => e.code === 'E_CHECKPOINT' && /step-00000004.*step-00000002/.test(e.message));
});

test('checkpoint: resuming from a fallback warns in the event stream and notes it in the stage state', async (t) => {
  const dir = await tempDir(t);
  const checkpointDir = path.join(dir, 'checkpoints', 'sft');
  await saveSteps(checkpointDir, [3, 6]);
  flipLastByte(path.join(checkpointDir, 'step-00000006', 'state.json'));
  const events: EventInput[] = [];
  const notes: string[] = [];
  const ctx = { runDir: dir, checkpointDir, resume: true, log: silentLogger, events: { emit: (e: EventInput) => events.push(e), metric: () => {} }, note: async (m: string) => void notes.push(m) } as unknown as StageContext;
  // the backend's part: the tfjs backend restores through loadLatestCheckpoint
  const compute = { loadCheckpoint: async (d: string) => {
    const c = loadLatestCheckpoint(d);
    return c && { state: c.state, step: c.step, dir: c.dir, rejected: c.rejected };
  } } as unknown as Compute;
  const ck = await resumeFromCheckpoint<{ cursor: number }>(ctx, compute, 'sft');
  assert.equal(ck?.step, 3);
  const warn = events.find((e): e is Extract<EngineEvent, { kind: 'log' }> => e.kind === 'log' && e.level === 'warn');
  assert.ok(warn, 'a warning event');
  assert.match(warn.msg, /resumed from step-00000003 .*step-00000006 state\.json does not match/);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /step-00000006/);
  assert.equal(await resumeFromCheckpoint({ ...ctx, resume: false } as StageContext, compute, 'sft'), null);
});
