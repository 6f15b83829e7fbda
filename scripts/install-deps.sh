#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages lorc builds and tests with.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpcre2-dev      # Unicode regexes of the BPE pre-tokenizers
  libjansson-dev    # JSON: PEFT adapter configs, safetensors headers
  libxxhash-dev     # fingerprints of base models for overlays
  libmicrohttpd-dev # HTTP server of `lorc serve`
  python3-numpy     # the independent numpy reference in tests/
  libsimde-dev      # tests: the AVX-512 kernels with emulated instructions on CPUs without AVX-512
  haproxy           # load balancer of deploy/haproxy.cfg, run by tests/test_scale_out.py
)

# Wanted but not required: without them scripts/test-neon.sh skips (with a
# note) instead of failing, so a failed install only warns.
optional=(
  gcc-aarch64-linux-gnu qemu-user-static  # NEON kernels cross-built, run under QEMU
)
# On an AArch64 host the NEON tests build natively: no cross tools needed.
[ "$(uname -m)" = aarch64 ] && optional=()

# The official `openai` npm client of tests/test_openai_node.sh: Debian's
# Node.js and npm when there is no node/npm on PATH, then the exact package
# versions of tests/node/package-lock.json. Skipped when node_modules was
# installed from this very lock file.
node_deps() {
  local root dir sudo_n=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dir="$root/tests/node"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ "$(id -u)" -eq 0 ] || sudo_n="sudo"
    echo "install-deps: installing nodejs npm"
    $sudo_n apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_n apt-get install -y -qq nodejs npm
  fi
  if cmp -s "$dir/package-lock.json" "$dir/node_modules/.lorc-installed-lock"; then
    echo "install-deps: tests/node packages up to date"
    return 0
  fi
  echo "install-deps: npm ci in tests/node"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  cp "$dir/package-lock.json" "$dir/node_modules/.lorc-installed-lock"
}

missing=() missing_optional=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_optional+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  node_deps
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
if [ ${#missing_optional[@]} -gt 0 ]; then
  echo "install-deps: installing (optional) ${missing_optional[*]}"
  { [ ${#missing[@]} -gt 0 ] || $sudo apt-get update -qq; } &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing_optional[@]}" ||
    echo "install-deps: could not install ${missing_optional[*]}: scripts/test-neon.sh will skip"
fi
node_deps
