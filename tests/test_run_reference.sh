#!/bin/bash
# test_run_reference.sh — `lorc run` on the real models: stories260K's greedy
# continuation of "Once upon a time" is byte-identical to llama2.c's reference;
# aidreams260K's greedy text from BOS begins as its README quotes; a seed
# reproduces a sampled text and another seed changes it; the stop rules and
# errors (one stderr line, exit 1).
set -u
BIN=${LORC_BIN:?}
MODELS=${LORC_SHARED:?}/models
STORIES=$MODELS/stories260K.gguf
TMP=${LORC_TEST_TMP:?}/run_reference
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# 1. llama2.c's `-n 200` runs the forward pass at positions 0..199 and prints
# the token each one yields (prompt tokens, then samples), so the text holds
# the tokens at positions 1..200: BOS + prompt + generated = 201 tokens. It
# prints the prompt (without BOS), the continuation, then one newline — the
# layout `lorc run` has too.
prompt=$(cat "$MODELS/stories260K.once-upon-a-time.greedy200.txt.prompt")
n_prompt=5 # BOS + ▁Once ▁upon ▁a ▁time (ids 1 403 407 261 378)
ids=$("$BIN" tokenize -m "$STORIES" -p "$prompt" --ids 2>/dev/null) &&
    { [ "$ids" == "1 403 407 261 378" ] || fail "'$prompt' tokenizes to '$ids'"; }
"$BIN" run -m "$STORIES" -p "$prompt" -n $((201 - n_prompt)) --temp 0 >"$TMP/once.txt" 2>"$TMP/once.err" ||
    fail "run exited $?: $(cat "$TMP/once.err")"
if ! cmp -s "$TMP/once.txt" "$MODELS/stories260K.once-upon-a-time.greedy200.txt"; then
    fail "greedy text differs from llama2.c's reference:"
    diff "$TMP/once.txt" "$MODELS/stories260K.once-upon-a-time.greedy200.txt" >&2
fi
grep -q "prompt .* tokens/s" "$TMP/once.err" || fail "no prompt speed on stderr"
grep -q "generation .* tokens/s" "$TMP/once.err" || fail "no generation speed on stderr"

# 2. aidreams260K from BOS alone (empty prompt).
want='"Echoes of vectors unfold, a gentle hum of precision,'
out=$("$BIN" run -m "$MODELS/aidreams260K.gguf" -p "" -n 30 --temp 0 2>"$TMP/aid.err") ||
    fail "aidreams run exited $?: $(cat "$TMP/aid.err")"
[[ "$out" == "$want"* ]] || fail "aidreams greedy text starts '${out:0:80}', want '$want'"

# 3. Sampling: a seed reproduces, another seed differs.
run_seed() { "$BIN" run -m "$STORIES" -p "$prompt" -n 60 --temp 0.8 --seed "$1" 2>"$TMP/seed.err"; }
a=$(run_seed 7) || fail "seeded run"
grep -q "seed 7" "$TMP/seed.err" || fail "the seed is not reported on stderr"
b=$(run_seed 7)
c=$(run_seed 8)
[ "$a" == "$b" ] || fail "seed 7 gave two different texts"
[ "$a" != "$c" ] || fail "seeds 7 and 8 gave the same text"
d=$("$BIN" run -m "$STORIES" -p "$prompt" -n 60 --temp 0.8 --top-k 1 --seed 9 2>/dev/null)
g=$("$BIN" run -m "$STORIES" -p "$prompt" -n 60 --temp 0 2>/dev/null)
[ "$d" == "$g" ] || fail "top-k 1 should equal greedy"

# 4. Stop rules: -n 0 echoes the prompt only; a small context stops when full.
out=$("$BIN" run -m "$STORIES" -p "$prompt" -n 0 2>/dev/null)
[ "$out" == "$prompt" ] || fail "-n 0 printed '$out'"
"$BIN" run -m "$STORIES" -p "$prompt" -c 16 --temp 0 >"$TMP/full.txt" 2>"$TMP/full.err" || fail "-c 16 run failed"
grep -q "context full" "$TMP/full.err" || fail "-c 16 did not stop at a full context: $(cat "$TMP/full.err")"
"$BIN" run -m "$STORIES" -f "$MODELS/stories260K.once-upon-a-time.greedy200.txt.prompt" -n 3 --temp 0 \
    >"$TMP/file.txt" 2>/dev/null || fail "-f prompt file"
head -c ${#prompt} "$TMP/file.txt" | grep -qxF "$prompt" || fail "-f did not read the prompt"

# 5. Errors: exit 1 and exactly one stderr line.
expect_error() { # description, args...
    local what=$1
    shift
    "$BIN" run "$@" >/dev/null 2>"$TMP/err.txt"
    local rc=$?
    [ "$rc" -eq 1 ] || fail "$what: exit $rc, want 1"
    [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$TMP/err.txt")"
}
expect_error "missing model file" -m "$TMP/nope.gguf" -p hi
expect_error "no -m" -p hi
expect_error "unknown option" -m "$STORIES" --bogus
expect_error "bad number" -m "$STORIES" -n many
expect_error "missing value" -m "$STORIES" -p
expect_error "prompt over the context" -m "$STORIES" -p "$prompt and on and on and on" -c 4
expect_error "missing prompt file" -m "$STORIES" -f "$TMP/nope.txt"
"$BIN" run --help | grep -q "usage: lorc run" || fail "run --help"

[ "$fails" -eq 0 ] && echo "test_run_reference: ok"
exit $((fails > 0))
