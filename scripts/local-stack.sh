#!/bin/bash
# Run a private Docker engine, one demo container and Portico in front of it,
# all on the loopback interface, until Ctrl-C or SIGTERM.
#
# Environment:
#   PORTICO_DEMO_DIR           engine state and logs (/var/lib/portico-demo)
#   PORTICO_HTTP_LISTEN        Portico's listener (127.0.0.1:8080)
#   PORTICO_DEMO_BACKEND_PORT  the demo container's port (8081)
#   PORTICO_BUILD_DIR          where build/portico was built (build)
# Extra arguments are passed to Portico. Needs root for dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PORTICO_DEMO_DIR:-/var/lib/portico-demo}
listen=${PORTICO_HTTP_LISTEN:-127.0.0.1:8080}
backend_port=${PORTICO_DEMO_BACKEND_PORT:-8081}
portico=${PORTICO_BUILD_DIR:-build}/portico
sock=$dir/docker.sock
image=busybox:local
container=portico-demo
export DOCKER_HOST=unix://$sock
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

dockerd_pid=
portico_pid=

say() {
    echo "local-stack: $*" >&2
}

# Print the pid stored in file $1 if that process is alive and its command
# line contains $2. The check matters because a pid file left by a crashed
# run may name a pid the system has since reused.
live_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null |
        grep -qF -- "$2" || return 1
    echo "$pid"
}

# Stop pid $1 with SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + $2))
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "pid $pid did not stop in $2s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
}

unmount_all() {
    awk -v p="$dir/" 'index($2, p) == 1 { print $2 }' /proc/mounts |
        sort -r | while read -r m; do umount -l "$m" || true; done
}

# Stop what an earlier run left behind: a crash leaves the engine running
# or its pid file, socket and network namespace mounts in place.
clean_leftovers() {
    local pid
    if pid=$(live_pid "$dir/portico.pid" "$portico"); then
        say "stopping Portico left from an earlier run (pid $pid)"
        stop_pid "$pid" 10
    fi
    if pid=$(live_pid "$dir/docker.pid" "$sock"); then
        say "stopping dockerd left from an earlier run (pid $pid)"
        stop_pid "$pid" 30
    fi
    if pid=$(live_pid "$dir/exec/containerd/containerd.pid" "$dir/exec"); then
        stop_pid "$pid" 10
    fi
    rm -f "$dir/docker.pid" "$dir/portico.pid" "$sock"
    unmount_all
}

cleanup() {
    trap - EXIT INT TERM
    if [[ -n $portico_pid ]]; then
        stop_pid "$portico_pid" 10
        wait "$portico_pid" 2>/dev/null || true
    fi
    if [[ -n $dockerd_pid ]]; then
        docker rm -f "$container" >/dev/null 2>&1 || true
        stop_pid "$dockerd_pid" 30
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    rm -f "$dir/portico.pid"
    unmount_all
    say "stopped"
}

start_engine() {
    setsid dockerd --iptables=false --ip6tables=false --bridge=none \
        --storage-driver=vfs -H "$DOCKER_HOST" \
        --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/docker.pid" >>"$dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    local deadline=$((SECONDS + 60))
    until docker version >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            tail -n 20 "$dir/dockerd.log" >&2
            say "dockerd exited, log in $dir/dockerd.log"
            dockerd_pid=
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$dir/dockerd.log" >&2
            say "dockerd did not answer within 60s"
            exit 1
        fi
        sleep 0.2
    done
}

import_image() {
    if docker image inspect "$image" >/dev/null 2>&1; then
        return
    fi
    local img=$dir/img
    mkdir -p "$img/bin"
    cp /bin/busybox "$img/bin/busybox"
    ln -sf busybox "$img/bin/sh"
    tar -C "$img" -c . | docker import -c 'ENTRYPOINT []' - "$image" >/dev/null
}

start_demo_container() {
    mkdir -p "$dir/www"
    cat >"$dir/www/index.html" <<HTML
<!doctype html>
<title>Portico demo</title>
<h1>Hello from the portico-demo container</h1>
<p>Portico routed this request by its Host header, demo.localhost, to a
busybox httpd on 127.0.0.1:$backend_port.</p>
HTML
    docker rm -f "$container" >/dev/null 2>&1 || true
    docker run -d --init --name "$container" --network host \
        -l VIRTUAL_HOST=demo.localhost -l VIRTUAL_PORT="$backend_port" \
        -v "$dir/www:/www:ro" "$image" \
        /bin/busybox httpd -f -p "127.0.0.1:$backend_port" -h /www >/dev/null
}

start_portico() {
    # demo.localhost cannot get a public certificate, so the demo serves
    # plain HTTP only and never contacts a CA.
    setsid "$portico" --docker-host "$DOCKER_HOST" --http-listen "$listen" \
        --https-listen off --acme off --state-dir "$dir/state" \
        --host-network-address 127.0.0.1 "$@" &
    portico_pid=$!
    echo "$portico_pid" >"$dir/portico.pid"
}

wait_for_demo() {
    local port=${listen##*:} host=${listen%:*} code deadline
    case $host in
        "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;;
    esac
    url=http://$host:$port/
    deadline=$((SECONDS + 30))
    while true; do
        if ! kill -0 "$portico_pid" 2>/dev/null; then
            say "Portico exited before the demo route answered"
            exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            -H 'Host: demo.localhost' "$url" || true)
        [[ $code == 200 ]] && break
        if ((SECONDS >= deadline)); then
            say "demo route still returns '$code' after 30s"
            exit 1
        fi
        sleep 0.2
    done
}

mkdir -p "$dir"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

clean_leftovers
start_engine
import_image
start_demo_container
start_portico "$@"
wait_for_demo

cat <<TEXT

Portico is serving the demo container. Try:

    curl -H 'Host: demo.localhost' $url
    curl http://demo.localhost:${listen##*:}/

Engine: DOCKER_HOST=$DOCKER_HOST (start more containers with
-l VIRTUAL_HOST=... -l VIRTUAL_PORT=... --network host). Ctrl-C stops all.

TEXT

set +e
wait "$portico_pid"
status=$?
portico_pid=
say "Portico exited with status $status"
exit "$status"
