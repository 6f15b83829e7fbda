#!/usr/bin/env bash
# test-neon.sh — builds the NEON kernel tests for AArch64 and runs them:
# natively on an AArch64 host, else with Debian's cross compiler under
# user-mode QEMU. Two builds: plain NEON (armv8-a) and with the dot-product
# extension (armv8.2-a+dotprod, which takes the vdotq_s32 paths); each runs
# tests/neon/test_kernels_neon.c, tests/test_kernels_kquants.c and
# tests/test_attention_kernels.c, and the
# two builds' result digests must be bit-identical.
# Only what a kernel test needs is compiled (the tensor layer, its thread
# pool, the test support); the format layer's headers, not its code.
# Exit status: 0 passed, 1 failed, 77 skipped (no cross compiler / QEMU).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build-neon"

if [ "$(uname -m)" = aarch64 ]; then
  cc="${CC:-cc}"
  run=()
else
  cc=aarch64-linux-gnu-gcc
  run=(qemu-aarch64-static)
fi
for tool in "$cc" "${run[@]}"; do
  if ! command -v "$tool" > /dev/null; then
    echo "test-neon: SKIPPED, $tool not found (scripts/install-deps.sh installs it on Debian): NEON kernels not tested"
    exit 77
  fi
done

variants=(plain)
flags_plain="-march=armv8-a"
flags_dotprod="-march=armv8.2-a+dotprod"
# under QEMU (its default CPU has the extension) or on a CPU that has it
if [ ${#run[@]} -gt 0 ] || grep -qw asimddp /proc/cpuinfo 2> /dev/null; then
  variants+=(dotprod)
else
  echo "test-neon: this CPU has no dot-product extension: only the plain NEON build is run"
fi

cd "$root"
# tensor/ and the layer below it whole: a list of base/ files by name missed
# huge_pages.c when matmul_scratch.c began to call it
sources=(src/base/*.c src/tensor/*.c src/tensor/simd/*.c tests/support/testutil.c tests/support/kernel_check.c
  tests/support/avx512_emulated.c) # the emulated AVX-512 family: a stub (false) on AArch64
# the project's warnings (CMakeLists.txt), static so QEMU needs no target libc
cflags=(-static -O2 -std=c11 -Werror -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wno-format-truncation -D_GNU_SOURCE -Iinclude -Isrc -Itests/support)
status=0
for v in "${variants[@]}"; do
  flags_var="flags_$v"
  obj="$out/$v"
  mkdir -p "$obj"
  echo "== neon ($v): compiling with $cc ${!flags_var}"
  objects=()
  for s in "${sources[@]}"; do
    o="$obj/$(basename "$s" .c).o"
    # shellcheck disable=SC2086 # the -march flags are one word each
    "$cc" "${cflags[@]}" ${!flags_var} -c "$s" -o "$o"
    objects+=("$o")
  done
  for t in tests/neon/test_kernels_neon.c tests/test_kernels_kquants.c tests/test_attention_kernels.c; do
    exe="$obj/$(basename "$t" .c)"
    echo "== neon ($v): $t"
    # shellcheck disable=SC2086
    "$cc" "${cflags[@]}" ${!flags_var} "$t" "${objects[@]}" -pthread -lm -o "$exe"
    if ! "${run[@]}" "$exe" > "$exe.log" 2>&1; then
      status=1
    fi
    grep -v '^digest ' "$exe.log" | grep -E 'neon|failed|passed|CHECK' || true
  done
done

if [ ${#variants[@]} -eq 2 ]; then
  a="$out/plain/test_kernels_neon.log" b="$out/dotprod/test_kernels_neon.log"
  if [ "$(grep -c '^digest ' "$a")" -gt 0 ] && diff <(grep '^digest ' "$a") <(grep '^digest ' "$b") > /dev/null; then
    echo "test-neon: plain and dot-product builds give bit-identical tiles ($(grep -c '^digest ' "$a") types)"
  else
    echo "test-neon: FAILED, plain and dot-product builds differ:"
    diff <(grep '^digest ' "$a") <(grep '^digest ' "$b") || true
    status=1
  fi
fi
[ $status -eq 0 ] && echo "test-neon: all passed" || echo "test-neon: FAILED (logs in $out)"
exit $status
