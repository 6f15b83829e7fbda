#!/bin/bash
# test_review_ft_cli.sh — review regressions for the file-writing commands:
# an output path naming an input is refused (one line, exit 1, input intact);
# a missing input or an output in a missing directory gives one line and exit
# 1 with no file left behind; `convert` of lora_alpha 0 keeps scale 0 (GGUF
# alpha 0 would mean scale 1).
set -u
L=${LORC_BIN:?}
S=${LORC_SHARED:?}
T=${LORC_TEST_TMP:?}/review_ft_cli
rm -rf "$T"; mkdir -p "$T"; cd "$T" || exit 1
M=$S/models/stories260K.gguf
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Runs a command that must fail with exactly one stderr line containing $1.
expect_fail() {
    local want=$1; shift
    "$L" "$@" >out.txt 2>err.txt
    local rc=$?
    [ $rc -eq 1 ] || fail "lorc $*: exit $rc, want 1"
    local n; n=$(grep -vc 'tokens, .* chunks of' err.txt)
    [ "$n" -eq 1 ] || fail "lorc $*: $n error lines: $(cat err.txt)"
    grep -q -- "$want" err.txt || fail "lorc $*: message lacks '$want': $(cat err.txt)"
}

cp "$M" base.gguf
cp -r "$S/adapters/moon-qv/peft" peft && chmod -R u+w peft
"$L" convert peft -m base.gguf -o moon.gguf >/dev/null || fail "convert moon"
"$L" quantize base.gguf q8.gguf Q8_0 >/dev/null || fail "quantize"
head -c 20000 "$S/adapters/heldout_base.txt" > eval.txt
sum_before=$(cat base.gguf q8.gguf moon.gguf peft/* eval.txt | md5sum)

expect_fail "is the input file" quantize base.gguf base.gguf Q8_0
expect_fail "is the input file" quantize base.gguf ./base.gguf Q8_0
expect_fail "is the input file" merge -m base.gguf --lora moon.gguf -o base.gguf
expect_fail "is the input file" merge -m base.gguf --lora moon.gguf -o moon.gguf
expect_fail "is the input file" merge -m base.gguf --lora peft --full -o peft/adapter_model.safetensors
expect_fail "is the input file" diff base.gguf q8.gguf -o q8.gguf
expect_fail "is the input file" diff base.gguf q8.gguf -o base.gguf
expect_fail "is the input file" extract base.gguf q8.gguf -r 2 -o base.gguf
expect_fail "is the input file" convert peft -m base.gguf -o base.gguf
expect_fail "is the input file" convert peft -m base.gguf -o peft/adapter_config.json
expect_fail "is the input file" perplexity -m base.gguf -f eval.txt -c 64 --kl-divergence-base base.gguf
expect_fail "is the input file" perplexity -m base.gguf -f eval.txt -c 64 --kl-divergence-base eval.txt
[ "$(cat base.gguf q8.gguf moon.gguf peft/* eval.txt | md5sum)" = "$sum_before" ] || fail "an input was changed"

# Missing inputs and unwritable outputs: one line, exit 1, nothing written.
expect_fail "nope.gguf" merge -m nope.gguf --lora moon.gguf -o x1.gguf
expect_fail "nope" merge -m base.gguf --lora nope -o x1.gguf
expect_fail "nope.gguf" diff base.gguf nope.gguf -o x1.gguf
expect_fail "nope.gguf" extract nope.gguf q8.gguf -r 2 -o x1.gguf
expect_fail "nope" convert nope -m base.gguf -o x1.gguf
expect_fail "nope.gguf" quantize nope.gguf x1.gguf Q8_0
expect_fail "nodir/x.gguf" merge -m base.gguf --lora moon.gguf -o nodir/x.gguf
expect_fail "nodir/x.gguf" diff base.gguf q8.gguf -o nodir/x.gguf
expect_fail "nodir/x.gguf" extract base.gguf q8.gguf -r 2 -o nodir/x.gguf
expect_fail "nodir/x.gguf" convert peft -m base.gguf -o nodir/x.gguf
expect_fail "nodir/x.gguf" quantize base.gguf nodir/x.gguf Q8_0
expect_fail "nodir/x.bin" perplexity -m base.gguf -f eval.txt -c 64 --kl-divergence-base nodir/x.bin
[ -e x1.gguf ] && fail "x1.gguf was written"
[ -e nodir ] && fail "nodir was created"
left=$(ls -A | grep -v -E '^(base.gguf|q8.gguf|moon.gguf|peft|eval.txt|out.txt|err.txt)$')
[ -z "$left" ] && true || fail "files left behind: $left"

# lora_alpha 0: PEFT scale 0, so the converted adapter must change nothing.
cp -r peft zero && chmod -R u+w zero
python3 - zero/adapter_config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["lora_alpha"] = 0; json.dump(c, open(sys.argv[1], "w"))
PY
"$L" convert zero -m base.gguf -o zero.gguf >/dev/null 2>err.txt || fail "convert zero: $(cat err.txt)"
want=$("$L" run -m base.gguf -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
got_dir=$("$L" run -m base.gguf --lora zero -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
got_gguf=$("$L" run -m base.gguf --lora zero.gguf -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
moon=$("$L" run -m base.gguf --lora moon.gguf -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
[ "$want" != "$moon" ] || fail "the moon adapter changes nothing: the check below could not tell"
[ "$got_dir" = "$want" ] || fail "PEFT lora_alpha 0 changed the text: $got_dir"
[ "$got_gguf" = "$want" ] || fail "converted lora_alpha 0 changed the text: $got_gguf"

if [ $fails -ne 0 ]; then echo "test_review_ft_cli: $fails failure(s)"; exit 1; fi
echo "test_review_ft_cli: ok"
