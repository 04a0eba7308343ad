#!/bin/bash
# Install the Debian 12 packages that building Portico and running its tests
# need. Installs nothing when all of them are present, so it is cheap to run
# before every build. Needs root (or sudo).
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config gcc libc6-dev
    libevent-dev libssl-dev libcurl4-openssl-dev libcjson-dev
    libmicrohttpd-dev
    # integration tests and the local demo stack
    docker.io containerd runc tini busybox-static
    python3 python3-pytest curl ca-certificates iproute2 procps util-linux
    openssl pebble bind9 bind9-dnsutils
    # fuzzing and sanitizer runs
    clang libclang-rt-14-dev
    # admin API tests: promtool checks /metrics, Chromium loads the dashboard
    prometheus chromium chromium-driver
    tar
    # benchmarks and comparison proxies
    nginx-light haproxy wrk apache2-utils
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [[ $status != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: missing ${missing[*]}; run as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi

log=$(mktemp /tmp/portico-install-deps.XXXXXX.log)
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package lists are fetched only when the install fails without them, as
# on a fresh image where /var/lib/apt/lists is empty.
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >"$log" 2>&1; then
    if ! "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 ||
        ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "install-deps: apt-get failed, full log in $log" >&2
        exit 1
    fi
fi
rm -f "$log"
