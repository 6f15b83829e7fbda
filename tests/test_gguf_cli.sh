#!/bin/bash
# test_gguf_cli.sh — `lorc inspect` on good and corrupted GGUF files: a good
# file prints its tables; a bad one exits 1 with one stderr line naming it.
set -u
BIN=${LORC_BIN:?}
MODEL=${LORC_SHARED:?}/models/stories260K.gguf
TMP=${LORC_TEST_TMP:?}/gguf_cli
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# writes COUNT bytes of VALUE (little-endian) at OFFSET of a copy of the model
patch_copy() { # out offset value nbytes
    cp "$MODEL" "$1"
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import sys
path, off, val, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), int(sys.argv[4])
with open(path, 'r+b') as f:
    f.seek(off)
    f.write(val.to_bytes(n, 'little'))
PY
}

# 1. a good file
out=$("$BIN" inspect "$MODEL" 2>"$TMP/err") || fail "inspect on the model exited $?"
[ -s "$TMP/err" ] && fail "inspect on the model wrote to stderr: $(cat "$TMP/err")"
for want in "GGUF version 3" "alignment 32" "general.architecture" '"llama"' "tokenizer.ggml.tokens" "[str x 512]" \
            "token_embd.weight" "blk.4.ffn_norm.weight" "48 tensors"; do
    grep -qF -- "$want" <<<"$out" || fail "inspect output lacks '$want'"
done
"$BIN" inspect --help | grep -q "usage: lorc inspect" || fail "inspect --help"
"$BIN" inspect "${LORC_SHARED}/tokenizer/ggml-vocab-gpt-2.gguf" >/dev/null || fail "inspect on a vocab-only file"

# 2. bad files
head -c 1000 "$MODEL" >"$TMP/truncated-header.gguf"
head -c 200000 "$MODEL" >"$TMP/truncated-data.gguf"
: >"$TMP/empty.gguf"
patch_copy "$TMP/bad-magic.gguf" 0 0x12345678 4
patch_copy "$TMP/bad-version.gguf" 4 1 4
patch_copy "$TMP/huge-n-kv.gguf" 16 0xffffffffffffffff 8
patch_copy "$TMP/huge-n-tensors.gguf" 8 0x7fffffffffff 8
patch_copy "$TMP/huge-key-len.gguf" 24 0x7fffffffffffffff 8
printf 'not a gguf file at all\n' >"$TMP/text.gguf"

for f in truncated-header truncated-data empty bad-magic bad-version huge-n-kv huge-n-tensors huge-key-len text; do
    path="$TMP/$f.gguf"
    "$BIN" inspect "$path" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "$f: exit code $rc (expected 1)"
    lines=$(wc -l <"$TMP/err")
    [ "$lines" -eq 1 ] || fail "$f: $lines lines on stderr: $(cat "$TMP/err")"
    grep -qF -- "$path" "$TMP/err" || fail "$f: stderr does not name the file: $(cat "$TMP/err")"
    grep -qiE "sanitizer|runtime error" "$TMP/err" && fail "$f: sanitizer report"
    echo "$f: $(cat "$TMP/err")"
done
"$BIN" inspect "$TMP/missing.gguf" 2>"$TMP/err" && fail "missing file accepted"
grep -qF "missing.gguf" "$TMP/err" || fail "missing file: message does not name it"
"$BIN" inspect 2>/dev/null && fail "inspect without a file succeeded"

[ "$fails" -eq 0 ] && echo "test_gguf_cli: all passed"
exit $((fails > 0))
