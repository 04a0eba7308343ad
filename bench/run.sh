#!/bin/bash
# Benchmarks Portico against nginx and HAProxy as reverse proxies on
# loopback, then measures how fast Portico routes a new container.
# See bench/README.md for what is measured and how to read the output.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}         # seconds per wrk run
CONNECTIONS=${CONNECTIONS:-50}   # wrk keep-alive connections
WARMUP=${WARMUP:-2}              # seconds of unrecorded load per target
TLS=${TLS:-1}                    # 0 skips the HTTPS loads
HANDSHAKES=${HANDSHAKES:-2000}   # ab requests, one TLS handshake each
HANDSHAKE_CONCURRENCY=${HANDSHAKE_CONCURRENCY:-10}
LIVE_RUNS=${LIVE_RUNS:-20}       # 0 skips the route-live measurement
PIN=${PIN:-1}                    # 0 runs everything unpinned
LOAD_CPU=${LOAD_CPU:-0}          # wrk and ab
BACKEND_CPU=${BACKEND_CPU:-0}    # the nginx that serves the content
PROXY_CPU=${PROXY_CPU:-1}        # the proxies under test
PORT_BASE=${PORT_BASE:-24000}
WORKDIR=${WORKDIR:-/tmp/h-bench}
PORTICO=${PORTICO:-$HERE/../build/portico}
PYTHON=${PYTHON:-/usr/bin/python3}

HOST_HEADER=app.bench.test
BACKEND_PORT=$((PORT_BASE + 1))
LIVE_PROXY_PORT=$((PORT_BASE + 30))
LIVE_CONTAINER_PORTS=$((PORT_BASE + 100))  # + run number, up to +199

RUN_DIR=$WORKDIR/run-$(date +%Y%m%d-%H%M%S)
DOCKER_DIR=$WORKDIR/docker
RESULTS=$RUN_DIR/results.tsv
LIVE_RESULTS=$RUN_DIR/live.tsv

declare -a STARTED=()        # root PIDs to stop on exit, in start order
declare -a HTTP_TARGETS=()   # target ids served over plain HTTP
declare -a HTTPS_TARGETS=()  # target ids served over HTTPS
declare -A ROOT_PID=()       # target id -> PID of its first process
declare -A BASE_URL=()       # "http:nginx" -> http://127.0.0.1:PORT
DOCKERD_PID=
LOAD_PID=                    # wrk or ab while one runs
LOAD_BEFORE=

log() {
    printf '%s %s\n' "$(date +%T)" "$*" >&2
}

fail() {
    log "error: $*"
    exit 1
}

procstat() {
    "$PYTHON" "$HERE/procstat.py" "$@"
}

# Stops a process and its descendants: SIGTERM to the root, then SIGKILL
# to whatever of the tree is left after 15 seconds.
stop_tree() {
    local root=$1 pids i
    kill -0 "$root" 2>/dev/null || return 0
    pids=$(procstat pids "$root" 2>/dev/null) || pids=$root
    kill -TERM "$root" 2>/dev/null || true
    for i in $(seq 150); do
        kill -0 "$root" 2>/dev/null || break
        sleep 0.1
    done
    for pid in $pids; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait "$root" 2>/dev/null || true
}

stop_dockerd() {
    local mount
    [ -n "$DOCKERD_PID" ] || return 0
    docker -H "unix://$DOCKER_DIR/docker.sock" ps -aq 2>/dev/null |
        xargs -r docker -H "unix://$DOCKER_DIR/docker.sock" rm -f \
            >/dev/null 2>&1 || true
    stop_tree "$DOCKERD_PID"
    DOCKERD_PID=
    # dockerd leaves its data-root bind mount and netns mounts behind
    # when it is killed.
    awk -v dir="$DOCKER_DIR/" 'index($2, dir) == 1 { print $2 }' \
        /proc/mounts | sort -r |
        while read -r mount; do umount -l "$mount" || true; done
    rm -rf "$DOCKER_DIR"
}

cleanup() {
    local i
    trap - EXIT INT TERM
    if [ -n "$LOAD_PID" ]; then
        stop_tree "$LOAD_PID"
    fi
    stop_dockerd
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_tree "${STARTED[i]}"
    done
}

trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Waits until a server responds on 127.0.0.1:PORT with any HTTP status.
wait_port() {
    local scheme=$1 port=$2 pid=$3 name=$4 i
    for i in $(seq 100); do
        if curl -sk -o /dev/null -m 1 "$scheme://127.0.0.1:$port/"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null ||
            fail "$name exited at start; see its log in $RUN_DIR"
        sleep 0.1
    done
    fail "$name does not answer on port $port after 10s; see $RUN_DIR"
}

