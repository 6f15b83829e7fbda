#!/bin/bash
# test_perplexity_reference.sh — `lorc perplexity` against llama.cpp's figures
# for stories260K (-c 256, shared/adapters/README.md) within 0.5%, the
# llama.cpp output layout, and the logits file round trip: KL of the model
# against its own saved logits is ~0 with 100% top-token agreement.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
STORIES=$SHARED/models/stories260K.gguf
TMP=${LORC_TEST_TMP:?}/perplexity_reference
mkdir -p "$TMP"
rm -f "$TMP/base.logits"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

final_ppl() { sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- [0-9.]*$/\1/p' "$1"; }
within() { # value reference relative-tolerance
    python3 -c "import sys; v, r, t = map(float, sys.argv[1:]); sys.exit(abs(v - r) > t * r)" "$1" "$2" "$3"
}

# 1. heldout_base and heldout_moon, whole texts.
"$BIN" perplexity -m "$STORIES" -f "$SHARED/adapters/heldout_base.txt" -c 256 >"$TMP/base.out" 2>"$TMP/base.err" ||
    fail "perplexity on heldout_base exited $?: $(tail -1 "$TMP/base.err")"
ppl=$(final_ppl "$TMP/base.out")
[ -n "$ppl" ] && within "$ppl" 3.4173 0.005 || fail "heldout_base PPL '$ppl', llama.cpp 3.4173"
grep -q '^\[1\][0-9.]*,\[2\][0-9.]*,' "$TMP/base.out" || fail "no running '[1]x,[2]y,' line"

"$BIN" perplexity -m "$STORIES" -f "$SHARED/adapters/heldout_moon.txt" -c 256 >"$TMP/moon.out" 2>"$TMP/moon.err" ||
    fail "perplexity on heldout_moon exited $?: $(tail -1 "$TMP/moon.err")"
ppl=$(final_ppl "$TMP/moon.out")
[ -n "$ppl" ] && within "$ppl" 3.7992 0.005 || fail "heldout_moon PPL '$ppl', llama.cpp 3.7992"

# 2. Saving logits (on a part of the text, to keep the suite quick): the
# file has llama.cpp's layout and size for its header values.
head -c 24000 "$SHARED/adapters/heldout_base.txt" >"$TMP/part.txt"
"$BIN" perplexity -m "$STORIES" -f "$TMP/part.txt" -c 128 --kl-divergence-base "$TMP/base.logits" \
    >"$TMP/save.out" 2>"$TMP/save.err" || fail "saving logits exited $?: $(tail -1 "$TMP/save.err")"
ppl_saved=$(final_ppl "$TMP/save.out")
python3 - "$TMP/base.logits" <<'PY' || fail "logits file layout"
import os, struct, sys
p = sys.argv[1]
with open(p, 'rb') as f:
    magic, n_ctx, n_vocab, n_chunk = struct.unpack('<8siii', f.read(20))
assert magic == b'_logits_', magic
assert n_ctx == 128 and n_vocab == 512 and n_chunk > 10, (n_ctx, n_vocab, n_chunk)
nv = 2 * ((n_vocab + 1) // 2) + 4
size = 20 + 4 * n_ctx * n_chunk + 2 * nv * (n_ctx - 1 - n_ctx // 2) * n_chunk
assert os.path.getsize(p) == size, (os.path.getsize(p), size)
PY

# 3. KL against itself: ~0, the same top token everywhere, the same PPL.
"$BIN" perplexity -m "$STORIES" --kl-divergence-base "$TMP/base.logits" --kl-divergence >"$TMP/kl.out" \
    2>"$TMP/kl.err" || fail "--kl-divergence exited $?: $(tail -1 "$TMP/kl.err")"
grep -q '^Same top p: 100.000' "$TMP/kl.out" || fail "self top-token agreement: $(grep 'Same top' "$TMP/kl.out")"
kld=$(sed -n 's/^Mean    KLD: *\([-0-9.]*\) .*/\1/p' "$TMP/kl.out")
[ -n "$kld" ] && python3 -c "import sys; sys.exit(abs(float(sys.argv[1])) > 1e-4)" "$kld" ||
    fail "self KL divergence '$kld'"
ratio=$(sed -n 's/^Mean PPL(Q)\/PPL(base) *: *\([0-9.]*\) .*/\1/p' "$TMP/kl.out")
[ -n "$ratio" ] && within "$ratio" 1 1e-3 || fail "self PPL ratio '$ratio'"
ppl_q=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\) .*/\1/p' "$TMP/kl.out")
[ -n "$ppl_q" ] && [ -n "$ppl_saved" ] && within "$ppl_q" "$ppl_saved" 1e-4 ||
    fail "PPL(Q) '$ppl_q' differs from the saving run's '$ppl_saved'"

# 4. Errors: one line, exit 1.
expect_error() {
    local what=$1
    shift
    "$BIN" perplexity "$@" >/dev/null 2>"$TMP/err.txt"
    local rc=$?
    [ "$rc" -eq 1 ] || fail "$what: exit $rc, want 1"
    [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$TMP/err.txt")"
}
head -c 1000 "$SHARED/adapters/heldout_base.txt" >"$TMP/short.txt" # ~460 tokens
expect_error "text shorter than 2 x ctx" -m "$STORIES" -f "$TMP/short.txt" -c 256
expect_error "--kl-divergence without a file" -m "$STORIES" --kl-divergence
expect_error "no text" -m "$STORIES"
printf 'not a logits file at all' >"$TMP/bad.logits"
expect_error "bad logits file" -m "$STORIES" --kl-divergence-base "$TMP/bad.logits" --kl-divergence
expect_error "missing model" -m "$TMP/none.gguf" -f "$TMP/short.txt"
"$BIN" perplexity --help | grep -q "usage: lorc perplexity" || fail "perplexity --help"

[ "$fails" -eq 0 ] && echo "test_perplexity_reference: ok"
exit $((fails > 0))
