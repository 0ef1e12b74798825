# syntax=docker/dockerfile:1
#
# pgtide container image.
#
#   docker build -t pgtide .
#   docker run --rm -p 6432:6432 -p 9127:9127 \
#       -e DATABASE_URL=postgres://app:secret@db.example.com:5432/app pgtide
#
# Configuration comes from the environment (DATABASE_URL, PGTIDE_<SETTING>,
# the PgBouncer-image spellings, *_FILE secrets) or from a file mounted at
# /etc/pgtide/pgtide.ini; etc/docker/docker-entrypoint.sh documents every
# variable. Logs go to standard error. docs/operations.md has the details.

# ---- build: the same two steps as the README, nothing else ----------------
FROM debian:bookworm AS build
WORKDIR /src
# The dependency step first, on its own, so that its layer is reused while
# only the sources change.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh
COPY . .
RUN scripts/build.sh build -DPGTIDE_TESTS=OFF

# ---- runtime -------------------------------------------------------------
FROM debian:bookworm-slim

# Runtime libraries only. The binary's NEEDED list today (readelf -d) is
# libevent-2.1.so.7, libinih.so.1, libcrypto.so.3 (libssl3) and libc.
# CMake also links libevent_pthreads and libpq; the linker drops them while
# no code calls them, but they are installed so that the image keeps working
# the day some code does (libpq5 is about 1 MB). ca-certificates is for server
# TLS once pgtide has it. No HTTP client: the
# HEALTHCHECK below talks HTTP with bash's /dev/tcp (bash is part of every
# Debian image), which saves curl and its dependencies and keeps one tool
# less in the image to patch.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-pthreads-2.1-7 libssl3 libpq5 libinih1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can check it and
# mounted secrets can be made readable to it.
RUN groupadd --system --gid 6432 pgtide \
 && useradd --system --uid 6432 --gid pgtide --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin pgtide \
 && install -d -m 0755 /etc/pgtide \
 && install -d -o pgtide -g pgtide -m 0755 /run/pgtide

COPY --from=build /src/build/pgtide /usr/local/bin/pgtide
COPY etc/docker/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The commented sample, for reference only: a file at /etc/pgtide/pgtide.ini
# would be taken as the configuration.
COPY etc/pgtide.ini /usr/share/doc/pgtide/pgtide.ini.sample
RUN chmod 0755 /usr/local/bin/pgtide /usr/local/bin/docker-entrypoint.sh \
 && /usr/local/bin/pgtide --version

USER 6432:6432
WORKDIR /run/pgtide

# 6432: PostgreSQL clients and the admin console; 9127: /metrics, /healthz,
# /readyz (the entrypoint turns the metrics listener on at 0.0.0.0:9127
# unless metrics_port is set).
EXPOSE 6432 9127

# SIGTERM makes pgtide stop accepting, let running transactions finish (at
# most 60 s) and exit 0. Give it that long: docker stop --time 70, or
# stop_grace_period: 70s in compose.
STOPSIGNAL SIGTERM

# /readyz: 200 while pgtide accepts clients and every configured database
# server accepts TCP connections; 503 while draining or when one does not.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/docker-entrypoint.sh", "healthcheck"]

# The entrypoint execs pgtide, so pgtide is pid 1 and gets the signals.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD []
