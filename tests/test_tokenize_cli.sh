#!/bin/bash
# test_tokenize_cli.sh — `lorc tokenize` end to end: --ids --no-bos
# --no-parse-special on inputs of llama.cpp's vocab vectors (vocab-only GGUF
# files of several architectures) must print the expected ids; the default
# output, BOS and special parsing, --help and errors.
set -u
LORC=${LORC_BIN:-lorc}
SHARED=${LORC_SHARED:-../shared}
TMP=${LORC_TEST_TMP:-/tmp}/tokenize_cli
mkdir -p "$TMP"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# Split each .inp into one file per input (exact bytes) and the matching
# .out line into an expected file; check a spread of cases per vocab.
for vocab in llama-spm gpt-2 llama-bpe deepseek-llm; do
    base="$SHARED/tokenizer/ggml-vocab-$vocab.gguf"
    dir="$TMP/$vocab"
    rm -rf "$dir" && mkdir -p "$dir"
    /usr/bin/python3 - "$base" "$dir" <<'EOF' || fail "$vocab: cannot split the vectors"
import sys
base, out = sys.argv[1], sys.argv[2]
raw = open(base + ".inp", "rb").read()
sep = b"\n__ggml_vocab_test__\n"
items, pos = [], 0
while pos < len(raw):
    nxt = raw.find(sep, pos)
    if nxt < 0:
        items.append(raw[pos:]); break
    items.append(raw[pos:nxt]); pos = nxt + len(sep)
lines = open(base + ".out", "rb").read().split(b"\n")
for i, item in enumerate(items):
    open("%s/%d.txt" % (out, i), "wb").write(item)
    open("%s/%d.ids" % (out, i), "wb").write(b" ".join(lines[i].split()) + b"\n")
EOF
    for i in 1 9 21 32 40 45; do
        [ -f "$dir/$i.txt" ] || { fail "$vocab: no case $i"; continue; }
        got=$("$LORC" tokenize -m "$base" -f "$dir/$i.txt" --ids --no-bos --no-parse-special 2>&1)
        want=$(cat "$dir/$i.ids")
        [ "$got" = "$want" ] || fail "$vocab case $i: expected '$want', got '$got'"
    done
done

# -p, BOS and the default "id -> 'piece'" listing on the real model
model="$SHARED/models/stories260K.gguf"
got=$("$LORC" tokenize -m "$model" -p "Once upon a time" --ids)
[ "$got" = "1 403 407 261 378" ] || fail "stories260K ids: '$got'"
got=$("$LORC" tokenize -m "$model" -p "Once upon a time" --ids --no-bos)
[ "$got" = "403 407 261 378" ] || fail "stories260K --no-bos: '$got'"
got=$("$LORC" tokenize -m "$model" -p "Once upon")
want=$(printf "     1 -> '<s>'\n   403 -> ' Once'\n   407 -> ' upon'")
[ "$got" = "$want" ] || fail "stories260K listing: '$got'"
got=$("$LORC" tokenize -m "$model" -p "a</s>" --ids --no-bos)
[ "$got" = "261 2" ] || fail "special parsing: '$got'"
got=$("$LORC" tokenize -m "$model" -p "a</s>" --ids --no-bos --no-parse-special)
case " $got " in *" 2 "*) fail "--no-parse-special still gave EOS: '$got'" ;; esac

# help and errors: exit status and one line on stderr
"$LORC" tokenize --help | grep -q -- "--no-parse-special" || fail "--help"
"$LORC" tokenize -p x >/dev/null 2>&1 && fail "missing -m accepted"
"$LORC" tokenize -m "$model" >/dev/null 2>&1 && fail "missing -p/-f accepted"
err=$("$LORC" tokenize -m "$SHARED/models/README.md" -p x 2>&1 >/dev/null)
[ $? -ne 0 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "bad model: '$err'"
"$LORC" tokenize -m "$model" -f "$TMP/no-such-file" >/dev/null 2>&1 && fail "missing file accepted"

if [ "$fails" -ne 0 ]; then
    echo "test_tokenize_cli: $fails failure(s)"
    exit 1
fi
echo "test_tokenize_cli: ok"
