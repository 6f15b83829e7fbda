#!/bin/bash
# test_batch.sh — issue 8's proof for `lorc batch`: the five real adapters
# of shared/adapters (moon-qv GGUF, ocean-all PEFT, moon-head PEFT with an
# lm_head, ocean-dora PEFT DoRA, and moon-full-qvo as the overlay `lorc diff`
# makes), a scaled stack of two and an adapter on the overlay, and the base,
# all in ONE run with fewer slots than requests (so
# the scheduler mixes adapters in its steps and admits as slots free up):
# every request's greedy text equals `lorc run --temp 0 -n N` with that
# adapter alone. Registered three ways: --lora NAME=PATH, --overlay
# NAME=PATH and --adapter-dir (a *.gguf file and a PEFT folder).
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
TMP=${LORC_TEST_TMP:?}/batch_sh
rm -rf "$TMP"; mkdir -p "$TMP"
M=$SHARED/models/stories260K.gguf
AD=$SHARED/adapters
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$BIN" diff "$M" "$AD/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf" -o "$TMP/moon-full.gguf" \
    >/dev/null 2>"$TMP/diff.err" || { fail "lorc diff: $(cat "$TMP/diff.err")"; exit 1; }
mkdir -p "$TMP/dir"
ln -s "$AD/moon-qv/moon-qv.gguf" "$TMP/dir/moon.gguf"
ln -s "$AD/ocean-all/peft" "$TMP/dir/ocean"
echo "not an adapter" >"$TMP/dir/README.txt"

# name|registry flag path|lorc run flags
configs=(
    "base||"
    "moon||--lora $AD/moon-qv/moon-qv.gguf"
    "ocean||--lora $AD/ocean-all/peft"
    "head|$AD/moon-head/peft|--lora $AD/moon-head/peft"
    "dora|$AD/ocean-dora/peft|--lora $AD/ocean-dora/peft"
    "full||--overlay $TMP/moon-full.gguf"
    "stack||--lora-scaled $AD/moon-qv/moon-qv.gguf 0.5 --lora-scaled $AD/ocean-all/peft 0.5"
    "fullocean||--overlay $TMP/moon-full.gguf --lora $AD/ocean-all/peft"
)
prompts=("Once upon a time" "Lily and Tom went to the")
ns=(40 24)

: >"$TMP/req.jsonl"
for c in "${configs[@]}"; do
    name=${c%%|*}
    for p in 0 1; do
        sel=""
        case $name in
        base) ;;
        full) sel=", \"overlay\": \"$name\"" ;;
        stack) sel=", \"adapters\": [{\"name\": \"moon\", \"scale\": 0.5}, {\"name\": \"ocean\", \"scale\": 0.5}]" ;;
        fullocean) sel=", \"overlay\": \"full\", \"adapter\": \"ocean\"" ;;
        ocean) sel=", \"adapters\": [{\"name\": \"$name\", \"scale\": 1.0}]" ;;
        *) sel=", \"adapter\": \"$name\"" ;;
        esac
        echo "{\"id\": \"$name-$p\", \"prompt\": \"${prompts[$p]}\", \"max_tokens\": ${ns[$p]}$sel}" >>"$TMP/req.jsonl"
    done
done

"$BIN" batch -m "$M" --adapter-dir "$TMP/dir" --lora "head=$AD/moon-head/peft" --lora "dora=$AD/ocean-dora/peft" \
    --overlay "full=$TMP/moon-full.gguf" -i "$TMP/req.jsonl" -o "$TMP/res.jsonl" --parallel 4 -t 2 \
    2>"$TMP/batch.err" || fail "lorc batch exit $?: $(cat "$TMP/batch.err")"
grep -q "^lorc batch: 16 requests (0 errors)" "$TMP/batch.err" || fail "summary: $(tail -1 "$TMP/batch.err")"

for c in "${configs[@]}"; do
    name=${c%%|*}
    flags=${c##*|}
    for p in 0 1; do
        # shellcheck disable=SC2086
        want=$("$BIN" run -m "$M" -p "${prompts[$p]}" -n "${ns[$p]}" --temp 0 -t 2 $flags 2>"$TMP/run.err") ||
            fail "lorc run $flags: $(cat "$TMP/run.err")"
        got=$(/usr/bin/python3 - "$TMP/res.jsonl" "$name-$p" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("id") == sys.argv[2]:
        assert r["finish_reason"] in ("stop", "length"), r
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0, r
        assert set(r["timings"]) == {"queue_ms", "prompt_ms", "gen_ms"}, r
        sys.stdout.write(r["text"])
        break
else:
    sys.exit("no result for " + sys.argv[2])
PY
        ) || fail "$name-$p: no valid result"
        [ "$want" == "${prompts[$p]}$got" ] || fail "$name-$p: batch '${prompts[$p]}$got' vs run '$want'"
    done
done
# The adapters did change the texts (else the comparison proves little).
n_distinct=$(/usr/bin/python3 -c '
import json, sys
print(len({json.loads(l)["text"] for l in open(sys.argv[1]) if json.loads(l)["id"].endswith("-0")}))' "$TMP/res.jsonl")
[ "$n_distinct" -ge 6 ] || fail "only $n_distinct distinct texts among the eight configurations"

[ "$fails" -eq 0 ] && echo "test_batch: ok"
exit $((fails > 0))
