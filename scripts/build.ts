/**
 * Bundles the three programs with esbuild (the bundler VS Code's docs recommend for extensions):
 *   dist/extension.js  VS Code client (vscode is provided by the host)
 *   dist/server.js     language server (also started by `balancedbio lsp --stdio`)
 *   dist/cli.js        engine CLI (bin/balancedbio.js loads it)
 * plus the tfjs wasm binaries next to them, the torch worker's Python package with its protocol schema
 * (dist/torch-worker/, found by engine/compute/torch/worker-process.ts), and the webview assets. `--watch`
 * rebuilds on change.
 */
import { copyFile, cp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const pkg = require(path.join(ROOT, 'package.json')) as { version: string };

/** Native tensor packages are optional and loaded lazily with a fallback; never bundle them. */
const EXTERNAL = ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu', '@tensorflow/tfjs-backend-webgpu'];

const ENTRIES: { in: string; out: string }[] = [
  { in: 'engine/cli/main.ts', out: 'cli' },
  { in: 'engine/compute/tfjs/worker.ts', out: 'engine-worker' },
  { in: 'server/server.ts', out: 'server' },
  { in: 'extension/extension.ts', out: 'extension' },
];

async function copyWasm(): Promise<void> {
  const dir = path.join(ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  for (const f of await readdir(dir)) if (f.endsWith('.wasm')) await copyFile(path.join(dir, f), path.join(DIST, f));
}

/** The worker's package (without its tests and bytecode) and the protocol schema it validates requests against. */
async function copyTorchWorker(): Promise<void> {
  const out = path.join(DIST, 'torch-worker');
  await rm(out, { recursive: true, force: true });
  await cp(path.join(ROOT, 'engine/compute/torch/worker/bbio_worker'), path.join(out, 'bbio_worker'), { recursive: true, filter: (src) => !src.includes('__pycache__') });
  await copyFile(path.join(ROOT, 'schemas/compute-protocol.schema.json'), path.join(out, 'compute-protocol.schema.json'));
}

async function main(): Promise<void> {
  const watch = process.argv.includes('--watch');
  const production = process.argv.includes('--production');
  await mkdir(DIST, { recursive: true });
  const entryPoints = ENTRIES.filter((e) => existsSync(path.join(ROOT, e.in)));
  const options: esbuild.BuildOptions = {
    entryPoints,
    outdir: DIST,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    minify: production,
    external: EXTERNAL,
    define: { BBIO_VERSION: JSON.stringify(pkg.version) },
    logLevel: 'warning',
    // json-schema files are imported as data; keep the bundle self-contained
    loader: { '.json': 'json' },
  };
  const webview = path.join(ROOT, 'extension/views/webview/main.ts');
  const webviewOptions: esbuild.BuildOptions | undefined = existsSync(webview)
    ? { entryPoints: [webview], outfile: path.join(DIST, 'webview.js'), bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: true, minify: production, logLevel: 'warning', loader: { '.css': 'css' } }
    : undefined;
  await copyWasm();
  await copyTorchWorker();
  if (watch) {
    const ctx = await esbuild.context(options);
    const wctx = webviewOptions ? await esbuild.context(webviewOptions) : undefined;
    await Promise.all([ctx.watch(), wctx?.watch()]);
    process.stderr.write('watching for changes…\n');
    return;
  }
  await esbuild.build(options);
  if (webviewOptions) await esbuild.build(webviewOptions);
  process.stderr.write(`built ${entryPoints.map((e) => `dist/${e.out}.js`).join(', ')}${webviewOptions ? ', dist/webview.js' : ''}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
