#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages lorc builds and tests with.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpcre2-dev      # Unicode regexes of the BPE pre-tokenizers
  libjansson-dev    # JSON: PEFT adapter configs, safetensors headers
  libxxhash-dev     # fingerprints of base models for overlays
  python3-numpy     # the independent numpy reference in tests/
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
