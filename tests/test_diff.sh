#!/bin/bash
# test_diff.sh — `lorc diff` on the real full fine-tune moon-full-qvo: the
# overlay holds exactly the 15 tensors whose bytes differ (checked by an
# independent reader below), base + overlay reproduces the full model's
# perplexity (README: 3.3909), and mismatched inputs are refused in one line.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
TMP=${LORC_TEST_TMP:?}/diff_sh
mkdir -p "$TMP"
BASE=$SHARED/models/stories260K.gguf
FULL=$SHARED/adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$BIN" diff "$BASE" "$FULL" -o "$TMP/moon.overlay.gguf" >"$TMP/diff.out" 2>&1 || fail "diff: $(cat "$TMP/diff.out")"
n=$(grep -cE '^  blk\.[0-4]\.attn_(q|v|output)\.weight +F32 ' "$TMP/diff.out")
[ "$n" = 15 ] || fail "expected 15 attn_q/attn_v/attn_output lines, got $n: $(cat "$TMP/diff.out")"
grep -q '^15 of 48 tensors differ' "$TMP/diff.out" || fail "summary: $(tail -1 "$TMP/diff.out")"

# An independent check (plain Python GGUF parsing): the overlay's tensors are
# exactly those whose bytes differ, with FULL's bytes, and its metadata.
/usr/bin/python3 - "$BASE" "$FULL" "$TMP/moon.overlay.gguf" <<'PY' || fail "independent check"
import struct, sys
def gguf(path):
    d = open(path, 'rb').read(); o = 4
    def rd(fmt):
        nonlocal o; v = struct.unpack_from('<' + fmt, d, o); o += struct.calcsize('<' + fmt); return v[0]
    def s():
        nonlocal o; n = rd('Q'); v = d[o:o + n].decode(); o += n; return v
    fmts = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
    def val(t):
        if t == 8: return s()
        if t == 9:
            et = rd('I'); return [val(et) for _ in range(rd('Q'))]
        return rd(fmts[t])
    assert d[:4] == b'GGUF'; rd('I'); nt = rd('Q'); nkv = rd('Q')
    kv = {}
    for _ in range(nkv):
        k = s(); kv[k] = val(rd('I'))
    infos = []
    for _ in range(nt):
        name = s(); nd = rd('I'); ne = [rd('Q') for _ in range(nd)]; t = rd('I'); off = rd('Q')
        infos.append((name, ne, t, off))
    al = kv.get('general.alignment', 32); start = (o + al - 1) // al * al
    sizes = {0: 4, 1: 2, 30: 2}
    ts = {}
    for i, (name, ne, t, off) in enumerate(infos):
        n = 1
        for x in ne: n *= x
        assert t in sizes, (name, t)
        ts[name] = (t, ne, d[start + off:start + off + n * sizes[t]])
    return kv, [i[0] for i in infos], ts
_, border, b = gguf(sys.argv[1]); _, _, f = gguf(sys.argv[2]); kv, oorder, ov = gguf(sys.argv[3])
changed = [n for n in border if b[n] != f[n]]
assert len(changed) == 15, changed
assert oorder == changed, (oorder, changed)
for n in changed: assert ov[n] == f[n], n
assert kv['general.type'] == 'overlay' and kv['general.architecture'] == 'llama'
assert len(kv['overlay.base.tensor_hashes']) == 15 and len(kv['overlay.base.table_hash']) == 16
print('independent check: 15 changed tensors, bytes and order match')
PY

# base + overlay gives the full fine-tune's perplexity (README 3.3909)
"$BIN" perplexity -m "$BASE" --overlay "$TMP/moon.overlay.gguf" -f "$SHARED/adapters/heldout_moon.txt" -c 256 \
    >"$TMP/ppl.out" 2>"$TMP/ppl.err" || fail "perplexity --overlay: $(tail -1 "$TMP/ppl.err")"
ppl=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) .*/\1/p' "$TMP/ppl.out")
[ "$ppl" = "3.3909" ] || fail "base + overlay PPL '$ppl', full model 3.3909"

# a file against itself: an empty overlay
"$BIN" diff "$BASE" "$BASE" -o "$TMP/empty.gguf" >"$TMP/empty.out" 2>&1 || fail "diff of identical files"
grep -q '^0 of 48 tensors differ' "$TMP/empty.out" || fail "identical: $(cat "$TMP/empty.out")"

# another model (other shapes): refused with one line naming a tensor, no output
rm -f "$TMP/bad.gguf"
if "$BIN" diff "$BASE" "$SHARED/models/aidreams260K.gguf" -o "$TMP/bad.gguf" >"$TMP/bad.out" 2>&1; then
    fail "diff against another model succeeded"
fi
[ "$(wc -l <"$TMP/bad.out")" = 1 ] && grep -q "tensor '" "$TMP/bad.out" || fail "bad diff message: $(cat "$TMP/bad.out")"
[ -e "$TMP/bad.gguf" ] && fail "output written despite the error"
"$BIN" diff "$BASE" >/dev/null 2>&1 && fail "diff without FINETUNED and -o succeeded"
"$BIN" diff --help | grep -q 'FINETUNED' || fail "diff --help"
ls "$TMP" | grep -q '\.tmp\.' && fail "temporary files left: $(ls "$TMP")"

[ "$fails" = 0 ] && echo "test_diff.sh: all passed"
exit $((fails > 0))
