#!/bin/sh
# install.sh - installs berth-runner on this host and registers it with berthd.
#
# berthd serves this file at /install.sh with @BERTH_URL@ replaced by its
# base URL, so a new server is added with one line:
#
#   curl -sSL http://HOST/install.sh | sh -s -- --token brg_...
#
# Options:
#   --token TOKEN      one-time registration token (or BERTH_RUNNER_TOKEN in
#                      the environment); not needed when already registered
#   --url URL          berthd's base URL (default: the one that served this)
#   --prefix DIR       install DIR/bin/berth-runner (default /usr/local)
#   --state-dir DIR    runner state (default /var/lib/berth-runner)
#   --no-start         install and register, but leave the runner stopped
#   --no-haproxy       do not install HAProxy (nor lego)
#   --print-unit       print the systemd unit this would write, and exit
#   --uninstall        stop the runner and remove binary, unit and state
#
# Safe to run again: a registered state directory is kept (the token is then
# not needed), the binary is replaced atomically and a running runner is
# restarted on it. The token is handed to the runner in its environment,
# never on a command line, and is never printed.
#
# POSIX sh; the whole script is read before anything runs (main at the end),
# so a cut-off download does nothing.

set -eu

BERTH_URL="@BERTH_URL@"
PREFIX=/usr/local
STATE_DIR=/var/lib/berth-runner
UNIT_PATH=/etc/systemd/system/berth-runner.service
NO_START=0
NO_HAPROXY=0
UNINSTALL=0
PRINT_UNIT=0
TOKEN=${BERTH_RUNNER_TOKEN:-}
unset BERTH_RUNNER_TOKEN
TMPFILES=""

say() { printf 'berth: %s\n' "$*"; }
warn() { printf 'berth: warning: %s\n' "$*" >&2; }
die() {
    printf 'berth: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<'EOF'
usage: curl -sSL URL/install.sh | sh -s -- --token TOKEN [options]
  --token TOKEN     one-time registration token (or BERTH_RUNNER_TOKEN)
  --url URL         berthd's base URL
  --prefix DIR      install DIR/bin/berth-runner (default /usr/local)
  --state-dir DIR   state directory (default /var/lib/berth-runner)
  --no-start        do not leave the runner running
  --no-haproxy      do not install HAProxy (nor lego, the ACME client)
  --print-unit      print the systemd unit and exit
  --uninstall       stop and remove the runner, its unit and its state
EOF
}

cleanup() {
    for f in $TMPFILES; do
        rm -f "$f"
    done
}

need_arg() {
    [ "$2" -ge 2 ] || {
        usage >&2
        die "$1 needs a value"
    }
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --token) need_arg "$1" $#; TOKEN=$2; shift 2 ;;
        --token=*) TOKEN=${1#*=}; shift ;;
        --url) need_arg "$1" $#; BERTH_URL=$2; shift 2 ;;
        --prefix) need_arg "$1" $#; PREFIX=$2; shift 2 ;;
        --state-dir) need_arg "$1" $#; STATE_DIR=$2; shift 2 ;;
        --no-start) NO_START=1; shift ;;
        --no-haproxy) NO_HAPROXY=1; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --print-unit) PRINT_UNIT=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
        esac
    done
    case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path" ;; esac
    case "$STATE_DIR" in /?*) ;; *) die "--state-dir must be an absolute path other than /" ;; esac
    PREFIX=${PREFIX%/}
    BIN="$PREFIX/bin/berth-runner"
    PIDFILE="$STATE_DIR/berth-runner.pid"
    LOGFILE="$STATE_DIR/berth-runner.log"
}

have() { command -v "$1" >/dev/null 2>&1; }

systemd_running() { [ -d /run/systemd/system ] && have systemctl; }

# The base URL, checked; the runner's WebSocket URL from it.
runner_url() {
    BERTH_URL=${BERTH_URL%/}
    case "$BERTH_URL" in
    http://*) WS_URL="ws://${BERTH_URL#http://}/runner/v1" ;;
    https://*) WS_URL="wss://${BERTH_URL#https://}/runner/v1" ;;
    *) die "no berthd URL: pass --url http(s)://HOST (this script was not served by berthd)" ;;
    esac
}

