#!/usr/bin/env bash
# Installs whatever the build, the demo and the tests need and is missing:
# npm packages from the lock file, and (as root) the Debian packages of the lab.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/vitest ] || [ ! -x node_modules/.bin/bun ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# The demo needs only the npm packages; the lab and browser tests need more.
[ "${1:-}" = "--npm-only" ] && exit 0

# command -> Debian package
declare -A need=(
  [ip]=iproute2 [tc]=iproute2 [bridge]=iproute2 [nft]=nftables [keepalived]=keepalived
  [chromium]=chromium [ping]=iputils-ping [arping]=arping [tcpdump]=tcpdump
  [cc]=gcc [python3]=python3 [unshare]=util-linux [nsenter]=util-linux
  [qemu-aarch64-static]=qemu-user-static [qemu-x86_64-static]=qemu-user-static [zsh]=zsh
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# The FUSE and flood lab tests compile small C programs against the kernel's headers.
[ -f /usr/include/linux/fuse.h ] || missing+=(linux-libc-dev)
# The arm64 binary's smoke test runs it under qemu-user with Debian's arm64 C library.
[ -f /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
# The Heartbeat import round trip runs Heartbeat itself (its IPaddr resource calls ifconfig).
[ -x /usr/libexec/heartbeat/heartbeat ] || missing+=(heartbeat)
command -v ifconfig >/dev/null 2>&1 || missing+=(net-tools)
if [ "${#missing[@]}" -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "setup: missing Debian packages ($pkgs); lab and browser tests need them (apt-get install $pkgs, as root)" >&2
  fi
fi
