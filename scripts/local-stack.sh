#!/bin/bash
# Run a private Docker engine, one demo container, a local test CA (Pebble)
# and Portico in front of them, all on the loopback interface, until Ctrl-C
# or SIGTERM. Portico gets the demo's certificate from Pebble. If Pebble
# cannot start, Portico serves plain HTTP only and contacts no CA.
#
# Environment:
#   PORTICO_DEMO_DIR           engine state and logs (/var/lib/portico-demo)
#   PORTICO_HTTP_LISTEN        Portico's HTTP listener (127.0.0.1:8080)
#   PORTICO_HTTPS_LISTEN       Portico's HTTPS listener (127.0.0.1:8443),
#                              or off for plain HTTP without Pebble
#   PORTICO_ADMIN_LISTEN       Portico's admin API and dashboard
#                              (127.0.0.1:9180)
#   PORTICO_DEMO_BACKEND_PORT  the demo container's port (8081)
#   PORTICO_DEMO_ACME_PORT     Pebble's ACME API on 127.0.0.1 (14000)
#   PORTICO_DEMO_ACME_MANAGEMENT_PORT
#                              Pebble's management API on 127.0.0.1 (15000)
#   PORTICO_DEMO_DNS_PORT      pebble-challtestsrv's mock DNS on 127.0.0.1
#                              (8053); its management API takes
#                              PORTICO_DEMO_DNS_MANAGEMENT_PORT (8055)
#   PORTICO_BUILD_DIR          where build/portico was built (build)
# Extra arguments are passed to Portico. Needs root for dockerd.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${PORTICO_DEMO_DIR:-/var/lib/portico-demo}
listen=${PORTICO_HTTP_LISTEN:-127.0.0.1:8080}
https_listen=${PORTICO_HTTPS_LISTEN:-127.0.0.1:8443}
admin_listen=${PORTICO_ADMIN_LISTEN:-127.0.0.1:9180}
acme_port=${PORTICO_DEMO_ACME_PORT:-14000}
acme_management_port=${PORTICO_DEMO_ACME_MANAGEMENT_PORT:-15000}
dns_port=${PORTICO_DEMO_DNS_PORT:-8053}
dns_management_port=${PORTICO_DEMO_DNS_MANAGEMENT_PORT:-8055}
backend_port=${PORTICO_DEMO_BACKEND_PORT:-8081}
portico=${PORTICO_BUILD_DIR:-build}/portico
sock=$dir/docker.sock
image=busybox:local
container=portico-demo
pebble_dir=$dir/pebble
root_file=$dir/pebble-root.pem
export DOCKER_HOST=unix://$sock
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

dockerd_pid=
portico_pid=
pebble_pid=
challtestsrv_pid=
# Set to 1 once Pebble is up, so that Portico runs with HTTPS and ACME.
use_pebble=0

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
    if pid=$(live_pid "$dir/pebble.pid" "$pebble_dir/pebble.json"); then
        say "stopping Pebble left from an earlier run (pid $pid)"
        stop_pid "$pid" 10
    fi
    if pid=$(live_pid "$dir/challtestsrv.pid" pebble-challtestsrv); then
        say "stopping pebble-challtestsrv left from an earlier run (pid $pid)"
        stop_pid "$pid" 10
    fi
    if pid=$(live_pid "$dir/docker.pid" "$sock"); then
        say "stopping dockerd left from an earlier run (pid $pid)"
        stop_pid "$pid" 30
    fi
    if pid=$(live_pid "$dir/exec/containerd/containerd.pid" "$dir/exec"); then
        stop_pid "$pid" 10
    fi
    rm -f "$dir/docker.pid" "$dir/portico.pid" "$dir/pebble.pid" \
        "$dir/challtestsrv.pid" "$sock"
    unmount_all
}

