#!/bin/bash
# Build Portico and run it.
#
# With a Docker engine at /var/run/docker.sock, Portico proxies that engine
# with its defaults (HTTP on 0.0.0.0:80, HTTPS on 0.0.0.0:443 with
# certificates from Let's Encrypt); arguments are passed to it. Without
# one, or with --demo, scripts/local-stack.sh starts a private engine, a
# demo container, a local test CA and Portico on 127.0.0.1:8080 and 8443.
# PORTICO_BUILD_DIR selects the build folder (build).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${PORTICO_BUILD_DIR:-build}
export PORTICO_BUILD_DIR=$build
scripts/install-deps.sh
if [[ ! -f $build/build.ninja ]] && ! out=$(meson setup "$build" 2>&1); then
    echo "$out" >&2
    exit 1
fi
if ! out=$(ninja -C "$build" 2>&1); then
    echo "$out" >&2
    exit 1
fi

if [[ ${1:-} == --demo ]]; then
    shift
    exec scripts/local-stack.sh "$@"
fi
if [[ -S /var/run/docker.sock ]]; then
    exec "$build/portico" "$@"
fi
echo "run: no engine at /var/run/docker.sock, starting the local stack" >&2
exec scripts/local-stack.sh "$@"
