#!/bin/bash
# test_openai_node.sh — the official `openai` npm client (pinned in
# tests/node/package-lock.json, installed by scripts/install-deps.sh)
# against a live `lorc serve`: tests/node/openai_client.mjs starts the
# server itself on port 0, checks completions and chat (streamed and not),
# parallel adapters, switching, load/unload through the API and the
# client's error classes, and always stops it.
set -u
: "${LORC_BIN:?}" "${LORC_SHARED:?}" "${LORC_TEST_TMP:?}"
dir="$(cd "$(dirname "$0")" && pwd)/node"
if ! command -v node >/dev/null; then
  echo "FAIL: node is not installed (run scripts/install-deps.sh)" >&2
  exit 1
fi
if [ ! -f "$dir/node_modules/openai/package.json" ]; then
  echo "FAIL: the openai npm package is missing in $dir/node_modules (run scripts/install-deps.sh)" >&2
  exit 1
fi
mkdir -p "$LORC_TEST_TMP"
exec node "$dir/openai_client.mjs"
