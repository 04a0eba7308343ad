#!/bin/bash
# Build the libFuzzer targets in tests/fuzz with clang and run each one for
# SECONDS (default 60) on a copy of its seed corpus in tests/fuzz/corpus.
# Any crash, sanitizer report, leak or timeout fails the run (exit 1); the
# input that caused it is kept and its path printed.
#
# Usage: scripts/fuzz.sh [SECONDS]
# Environment: FUZZ_TARGETS (default: every tests/fuzz/fuzz_*.c, by name
# without the prefix, e.g. "http route"), FUZZ_BUILD_DIR (meson folder for
# the instrumented core library, default build-fuzz), FUZZ_DIR (targets,
# corpora and logs, default a fresh folder under /tmp, removed on success),
# FUZZ_JOBS (parallel runs, default the number of CPUs).
#
# The CI run is a smoke test. For a real campaign run one target for hours
# with a persistent corpus, then copy back the few new inputs that add
# coverage (libFuzzer's -merge=1 picks them):
#   FUZZ_DIR=/var/tmp/portico-fuzz FUZZ_TARGETS=labels scripts/fuzz.sh 14400
#   /var/tmp/portico-fuzz/fuzz_labels -merge=1 tests/fuzz/corpus/labels \
#       /var/tmp/portico-fuzz/corpus/labels
# Needs clang and the compiler-rt sanitizer and fuzzer libraries (Debian 12:
# clang and libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
keep_dir=${FUZZ_DIR:+1}
dir=${FUZZ_DIR:-$(mktemp -d /tmp/portico-fuzz.XXXXXX)}
mkdir -p "$dir"

# Each target links the core library from a meson build folder of its own,
# compiled by clang with coverage instrumentation and the sanitizers.
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [[ ! -f $build/build.ninja ]] &&
    ! out=$(CC=clang meson setup "$build" -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link 2>&1); then
    echo "$out" >&2
    exit 1
fi
if ! out=$(ninja -C "$build" libportico-core.a 2>&1); then
    echo "$out" >&2
    exit 1
fi
cflags=(-g -O1 -std=c11 -D_GNU_SOURCE -Isrc -Iwatcher -Iproxy -Iacme
        -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined)
read -ra libs <<<"$(pkg-config --libs libevent libevent_pthreads \
    libevent_openssl openssl libcurl libcjson libmicrohttpd) -lpthread -lm"

if [[ -n ${FUZZ_TARGETS:-} ]]; then
    read -ra targets <<<"$FUZZ_TARGETS"
else
    targets=()
    for f in tests/fuzz/fuzz_*.c; do
        t=${f#tests/fuzz/fuzz_}
        targets+=("${t%.c}")
    done
fi

for t in "${targets[@]}"; do
    clang "${cflags[@]}" -o "$dir/fuzz_$t" "tests/fuzz/fuzz_$t.c" \
        "$build/libportico-core.a" "${libs[@]}"
done

# -rss_limit_mb fails a run whose memory grows past 2 GiB, and -timeout one
# input that takes longer than 10 s. Leak detection is on by default.
run_one() {
    local t=$1 corpus=$dir/corpus/$1
    rm -rf "$corpus" "$dir/artifacts/$t" "$dir/$t.failed"
    mkdir -p "$corpus" "$dir/artifacts/$t"
    cp tests/fuzz/corpus/"$t"/* "$corpus"/
    if "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$t/" "$corpus" \
        >"$dir/$t.log" 2>&1; then
        echo "fuzz $t: ok, $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' \
            "$dir/$t.log" | awk '{print $2}') runs in ${seconds}s"
    else
        echo "fuzz $t: FAILED, log $dir/$t.log, input:" \
            "$dir"/artifacts/"$t"/* >&2
        tail -n 40 "$dir/$t.log" >&2
        touch "$dir/$t.failed"
    fi
}

# A failed run leaves a .failed file, so the result does not depend on
# which `wait` collects which job.
for t in "${targets[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do
        wait -n || true
    done
    run_one "$t" &
done
wait
status=0
for t in "${targets[@]}"; do
    [[ -e $dir/$t.failed ]] && status=1
done

if ((status == 0)) && [[ -z $keep_dir ]]; then
    rm -rf "$dir"
elif ((status != 0)); then
    echo "fuzz: failures kept in $dir" >&2
fi
exit $status
