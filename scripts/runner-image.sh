#!/bin/sh
# runner-image.sh - builds the Docker image berth-runner:VERSION (and :latest)
# from the static runner binary and a Debian base made here, no registry:
#
#   1. berth-debian-base:bookworm, once: `debootstrap --variant=minbase
#      bookworm` into a temporary directory, `tar | docker import`. Cached:
#      later builds reuse it (--rebuild-base makes it again).
#   2. FROM that base: apt-get install git, curl, ca-certificates; the
#      docker CLI taken from Debian's docker.io package (only /usr/bin/docker:
#      the runner talks to the host's daemon through the mounted socket, so
#      dockerd, containerd and runc would be dead weight); /bin/sh is
#      Debian's dash. Docker's layer cache keeps this step between builds.
#   3. COPY the static berth-runner; ENTRYPOINT berth-runner.
#
# usage: scripts/runner-image.sh [--binary PATH] [--tag VERSION]
#                                [--base NAME] [--rebuild-base]
# Environment: BERTH_DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Prints the image name on its last line.
set -eu

BINARY=build/berth-runner
TAG=""
BASE=berth-debian-base:bookworm
REBUILD_BASE=0
MIRROR=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
WORK=""

die() {
    printf 'runner-image: %s\n' "$*" >&2
    exit 1
}
say() { printf 'runner-image: %s\n' "$*" >&2; }

cleanup() {
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        rm -rf "$WORK"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
    --binary) BINARY=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --rebuild-base) REBUILD_BASE=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown option: $1" ;;
    esac
done

[ -x "$BINARY" ] || die "no runner binary at $BINARY (build first, or pass --binary)"
command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the Docker daemon is not reachable"
if [ -z "$TAG" ]; then
    TAG=$("$BINARY" --version | sed -n 's/^berth-runner \([^ ]*\).*/\1/p')
    [ -n "$TAG" ] || die "cannot read the version of $BINARY"
fi
if file "$BINARY" 2>/dev/null | grep -q 'dynamically linked'; then
    say "warning: $BINARY is dynamically linked; the image has Debian bookworm's libraries only"
fi

trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-runner-image.XXXXXX")

if [ "$REBUILD_BASE" = 1 ] || ! docker image inspect "$BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    say "making $BASE with debootstrap (minbase bookworm from $MIRROR)"
    t0=$(date +%s)
    mkdir "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    }
    # no package caches, logs, documentation or translations in the image
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* \
        "$WORK/rootfs/var/log/"* "$WORK/rootfs/tmp/"* "$WORK/rootfs/usr/share/man/"* \
        "$WORK/rootfs/usr/share/info/"* "$WORK/rootfs/usr/share/locale/"*
    find "$WORK/rootfs/usr/share/doc" -type f ! -name copyright -delete
    tar --numeric-owner -C "$WORK/rootfs" -c . |
        docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'ENV LANG=C.UTF-8' - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
    say "$BASE made in $(($(date +%s) - t0)) s"
fi

mkdir "$WORK/ctx"
cp "$BINARY" "$WORK/ctx/berth-runner"
cat >"$WORK/ctx/Dockerfile" <<EOF
FROM $BASE
ENV DEBIAN_FRONTEND=noninteractive
# no documentation, man pages or translations in a runner image
RUN printf '%s\\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \\
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \\
      'path-exclude=/usr/share/locale/*' >/etc/dpkg/dpkg.cfg.d/berth-slim \\
 && apt-get update -q \\
 && apt-get install -y -q --no-install-recommends git curl ca-certificates \\
 && cd /tmp && apt-get download -q docker.io \\
 && dpkg-deb --fsys-tarfile docker.io_*.deb | tar -x -C / ./usr/bin/docker \\
 && rm -f /tmp/docker.io_*.deb \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \\
 && find /usr/share/doc -type f ! -name copyright -delete \\
 && rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/* \\
 && docker --version && git --version && curl --version | head -n 1
COPY berth-runner /usr/local/bin/berth-runner
VOLUME /var/lib/berth-runner
LABEL org.opencontainers.image.title="berth-runner" \\
      org.opencontainers.image.version="$TAG"
ENTRYPOINT ["/usr/local/bin/berth-runner"]
EOF

say "building berth-runner:$TAG"
t0=$(date +%s)
docker build -t "berth-runner:$TAG" -t berth-runner:latest "$WORK/ctx" >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    die "docker build failed"
}
size=$(docker image inspect -f '{{.Size}}' "berth-runner:$TAG")
say "berth-runner:$TAG built in $(($(date +%s) - t0)) s, $((size / 1048576)) MiB"
echo "berth-runner:$TAG"