cleanup() {
    trap - EXIT INT TERM
    if [[ -n $portico_pid ]]; then
        stop_pid "$portico_pid" 10
        wait "$portico_pid" 2>/dev/null || true
    fi
    stop_pebble
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

# Print the address that reaches listener $1 (ADDR:PORT) from this machine.
connect_host() {
    local host=${1%:*}
    case $host in
        "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;;
    esac
    echo "$host"
}

# Create a CA and a certificate for localhost and 127.0.0.1 signed by it,
# for Pebble's own HTTPS APIs. These are not the CA that issues the demo's
# certificate: Pebble makes that one itself at every start.
make_pebble_tls() {
    local d=$pebble_dir
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/api-ca.key" -out "$d/api-ca.pem" -days 30 \
        -subj "/CN=Pebble API test CA" || return 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/api.key" -out "$d/api.csr" -subj /CN=localhost ||
        return 1
    echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$d/api.ext"
    openssl x509 -req -in "$d/api.csr" -CA "$d/api-ca.pem" \
        -CAkey "$d/api-ca.key" -CAcreateserial -out "$d/api.pem" \
        -days 30 -extfile "$d/api.ext"
}

stop_pebble() {
    if [[ -n $pebble_pid ]]; then
        stop_pid "$pebble_pid" 10
        wait "$pebble_pid" 2>/dev/null || true
        pebble_pid=
    fi
    if [[ -n $challtestsrv_pid ]]; then
        stop_pid "$challtestsrv_pid" 10
        wait "$challtestsrv_pid" 2>/dev/null || true
        challtestsrv_pid=
    fi
    rm -f "$dir/pebble.pid" "$dir/challtestsrv.pid"
}

# Start pebble-challtestsrv as a mock DNS server that resolves every name to
# 127.0.0.1, and Pebble, which validates challenges against Portico's HTTP
# and HTTPS ports through it. Returns 1, with everything stopped, if either
# fails to start.
start_pebble() {
    local deadline
    rm -rf "$pebble_dir" "$root_file"
    mkdir -p "$pebble_dir"
    if ! make_pebble_tls >"$pebble_dir/openssl.log" 2>&1; then
        say "openssl failed to create Pebble's API certificate," \
            "log in $pebble_dir/openssl.log"
        return 1
    fi
    cat >"$pebble_dir/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$acme_management_port",
    "certificate": "$pebble_dir/api.pem",
    "privateKey": "$pebble_dir/api.key",
    "httpPort": ${listen##*:},
    "tlsPort": ${https_listen##*:},
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON
    setsid pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" \
        -http01 "" -https01 "" -tlsalpn01 "" \
        -management "127.0.0.1:$dns_management_port" -defaultIPv6 "" \
        >>"$dir/challtestsrv.log" 2>&1 &
    challtestsrv_pid=$!
    echo "$challtestsrv_pid" >"$dir/challtestsrv.pid"
    # PEBBLE_VA_NOSLEEP=1 drops Pebble's random wait of up to 15 s before
    # each validation. Unsetting PEBBLE_WFE_NONCEREJECT keeps its default of
    # rejecting 5% of nonces, which Portico retries.
    env -u PEBBLE_WFE_NONCEREJECT PEBBLE_VA_NOSLEEP=1 \
        setsid pebble -config "$pebble_dir/pebble.json" \
        -dnsserver "127.0.0.1:$dns_port" >>"$dir/pebble.log" 2>&1 &
    pebble_pid=$!
    echo "$pebble_pid" >"$dir/pebble.pid"

    deadline=$((SECONDS + 15))
    until curl -sf -o /dev/null --max-time 2 \
        --cacert "$pebble_dir/api-ca.pem" \
        "https://127.0.0.1:$acme_port/dir" &&
        curl -s -o /dev/null --max-time 2 \
            "http://127.0.0.1:$dns_management_port/"; do
        if ! kill -0 "$pebble_pid" 2>/dev/null; then
            tail -n 5 "$dir/pebble.log" >&2
            say "Pebble exited, log in $dir/pebble.log"
            stop_pebble
            return 1
        fi
        if ! kill -0 "$challtestsrv_pid" 2>/dev/null; then
            tail -n 5 "$dir/challtestsrv.log" >&2
            say "pebble-challtestsrv exited, log in $dir/challtestsrv.log"
            stop_pebble
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "Pebble did not answer on 127.0.0.1:$acme_port within 15s"
            stop_pebble
            return 1
        fi
        sleep 0.2
    done

    # Portico sends the intermediate with the certificate, so the root
    # alone verifies it.
    if ! curl -sf --max-time 5 --cacert "$pebble_dir/api-ca.pem" \
        -o "$root_file" \
        "https://127.0.0.1:$acme_management_port/roots/0"; then
        say "fetching Pebble's root from" \
            "127.0.0.1:$acme_management_port failed"
        stop_pebble
        return 1
    fi
}

start_portico() {
    local tls=(--https-listen off --acme off)
    if ((use_pebble)); then
        tls=(--https-listen "$https_listen"
            --acme-directory "https://127.0.0.1:$acme_port/dir"
            --acme-ca-file "$pebble_dir/api-ca.pem")
    fi
    # Pebble keeps its CA in memory and makes a new root at every start, so
    # the account and certificates of an earlier run are useless.
    rm -rf "$dir/state"
    setsid "$portico" --docker-host "$DOCKER_HOST" --http-listen "$listen" \
        "${tls[@]}" --admin-listen "$admin_listen" \
        --state-dir "$dir/state" --host-network-address 127.0.0.1 "$@" &
    portico_pid=$!
    echo "$portico_pid" >"$dir/portico.pid"
}

wait_for_demo() {
    local code deadline
    url=http://$(connect_host "$listen"):${listen##*:}/
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

# Wait until demo.localhost responds over HTTPS with a certificate that
# verifies against Pebble's root. Returns 1 after 60 s. Portico then keeps
# serving plain HTTP and retries the order later.
wait_for_https() {
    local deadline
    resolve=demo.localhost:${https_listen##*:}:$(connect_host "$https_listen")
    https_url=https://demo.localhost:${https_listen##*:}/
    deadline=$((SECONDS + 60))
    until curl -sf -o /dev/null --max-time 2 --cacert "$root_file" \
        --resolve "$resolve" "$https_url"; do
        if ! kill -0 "$portico_pid" 2>/dev/null; then
            say "Portico exited before the demo route answered over HTTPS"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            say "no certificate for demo.localhost from Pebble after 60s," \
                "see Portico's acme log lines above"
            return 1
        fi
        sleep 0.5
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
if [[ $https_listen == off ]]; then
    say "PORTICO_HTTPS_LISTEN=off, serving plain HTTP without a CA"
elif start_pebble; then
    use_pebble=1
else
    say "Pebble did not start, so Portico serves plain HTTP only" \
        "and contacts no CA"
fi
start_portico "$@"
wait_for_demo
https_ok=0
if ((use_pebble)) && wait_for_https; then
    https_ok=1
fi

admin_url=http://$(connect_host "$admin_listen"):${admin_listen##*:}/
echo
if ((https_ok)); then
    cat <<TEXT
Portico is serving the demo container over HTTPS. Its certificate comes
from Pebble, a local test CA that nothing trusts by default, so curl gets
Pebble's root in $root_file. Try:

    curl --cacert $root_file --resolve $resolve $https_url
    curl -L --cacert $root_file http://demo.localhost:${listen##*:}/

Plain HTTP gets a 301 redirect to HTTPS, which -L follows.
TEXT
else
    cat <<TEXT
Portico is serving the demo container over plain HTTP. Try:

    curl -H 'Host: demo.localhost' $url
    curl http://demo.localhost:${listen##*:}/
TEXT
fi
if [[ $admin_listen != off ]]; then
    cat <<TEXT

Dashboard with routes and certificates: $admin_url
Its API, for example: curl ${admin_url}api/v1/certificates
TEXT
fi
cat <<TEXT

Engine: DOCKER_HOST=$DOCKER_HOST (start more containers with
-l VIRTUAL_HOST=... -l VIRTUAL_PORT=... --network host). Ctrl-C stops all.

TEXT

set +e
wait "$portico_pid"
status=$?
portico_pid=
say "Portico exited with status $status"
exit "$status"
