#!/usr/bin/env bash
# Editor tests in a real VS Code, with nothing but the npm registry and Debian packages (see
# ../shared/vscode-tests.md): code-server 4.100.3 (VS Code 1.100.3) from npm, Debian's chromium driven by
# playwright-core, and the extension installed from the packaged VSIX, as a user would get it.
#   bash scripts/test-e2e.sh            install what is missing, build, package, run test/e2e/*.test.ts
#   bash scripts/test-e2e.sh --install  only install the prerequisites
# Screenshots and logs land in test-results/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CODE_SERVER_VERSION=4.100.3
CS_DIR="$ROOT/.cache/code-server"
export BBIO_CODE_SERVER="$CS_DIR/node_modules/.bin/code-server"

step() { printf '\n== e2e: %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  [ ${#missing[@]} -eq 0 ] && return 0
  step "apt-get install ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_code_server() {
  if [ -x "$BBIO_CODE_SERVER" ] && "$BBIO_CODE_SERVER" --version 2>/dev/null | grep -q "^$CODE_SERVER_VERSION"; then return 0; fi
  step "npm install code-server@$CODE_SERVER_VERSION into .cache/code-server (outside the extension's dependencies)"
  # @vscode/ripgrep would download rg from GitHub; seed its cache with Debian's rg (same 13.0.0).
  local tmp cache
  tmp="$(node -p 'require("os").tmpdir()')"
  cache="$tmp/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$cache"
  if [ ! -s "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
    local rgdir
    rgdir="$(mktemp -d)"
    cp "$(command -v rg)" "$rgdir/rg"
    tar -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$rgdir" rg
    rm -rf "$rgdir"
  fi
  mkdir -p "$CS_DIR"
  [ -f "$CS_DIR/package.json" ] || printf '{ "name": "bbio-e2e-code-server", "private": true }\n' > "$CS_DIR/package.json"
  # unsafe_perm: its postinstall refuses to run as root otherwise; yes: node-pty's `npx node-gyp` needs no TTY.
  npm_config_unsafe_perm=true npm_config_yes=true PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    npm install --prefix "$CS_DIR" --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION"
  "$BBIO_CODE_SERVER" --version >/dev/null
}

install_system_packages
install_code_server
[ "${1:-}" = "--install" ] && exit 0

step "build + package the VSIX"
npx tsx scripts/build.ts
rm -f dist/balancedbio-studio.vsix
# README links are repository-relative and the manifest names no repository: keep the links as they are
npx @vscode/vsce package --no-dependencies --no-rewrite-relative-links --allow-missing-repository --out dist/balancedbio-studio.vsix >/dev/null
export BBIO_VSIX="$ROOT/dist/balancedbio-studio.vsix"
ls -l "$BBIO_VSIX" >&2

mkdir -p test-results
rm -f test-results/*.png
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test/e2e -maxdepth 1 -name '*.test.ts' | sort); fi
# only redhat-yaml.test.ts installs it, next to our VSIX; node's runner orders the files by name
if [[ " ${files[*]} " == *"redhat-yaml.test.ts "* ]]; then
  step "package the YAML language server stand-in (test/e2e/redhat-yaml: yaml-language-server from npm)"
  BBIO_YAML_STANDIN_VSIX="$(bash test/e2e/redhat-yaml/build.sh)"
  export BBIO_YAML_STANDIN_VSIX
fi
step "${#files[@]} test files"
start=$(date +%s)
# the timeout guards against a hung editor, not speed: one file of editor tests took 255-345 s on 2 cores under load
node --import tsx --test --test-concurrency=1 --test-timeout=720000 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="${BBIO_TAP_DIR:-$(mktemp -d)}/e2e.tap" "${files[@]}"
step "done in $(( $(date +%s) - start )) s; screenshots in test-results/"
