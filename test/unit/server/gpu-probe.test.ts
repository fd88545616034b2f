/**
 * The `gpu` backend diagnostic: the probe loads @tensorflow/tfjs-node-gpu (a package that resolves but whose
 * binding or CUDA libraries cannot load is not available), and both outcomes reach the diagnostic whatever
 * this machine has installed, because the tests inject the loader and the probe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancellationTokenSource, DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { PathPolicy } from '../../../engine/config/paths';
import { createConfigValidator } from '../../../engine/config/schema-validator';
import { DocumentAnalyzer } from '../../../server/analysis';
import type { FeatureContext } from '../../../server/features/context';
import { computeDiagnostics } from '../../../server/features/diagnostics';
import { probeGpu, TFJS_NODE_GPU, type GpuProbe } from '../../../server/ontology/gpu-probe';
import { OntologyService } from '../../../server/ontology/service';
import { RunReader } from '../../../server/runs';

const TEXT = 'name: gpu-probe\nmodel:\n  backend: gpu\n';

/** Diagnostics of TEXT with the probe answering `answer`; the worker is never started. */
async function diagnose(answer: GpuProbe): Promise<Diagnostic[]> {
  let asked = 0;
  const ontology = new OntologyService({
    workerScript: '(not started)',
    onStatus: () => undefined,
    onReady: () => undefined,
    log: (m) => assert.fail(`unexpected log: ${m}`),
    probeGpu: () => {
      asked++;
      return Promise.resolve(answer);
    },
  });
  const pathPolicy = (): PathPolicy => ({ workspace: ['/nonexistent'], allowed: [] });
  const ctx: FeatureContext = { analyzer: new DocumentAnalyzer(createConfigValidator(), pathPolicy), ontology, runs: new RunReader(), machineMemoryBytes: 2 ** 40, pathPolicy, log: (m) => assert.fail(`unexpected log: ${m}`) };
  const doc = TextDocument.create('file:///nonexistent/gpu.bbio.yaml', 'bbio-yaml', 1, TEXT);
  const out = await computeDiagnostics(doc, ctx, new CancellationTokenSource().token);
  assert.equal(asked, 1, 'the diagnostic asks the injected probe');
  return out;
}

test('the probe loads the package: a loader that throws (resolvable, binding missing) means not available, with the reason', () => {
  const asked: string[] = [];
  const r = probeGpu((id) => {
    asked.push(id);
    throw new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory\n    at Module._extensions..node');
  });
  assert.deepEqual(asked, [TFJS_NODE_GPU]);
  assert.deepEqual(r, { available: false, message: 'libcudart.so.11.0: cannot open shared object file: No such file or directory' });
});

test('the probe reports available once the package has loaded', () => {
  const r = probeGpu(() => ({}));
  assert.equal(r.available, true);
  assert.match(r.message, /tfjs-node-gpu loaded/);
});

test('backend: gpu where the probe says it cannot load: a warning on the value that says why', async () => {
  const gpu = (await diagnose({ available: false, message: 'libcudart.so.11.0: cannot open shared object file' })).filter((d) => d.code === 'E_BACKEND');
  assert.equal(gpu.length, 1);
  assert.equal(gpu[0]!.severity, DiagnosticSeverity.Warning);
  assert.deepEqual(gpu[0]!.range, { start: { line: 2, character: 11 }, end: { line: 2, character: 14 } });
  assert.match(gpu[0]!.message, /^backend `gpu` cannot load here: libcudart\.so\.11\.0: cannot open shared object file\n/);
});

test('backend: gpu where the probe says it loads: no backend warning', async () => {
  const all = await diagnose({ available: true, message: `${TFJS_NODE_GPU} loaded` });
  assert.deepEqual(all.filter((d) => d.code === 'E_BACKEND'), []);
});
