#!/usr/bin/env node
'use strict';
// The published CLI runs the esbuild bundle; `npm ci` builds it (prepare script).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('balancedbio: dist/cli.js is missing; run `npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(bundle).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write('internal error: ' + String(e) + '\n'); process.exitCode = 1; },
);
