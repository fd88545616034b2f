#!/usr/bin/env bash
# The one test command (README and .ci/run call it through `npm test`): static checks, the bundle, then
# every test file under test/ with node's built-in runner, whose summary lines CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

# A real single-node Slurm for test/integration/slurm.test.ts (../shared/slurm.md): Debian's slurm-wlm and
# munge, installed like the editor tests' Chromium. If apt cannot install them, that test skips and says why.
install_slurm() {
  command -v sbatch >/dev/null 2>&1 && return 0
  step "apt-get install slurm-wlm munge (for the Slurm integration test)"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq slurm-wlm munge >/dev/null; }; then
    echo "slurm-wlm could not be installed: the Slurm integration test will skip" >&2
  fi
}

step "generated files are up to date"; npx tsx scripts/gen-schema-types.ts --check && npx tsx scripts/build-clinical-obo.ts --check
step "typecheck"; npx tsc -p . --noEmit
step "lint"; npx eslint --max-warnings 0 .
step "build"; npx tsx scripts/build.ts

# TAP copies of both runs' results, for the one combined summary line at the end
export BBIO_TAP_DIR="$(mktemp -d)"
trap 'rm -rf "$BBIO_TAP_DIR"' EXIT

install_slurm
# the torch backend's agreement tests under test/ need Debian's torch: install it first (as e2e installs chromium)
step "torch for the compute worker"
# if apt cannot install it (no root, no mirror), the torch tests say so and skip rather than fail the suite
bash scripts/test-worker.sh --install || echo "python3-torch could not be installed: the torch worker's tests will skip" >&2

mapfile -t files < <(find test/unit test/lsp test/integration -name '*.test.ts' 2>/dev/null | sort)
step "tests: ${#files[@]} files"
node --import tsx --test --test-concurrency=2 --test-timeout=600000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$BBIO_TAP_DIR/unit.tap" "${files[@]}"

step "compute worker tests (Python)"
worker_status=0
if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  bash scripts/test-worker.sh || worker_status=$?
else
  echo "worker: skipped (/usr/bin/python3 cannot import torch)" >&2
fi

if [ -d test/e2e ] && find test/e2e -name '*.test.ts' | grep -q .; then
  step "editor tests (real VS Code)"
  bash scripts/test-e2e.sh
fi

# one closing line over every runner above (each run's own summary is printed where it ran)
pass=$(cat "$BBIO_TAP_DIR"/*.tap | awk '/^# pass /{s+=$3} END{print s+0}')
fail=$(cat "$BBIO_TAP_DIR"/*.tap | awk '/^# fail /{s+=$3} END{print s+0}')
skip=$(cat "$BBIO_TAP_DIR"/*.tap | awk '/^# skipped /{s+=$3} END{print s+0}')
echo "total: ${pass} passed, ${fail} failed, ${skip} skipped"
exit "$worker_status"
