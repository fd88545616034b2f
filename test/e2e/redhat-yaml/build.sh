#!/usr/bin/env bash
# Packages the YAML language server stand-in (see README.md beside this file) as a VSIX, from the npm
# registry only, into .cache/yaml-standin/ (git-ignored), and prints the VSIX's path on stdout.
# The pinned dependencies are installed again only when package-lock.json changes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT="$PWD"
SRC="$ROOT/test/e2e/redhat-yaml"
OUT="$ROOT/.cache/yaml-standin"
VSIX="$OUT/yaml-standin.vsix"
mkdir -p "$OUT"
if [ ! -d "$OUT/node_modules/yaml-language-server" ] || ! cmp -s "$SRC/package-lock.json" "$OUT/package-lock.json"; then
  printf '== e2e: npm ci yaml-language-server + vscode-languageclient into .cache/yaml-standin\n' >&2
  rm -rf "$OUT/node_modules"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$OUT/"
  npm ci --prefix "$OUT" --omit=dev --no-audit --no-fund --loglevel=error >&2
fi
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$SRC/.vscodeignore" "$OUT/"
# not bundled: the extension requires vscode-languageclient from its own node_modules, like the server
"$ROOT/node_modules/.bin/esbuild" "$SRC/extension.ts" --format=cjs --platform=node --target=node20 --log-level=warning --outfile="$OUT/dist/extension.js"
rm -f "$VSIX"
(cd "$OUT" && "$ROOT/node_modules/.bin/vsce" package --allow-missing-repository --skip-license --out "$VSIX" >/dev/null)
printf '%s\n' "$VSIX"
