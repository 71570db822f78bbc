#!/bin/sh
# test-fixtures.sh - what the deploy tests need on this host, idempotent:
#   Debian packages haproxy (the edge), busybox-static (the image base),
#   lighttpd (serves git-http-backend: the real git server), wrk (load),
#   openssh-server (an sshd on a loopback port: the git-over-SSH server);
#   the docker image berth-fixture-base: FROM scratch + busybox + symlinks,
#   built offline (no image can be pulled here).
# Usage: scripts/test-fixtures.sh   (as root, or with apt-get allowed)
set -eu

need=""
for p in haproxy busybox-static lighttpd wrk git openssh-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    echo "test-fixtures: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
# Debian starts the daemons it installs where it can; the tests run their own.
for svc in haproxy lighttpd ssh; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

if ! docker info >/dev/null 2>&1; then
    echo "test-fixtures: the Docker engine does not answer" >&2
    exit 1
fi

stamp=$(sha256sum /bin/busybox | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "berth.fixture.busybox"}}' berth-fixture-base 2>/dev/null || true)
if [ "$have" != "$stamp" ]; then
    echo "test-fixtures: building the berth-fixture-base image"
    ctx=$(mktemp -d)
    trap 'rm -rf "$ctx"' EXIT
    mkdir -p "$ctx/bin"
    cp /bin/busybox "$ctx/bin/busybox"
    cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/mkdir", "-p", "/tmp", "/www", "/etc", "/root"]
RUN ["/bin/sh", "-c", "echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group && chmod 1777 /tmp"]
ENV PATH=/bin
LABEL berth.fixture=1 berth.fixture.busybox=$stamp
DOCKERFILE
    DOCKER_BUILDKIT=0 docker build -q -t berth-fixture-base "$ctx" >/dev/null 2>&1 ||
        DOCKER_BUILDKIT=0 docker build -t berth-fixture-base "$ctx"
fi
echo "test-fixtures: ready (haproxy $(haproxy -v | head -1 | cut -d' ' -f3), image berth-fixture-base)"
