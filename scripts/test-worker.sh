#!/usr/bin/env bash
# The torch compute worker's own Python tests (engine/compute/torch/worker/tests, unittest), run with
# Debian's /usr/bin/python3, the only interpreter Debian's python3-torch installs into.
#   bash scripts/test-worker.sh            install torch when missing, run the tests
#   bash scripts/test-worker.sh --install  only install torch (the agreement tests under test/ need it too)
# With BBIO_TAP_DIR set, writes worker.tap with `# pass/fail/skipped` lines for test-all.sh's closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

step() { printf '\n== worker: %s\n' "$*" >&2; }

install_torch() {
  "$PY" -c 'import torch' >/dev/null 2>&1 && return 0
  # libopenblas0-pthread: without it torch falls back to a generic BLAS ~30× slower (ENVIRONMENT.md).
  step "apt-get install python3-torch libopenblas0-pthread"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-torch libopenblas0-pthread >/dev/null
}

install_torch
[ "${1:-}" = "--install" ] && exit 0

step "python unit tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
(cd engine/compute/torch/worker && "$PY" -m unittest discover -s tests -t . -v) >"$log" 2>&1 || status=$?
cat "$log"
# unittest's summary: "Ran N tests" then "OK", "OK (skipped=s)" or "FAILED (failures=f, errors=e, skipped=s)"
ran=$(awk '/^Ran [0-9]+ test/{print $2}' "$log" | tail -1)
count() { grep -Eo "$1=[0-9]+" "$log" | tail -1 | cut -d= -f2; }
failed=$(( $(count failures || echo 0) + $(count errors || echo 0) ))
skipped=$(count skipped || echo 0)
ran=${ran:-0}; skipped=${skipped:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # the runner itself failed (import error)
echo "worker: $((ran - failed - skipped)) passed, $failed failed, $skipped skipped"
if [ -n "${BBIO_TAP_DIR:-}" ]; then
  printf '# pass %d\n# fail %d\n# skipped %d\n' "$((ran - failed - skipped))" "$failed" "$skipped" >"$BBIO_TAP_DIR/worker.tap"
fi
exit "$status"
