#!/bin/bash
# test_leftover_outputs.sh — a failed command leaves nothing behind, and no
# command replaces an output path that is not a regular file (issue 6, items
# 6 and 7), end to end through the CLI:
#  - merge/extract validate --eval-text (exists, long enough for one chunk)
#    before writing: exit 1, one line naming the file, no output, an existing
#    output untouched, no temporary;
#  - every writing command refuses a FIFO, a directory, a dangling symlink, a
#    symlink to a directory and (as root, on a node made here with mknod) a
#    character device as -o, with "refusing to replace OUT: not a regular
#    file", leaving the node as it was; a symlink to a regular file has its
#    target replaced and stays a link.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
TMP=${LORC_TEST_TMP:?}/leftover_sh
rm -rf "$TMP"
mkdir -p "$TMP"
BASE=$SHARED/models/stories260K.gguf
FULL=$SHARED/adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf
LORA=$SHARED/adapters/moon-qv/moon-qv.gguf
TEXT=$SHARED/adapters/heldout_moon.txt
fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { checks=$((checks + 1)); }

# expect_refused NAME OUT WANT -- CMD...: exit 1, one line containing WANT, no OUT, no temporary
expect_refused() {
  local name=$1 out=$2 want=$3
  shift 4
  "$BIN" "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
  local rc=$?
  check
  [ $rc = 1 ] || fail "$name: exit $rc (want 1): $(cat "$TMP/err.txt")"
  [ "$(wc -l <"$TMP/err.txt")" = 1 ] || fail "$name: stderr is not one line: $(cat "$TMP/err.txt")"
  grep -qF -- "$want" "$TMP/err.txt" || fail "$name: stderr lacks '$want': $(cat "$TMP/err.txt")"
  [ -z "$out" ] || [ ! -e "$out" ] || fail "$name: left $out behind"
  [ -z "$(find "$TMP" -name '*.tmp.*')" ] || fail "$name: left a temporary: $(find "$TMP" -name '*.tmp.*')"
}

# ---- item 7: --eval-text checked before anything is written
printf 'Once upon a time' >"$TMP/short.txt"
for cmd in merge extract; do
  if [ $cmd = merge ]; then args=(merge -m "$BASE" --lora "$LORA"); else args=(extract "$BASE" "$FULL" -r 4); fi
  expect_refused "$cmd, missing --eval-text" "$TMP/$cmd.gguf" "$TMP/missing.txt" -- \
    "${args[@]}" -o "$TMP/$cmd.gguf" --eval-text "$TMP/missing.txt"
  expect_refused "$cmd, --eval-text shorter than a chunk" "$TMP/$cmd.gguf" "do not fill one evaluation chunk" -- \
    "${args[@]}" -o "$TMP/$cmd.gguf" --eval-text "$TMP/short.txt" -c 64
  # an existing output stays as it was
  echo old >"$TMP/$cmd.old"
  expect_refused "$cmd over an existing output, missing --eval-text" "" "$TMP/missing.txt" -- \
    "${args[@]}" -o "$TMP/$cmd.old" --eval-text "$TMP/missing.txt"
  check
  [ "$(cat "$TMP/$cmd.old")" = old ] || fail "$cmd replaced the existing output although it failed"
  # and a good text still works (the checks do not refuse valid input)
  "$BIN" "${args[@]}" -o "$TMP/$cmd.gguf" --eval-text "$TEXT" -c 64 --eval-chunks 2 >"$TMP/ok.txt" 2>&1
  rc=$?
  check
  [ $rc = 0 ] && [ -f "$TMP/$cmd.gguf" ] || fail "$cmd with a valid --eval-text: $(cat "$TMP/ok.txt")"
  grep -q "mean KL divergence" "$TMP/ok.txt" || fail "$cmd: no evaluation printed: $(cat "$TMP/ok.txt")"
done

# ---- item 6: output paths that are not regular files
mkfifo "$TMP/fifo"
mkdir "$TMP/dir"
ln -s "$TMP/nowhere" "$TMP/dangling"
ln -s "$TMP/dir" "$TMP/link_dir"
ln -s "$TMP/fifo" "$TMP/link_fifo"
kinds=(fifo dir dangling link_dir link_fifo)
if mknod "$TMP/chr" c 1 3 2>/dev/null; then
  kinds+=(chr)
else
  echo "test_leftover_outputs: note: character-device case skipped (mknod needs root)"
fi
mode() { stat -c %F "$1"; }
for k in "${kinds[@]}"; do
  out="$TMP/$k"
  before=$(mode "$out")
  want="refusing to replace $out: not a regular file"
  expect_refused "quantize -> $k" "" "$want" -- quantize "$BASE" "$out" Q8_0
  expect_refused "merge -> $k" "" "$want" -- merge -m "$BASE" --lora "$LORA" -o "$out"
  expect_refused "diff -> $k" "" "$want" -- diff "$BASE" "$FULL" -o "$out"
  expect_refused "extract -> $k" "" "$want" -- extract "$BASE" "$FULL" -r 2 -o "$out"
  expect_refused "convert -> $k" "" "$want" -- convert "$SHARED/adapters/moon-qv/peft" -m "$BASE" -o "$out"
  # perplexity's logits file goes through the same writer (it may print its
  # chunking plan first, so only the last line is checked)
  "$BIN" perplexity -m "$BASE" -f "$TEXT" -c 64 --kl-divergence-base "$out" >"$TMP/out.txt" 2>"$TMP/err.txt"
  rc=$?
  check
  [ $rc = 1 ] && tail -1 "$TMP/err.txt" | grep -qF -- "$want" || fail "perplexity -> $k: exit $rc: $(cat "$TMP/err.txt")"
  check
  [ "$(mode "$out")" = "$before" ] || fail "$k: was '$before', now '$(mode "$out")'"
done
[ ! -e "$TMP/nowhere" ] || fail "writing through a dangling link created its target"

# a symlink to a regular file: the target is replaced, the link stays
echo old >"$TMP/target.gguf"
ln -s target.gguf "$TMP/link_file"
"$BIN" quantize "$BASE" "$TMP/link_file" Q8_0 >"$TMP/ok.txt" 2>&1 || fail "quantize through a link: $(cat "$TMP/ok.txt")"
check
[ -L "$TMP/link_file" ] || fail "the symlink was replaced by a file"
"$BIN" inspect "$TMP/target.gguf" >/dev/null 2>&1 || fail "the link's target is not the new model"

echo "test_leftover_outputs: $checks checks, $fails failed"
[ $fails = 0 ] && [ $checks -gt 0 ]
