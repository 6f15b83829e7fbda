#!/bin/bash
# test_batch_errors.sh — `lorc batch` on a JSONL file with bad lines
# (malformed JSON, unknown adapter, a prompt longer than the context, a
# missing prompt, a field of the wrong type, a sampling value out of range):
# each gets {id, error} naming the problem and its line, the good lines
# complete, exit 0. A command that fails (bad flag, unreadable input,
# duplicate adapter name) exits 1 with one line and leaves no output file.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
TMP=${LORC_TEST_TMP:?}/batch_errors_sh
rm -rf "$TMP"; mkdir -p "$TMP"
M=$SHARED/models/stories260K.gguf
MOON=$SHARED/adapters/moon-qv/moon-qv.gguf
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

long=$(printf 'the cat sat on the mat and %.0s' $(seq 1 12))
cat >"$TMP/req.jsonl" <<EOF
{"id": "good-1", "prompt": "Once upon a time", "adapter": "moon", "max_tokens": 8}
{"id": "broken", "prompt": "Once upon
{"id": "unknown", "prompt": "Once upon a time", "adapter": "nosuch"}
{"id": "long", "prompt": "$long"}
{"id": "noprompt", "max_tokens": 4}
{"id": 7, "prompt": "Lily", "top_k": "many"}

{"id": "hot", "prompt": "Lily", "top_p": 1.5}
{"id": "good-2", "prompt": "Lily went", "max_tokens": 6, "temperature": 0.7, "seed": 3, "extra": [1, 2]}
[1, 2, 3]
EOF

"$BIN" batch -m "$M" --lora "moon=$MOON" -c 48 -i "$TMP/req.jsonl" -o "$TMP/res.jsonl" -t 2 2>"$TMP/err.txt"
rc=$?
[ $rc -eq 0 ] || fail "exit $rc with bad lines: $(cat "$TMP/err.txt")"
/usr/bin/python3 - "$TMP/res.jsonl" <<'PY' || fail "results: $(cat "$TMP/res.jsonl")"
import json, sys
res = [json.loads(l) for l in open(sys.argv[1])]
assert len(res) == 9, len(res)
by = {json.dumps(r["id"]): r for r in res}
def err(key, *parts):
    r = by[json.dumps(key)]
    assert set(r) == {"id", "error"}, r
    for p in parts:
        assert p in r["error"], (p, r)
# Two lines have no id to echo (null): found by their line numbers.
nulls = sorted(r["error"] for r in res if r["id"] is None)
assert len(nulls) == 2 and all(set(r) == {"id", "error"} for r in res if r["id"] is None), res
assert nulls[0].startswith("line 10:") and "JSON object" in nulls[0], nulls
assert nulls[1].startswith("line 2:") and "malformed JSON" in nulls[1], nulls
err("unknown", "line 3:", "unknown adapter 'nosuch'")
err("long", "line 4:", "longer than the context (48)")
err("noprompt", "line 5:", "missing field 'prompt'")
err(7, "line 6:", "'top_k'", "integer")
err("hot", "line 8:", "top_p")
for key, n in (("good-1", 8), ("good-2", 6)):
    r = by[json.dumps(key)]
    assert r["finish_reason"] in ("length", "stop") and "error" not in r, r
    assert r["completion_tokens"] <= n and r["text"], r
    assert r["prompt_tokens"] > 0 and r["timings"]["prompt_ms"] >= 0, r
PY
grep -q "^lorc batch: 9 requests (7 errors)" "$TMP/err.txt" || fail "summary: $(tail -1 "$TMP/err.txt")"

# A registry budget too small for the adapter: its request ends with an
# error naming the budget (nothing else runs that could free memory); the
# base request completes.
printf '%s\n' '{"id": "a", "prompt": "Lily", "adapter": "moon", "max_tokens": 4}' \
    '{"id": "b", "prompt": "Lily", "max_tokens": 4}' >"$TMP/budget.jsonl"
"$BIN" batch -m "$M" --lora "moon=$MOON" --budget 1K -i "$TMP/budget.jsonl" -o "$TMP/budget.out" -t 2 \
    2>"$TMP/err.txt" || fail "--budget 1K: exit $?: $(cat "$TMP/err.txt")"
/usr/bin/python3 - "$TMP/budget.out" <<'PY' || fail "--budget 1K results: $(cat "$TMP/budget.out")"
import json, sys
res = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
assert res["a"]["finish_reason"] == "error" and "moon" in res["a"]["error"] and "budget 1024" in res["a"]["error"], res
assert res["b"]["finish_reason"] == "length" and res["b"]["completion_tokens"] == 4, res
PY
rm -f "$TMP/budget.jsonl" "$TMP/budget.out"

# The command itself failing: exit 1, one stderr line, no output file.
expect_fail() {
    local want=$1; shift
    rm -f "$TMP/out.jsonl"
    "$BIN" batch "$@" >/dev/null 2>"$TMP/err.txt"
    local rc=$?
    [ $rc -eq 1 ] || fail "batch $*: exit $rc, want 1"
    [ "$(wc -l <"$TMP/err.txt")" -eq 1 ] || fail "batch $*: not one line: $(cat "$TMP/err.txt")"
    grep -qF -- "$want" "$TMP/err.txt" || fail "batch $*: lacks '$want': $(cat "$TMP/err.txt")"
    [ ! -e "$TMP/out.jsonl" ] || fail "batch $*: left $TMP/out.jsonl behind"
    [ -z "$(ls "$TMP" | grep -v -e '^req.jsonl$' -e '^res.jsonl$' -e '^err.txt$')" ] ||
        fail "batch $*: left $(ls "$TMP")"
}
expect_fail "missing.jsonl" -m "$M" -i "$TMP/missing.jsonl" -o "$TMP/out.jsonl"
expect_fail "--budget" -m "$M" --budget 12X -i "$TMP/req.jsonl" -o "$TMP/out.jsonl"
expect_fail "NAME=PATH" -m "$M" --lora "$MOON" -i "$TMP/req.jsonl" -o "$TMP/out.jsonl"
expect_fail "moon" -m "$M" --lora "moon=$MOON" --lora "moon=$MOON" -i "$TMP/req.jsonl" -o "$TMP/out.jsonl"
expect_fail "-i REQUESTS.jsonl is required" -m "$M" -o "$TMP/out.jsonl"
expect_fail "is the input file" -m "$M" -i "$TMP/req.jsonl" -o "$TMP/req.jsonl"
expect_fail "max_seqs" -m "$M" -b 4 --parallel 8 -i "$TMP/req.jsonl" -o "$TMP/out.jsonl"
"$BIN" batch --help | grep -q -- "--adapter-dir" || fail "--help lacks --adapter-dir"

[ "$fails" -eq 0 ] && echo "test_batch_errors: ok"
exit $((fails > 0))
