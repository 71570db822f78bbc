#!/bin/sh
# Installs the Debian packages berth needs to build, test and benchmark.
# Idempotent and fast when everything is present: dpkg is asked first, and
# apt-get runs only for what is missing.
set -eu

PKGS="build-essential cmake pkg-config git curl ca-certificates
libwebsockets-dev libcap-dev libjansson-dev libsqlite3-dev libsodium-dev
libcurl4-openssl-dev libssl-dev libcmocka-dev
python3 wrk openssl sqlite3 valgrind libev-dev libwebsockets-evlib-ev
libuv1-dev libwebsockets-evlib-uv clang libclang-rt-14-dev
haproxy busybox-static lighttpd openssh-server debootstrap iproute2 procps
zlib1g-dev libzstd-dev chromium chromium-driver python3-selenium node-xterm libjs-xterm
lego pebble"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  echo "deps: installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
  # Debian starts the daemons it installs; berth runs its own instances.
  for svc in haproxy lighttpd ssh; do
    case " $missing " in *" $svc "*|*" open$svc-server "*)
      command -v service >/dev/null 2>&1 && $SUDO service "$svc" stop >/dev/null 2>&1 || true ;;
    esac
  done
fi