# Starts "$@" in the background on CPU $1 and sets LAST_PID to its PID.
spawn() {
    local cpu=$1 logfile=$2
    shift 2
    # taskset execs the server, so LAST_PID is the server's own PID.
    if [ "$PIN" = 1 ]; then
        taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
    else
        "$@" >"$logfile" 2>&1 &
    fi
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}

add_target() {
    local id=$1 scheme=$2 port=$3 pid=$4
    ROOT_PID[$id]=$pid
    BASE_URL[$scheme:$id]=$scheme://127.0.0.1:$port
    if [ "$scheme" = https ]; then
        HTTPS_TARGETS+=("$id")
    else
        HTTP_TARGETS+=("$id")
    fi
}

make_content() {
    mkdir -p "$RUN_DIR/www"
    head -c 16384 /dev/urandom >"$RUN_DIR/www/16k.bin"
    printf 'ok' >"$RUN_DIR/www/index.html"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
        -subj "/CN=$HOST_HEADER" -addext "subjectAltName=DNS:$HOST_HEADER" \
        -keyout "$RUN_DIR/key.pem" -out "$RUN_DIR/cert.pem" 2>/dev/null
    cat "$RUN_DIR/cert.pem" "$RUN_DIR/key.pem" >"$RUN_DIR/haproxy.pem"
}

# Prints the top of an nginx config that keeps every file in DIR.
nginx_main_conf() {
    local dir=$1
    cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
    local dir=$1
    cat <<EOF
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
}

start_backend() {
    local dir=$RUN_DIR/backend
    mkdir -p "$dir"
    {
        nginx_main_conf "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    server {
        listen 127.0.0.1:$BACKEND_PORT;
        root $RUN_DIR/www;
        location = / { return 200 "ok"; }
    }
}
EOF
    } >"$dir/nginx.conf"
    spawn "$BACKEND_CPU" "$dir/stderr.log" \
        nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_port http "$BACKEND_PORT" "$LAST_PID" backend
}

