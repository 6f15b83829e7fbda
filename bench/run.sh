#!/usr/bin/env bash
# run.sh — the benchmark behind docs/PERFORMANCE.md: `lorc bench` on the
# synthetic TinyLlama-1.1B-shaped model (dim 2048, 22 layers, ffn 5632,
# 32 / 4 heads, vocab 32000; random weights written by lorc itself, cached in
# $TMPDIR/lorc-bench) in F16, Q8_0, Q4_0 and Q4_K_M (llama-quantize's
# mixes), each run measuring the read bandwidth, pp512, tg128, tg against the
# roofline, LoRA rank 8/16/64 on q,v and on all seven linears, load and
# attach time. Every run's JSON object goes to a JSON-lines file; the
# markdown table for docs/PERFORMANCE.md is printed from it at the end.
#
# Usage: bench/run.sh [BUILD_DIR] [THREADS] [TYPES...]
#   LORC_BENCH_MODEL=llama-150m   the smaller synthetic model instead
#   LORC_BENCH_ARGS="-p 64 -n 16 -r 1 --lora-ranks 16"   a quick check
#   LORC_BENCH_OUT=FILE           the JSON lines (default BUILD_DIR/bench-results.jsonl)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
threads="${2:-2}"
shift 2 2>/dev/null || shift $# 
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(F16 Q8_0 Q4_0 Q4_K_M)
model="${LORC_BENCH_MODEL:-tinyllama-1.1b}"
out="${LORC_BENCH_OUT:-$build/bench-results.jsonl}"
read -r -a extra <<<"${LORC_BENCH_ARGS:-}"

cmake --build "$build" --target lorc_cli >/dev/null
: >"$out"
for t in "${types[@]}"; do
  echo "### $model $t, $threads threads" >&2
  "$build/lorc" bench --synthetic "$model" --type "$t" -t "$threads" "${extra[@]}" --json | tee -a "$out"
done

/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(v, fmt):
    return "-" if v is None else fmt % v
def lora(r, targets, rank=16):
    for e in r.get("lora") or []:
        if e["rank"] == rank and e["targets"] == targets:
            return "%s / %s" % (f(e["pp_ratio"], "%.3f"), f(e["tg_ratio"], "%.3f"))
    return "-"
print()
print("| model | type | threads | kernels | read GB/s | pp t/s | tg t/s | tg / roofline | LoRA r16 q,v pp / tg | LoRA r16 all pp / tg | load ms | attach ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    frac = r["tg_roofline_fraction"]
    print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        r["model"], r["type"], r["threads"], r["kernels"], f(r["bandwidth_gbs"], "%.1f"), f(r["pp_tps"], "%.1f"),
        f(r["tg_tps"], "%.1f"), "-" if frac is None else "%.0f%%" % (100 * frac), lora(r, "q,v"),
        lora(r, "q,k,v,o,gate,up,down"), f(r["load_ms"], "%.0f"), f(r["attach_ms"], "%.1f")))
others = [(r["type"], e) for r in rows for e in (r.get("lora") or []) if e["rank"] != 16]
if others:
    print()
    print("| type | LoRA rank | targets | pp ratio | tg ratio |")
    print("|---|---|---|---|---|")
    for t, e in others:
        print("| %s | %d | %s | %s | %s |" % (t, e["rank"], e["targets"], f(e["pp_ratio"], "%.3f"), f(e["tg_ratio"], "%.3f")))
PY