unit_text() {
    cat <<EOF
# Written by berth's install.sh. Remove with: $BIN uninstall --yes
[Unit]
Description=berth runner agent
After=network-online.target docker.service
Wants=network-online.target

[Service]
ExecStart=$BIN --state-dir $STATE_DIR
Restart=on-failure
RestartSec=2
# 2 = usage (e.g. not registered), 3 = registration token refused: no loop
RestartPreventExitStatus=2 3
KillMode=mixed
TimeoutStopSec=15
UMask=0077
# Hardening that leaves the runner able to do its job: it runs deploy and
# admin scripts as root and talks to the Docker daemon, so the filesystem
# stays writable; kernel surfaces it never needs are closed.
NoNewPrivileges=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
EOF
}

# a process that exists and is not a zombie
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 0
    [ "$st" != Z ]
}

# pid of our background (non-systemd) runner, if it is running
runner_pid() {
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    case "$pid" in '' | *[!0-9]*) return 1 ;; esac
    alive "$pid" || return 1
    # a recycled pid is not ours
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'berth-runner' || return 1
    echo "$pid"
}

stop_background() {
    pid=$(runner_pid) || {
        rm -f "$PIDFILE"
        return 0
    }
    say "stopping berth-runner (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid"; do
        i=$((i + 1))
        if [ $i -gt 150 ]; then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$PIDFILE"
}

start_background() {
    # $1: the token for a first start, else empty. It goes to the runner
    # through its environment only (the runner unsets it at start).
    if [ -n "$1" ]; then
        BERTH_RUNNER_TOKEN=$1 nohup "$BIN" --url "$WS_URL" --state-dir "$STATE_DIR" \
            </dev/null >>"$LOGFILE" 2>&1 &
    else
        nohup "$BIN" --url "$WS_URL" --state-dir "$STATE_DIR" </dev/null >>"$LOGFILE" 2>&1 &
    fi
    echo $! >"$PIDFILE"
}

check_tools() {
    missing=""
    for t in docker git curl; do
        have "$t" || missing="$missing $t"
    done
    if [ -n "$missing" ]; then
        warn "missing on this host:$missing (the server stays PROVISIONING until its precheck passes)"
    fi
    if have docker && ! docker version --format '{{.Server.Version}}' </dev/null >/dev/null 2>&1; then
        warn "the Docker daemon is not reachable (is it running? is the socket mounted?)"
    fi
}

# The edge: HAProxy, and lego for its HTTPS certificates (ACME).
install_haproxy() {
    [ "$NO_HAPROXY" = 0 ] || return 0
    if have haproxy; then
        install_lego
        return 0
    fi
    if ! have apt-get; then
        warn "HAProxy is missing and there is no apt-get: install it for apps with a public port"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        warn "HAProxy is missing; run as root to install it (or pass --no-haproxy)"
        return 0
    fi
    say "installing HAProxy from this host's packages"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy </dev/null >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy </dev/null >/dev/null 2>&1 ||
            warn "could not install HAProxy (apt-get install haproxy failed)"
    fi
    install_lego
}

install_lego() {
    have lego && return 0
    if ! have apt-get || [ "$(id -u)" != 0 ]; then
        warn "lego is missing: apps' domains get no HTTPS certificate until it is installed"
        return 0
    fi
    say "installing lego (ACME client for HTTPS certificates) from this host's packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q lego </dev/null >/dev/null 2>&1 ||
        warn "could not install lego (apt-get install lego failed): no HTTPS certificates"
}

sha256_of() {
    if have sha256sum; then
        sha256sum "$1" | cut -d' ' -f1
    elif have shasum; then
        shasum -a 256 "$1" | cut -d' ' -f1
    elif have openssl; then
        openssl dgst -sha256 "$1" | sed 's/^.*= *//'
    else
        return 1
    fi
}

# Downloads the runner next to its destination, checks it, renames it into
# place (atomic: a running binary is never half-written).
install_binary() {
    have curl || die "curl is needed to download berth-runner"
    mkdir -p "$PREFIX/bin"
    new="$PREFIX/bin/.berth-runner.new.$$"
    hdr="$PREFIX/bin/.berth-runner.hdr.$$"
    TMPFILES="$TMPFILES $new $hdr"
    say "downloading berth-runner from $BERTH_URL"
    curl -fsSL --retry 3 -D "$hdr" -o "$new" "$BERTH_URL/download/berth-runner" </dev/null ||
        die "download of $BERTH_URL/download/berth-runner failed"
    want=$(tr -d '\r' <"$hdr" | sed -n 's/^[Xx]-[Bb]erth-[Ss][Hh][Aa]256: *\([0-9a-fA-F]*\).*$/\1/p' | tail -n 1)
    if [ -z "$want" ]; then
        warn "berthd sent no X-Berth-SHA256 checksum; not verified"
    elif got=$(sha256_of "$new"); then
        [ "$got" = "$want" ] || die "checksum mismatch for berth-runner (got $got, want $want)"
    else
        warn "no sha256sum/shasum/openssl here; checksum not verified"
    fi
    chmod 0755 "$new"
    "$new" --version </dev/null >/dev/null 2>&1 || die "the downloaded berth-runner does not run on this host"
    mv -f "$new" "$BIN"
    rm -f "$hdr"
    say "installed $BIN ($("$BIN" --version </dev/null 2>/dev/null || echo '?'))"
}

