#!/bin/bash
# Build Portico, run the unit tests, then the integration tests against a
# private Docker engine, then the fuzzers (scripts/fuzz.sh) and the
# sanitizer build (scripts/test-sanitize.sh). The last line printed is the
# integration suite's pytest summary, or which stages failed.
# Environment: PORTICO_BUILD_DIR (default build), plus the PORTICO_IT_*
# variables read by tests/integration/harness.py.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${PORTICO_BUILD_DIR:-build}

scripts/install-deps.sh
# An existing build folder regenerates itself when meson.build changes.
if [[ ! -f $build/build.ninja ]] && ! out=$(meson setup "$build" 2>&1); then
    echo "$out" >&2
    exit 1
fi
ninja -C "$build"
meson test -C "$build" --suite unit --print-errorlogs

export PORTICO_BIN=$PWD/$build/portico
failed=()
/usr/bin/python3 -m pytest -p no:cacheprovider -v tests/integration |
    tee "$build/pytest.log" || failed+=(integration)
# Hardening: a fuzzing smoke run and the suites under ASan and UBSan.
scripts/fuzz.sh 60 || failed+=(fuzz)
scripts/test-sanitize.sh || failed+=(sanitize)
if ((${#failed[@]} > 0)); then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
tail -n 1 "$build/pytest.log"
