#!/usr/bin/env bash
# Installs the Debian 12 packages clipbus needs to build, test and demo,
# skipping what is already there. Needs root (or sudo) only when something
# is missing. Usage: scripts/install-deps.sh [--bench]
set -euo pipefail

# Build: compiler, CMake, and the libraries (DEPENDENCIES are in README).
pkgs=(build-essential cmake ninja-build pkg-config clang
      liburcu-dev libck-dev librrd-dev libcurl4-openssl-dev libcmocka-dev
      libsqlite3-dev libjansson-dev libncurses-dev libmicrohttpd-dev
      libcairo2-dev)
# Test peers and verifiers: real programs the tests talk to.
pkgs+=(rrdtool rrdcached sqlite3 jq curl tmux python3 python3-aiosmtpd
       poppler-utils procps iproute2 fonts-dejavu-core)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(liblttng-ust-dev lttng-tools babeltrace2 hyperfine linux-perf)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
