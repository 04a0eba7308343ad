#!/bin/bash
# Start example containers that Portico routes, against the engine in
# DOCKER_HOST (for the local stack: unix:///var/lib/portico-demo/docker.sock).
# Every container uses host networking and serves a busybox httpd on the
# loopback interface, so no image registry and no bridge network are needed.
#
#   examples/containers.sh start   # then: curl -H 'Host: app.localhost' ...
#   examples/containers.sh stop
#
# Ports: EXAMPLE_PORT_BASE (8091) and the four ports after it.
set -euo pipefail

base=${EXAMPLE_PORT_BASE:-8091}
image=${EXAMPLE_IMAGE:-busybox:local}
www=${EXAMPLE_WWW:-/tmp/portico-examples}
names=(example-app-1 example-app-2 example-api example-env example-health)

page() {
    mkdir -p "$www/$1"
    printf '%s\n' "$2" >"$www/$1/index.html"
}

serve() {
    local name=$1 port=$2
    shift 2
    docker run -d --init --name "$name" --network host \
        -v "$www/$name:/www:ro" "$@" "$image" \
        /bin/busybox httpd -f -p "127.0.0.1:$port" -h /www >/dev/null
    echo "started $name on 127.0.0.1:$port"
}

start() {
    # Two replicas of one host: Portico balances between them.
    page example-app-1 "app replica 1"
    page example-app-2 "app replica 2"
    serve example-app-1 "$base" \
        -l VIRTUAL_HOST=app.localhost -l VIRTUAL_PORT="$base"
    serve example-app-2 $((base + 1)) \
        -l VIRTUAL_HOST=app.localhost -l VIRTUAL_PORT=$((base + 1))

    # A path under the same host. Requests for /api/ come here because the
    # longest matching prefix wins.
    page example-api "api"
    mkdir -p "$www/example-api/api"
    echo "api" >"$www/example-api/api/index.html"
    serve example-api $((base + 2)) \
        -l portico.host=app.localhost -l portico.path=/api \
        -l portico.port=$((base + 2))

    # The nginx-proxy environment form. Labels win when both are set.
    page example-env "configured by environment variables"
    serve example-env $((base + 3)) \
        -e VIRTUAL_HOST=env.localhost -e VIRTUAL_PORT=$((base + 3))

    # Traffic only while the health check passes: remove ok to take the
    # container out of rotation, create it again to bring it back.
    page example-health "healthy"
    echo ok >"$www/example-health/ok"
    serve example-health $((base + 4)) \
        -l VIRTUAL_HOST=health.localhost -l VIRTUAL_PORT=$((base + 4)) \
        --health-cmd "/bin/busybox wget -q -O- http://127.0.0.1:$((base + 4))/ok" \
        --health-interval 2s --health-retries 1
}

stop() {
    docker rm -f "${names[@]}" >/dev/null 2>&1 || true
    rm -rf "$www"
    echo "removed ${names[*]}"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
