#!/usr/bin/env node
'use strict';
// The published CLI runs the esbuild bundle; `npm ci` builds it (prepare script).
// `balancedbio lsp [--stdio]` starts the language server instead (the engine never imports the server).
const path = require('node:path');
const fs = require('node:fs');
const lsp = process.argv[2] === 'lsp';
const bundle = path.join(__dirname, '..', 'dist', lsp ? 'server.js' : 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('balancedbio: dist/' + path.basename(bundle) + ' is missing; run `npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
if (lsp) {
  // the server reads its transport (--stdio, --node-ipc, --socket=N) from process.argv; stdio by default
  require(bundle).startServer();
} else {
  // `balancedbio runs show X | head` closes stdout early: stop quietly instead of crashing on EPIPE
  process.stdout.on('error', (e) => {
    if (e && e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  require(bundle).main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write('internal error: ' + String(e) + '\n'); process.exitCode = 1; },
  );
}
