#!/bin/bash
# test_harness_zero.sh — issue 6 item 10: the C test harness fails a test
# that ran zero checks (and still passes one with a passing check). Builds
# two tiny programs against tests/support/testutil.c with the system cc.
set -u
SRC=${LORC_SOURCE_DIR:?}
T=${LORC_TEST_TMP:?}/harness_zero
rm -rf "$T"; mkdir -p "$T"; cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cat >zero.c <<'C'
#include <stdio.h>
#include "testutil.h"
int main(void) { return test_finish("zero"); }
C
cat >one.c <<'C'
#include <stdio.h>
#include "testutil.h"
int main(void) { CHECK(1 + 1 == 2); return test_finish("one"); }
C
for p in zero one; do
    cc -std=c11 -I"$SRC/tests/support" "$p.c" "$SRC/tests/support/testutil.c" -o "$p" || fail "cannot build $p"
done
./zero >zero.out; rc=$?
[ $rc -ne 0 ] || fail "a test with no checks exited 0"
grep -q "no check ran" zero.out || fail "no explanation: $(cat zero.out)"
./one >one.out; rc=$?
[ $rc -eq 0 ] || fail "a test with one passing check exited $rc: $(cat one.out)"
echo "test_harness_zero: $fails failed"
[ $fails -eq 0 ]
