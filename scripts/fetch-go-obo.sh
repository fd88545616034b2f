#!/usr/bin/env bash
# Builds test/fixtures/large/go.obo (the real Gene Ontology, ~47k stanzas) from Debian's r-bioc-go.db, which
# ships Bioconductor's GO.sqlite (data CC BY 4.0). Used by test/integration/go-scale.test.ts and
# bench/ontology.ts. The folder is gitignored: never commit the file.
#
# Idempotent: does nothing when the file exists. Off Debian (no apt-get / dpkg-deb) it prints one line
# starting with "SKIP:" and exits 0, so callers can skip instead of failing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/test/fixtures/large/go.obo"

if [[ -s "$OUT" ]]; then
  echo "go.obo already present: $OUT"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "SKIP: apt-get/dpkg-deb not available (not Debian); cannot build $OUT"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi

if ! command -v sqlite3 >/dev/null 2>&1; then
  echo "installing sqlite3 (Debian package) ..."
  if ! { $SUDO apt-get install -y sqlite3 >/dev/null 2>&1 ||
         { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y sqlite3 >/dev/null 2>&1; }; }; then
    echo "SKIP: could not install sqlite3 with apt-get (need root?); cannot build $OUT"
    exit 0
  fi
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# apt-get download needs no root; it fails when the package lists are stale or missing.
if ! apt-get download r-bioc-go.db >/dev/null 2>&1; then
  $SUDO apt-get update >/dev/null 2>&1 || true
  if ! apt-get download r-bioc-go.db >/dev/null 2>&1; then
    echo "SKIP: apt-get download r-bioc-go.db failed (no Debian mirror reachable?); cannot build $OUT"
    exit 0
  fi
fi

mkdir -p "$WORK/x"
dpkg-deb -x r-bioc-go.db_*.deb "$WORK/x"
DB="$(find "$WORK/x" -name GO.sqlite -print -quit)"
if [[ -z "$DB" ]]; then
  echo "error: GO.sqlite not found in r-bioc-go.db" >&2
  exit 1
fi

mkdir -p "$(dirname "$OUT")"
cd "$ROOT"
npx --no-install tsx scripts/go-sqlite-to-obo.ts "$DB" "$OUT"
