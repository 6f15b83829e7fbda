#!/usr/bin/env bash
# vs_llama_cpp.sh — lorc and llama.cpp side by side on the same synthetic
# GGUF files and thread count: for each type, llama.cpp's llama-bench
# (pp512, tg128; mean and best of its repetitions) and then `lorc bench`
# (best of its rounds), alternating, PASSES times, so that both see the
# same state of a noisy machine. llama.cpp is not part of lorc: build its
# llama-bench yourself (cmake -DGGML_NATIVE=ON ... --target llama-bench)
# and pass the binary.
#
# Usage: bench/vs_llama_cpp.sh LLAMA_BENCH [BUILD_DIR] [THREADS] [TYPES...]
#   PASSES=N            alternations (default 2)
#   LORC_BENCH_DIR=DIR  where the synthetic models are (default $TMPDIR/lorc-bench);
#                       missing ones are written first by `lorc bench --synthetic`
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/vs_llama_cpp.sh LLAMA_BENCH [BUILD_DIR] [THREADS] [TYPES...]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
llama_bench="$1"
build="${2:-$root/build}"
threads="${3:-2}"
shift 3 2>/dev/null || shift $#
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(F16 Q8_0 Q4_0 Q4_K_M)
dir="${LORC_BENCH_DIR:-${TMPDIR:-/tmp}/lorc-bench}"
[ -x "$llama_bench" ] || { echo "vs_llama_cpp.sh: $llama_bench: not an executable" >&2; exit 2; }

cmake --build "$build" --target lorc_cli >/dev/null
for t in "${types[@]}"; do
  f="$dir/tinyllama-1.1b-$t-v1.gguf"
  [ -f "$f" ] || "$build/lorc" bench --synthetic tinyllama-1.1b --type "$t" --synthetic-dir "$dir" -p 0 -n 0 \
    --lora-ranks none --bw-mib 0 >/dev/null
done

for pass in $(seq "${PASSES:-2}"); do
  for t in "${types[@]}"; do
    f="$dir/tinyllama-1.1b-$t-v1.gguf"
    "$llama_bench" -m "$f" -p 512 -n 128 -t "$threads" -r 3 -o json 2>/dev/null |
      /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin):
    s = r["samples_ts"]
    test = "pp512" if r["n_prompt"] else "tg128"
    print("pass %s %-7s llama.cpp %s  mean %7.2f  best %7.2f t/s" % (sys.argv[1], sys.argv[2], test, sum(s) / len(s), max(s)))
' "$pass" "$t"
    "$build/lorc" bench -m "$f" -p 512 -n 128 -t "$threads" -r 3 --lora-ranks none --json |
      /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
for test, key in (("pp512", "pp_tps"), ("tg128", "tg_tps")):
    print("pass %s %-7s lorc      %s  best %7.2f t/s (%s kernels)" % (sys.argv[1], sys.argv[2], test, r[key], r["kernels"]))
' "$pass" "$t"
  done
done
