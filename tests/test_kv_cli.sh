#!/bin/bash
# test_kv_cli.sh — -ctk/-ctv on `lorc run` and `lorc perplexity`: the
# llama2.c greedy reference text with an F32 cache and with the F16
# default; perplexity with F32 and F16 caches alike; Q8_0 refused
# in one line naming head_dim on stories260K (head_dim 8); other values
# refused naming the option; both in --help.
set -u
BIN=${LORC_BIN:?}
MODELS=${LORC_SHARED:?}/models
STORIES=$MODELS/stories260K.gguf
TMP=${LORC_TEST_TMP:?}/kv_cli
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

prompt=$(cat "$MODELS/stories260K.once-upon-a-time.greedy200.txt.prompt")
for types in "-ctk f32 -ctv f32" "--cache-type-k f16 --cache-type-v f16" "-ctk f32"; do
    # shellcheck disable=SC2086
    "$BIN" run -m "$STORIES" -p "$prompt" -n 196 --temp 0 $types >"$TMP/once.txt" 2>"$TMP/once.err" ||
        fail "run $types exited $?: $(cat "$TMP/once.err")"
    cmp -s "$TMP/once.txt" "$MODELS/stories260K.once-upon-a-time.greedy200.txt" ||
        fail "greedy text with $types differs from llama2.c's reference"
done

# Perplexity on a short text (the full held-out file is
# test_perplexity_reference.sh's, with the F16 default): -ctk/-ctv reach the
# context (q8_0 is refused there), and F32 vs F16 agree to 3 digits.
head -c 6000 "$LORC_SHARED/adapters/heldout_base.txt" >"$TMP/short.txt"
ppl() { "$BIN" perplexity -m "$STORIES" -f "$TMP/short.txt" -c 64 -t 2 "$@" 2>&1 | sed -n 's/.*PPL = \([0-9.]*\).*/\1/p'; }
p32=$(ppl -ctk f32 -ctv f32)
p16=$(ppl)
[ -n "$p32" ] && [ -n "$p16" ] && awk -v a="$p32" -v b="$p16" 'BEGIN { d = a - b; exit !(d < 0.001 && d > -0.001) }' ||
    fail "perplexity F32 '$p32' vs F16 '$p16'"
out=$("$BIN" perplexity -m "$STORIES" -f "$TMP/short.txt" -c 64 -ctk q8_0 2>&1)
[[ "$out" == *"type_k Q8_0 needs head_dim"* ]] || fail "perplexity -ctk q8_0: '$out'"

err=$("$BIN" run -m "$STORIES" -p hi -n 1 -ctv q8_0 2>&1 >/dev/null)
[ $? -eq 1 ] || fail "q8_0 on head_dim 8 did not exit 1"
[[ "$err" == *"type_v Q8_0 needs head_dim a multiple of 32"* && $(echo "$err" | wc -l) -eq 1 ]] ||
    fail "q8_0 refusal: '$err'"
for cmd in run perplexity; do
    err=$("$BIN" $cmd -m "$STORIES" -f /dev/null -ctk q4_0 2>&1 >/dev/null)
    [[ "$err" == *"invalid value 'q4_0' for -ctk"* ]] || fail "$cmd -ctk q4_0: '$err'"
    err=$("$BIN" $cmd -m "$STORIES" -f /dev/null --cache-type-v 2>&1 >/dev/null)
    [[ "$err" == *"needs a value"* ]] || fail "$cmd --cache-type-v without a value: '$err'"
    "$BIN" $cmd --help | grep -q -- "-ctk, --cache-type-k" || fail "$cmd --help lacks -ctk"
    "$BIN" $cmd --help | grep -q -- "-ctv, --cache-type-v" || fail "$cmd --help lacks -ctv"
done

if [ $fails -eq 0 ]; then echo "test_kv_cli: ok"; else echo "test_kv_cli: $fails failed"; fi
[ $fails -eq 0 ]
