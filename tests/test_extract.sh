#!/bin/bash
# test_extract.sh — `lorc extract` on the real full fine-tune moon-full-qvo:
# each of its 15 changed tensors gets a rank-8 pair whose printed relative
# error equals the optimum numpy's SVD gives (Eckart-Young), the adapter
# loads as a llama.cpp-format GGUF adapter, and the cost report (KL and
# top-token agreement against the full model) is printed.
set -u
BIN=${LORC_BIN:?}
SHARED=${LORC_SHARED:?}
TMP=${LORC_TEST_TMP:?}/extract_sh
mkdir -p "$TMP"
BASE=$SHARED/models/stories260K.gguf
FULL=$SHARED/adapters/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$BIN" extract "$BASE" "$FULL" -r 8 -o "$TMP/moon-r8.gguf" --eval-text "$SHARED/adapters/heldout_moon.txt" \
    -c 256 --eval-chunks 8 >"$TMP/extract.out" 2>&1 || fail "extract: $(cat "$TMP/extract.out")"
cat "$TMP/extract.out"
n=$(grep -cE '^  blk\.[0-4]\.attn_(q|v|output)\.weight .* relative error [0-9.e+-]+$' "$TMP/extract.out")
[ "$n" = 15 ] || fail "expected 15 per-tensor error lines, got $n"
grep -q 'mean KL divergence' "$TMP/extract.out" || fail "no KL report"
grep -q 'same top token' "$TMP/extract.out" || fail "no top-token report"

# The optimum rank-8 error of each difference, from numpy's exact SVD.
/usr/bin/python3 - "$BASE" "$FULL" "$TMP/extract.out" <<'PY' || fail "errors differ from the SVD optimum"
import re, struct, sys
import numpy as np
def tensors(path):
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
    rd('I'); nt = rd('Q'); nkv = rd('Q'); kv = {}
    for _ in range(nkv):
        k = s(); kv[k] = val(rd('I'))
    infos = []
    for _ in range(nt):
        name = s(); nd = rd('I'); ne = [rd('Q') for _ in range(nd)]; t = rd('I'); off = rd('Q')
        infos.append((name, ne, t, off))
    al = kv.get('general.alignment', 32); start = (o + al - 1) // al * al
    out = {}
    for name, ne, t, off in infos:
        if t == 0 and len(ne) == 2:
            out[name] = np.frombuffer(d, np.float32, ne[0] * ne[1], start + off).reshape(ne[1], ne[0])
    return out
b = tensors(sys.argv[1]); f = tensors(sys.argv[2])
got = dict(re.findall(r'^  (\S+)\s.*relative error ([0-9.e+-]+)$', open(sys.argv[3]).read(), re.M))
bad = 0
for name, err in got.items():
    s = np.linalg.svd(f[name].astype(np.float64) - b[name], compute_uv=False)
    best = np.sqrt((s[8:] ** 2).sum() / (s ** 2).sum())
    if abs(float(err) - best) > 0.005 * best:
        print(f'{name}: lorc {err}, optimum {best:.4e}'); bad += 1
print(f'{len(got)} tensors: lorc errors within 0.5% of the rank-8 optimum' if not bad else f'{bad} tensors off')
sys.exit(1 if bad or len(got) != 15 else 0)
PY

# The adapter is an ordinary GGUF LoRA adapter: it loads and runs.
"$BIN" run -m "$BASE" --lora "$TMP/moon-r8.gguf" -p "Once upon a time" -n 24 --temp 0 >"$TMP/run.out" 2>"$TMP/run.err" ||
    fail "run --lora extracted: $(tail -1 "$TMP/run.err")"
grep -q 'Once upon a time' "$TMP/run.out" || fail "run output: $(cat "$TMP/run.out")"

# A rank above the smallest changed matrix (attn_v: 32 rows) is clamped to it
# for every pair (one alpha in the file), and the adapter still gives the
# fine-tune's text: the run uses the same greedy prompt on the full model.
"$BIN" extract "$BASE" "$FULL" -r 1000 -o "$TMP/moon-big.gguf" >"$TMP/big.out" 2>&1 || fail "extract -r 1000: $(cat "$TMP/big.out")"
grep -q 'using rank 32' "$TMP/big.out" || fail "rank not clamped: $(head -2 "$TMP/big.out")"
"$BIN" run -m "$BASE" --lora "$TMP/moon-big.gguf" -p "Once upon a time" -n 20 --temp 0 >"$TMP/big_run.out" 2>/dev/null ||
    fail "run with the rank-32 adapter"
"$BIN" run -m "$FULL" -p "Once upon a time" -n 20 --temp 0 >"$TMP/full_run.out" 2>/dev/null || fail "run the full model"
cmp -s "$TMP/big_run.out" "$TMP/full_run.out" || fail "rank-32 adapter text differs: $(cat "$TMP/big_run.out")"

[ "$fails" = 0 ] && echo "test_extract.sh: all passed"
exit $((fails > 0))
