#!/bin/bash
# Build Portico with AddressSanitizer and UndefinedBehaviorSanitizer in a
# separate build folder, run the unit tests, then the integration suite
# against that binary. Any sanitizer report fails the run: the unit tests
# abort on the first one, and tests/integration/harness.py fails a test
# whose Portico wrote one to its stderr (leaks are reported when Portico
# exits on SIGTERM). The last line printed is pytest's summary, or a
# line saying the unit tests failed.
#
# Usage: scripts/test-sanitize.sh [pytest arguments]
# Environment: PORTICO_SAN_BUILD_DIR (default build-sanitize), plus the
# PORTICO_IT_* variables read by tests/integration/harness.py.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${PORTICO_SAN_BUILD_DIR:-build-sanitize}

# The sanitizer runtimes are linked into executables only, so a shared
# library linked with -Wl,--no-undefined (b_lundef) would fail to link.
if [[ ! -f $build/build.ninja ]] &&
    ! out=$(meson setup "$build" -Db_sanitize=address,undefined \
        -Db_lundef=false 2>&1); then
    echo "$out" >&2
    exit 1
fi
ninja -C "$build"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PORTICO_BIN=$PWD/$build/portico
# The integration tests run even after a unit test failed, so one run
# shows every finding.
unit=0
meson test -C "$build" --suite unit --print-errorlogs || unit=$?
# The 100 MiB streaming tests bound Portico's peak RSS at 64 MiB, which
# ASan's shadow memory and free quarantine alone exceed.
/usr/bin/python3 -m pytest -p no:cacheprovider tests/integration \
    --deselect tests/integration/test_streaming.py::test_download_100mib_streams \
    --deselect tests/integration/test_streaming.py::test_upload_100mib_streams \
    "$@" || exit
if ((unit != 0)); then
    echo "sanitizer build: unit tests failed (see above)"
    exit "$unit"
fi