# start_nginx_proxy ID HTTP_PORT [HTTPS_PORT]
start_nginx_proxy() {
    local id=$1 port=$2 tls_port=${3:-} dir=$RUN_DIR/$1
    mkdir -p "$dir"
    {
        nginx_main_conf "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
EOF
        if [ -n "$tls_port" ]; then
            cat <<EOF
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $RUN_DIR/cert.pem;
        ssl_certificate_key $RUN_DIR/key.pem;
EOF
        fi
        cat <<EOF
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    spawn "$PROXY_CPU" "$dir/stderr.log" \
        nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_port http "$port" "$LAST_PID" "$id"
    add_target "$id" http "$port" "$LAST_PID"
    if [ -n "$tls_port" ]; then
        add_target "$id" https "$tls_port" "$LAST_PID"
    fi
}

# start_haproxy ID HTTP_PORT [HTTPS_PORT]
start_haproxy() {
    local id=$1 port=$2 tls_port=${3:-} dir=$RUN_DIR/$1
    mkdir -p "$dir"
    {
        cat <<EOF
global
    nbthread 1
    maxconn 4000

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend proxy
    bind 127.0.0.1:$port
EOF
        if [ -n "$tls_port" ]; then
            echo "    bind 127.0.0.1:$tls_port ssl crt $RUN_DIR/haproxy.pem"
        fi
        cat <<EOF
    default_backend backend

backend backend
    server content 127.0.0.1:$BACKEND_PORT
EOF
    } >"$dir/haproxy.cfg"
    spawn "$PROXY_CPU" "$dir/stderr.log" haproxy -db -f "$dir/haproxy.cfg"
    wait_port http "$port" "$LAST_PID" "$id"
    add_target "$id" http "$port" "$LAST_PID"
    if [ -n "$tls_port" ]; then
        add_target "$id" https "$tls_port" "$LAST_PID"
    fi
}

# start_portico ID HTTP_PORT HTTPS_PORT
start_portico() {
    local id=$1 port=$2 tls_port=$3 dir=$RUN_DIR/$1
    mkdir -p "$dir"
    # The Docker socket does not exist, so only the static route is served
    # and no engine on this machine is contacted. The HTTPS listener is
    # moved off its 0.0.0.0:443 default.
    spawn "$PROXY_CPU" "$dir/stderr.log" "$PORTICO" \
        --http-listen "127.0.0.1:$port" \
        --https-listen "127.0.0.1:$tls_port" \
        --workers 1 --access-log off --log-level warn \
        --acme off --state-dir "$dir/state" --admin-listen off \
        --default-cert "$RUN_DIR/cert.pem" --default-key "$RUN_DIR/key.pem" \
        --docker-host "unix://$dir/no-docker.sock" \
        --route "$HOST_HEADER=http://127.0.0.1:$BACKEND_PORT"
    wait_port http "$port" "$LAST_PID" "$id"
    add_target "$id" http "$port" "$LAST_PID"
    # The certificate is the default one, not a --certs-dir pair for the
    # host, so plain HTTP is proxied instead of redirected to HTTPS.
    if [ "$TLS" = 1 ]; then
        add_target "$id" https "$tls_port" "$LAST_PID"
    fi
}

# Fails unless every target returns the backend's content for both paths.
check_targets() {
    local key body size
    for key in "${!BASE_URL[@]}"; do
        body=$(curl -sk -m 5 -H "Host: $HOST_HEADER" "${BASE_URL[$key]}/") ||
            fail "$key: GET / failed"
        [ "$body" = ok ] || fail "$key: GET / returned '$body', not 'ok'"
        size=$(curl -sk -m 5 -o /dev/null -w '%{size_download}' \
            -H "Host: $HOST_HEADER" "${BASE_URL[$key]}/16k.bin") ||
            fail "$key: GET /16k.bin failed"
        [ "$size" = 16384 ] || fail "$key: /16k.bin is $size bytes, not 16384"
    done
}

# run_load SECONDS_LIMIT OUTPUT_FILE COMMAND...: runs a load generator on
# LOAD_CPU. It runs in the background because bash runs a trap only after
# a foreground command ends, but interrupts a wait at once.
run_load() {
    local limit=$1 output=$2 rc=0
    local -a prefix=()
    shift 2
    if [ "$PIN" = 1 ]; then
        prefix=(taskset -c "$LOAD_CPU")
    fi
    "${prefix[@]}" timeout "$limit" "$@" >"$output" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID" || rc=$?
    LOAD_PID=
    return "$rc"
}

# run_wrk SECONDS URL OUTPUT_FILE
run_wrk() {
    local seconds=$1 url=$2 output=$3
    run_load $((seconds + 30)) "$output" \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency \
        -s "$HERE/wrk_result.lua" -H "Host: $HOST_HEADER" "$url"
}

# Extracts key=value from a WRK_RESULT line.
field() {
    sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"
}

# measure_wrk LOAD SCHEME TARGET ROUND PATH: appends one line to RESULTS.
measure_wrk() {
    local load=$1 scheme=$2 id=$3 round=$4 path=$5
    local pid=${ROOT_PID[$id]} url=${BASE_URL[$scheme:$id]}$path
    local cpu_before cpu_after out line errors key
    procstat reset-hwm "$pid"
    cpu_before=$(procstat cpu "$pid")
    run_wrk "$DURATION" "$url" "$RUN_DIR/load.out" ||
        fail "wrk failed on $url: $(cat "$RUN_DIR/load.out")"
    out=$(cat "$RUN_DIR/load.out")
    cpu_after=$(procstat cpu "$pid")
    printf '### %s %s round %s\n%s\n' "$load" "$id" "$round" "$out" \
        >>"$RUN_DIR/wrk.log"
    line=$(grep '^WRK_RESULT' <<<"$out") || fail "no wrk result for $url"
    errors=0
    for key in connect read write status timeout; do
        errors=$((errors + $(field "$key" "$line")))
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$load" "$id" \
        "$round" "$(field requests "$line")" \
        "$(awk -v us="$(field duration_us "$line")" \
            'BEGIN { printf "%.6f", us / 1e6 }')" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" \
        "$((cpu_after - cpu_before))" "$(procstat hwm "$pid")" \
        "$errors" >>"$RESULTS"
    log "$load $id round $round: $(field requests "$line") requests," \
        "$errors errors"
}

# measure_handshakes TARGET ROUND: one full TLS handshake per request.
measure_handshakes() {
    local id=$1 round=$2
    local pid=${ROOT_PID[$id]} url=${BASE_URL[https:$id]}/
    local csv=$RUN_DIR/ab-$id-$round.csv cpu_before cpu_after out
    local complete failed seconds p50 p99
    procstat reset-hwm "$pid"
    cpu_before=$(procstat cpu "$pid")
    run_load 300 "$RUN_DIR/load.out" ab -q -n "$HANDSHAKES" \
        -c "$HANDSHAKE_CONCURRENCY" -H "Host: $HOST_HEADER" -e "$csv" \
        "$url" || fail "ab failed on $url: $(cat "$RUN_DIR/load.out")"
    out=$(cat "$RUN_DIR/load.out")
    cpu_after=$(procstat cpu "$pid")
    printf '### handshake %s round %s\n%s\n' "$id" "$round" "$out" \
        >>"$RUN_DIR/ab.log"
    complete=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
    failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
    seconds=$(awk '/^Time taken for tests:/ { print $5 }' <<<"$out")
    p50=$(awk -F, '$1 == 50 { printf "%d", $2 * 1000 }' "$csv")
    p99=$(awk -F, '$1 == 99 { printf "%d", $2 * 1000 }' "$csv")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "handshake-https" \
        "$id" "$round" "$complete" "$seconds" "$p50" "$p99" \
        "$((cpu_after - cpu_before))" "$(procstat hwm "$pid")" \
        "$failed" >>"$RESULTS"
    log "handshake-https $id round $round: $complete requests," \
        "$failed failed"
}

# Prints the targets rotated left by N, so each round starts elsewhere.
rotate() {
    local n=$1 i
    shift
    local -a list=("$@")
    for ((i = 0; i < ${#list[@]}; i++)); do
        echo "${list[(i + n) % ${#list[@]}]}"
    done
}

run_loads() {
    local round id
    printf 'load\ttarget\tround\trequests\tseconds\tp50_us\tp99_us\t' \
        >"$RESULTS"
    printf 'cpu_us\thwm_kib\terrors\n' >>"$RESULTS"
    if [ "$WARMUP" -gt 0 ]; then
        for id in "${HTTP_TARGETS[@]}"; do
            run_wrk "$WARMUP" "${BASE_URL[http:$id]}/" "$RUN_DIR/load.out" ||
                fail "wrk failed on $id: $(cat "$RUN_DIR/load.out")"
        done
    fi
    for round in $(seq "$ROUNDS"); do
        for id in $(rotate "$round" "${HTTP_TARGETS[@]}"); do
            measure_wrk small http "$id" "$round" /
        done
        for id in $(rotate "$round" "${HTTP_TARGETS[@]}"); do
            measure_wrk 16k http "$id" "$round" /16k.bin
        done
        [ "$TLS" = 1 ] || continue
        for id in $(rotate "$round" "${HTTPS_TARGETS[@]}"); do
            measure_wrk small-https https "$id" "$round" /
        done
        for id in $(rotate "$round" "${HTTPS_TARGETS[@]}"); do
            measure_wrk 16k-https https "$id" "$round" /16k.bin
        done
        for id in $(rotate "$round" "${HTTPS_TARGETS[@]}"); do
            measure_handshakes "$id" "$round"
        done
    done
}

start_dockerd() {
    local i
    mkdir -p "$DOCKER_DIR"
    dockerd --iptables=false --ip6tables=false --bridge=none \
        --storage-driver=vfs -H "unix://$DOCKER_DIR/docker.sock" \
        --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/docker.pid" >"$RUN_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for i in $(seq 300); do
        if docker -H "unix://$DOCKER_DIR/docker.sock" version \
            >/dev/null 2>&1; then
            break
        fi
        kill -0 "$DOCKERD_PID" 2>/dev/null ||
            fail "dockerd exited at start; see $RUN_DIR/dockerd.log"
        sleep 0.1
    done
    docker -H "unix://$DOCKER_DIR/docker.sock" version >/dev/null ||
        fail "dockerd does not answer after 30s; see $RUN_DIR/dockerd.log"
    mkdir -p "$RUN_DIR/image/bin"
    cp /bin/busybox "$RUN_DIR/image/bin/"
    tar -C "$RUN_DIR/image" -c . |
        docker -H "unix://$DOCKER_DIR/docker.sock" import \
            -c 'ENTRYPOINT []' - busybox:local >/dev/null
}

run_live() {
    local dir=$RUN_DIR/portico-live
    mkdir -p "$dir"
    start_dockerd
    spawn "$PROXY_CPU" "$dir/stderr.log" "$PORTICO" \
        --http-listen "127.0.0.1:$LIVE_PROXY_PORT" \
        --https-listen "127.0.0.1:$((LIVE_PROXY_PORT + 1))" --workers 1 \
        --access-log off --log-level warn \
        --acme off --state-dir "$dir/state" --admin-listen off \
        --docker-host "unix://$DOCKER_DIR/docker.sock"
    wait_port http "$LIVE_PROXY_PORT" "$LAST_PID" portico-live
    # A failure here leaves the load results, so the report still prints.
    "$PYTHON" "$HERE/live.py" --docker "$(command -v docker)" \
        --socket "$DOCKER_DIR/docker.sock" --image busybox:local \
        --www "$RUN_DIR/www" --proxy-port "$LIVE_PROXY_PORT" \
        --port-base "$LIVE_CONTAINER_PORTS" --runs "$LIVE_RUNS" \
        --out "$LIVE_RESULTS" ||
        log "route-live measurement failed; see $dir and $RUN_DIR/dockerd.log"
    stop_tree "$LAST_PID"
    stop_dockerd
}

first_line() {
    "$@" 2>&1 | head -n 1
}

print_header() {
    local portico_version=missing
    [ -x "$PORTICO" ] && portico_version=$(first_line "$PORTICO" --version)
    cat <<EOF
## Run of $(date -u +%Y-%m-%dT%H:%MZ)

Machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo |
        cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r).
Load average (1, 5, 15 min) at start: $LOAD_BEFORE,
at end: $(cut -d' ' -f1-3 /proc/loadavg).
Pinning: $(if [ "$PIN" = 1 ]; then
        echo "load generator on CPU $LOAD_CPU, backend on CPU" \
            "$BACKEND_CPU, proxies on CPU $PROXY_CPU (taskset)"
    else echo none; fi).

Versions:
- $(first_line nginx -v)
- $(first_line haproxy -v)
- $(first_line wrk -v)
- $(first_line ab -V)
- $(first_line openssl version)
- portico: $portico_version

Command:

    ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS \\
    WARMUP=$WARMUP TLS=$TLS HANDSHAKES=$HANDSHAKES \\
    HANDSHAKE_CONCURRENCY=$HANDSHAKE_CONCURRENCY LIVE_RUNS=$LIVE_RUNS \\
    PIN=$PIN LOAD_CPU=$LOAD_CPU BACKEND_CPU=$BACKEND_CPU \\
    PROXY_CPU=$PROXY_CPU bench/run.sh

Each load: \`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency\` on \`/\`
(small: the 2-byte body "ok") and \`/16k.bin\` (16 KiB file), keep-alive.
handshake-https: \`ab -n $HANDSHAKES -c $HANDSHAKE_CONCURRENCY\` without
keep-alive, so one full TLS handshake per request (RSA 2048 certificate);
its p50/p99 include the handshake.
nginx-aa is a second nginx identical to nginx (the A/A check).

EOF
}

# Prints PORT_BASE + $1, or nothing when TLS=0.
https_port() {
    if [ "$TLS" = 1 ]; then
        echo $((PORT_BASE + $1))
    fi
}

main() {
    if [ ! -x "$PORTICO" ]; then
        log "$PORTICO not found: Portico is left out"
        LIVE_RUNS=0
    fi
    # stop_dockerd deletes DOCKER_DIR, so it must be this run's own.
    if [ "$LIVE_RUNS" -gt 0 ] && [ -e "$DOCKER_DIR" ]; then
        fail "$DOCKER_DIR exists (left by an earlier run?); remove it first"
    fi

    mkdir -p "$RUN_DIR"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    log "writing to $RUN_DIR"
    make_content
    start_backend
    start_nginx_proxy nginx $((PORT_BASE + 10)) "$(https_port 20)"
    start_nginx_proxy nginx-aa $((PORT_BASE + 11)) "$(https_port 21)"
    start_haproxy haproxy $((PORT_BASE + 12)) "$(https_port 22)"
    if [ -x "$PORTICO" ]; then
        start_portico portico $((PORT_BASE + 13)) $((PORT_BASE + 23))
    fi

    check_targets
    run_loads
    if [ "$LIVE_RUNS" -gt 0 ]; then
        run_live
    fi

    {
        print_header
        if [ -s "$LIVE_RESULTS" ]; then
            "$PYTHON" "$HERE/report.py" "$RESULTS" "$LIVE_RESULTS"
        else
            "$PYTHON" "$HERE/report.py" "$RESULTS"
        fi
    } | tee "$RUN_DIR/report.md"
}

# Sourcing the file (for testing one step) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
