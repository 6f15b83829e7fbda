#!/bin/bash
# test_serve_soak_short.sh — bench/soak.py for 15 s: `lorc serve` on
# stories260K with the four real adapters under an --adapter-mem budget that
# forces evictions, 16 clients over --parallel 8 (streamed and not, three
# APIs, deliberate mid-stream disconnects), adapters loaded and unloaded at
# run time. Fails on any unexpected status or connection error, a greedy
# check text that changes, fds or threads left over, or RSS growth past the
# script's bounds (skipped under ASan). docs/RELIABILITY.md has the 5-minute run.
set -u
SRC=${LORC_SOURCE_DIR:?}
T=${LORC_TEST_TMP:?}/serve_soak_short
rm -rf "$T"; mkdir -p "$T"
python3 "$SRC/bench/soak.py" --lorc "${LORC_BIN:?}" --shared "${LORC_SHARED:?}" --tmp "$T" \
    --duration 15 --clients 16 --parallel 8 --check-every 1 --sample-every 1 --json "$T/report.json" >"$T/out.txt"
rc=$?
tail -n 40 "$T/out.txt"
[ $rc -eq 0 ] || { echo "test_serve_soak_short: the soak failed (exit $rc)"; exit 1; }
echo "test_serve_soak_short: passed"
