# Portico container image: a Debian 12 build stage and a slim runtime stage.
#
#   docker build -t portico .
#   docker build --build-arg BASE=registry.local/debian:12 \
#                --build-arg RUNTIME_BASE=registry.local/debian:12-slim .
#
# BASE and RUNTIME_BASE name the two base images, so a mirror or a local
# copy can stand in for Docker Hub.
ARG BASE=debian:12
ARG RUNTIME_BASE=debian:12-slim

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev python3 \
        libevent-dev libssl-dev libcurl4-openssl-dev libcjson-dev \
        libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release \
 && ninja -C /build portico \
 && install -D -m 0755 /build/portico /out/portico

FROM ${RUNTIME_BASE}
# Runtime libraries only; curl serves the HEALTHCHECK. libcap2-bin is
# installed just long enough to run setcap, because file capabilities set
# in the build stage are not reliably kept by COPY --from (BuildKit drops
# the security.capability attribute). A container run with --cap-drop ALL
# must add NET_BIND_SERVICE back, or the kernel refuses to execute a binary
# whose file capabilities exceed the bounding set. The step runs apt-get
# clean because a base built with debootstrap lacks the docker-clean hook of
# Debian's official images, and would otherwise keep 80 MB of package caches.
COPY --from=build /out/portico /usr/local/bin/portico
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
        libssl3 libcurl4 libcjson1 libmicrohttpd12 ca-certificates curl \
        libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/portico \
 && apt-get purge -y libcap2-bin \
 && apt-get autoremove -y \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portico \
 && useradd --uid 10001 --gid portico --no-log-init \
        --home-dir /var/lib/portico --shell /usr/sbin/nologin portico \
 && install -d -o portico -g portico -m 0750 /var/lib/portico

# ACME account, certificates and keys.
VOLUME /var/lib/portico
USER portico
EXPOSE 80 443
ENV PORTICO_STATE_DIR=/var/lib/portico

# The check requests /healthz from the admin listener at PORTICO_ADMIN_LISTEN,
# else 127.0.0.1:9180. When --admin-listen on the command line sets the
# address instead, or sets it to off, override the check with --health-cmd or
# --no-healthcheck.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -gfsS -o /dev/null \
        "http://${PORTICO_ADMIN_LISTEN:-127.0.0.1:9180}/healthz"

ENTRYPOINT ["/usr/local/bin/portico"]