# First start: the runner trades the token for a credential (written to
# STATE/credential) and reports "session up" once berthd acknowledged it.
# Leaves the runner running in the background; returns when registered.
register() {
    [ -n "$TOKEN" ] || die "not registered yet: pass --token brg_... (from the server's page in berth)"
    say "registering with $BERTH_URL"
    : >"$LOGFILE"
    start_background "$TOKEN"
    TOKEN=""
    pid=$(cat "$PIDFILE")
    i=0
    while :; do
        if [ -s "$STATE_DIR/credential" ] && grep -q 'session up' "$LOGFILE" 2>/dev/null; then
            break
        fi
        if ! alive "$pid"; then
            rc=0
            wait "$pid" 2>/dev/null || rc=$?
            rm -f "$PIDFILE"
            tail -n 5 "$LOGFILE" >&2 || true
            [ "$rc" = 3 ] && die "the registration token was refused (used or expired): create a new one"
            die "berth-runner exited during registration (exit $rc)"
        fi
        i=$((i + 1))
        if [ $i -gt 600 ]; then
            stop_background
            tail -n 5 "$LOGFILE" >&2 || true
            die "not registered after 60 s (is $WS_URL reachable from here?)"
        fi
        sleep 0.1
    done
    say "registered ($(sed -n 's/.*"server_id" *: *"\([^"]*\)".*/server \1/p' "$STATE_DIR/state.json" 2>/dev/null))"
}

do_uninstall() {
    stop_background  # a background runner; `berth-runner uninstall` handles the unit
    if [ -x "$BIN" ]; then
        "$BIN" uninstall --yes --prefix "$PREFIX" --state-dir "$STATE_DIR" </dev/null
    else
        warn "$BIN is not there; removing the state directory only"
        rm -rf "$STATE_DIR"
    fi
    say "uninstalled. Remove the server in berth too: its credential stays valid until then."
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    parse_args "$@"
    if [ "$PRINT_UNIT" = 1 ]; then
        unit_text
        exit 0
    fi
    if [ "$UNINSTALL" = 1 ]; then
        do_uninstall
        exit 0
    fi
    runner_url
    umask 022
    check_tools
    install_haproxy
    install_binary

    umask 077
    mkdir -p "$STATE_DIR"
    chmod 0700 "$STATE_DIR"
    registered=0
    if [ -s "$STATE_DIR/credential" ]; then
        registered=1
        [ -z "$TOKEN" ] || say "already registered: keeping $STATE_DIR, the token is not used"
        TOKEN=""
    fi

    if systemd_running; then
        if [ "$registered" = 0 ]; then
            register
        fi
        stop_background  # systemd takes over from here
        say "writing $UNIT_PATH"
        unit_tmp="$UNIT_PATH.new.$$"
        TMPFILES="$TMPFILES $unit_tmp"
        (umask 022 && unit_text >"$unit_tmp")
        mv -f "$unit_tmp" "$UNIT_PATH"
        systemctl daemon-reload
        if [ "$NO_START" = 1 ]; then
            systemctl enable berth-runner.service
            say "enabled, not started: systemctl start berth-runner"
        else
            systemctl enable berth-runner.service
            systemctl restart berth-runner.service
            say "berth-runner.service is running (journalctl -u berth-runner)"
        fi
    else
        if [ "$registered" = 0 ]; then
            register  # leaves it running on the new binary
        else
            stop_background
            [ "$NO_START" = 1 ] || start_background ""
        fi
        if [ "$NO_START" = 1 ]; then
            stop_background
        fi
        say "systemd is not running here; to run berth-runner yourself:"
        say "  nohup $BIN --state-dir $STATE_DIR >>$LOGFILE 2>&1 &"
        if [ "$NO_START" = 0 ]; then
            say "started in the background (pid $(cat "$PIDFILE"), log $LOGFILE)"
        fi
    fi
    say "done"
}

main "$@"
