import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../../engine/cli/main';
import type { CliIo } from '../../../engine/cli/io';
import { displayRunStatus, writerLiveness, writerOf, type RunWriter } from '../../../schemas/run-writer';
import { tempDir } from '../../helpers/tmp';

async function killedProcess(): Promise<RunWriter> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  await new Promise((resolve) => p.once('spawn', resolve));
  const who = writerOf(p.pid!);
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.kill('SIGKILL');
  await exited;
  return who;
}

test('writer liveness: this process is alive, a killed one is dead, another host is unknown', async () => {
  assert.equal(writerLiveness(writerOf()), 'alive');
  assert.equal(writerLiveness(await killedProcess()), 'dead');
  assert.equal(writerLiveness({ ...writerOf(), host: 'some-other-machine' }), 'unknown');
  assert.equal(writerLiveness(undefined), 'unknown');
  assert.equal(writerLiveness({ pid: 0, host: writerOf().host }), 'unknown', 'pid 0 would signal the process group');
});

test('writer liveness: a reused pid (same pid, other start time) is not the writer', { skip: !existsSync('/proc/self/stat') && 'needs /proc' }, () => {
  const me = writerOf();
  assert.match(me.startTime ?? '', /^\d+$/);
  assert.equal(writerLiveness({ ...me, startTime: String(Number(me.startTime) + 1) }), 'dead');
});

test('runs list and runs show say "interrupted (writer gone)" for a running run whose writer is dead', async (t) => {
  const dir = await tempDir(t);
  const runDir = path.join(dir, 'runs', '20260101-000000-gone');
  await mkdir(runDir, { recursive: true });
  const state = { version: 1, runId: '20260101-000000-gone', name: 'gone', experimentFile: 'x.bbio.yaml', status: 'running', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', stages: { pretrain: { status: 'running', attempts: 1 } }, writer: await killedProcess() };
  await writeFile(path.join(runDir, 'state.json'), JSON.stringify(state));
  assert.equal(displayRunStatus(state), 'interrupted (writer gone)');
  assert.equal(displayRunStatus({ ...state, writer: writerOf() }), 'running');
  assert.equal(displayRunStatus({ ...state, status: 'completed' }), 'completed');
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: () => {}, isTTY: false, cwd: dir };
  assert.equal(await main(['runs', 'list'], io), 0);
  assert.match(out.join('\n'), /20260101-000000-gone\s+interrupted \(writer gone\)/);
  out.length = 0;
  assert.equal(await main(['runs', 'show', 'gone'], io), 0);
  assert.match(out[0]!, /\(interrupted \(writer gone\)\)/);
});
