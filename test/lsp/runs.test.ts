/**
 * The job manager through a real client: trust gating, a run as a child process of the engine CLI with
 * work-done progress and typed runEvent notifications, results in code lens and hover afterwards,
 * cancelling queued and running jobs.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CodeLensRequest, ExecuteCommandRequest, HoverRequest, type MarkupContent } from 'vscode-languageserver-protocol';
import * as P from '../../server/protocol';
import { invalidEvents } from '../helpers/events';
import { FIXTURES, fileUri, positionOf, startSession, type Session } from './client';

const TINY = `name: lsp-run
stages: [synthesize]
ontology:
  builtin: false
  sources:
    - path: mini.obo
synthesis:
  examples: { domain: 2, reasoning: 0, instruction: 0, integration: 0 }
output:
  runs_dir: runs
`;

let dir: string;
let file: string;
let uri: string;
let s: Session;

const jobDone = (jobId: string, timeoutMs = 60_000): Promise<P.JobInfo> =>
  s.waitFor<P.JobInfo>(P.jobState.method, (j) => j.jobId === jobId && ['completed', 'failed', 'cancelled'].includes(j.status), timeoutMs);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bbio-lsp-run-'));
  await copyFile(path.join(FIXTURES, 'mini.obo'), path.join(dir, 'mini.obo'));
  file = path.join(dir, 'tiny.bbio.yaml');
  uri = fileUri(file);
  await writeFile(file, TINY);
  s = await startSession({ initializationOptions: { trusted: false, skipBuiltinOntology: true, diagnosticsDelayMs: 20 } });
  await s.open(uri, TINY);
});

after(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

test('an untrusted workspace refuses runs until the client grants trust', async () => {
  await assert.rejects(s.conn.sendRequest(P.startRun, { uri }), /not trusted/);
  await s.conn.sendNotification(P.setTrust, { trusted: true });
  await assert.rejects(s.conn.sendRequest(P.startRun, { uri, stages: ['bogus' as P.StageName] }), /unknown stage/);
});

test('a run streams progress and typed runEvent notifications, then shows in code lens, hover and listRuns', async () => {
  const { jobId, position } = await s.conn.sendRequest(P.startRun, { uri });
  assert.equal(position, 0);
  const done = await jobDone(jobId);
  assert.equal(done.status, 'completed', done.message);
  assert.equal(done.exitCode, 0);

  const events = s.notifications.filter((n) => n.method === P.runEvent.method).map((n) => n.params as P.RunEventParams).filter((p) => p.jobId === jobId).map((p) => p.event);
  assert.deepEqual(invalidEvents(events), []);
  assert.ok(events.some((e) => e.kind === 'phase' && e.stage === 'run' && e.status === 'started'));
  assert.ok(events.some((e) => e.kind === 'metric' && e.name === 'synth/examples_total'));
  assert.ok(events.some((e) => e.kind === 'phase' && e.stage === 'run' && e.status === 'completed'));
  assert.equal(done.runId, events[0]!.runId);
  assert.equal(done.runDir, path.join(dir, 'runs', done.runId!));
  assert.ok((await stat(path.join(done.runDir!, 'state.json'))).isFile());

  const progress = s.notifications.filter((n) => n.method === '$/progress').map((n) => (n.params as { value: { kind: string; message?: string } }).value);
  assert.equal(progress[0]?.kind, 'begin');
  assert.ok(progress.some((p) => p.kind === 'report' && /synthesize: completed/.test(p.message ?? '')), JSON.stringify(progress));
  assert.equal(progress[progress.length - 1]?.kind, 'end');

  const lenses = (await s.conn.sendRequest(CodeLensRequest.type, { textDocument: { uri } })) ?? [];
  const line = positionOf(TINY, 'synthesis:').line;
  const titles = lenses.filter((l) => l.range.start.line === line).map((l) => l.command!.title);
  assert.deepEqual(titles.slice(0, 2), ['▶ Run', '▶ Run from here']);
  assert.match(titles[2] ?? '', /^completed · examples 2 · train 2/);

  const hover = await s.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: positionOf(TINY, 'synthesis:', 2) });
  const md = (hover!.contents as MarkupContent).value;
  assert.match(md, new RegExp(`\\*\\*Last run\\*\\* \`${done.runId}\` \\(completed\\) · synthesize: completed`));
  assert.match(md, /\| synth\/examples_total \| capability=domain \| 2 \|/);

  const listed = await s.conn.sendRequest(P.listRuns, { uri });
  assert.equal(listed.runs[0]?.runId, done.runId);
  assert.equal(listed.runs[0]?.stages?.synthesize?.status, 'completed');
});

test('cancel: a queued job is dropped, a running one is stopped (SIGTERM), both report cancelled', async () => {
  const running = s.waitFor<P.JobInfo>(P.jobState.method, (j) => j.status === 'running' && j.jobId !== 'job-1', 20_000);
  // through the code lens command, as an editor without the extension would run it
  const a = (await s.conn.sendRequest(ExecuteCommandRequest.type, { command: P.ServerCommands.startRun, arguments: [{ uri }] })) as P.StartRunResult;
  const b = await s.conn.sendRequest(P.startRun, { uri, stepsScale: 0.5 });
  assert.equal(b.position, 1);
  assert.deepEqual(await s.conn.sendRequest(P.cancelRun, { jobId: b.jobId }), { cancelled: true });
  const bDone = await jobDone(b.jobId);
  assert.equal(bDone.status, 'cancelled');
  assert.equal(bDone.startedAt, undefined, 'never started');

  assert.equal((await running).jobId, a.jobId);
  assert.deepEqual(await s.conn.sendRequest(P.cancelRun, { jobId: a.jobId }), { cancelled: true });
  const aDone = await jobDone(a.jobId);
  assert.equal(aDone.status, 'cancelled');
  assert.ok(aDone.signal === 'SIGTERM' || aDone.exitCode === 1, `stopped by SIGTERM or the engine's own cancel: ${JSON.stringify(aDone)}`);
  assert.deepEqual(await s.conn.sendRequest(P.cancelRun, { jobId: a.jobId }), { cancelled: false }, 'already finished');
  const jobs = await s.conn.sendRequest(P.listJobs, {});
  assert.deepEqual(jobs.slice(0, 2).map((j) => [j.jobId, j.status]), [[b.jobId, 'cancelled'], [a.jobId, 'cancelled']]);
});

test('a document with unsaved changes is not run (the run would use other settings)', async () => {
  await s.change(uri, TINY.replace('domain: 2', 'domain: 3'), 2);
  await assert.rejects(s.conn.sendRequest(P.startRun, { uri }), /unsaved changes/);
  assert.equal(await readFile(file, 'utf8'), TINY);
});
