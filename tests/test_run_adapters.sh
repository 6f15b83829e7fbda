#!/bin/bash
# test_run_adapters.sh — the adapter options of `lorc run` and `lorc
# perplexity` on the real stories260K adapters: --lora / --lora-scaled change
# the greedy text as the adapters' README quotes and give llama.cpp's
# perplexity; --overlay with the overlay `lorc diff` makes from the full
# fine-tune gives its reference perplexity.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
STORIES=$SHARED/models/stories260K.gguf
AD=$SHARED/adapters
TMP=${LORC_TEST_TMP:?}/run_adapters
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
within() { python3 -c "import sys; v, r, t = map(float, sys.argv[1:]); sys.exit(abs(v - r) > t * r)" "$1" "$2" "$3"; }
final_ppl() { sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- [0-9.]*$/\1/p' "$1"; }
greedy() { "$BIN" run -m "$STORIES" -p "Once upon a time" -n 80 --temp 0 "$@" 2>"$TMP/run.err"; }
starts() { # text prefix what
    [[ "$1" == "$2"* ]] || fail "$3: got '${1:0:140}'"
}

base=$(greedy) || fail "base run: $(cat "$TMP/run.err")"
starts "$base" "Once upon a time, there was a little girl named Lily. She loved to play outside in the park." "base"

out=$(greedy --lora "$AD/moon-qv/moon-qv.gguf") || fail "--lora moon-qv: $(cat "$TMP/run.err")"
starts "$out" "Once upon a time, there was a little girl named Zara. She loved to play outside in the sunshine. One day, she saw a big, shiny blue ball." "--lora moon-qv"

out=$(greedy --lora-scaled "$AD/ocean-all/ocean-all.gguf" 1.0) || fail "--lora-scaled ocean-all: $(cat "$TMP/run.err")"
starts "$out" "Once upon a time, there was a little girl named Mia. She loved to play with her pearls and her pearls. One day, she saw a big" "--lora-scaled ocean-all 1"

out=$(greedy --lora-scaled "$AD/moon-qv/moon-qv.gguf" 0) || fail "--lora-scaled 0: $(cat "$TMP/run.err")"
[ "$out" == "$base" ] || fail "--lora-scaled 0 should give the base text"

"$BIN" perplexity -m "$STORIES" -f "$AD/heldout_moon.txt" -c 256 --lora "$AD/moon-qv/moon-qv.gguf" \
    >"$TMP/moon.out" 2>"$TMP/moon.err" || fail "perplexity --lora: $(tail -1 "$TMP/moon.err")"
ppl=$(final_ppl "$TMP/moon.out")
[ -n "$ppl" ] && within "$ppl" 3.4527 0.005 || fail "heldout_moon + moon-qv PPL '$ppl', llama.cpp 3.4527"

if "$BIN" diff "$STORIES" "$AD/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf" -o "$TMP/moon-qvo.overlay.gguf" \
    >/dev/null 2>"$TMP/diff.err"; then
    "$BIN" perplexity -m "$STORIES" -f "$AD/heldout_moon.txt" -c 256 --overlay "$TMP/moon-qvo.overlay.gguf" \
        >"$TMP/ov.out" 2>"$TMP/ov.err" || fail "perplexity --overlay: $(tail -1 "$TMP/ov.err")"
    ppl=$(final_ppl "$TMP/ov.out")
    [ -n "$ppl" ] && within "$ppl" 3.3909 0.005 || fail "heldout_moon + moon-full-qvo overlay PPL '$ppl', reference 3.3909"
    out=$(greedy --overlay "$TMP/moon-qvo.overlay.gguf") || fail "run --overlay: $(cat "$TMP/run.err")"
    [ "$out" != "$base" ] || fail "run --overlay gave the base text"
else
    fail "lorc diff could not make the overlay: $(cat "$TMP/diff.err")"
fi

"$BIN" run -m "$STORIES" -p hi --lora "$TMP/none.gguf" >/dev/null 2>"$TMP/err.txt"
[ $? -eq 1 ] && [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "missing adapter: $(cat "$TMP/err.txt")"
"$BIN" run -m "$STORIES" -p hi --lora-scaled "$AD/moon-qv/moon-qv.gguf" >/dev/null 2>"$TMP/err.txt"
[ $? -eq 1 ] && [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "--lora-scaled without a scale: $(cat "$TMP/err.txt")"

[ "$fails" -eq 0 ] && echo "test_run_adapters: ok"
exit $((fails > 0))
