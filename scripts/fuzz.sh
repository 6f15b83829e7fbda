#!/usr/bin/env bash
# fuzz.sh SECONDS [TARGET...] — builds every libFuzzer target fuzz/fuzz_*.c
# (or only the named ones) with clang (-fsanitize=fuzzer,address,undefined)
# against the library and CLI sources built the same way, then runs each for
# SECONDS starting from its seed corpus fuzz/corpus/<target>/. Exit status is
# non-zero when a target fails to build or the fuzzer reports any finding
# (crash, sanitizer report, leak, timeout, out-of-memory); the reproducer is
# left in build-fuzz/artifacts/.
#
# A target may carry one line "// fuzz-options: ..." with extra libFuzzer
# flags (e.g. -max_len=4096). Targets that need the shared test data read
# LORC_SHARED (default: ../shared next to the source tree).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:?usage: scripts/fuzz.sh SECONDS [fuzz_NAME...]}"
shift
out="$root/build-fuzz"
export LORC_SHARED="${LORC_SHARED:-$root/../shared}"
cc="${CC_FUZZ:-clang}"
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE
       -I"$root/include" -I"$root/src" -I"$root/tools")
libs=(-ljansson -lpcre2-8 -lxxhash -lm -lpthread)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in "$root"/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

# The library and the CLI helpers (everything but main) as one archive, built
# with coverage instrumentation so the fuzzer sees their branches.
mkdir -p "$out/obj" "$out/artifacts"
sources=()
while IFS= read -r -d '' s; do sources+=("$s"); done < <(
  find "$root/src" "$root/tools" -name '*.c' ! -path "$root/tools/lorc.c" -print0 | sort -z)
echo "fuzz: building ${#sources[@]} library sources with $cc"
objects=()
for s in "${sources[@]}"; do
  rel="${s#"$root"/}"
  objects+=("$out/obj/${rel//\//_}.o")
done
build_one() {
  local s="$1" o="$2" extra=()
  case "$s" in
  */simd/avx2_*) extra=(-mavx2 -mfma -mf16c -mbmi2) ;;
  */simd/avx512_*) extra=(-mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512vnni) ;;
  esac
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find "$root/src" "$root/tools" "$root/include" -name '*.h' -newer "$o" -print -quit)" ]; then
    "$cc" "${flags[@]}" -fsanitize=fuzzer-no-link "${extra[@]}" -c "$s" -o "$o"
  fi
}
export -f build_one
export cc root
export flags_str="${flags[*]}"
jobs="$(nproc)"
for i in "${!sources[@]}"; do printf '%s\0%s\0' "${sources[$i]}" "${objects[$i]}"; done |
  xargs -0 -n2 -P"$jobs" bash -c 'flags=($flags_str); build_one "$0" "$1"'
rm -f "$out/liblorc_fuzz.a"
ar rcs "$out/liblorc_fuzz.a" "${objects[@]}"

failed=()
for t in "${targets[@]}"; do
  src="$root/fuzz/$t.c"
  [ -f "$src" ] || { echo "fuzz: no such target $src"; failed+=("$t"); continue; }
  echo "== $t: build"
  if ! "$cc" "${flags[@]}" -fsanitize=fuzzer "$src" "$out/liblorc_fuzz.a" "${libs[@]}" -o "$out/$t"; then
    failed+=("$t"); continue
  fi
  opts=()
  line="$(grep -m1 '^// fuzz-options:' "$src" || true)"
  [ -n "$line" ] && read -r -a opts <<< "${line#// fuzz-options:}"
  # New inputs go to a scratch corpus; the committed seeds are only read.
  work="$out/corpus/$t"
  mkdir -p "$work"
  seeds=()
  [ -d "$root/fuzz/corpus/$t" ] && seeds=("$root/fuzz/corpus/$t")
  echo "== $t: run ${seconds}s ${opts[*]:-}"
  if ! (cd "$out" && "./$t" "$work" "${seeds[@]}" "${opts[@]}" -max_total_time="$seconds" \
        -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 2>&1 | tee "$out/$t.log" | grep -E '^(#[0-9]+ +DONE|INFO: seed corpus|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|.*runtime error)' ; exit "${PIPESTATUS[0]}"); then
    echo "fuzz: $t FAILED (log: $out/$t.log)"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings or build failures in: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a finding"
