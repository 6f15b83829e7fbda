#!/usr/bin/env bash
# run.sh — the benchmark behind docs/PERFORMANCE.md: a synthetic 168M-parameter
# llama model (n_embd 1024, 8 layers, n_ff 2816, vocab 32000, GQA 16/4) in
# several weight types, each measured by `lorc bench` against the machine's
# read bandwidth (measured in the same run), without and with a rank-16 LoRA
# on attn_q + attn_v of every layer.
# Usage: bench/run.sh [BUILD_DIR] [THREADS] [TYPES...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
threads="${2:-2}"
shift 2 2>/dev/null || true
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(F16 Q8_0 Q4_0 Q4_K Q6_K)

cmake --build "$build" --target lorc_cli bench_make_model > /dev/null
models="$build/bench-models"
mkdir -p "$models"
adapter="$models/lora-qv-r16.gguf"
[ -f "$adapter" ] || "$build/bench/bench_make_model" --adapter "$adapter" F32 16
for t in "${types[@]}"; do
  m="$models/synth-168M-$t.gguf"
  [ -f "$m" ] || "$build/bench/bench_make_model" "$m" "$t"
  echo "### $t"
  "$build/lorc" bench -m "$m" -t "$threads" -p 64 -n 32 --lora "$adapter"
  echo
done
