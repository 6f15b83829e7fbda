#!/usr/bin/env bash
# install-fuzz-deps.sh — installs clang (libFuzzer and the sanitizers come
# with it) for scripts/fuzz.sh. Idempotent: does nothing when clang is there.
set -euo pipefail
if command -v clang > /dev/null; then
  echo "install-fuzz-deps: clang present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-fuzz-deps: installing clang"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang
