#!/usr/bin/env bash
# test_install.sh BUILD_DIR SRC_DIR [CFLAGS]: cmake --install into a temp prefix,
# then build app.c against it twice -- with pkg-config (shared library) and
# with find_package(clipbus) -- and run both.
set -euo pipefail
build=$1 src=$2 extra=${3:-}
tmp=$(mktemp -d)
export CLIPBUS_BUS=t_install_$$
trap 'rm -rf "$tmp"; rm -f /dev/shm/clipbus.$CLIPBUS_BUS.* /dev/shm/clipbus-r.$CLIPBUS_BUS.*' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name clipbus.pc | head -1)
[[ -n "$pc" ]] || { echo "clipbus.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir clipbus)

# 1. pkg-config, shared library
# shellcheck disable=SC2086 # $extra: flags, split on purpose
cc -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/app-pc" "$src/app.c" \
   $(pkg-config --cflags --libs clipbus)
LD_LIBRARY_PATH=$libdir "$tmp/app-pc" | grep -qx 'found=1'
echo "pkg-config build: ok"

# 2. find_package(clipbus)
mkdir -p "$tmp/proj"
cp "$src/app.c" "$tmp/proj/"
cat > "$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(clipbus REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE clipbus::clipbus_static)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null
"$tmp/proj/build/app" | grep -qx 'found=1'
echo "find_package build: ok"
