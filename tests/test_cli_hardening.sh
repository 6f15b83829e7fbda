#!/bin/bash
# test_cli_hardening.sh — issue 6 items 1 and 8 at the CLI: every numeric flag
# out of range is one line naming the flag and exit 1 (--min-p 2 used to
# read outside a heap buffer); usage errors are one line ending in
# "see 'lorc CMD --help'", never the whole usage; a failed write to stdout
# (/dev/full) is exit 1 for every command that prints to stdout.
set -u
L=${LORC_BIN:?}
S=${LORC_SHARED:?}
T=${LORC_TEST_TMP:?}/cli_hardening
rm -rf "$T"; mkdir -p "$T"; cd "$T" || exit 1
M=$S/models/stories260K.gguf
fails=0
checks=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Runs lorc ARGS; it must exit 1 with exactly one stderr line holding $1.
expect_fail() {
    local want=$1; shift
    checks=$((checks + 1))
    "$L" "$@" >out.txt 2>err.txt
    local rc=$?
    [ $rc -eq 1 ] || fail "lorc $*: exit $rc, want 1"
    local n; n=$(wc -l <err.txt)
    [ "$n" -eq 1 ] || fail "lorc $*: $n stderr lines: $(head -c 600 err.txt)"
    grep -qF -- "$want" err.txt || fail "lorc $*: message lacks '$want': $(head -c 300 err.txt)"
    grep -q '^usage:' out.txt err.txt && fail "lorc $*: printed the usage"
}

# --- numeric flags out of range -------------------------------------------
for v in 2 1.0001 -0.1 nan inf; do expect_fail "for --min-p" run -m "$M" -p Once -n 2 --min-p "$v"; done
for v in 0 -1 1.5 nan; do expect_fail "for --top-p" run -m "$M" -p Once -n 2 --top-p "$v"; done
for v in 0 -1 inf nan; do expect_fail "for --repeat-penalty" run -m "$M" -p Once -n 2 --repeat-penalty "$v"; done
for v in -2 16777217 99999999999; do expect_fail "for --repeat-last-n" run -m "$M" -p Once --repeat-last-n "$v"; done
for v in nan inf -inf x; do expect_fail "for --temp" run -m "$M" -p Once --temp "$v"; done
expect_fail "for --top-k" run -m "$M" -p Once --top-k -1
expect_fail "for -n" run -m "$M" -p Once -n -2
expect_fail "for --seed" run -m "$M" -p Once --seed -1
expect_fail "for -t" run -m "$M" -p Once -t 0
expect_fail "for -c" run -m "$M" -p Once -c -1
expect_fail "for -b" run -m "$M" -p Once -b 0
expect_fail "for --lora-scaled" run -m "$M" -p Once --lora-scaled x.gguf nan
expect_fail "for -c" perplexity -m "$M" -f x.txt -c 2
expect_fail "for -b" perplexity -m "$M" -f x.txt -b 0
expect_fail "for -t" quantize "$M" q.gguf Q8_0 -t 0
expect_fail "for -r" extract "$M" "$M" -r 0 -o x.gguf
expect_fail "for -c" merge -m "$M" --lora x.gguf -o y.gguf -c 4
expect_fail "for --eval-chunks" merge -m "$M" --lora x.gguf -o y.gguf --eval-chunks 0
expect_fail "for -t" bench -m "$M" -t -1
expect_fail "for -p" bench -m "$M" -p -1
# The edges are accepted, and min-p 1 (keep only the best) still generates.
checks=$((checks + 1))
out=$("$L" run -m "$M" -p "Once upon a time" -n 8 --min-p 1 --top-p 1 --seed 3 2>err.txt) || fail "min-p 1: $(cat err.txt)"
greedy=$("$L" run -m "$M" -p "Once upon a time" -n 8 --temp 0 2>/dev/null)
[ "$out" = "$greedy" ] || fail "min-p 1 is not greedy: '$out' vs '$greedy'"
checks=$((checks + 1))
"$L" run -m "$M" -p Once -n 4 --min-p 0 --top-p 1e-30 --repeat-penalty 1e-30 --repeat-last-n -1 >/dev/null 2>err.txt ||
    fail "edge values refused: $(cat err.txt)"

# --- usage errors: one line, "see 'lorc CMD --help'" ----------------------
for cmd in run perplexity tokenize inspect quantize merge diff extract convert bench; do
    expect_fail "unknown option '--bogus' (see 'lorc $cmd --help')" "$cmd" --bogus
done
expect_fail "(see 'lorc run --help')" run
expect_fail "(see 'lorc perplexity --help')" perplexity -f x.txt
expect_fail "(see 'lorc tokenize --help')" tokenize -m "$M"
expect_fail "(see 'lorc inspect --help')" inspect
expect_fail "(see 'lorc quantize --help')" quantize a b
expect_fail "(see 'lorc merge --help')" merge -m "$M"
expect_fail "(see 'lorc diff --help')" diff "$M"
expect_fail "(see 'lorc extract --help')" extract "$M"
expect_fail "(see 'lorc convert --help')" convert dir
expect_fail "(see 'lorc bench --help')" bench
expect_fail "option -m needs a value (see 'lorc run --help')" run -m
expect_fail "option -o needs a value (see 'lorc diff --help')" diff a b -o
expect_fail "option --lora needs a value (see 'lorc perplexity --help')" perplexity -m "$M" --lora
expect_fail "--lora-scaled needs a file and a scale (see 'lorc merge --help')" merge -m "$M" --lora-scaled x
expect_fail "(see 'lorc --help')" nosuchcommand
expect_fail "(see 'lorc --help')"

# --- stdout that cannot be written ----------------------------------------
full_checked=0
head -c 3000 "$S/adapters/heldout_base.txt" >eval.txt
"$L" quantize "$M" q8.gguf Q8_0 >/dev/null 2>&1 || fail "quantize for the stdout checks"
"$L" diff "$M" q8.gguf -o ov.gguf >/dev/null 2>&1 || fail "diff for the stdout checks"
while IFS= read -r args; do
    [ -n "$args" ] || continue
    checks=$((checks + 1))
    # shellcheck disable=SC2086
    "$L" $args >ok.txt 2>err.txt
    rc=$?
    [ $rc -eq 0 ] || { fail "lorc $args: exit $rc without /dev/full: $(tail -1 err.txt)"; continue; }
    [ -s ok.txt ] || { echo "(lorc $args prints nothing to stdout)"; continue; }
    full_checked=$((full_checked + 1))
    rm -f out.gguf
    # shellcheck disable=SC2086
    "$L" $args >/dev/full 2>err.txt
    rc=$?
    [ $rc -eq 1 ] || fail "lorc $args >/dev/full: exit $rc, want 1"
    grep -q "cannot write" err.txt || fail "lorc $args >/dev/full: no error line: $(tail -2 err.txt)"
done <<ARGS
--help
run --help
inspect $M
inspect ov.gguf
inspect --all q8.gguf
tokenize -m $M -p Once
tokenize -m $M -p Once --ids
run -m $M -p Once -n 4 --seed 1
perplexity -m $M -f eval.txt -c 64
quantize $M out.gguf Q4_0
diff $M q8.gguf -o out.gguf
bench -m $M -p 8 -n 4 -t 1
ARGS

# Every command above but quantize and diff prints to stdout.
[ "$full_checked" -ge 10 ] || fail "only $full_checked commands were checked against /dev/full"
echo "test_cli_hardening: $checks checks, $fails failed"
[ "$checks" -gt 0 ] && [ $fails -eq 0 ]
