#!/usr/bin/env bash
# quickstart.sh — installs dependencies, builds lorc, and generates text with
# a real model (default: the tiny stories260K model in ../shared/models).
# Usage: scripts/quickstart.sh [MODEL.gguf] [PROMPT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$root/../shared/models/stories260K.gguf}"
prompt="${2:-Once upon a time}"

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$root/build" -j"$(nproc)"
"$root/build/lorc" run -m "$model" -p "$prompt" -n 128 --temp 0
