#!/usr/bin/env bash
# test.sh — builds lorc twice (release, and ASan+UBSan) and runs the whole
# CTest suite in each, then the NEON kernel tests for AArch64 (under QEMU on
# other hosts; skipped with a note when the cross tools are missing). Exit
# status is non-zero when any test fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"

"$root/scripts/install-deps.sh"

echo "== release build"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$root/build" -j"$jobs"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs"

echo "== ASan+UBSan build"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORC_SANITIZE=ON > /dev/null
cmake --build "$root/build-asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$jobs"

echo "== NEON kernels (AArch64)"
neon_status=0
"$root/scripts/test-neon.sh" || neon_status=$?
[ $neon_status -eq 77 ] && neon_status=0 # skipped: test-neon.sh printed why
exit $neon_status
