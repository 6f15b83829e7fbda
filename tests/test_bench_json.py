"""test_bench_json.py — `lorc bench --synthetic llama-150m --type Q4_0 --json`
end to end: the synthetic model and its random rank-16 adapters are written
by lorc itself into a cache folder, the run prints exactly one JSON object
on stdout with every key of the report and the right JSON type for each
(the figures themselves are not asserted: they belong in
docs/PERFORMANCE.md), and a second run reuses the cached files.
Small -p/-n/-r and bandwidth buffer keep it short under ASan.
"""
import json
import os
import subprocess
import sys

BIN = os.environ["LORC_BIN"]
TMP = os.environ.get("LORC_TEST_TMP", "/tmp")
CACHE = os.path.join(TMP, "bench_json_cache")
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg, file=sys.stderr)


def run_bench(extra):
    cmd = [BIN, "bench", "--synthetic", "llama-150m", "--type", "Q4_0", "--synthetic-dir", CACHE,
           "-t", "2", "-p", "2", "-n", "1", "-r", "1", "--bw-mib", "64"] + extra
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


proc = run_bench(["--lora-ranks", "16", "--scaling", "--json"])
if proc.returncode != 0:
    fail("bench exited %d: %s" % (proc.returncode, proc.stderr))
    sys.exit(1)
try:
    report = json.loads(proc.stdout)  # the whole stdout: one object, nothing else
except json.JSONDecodeError as e:
    fail("stdout is not one JSON object (%s): %r" % (e, proc.stdout[:300]))
    sys.exit(1)

if not isinstance(report, dict):
    fail("not an object: %r" % report)
    sys.exit(1)
expected = {
    "model": str, "type": str, "threads": int, "kernels": str, "bandwidth_gbs": "number",
    "pp_tps": "number", "tg_tps": "number", "tg_roofline_fraction": "number", "lora": list,
    "load_ms": "number", "attach_ms": "number", "mixed": type(None), "lora_type": str, "thread_scaling": dict,
    "model_huge_page_fraction": "fraction",
}
for key, kind in expected.items():
    if key not in report:
        fail("key %s missing" % key)
        continue
    v = report[key]
    if kind == "fraction":  # 0 is a real answer; null where /proc cannot tell
        ok = v is None or (is_number(v) and 0 <= v <= 1)
    else:
        ok = is_number(v) and v > 0 if kind == "number" else isinstance(v, kind) and not isinstance(v, bool)
    if key == "mixed":
        ok = v is None  # not asked for: null
    if not ok:
        fail("%s = %r is not a %s" % (key, v, kind if isinstance(kind, str) else kind.__name__))
extra = set(report) - set(expected)
if extra:
    fail("unexpected keys %s" % sorted(extra))

if report.get("model") != "llama-150m":
    fail("model %r" % report.get("model"))
if report.get("type") != "Q4_0":
    fail("type %r (the synthetic file records the mix)" % report.get("type"))
if report.get("threads") != 2:
    fail("threads %r, asked for 2" % report.get("threads"))
if report.get("lora_type") != "F16":
    fail("lora_type %r, want F16 (the default --lora-type)" % report.get("lora_type"))
if report.get("kernels") not in ("scalar", "avx2", "avx512", "neon"):
    fail("kernels %r" % report.get("kernels"))
frac = report.get("tg_roofline_fraction")
if is_number(frac) and not 0 < frac < 10:
    fail("tg_roofline_fraction %r is not a plausible fraction" % frac)

lora = report.get("lora") or []
want = [(16, "q,v"), (16, "q,k,v,o,gate,up,down")]
got = [(e.get("rank"), e.get("targets")) for e in lora if isinstance(e, dict)]
if got != want:
    fail("lora configurations %r, want %r" % (got, want))
for e in lora:
    if set(e) != {"rank", "targets", "pp_ratio", "tg_ratio"}:
        fail("lora entry keys %s" % sorted(e))
    for k in ("pp_ratio", "tg_ratio"):
        if not (is_number(e.get(k)) and e[k] > 0):
            fail("lora %s = %r" % (k, e.get(k)))

# --scaling: tg with 1 thread and with -t 2, and the read bandwidth with each
scaling = report.get("thread_scaling")
if isinstance(scaling, dict):
    keys = {"threads", "tg_tps_1", "tg_tps_n", "tg_ratio", "bandwidth_gbs_1", "bandwidth_gbs_n", "bandwidth_ratio"}
    if set(scaling) != keys:
        fail("thread_scaling keys %s" % sorted(scaling))
    if scaling.get("threads") != 2:
        fail("thread_scaling threads %r, asked for 2" % scaling.get("threads"))
    for k in keys - {"threads"}:
        if not (is_number(scaling.get(k)) and scaling[k] > 0):
            fail("thread_scaling %s = %r" % (k, scaling.get(k)))
    for num, den, ratio in (("tg_tps_n", "tg_tps_1", "tg_ratio"), ("bandwidth_gbs_n", "bandwidth_gbs_1", "bandwidth_ratio")):
        if all(is_number(scaling.get(k)) and scaling[k] > 0 for k in (num, den, ratio)):
            if abs(scaling[num] / scaling[den] - scaling[ratio]) > 1e-3 * scaling[ratio]:
                fail("thread_scaling %s %r is not %s / %s" % (ratio, scaling[ratio], num, den))

for name in ("llama-150m-Q4_0-v1.gguf", "llama-150m-lora-r16-qv-F16-v1.gguf", "llama-150m-lora-r16-all-F16-v1.gguf"):
    if not os.path.isfile(os.path.join(CACHE, name)):
        fail("cache lacks %s" % name)

# Second run: cached files reused (nothing written), nulls where not measured,
# and the readable table.
proc = run_bench(["--lora-ranks", "none", "-p", "0", "--json"])
if proc.returncode != 0:
    fail("second run exited %d: %s" % (proc.returncode, proc.stderr))
else:
    if "writing" in proc.stderr:
        fail("second run wrote files again: %s" % proc.stderr)
    r2 = json.loads(proc.stdout)
    if (r2.get("lora", 0) is not None or r2.get("attach_ms", 0) is not None or r2.get("pp_tps", 0) is not None
            or r2.get("lora_type", 0) is not None or r2.get("thread_scaling", 0) is not None):
        fail("not measured should be null: lora %r attach_ms %r pp_tps %r lora_type %r thread_scaling %r"
             % (r2.get("lora"), r2.get("attach_ms"), r2.get("pp_tps"), r2.get("lora_type"),
                r2.get("thread_scaling")))
    if not (is_number(r2.get("tg_tps")) and r2["tg_tps"] > 0):
        fail("second run tg_tps %r" % r2.get("tg_tps"))

proc = run_bench(["--lora-ranks", "none", "-p", "0", "--bw-mib", "0", "--scaling"])
if (proc.returncode != 0 or "tg1" not in proc.stdout or "read bandwidth         not measured" not in proc.stdout
        or "tg1 with 1 and 2 threads" not in proc.stdout):
    fail("table form: rc %d, stdout %r" % (proc.returncode, proc.stdout))

proc = run_bench(["--lora-ranks", "none", "-n", "0", "--scaling"])
if proc.returncode != 1 or "--scaling" not in proc.stderr:
    fail("--scaling with -n 0: rc %d, %r" % (proc.returncode, proc.stderr))

# --mixed: N sequences on the base, on one adapter, each on its own (two
# distinct random adapters: the second is written on demand).
proc = run_bench(["--lora-ranks", "none", "-p", "0", "-n", "0", "--bw-mib", "0", "--mixed", "2",
                  "--mixed-prompt", "3", "--mixed-gen", "2", "--json"])
if proc.returncode != 0:
    fail("--mixed run exited %d: %s" % (proc.returncode, proc.stderr))
else:
    r3 = json.loads(proc.stdout)
    mixed = r3.get("mixed")
    if not (isinstance(mixed, list) and len(mixed) == 1 and isinstance(mixed[0], dict)):
        fail("mixed = %r, want one entry" % (mixed,))
    else:
        m = mixed[0]
        keys = {"n", "rank", "targets", "pp_tps", "tg_tps", "tg_mixed_vs_one", "pp_mixed_vs_one", "switch_ms"}
        if set(m) != keys:
            fail("mixed entry keys %s" % sorted(m))
        if m.get("n") != 2 or m.get("rank") != 16:
            fail("mixed n/rank %r/%r" % (m.get("n"), m.get("rank")))
        for k in ("pp_tps", "tg_tps"):
            d = m.get(k) or {}
            if set(d) != {"base", "one_adapter", "mixed"} or not all(is_number(x) and x > 0 for x in d.values()):
                fail("mixed %s = %r" % (k, d))
        for k in ("tg_mixed_vs_one", "pp_mixed_vs_one", "switch_ms"):
            if not (is_number(m.get(k)) and m[k] > 0):
                fail("mixed %s = %r" % (k, m.get(k)))
    if r3.get("lora_type") != "F16":
        fail("--mixed lora_type %r" % r3.get("lora_type"))
    if not os.path.isfile(os.path.join(CACHE, "llama-150m-lora-r16-all-1-F16-v1.gguf")):
        fail("cache lacks the second adapter of --mixed 2")

proc = subprocess.run([BIN, "bench", "--synthetic", "llama-150m", "--type", "Q4_0", "--lora-type", "Q4_0"],
                      stderr=subprocess.PIPE, text=True)
if proc.returncode != 1 or "--lora-type" not in proc.stderr:
    fail("--lora-type Q4_0: rc %d, %r" % (proc.returncode, proc.stderr))

proc = subprocess.run([BIN, "bench", "-m", "x.gguf", "--mixed", "2"], stderr=subprocess.PIPE, text=True)
if proc.returncode != 1 or "--mixed needs --synthetic" not in proc.stderr:
    fail("--mixed without --synthetic: rc %d, %r" % (proc.returncode, proc.stderr))

proc = subprocess.run([BIN, "bench", "--synthetic", "nope-7b", "--type", "Q4_0"], stderr=subprocess.PIPE, text=True)
if proc.returncode != 1 or "nope-7b" not in proc.stderr:
    fail("unknown synthetic model: rc %d, %r" % (proc.returncode, proc.stderr))

print("test_bench_json: %s" % ("ok" if failures == 0 else "%d failures" % failures))
sys.exit(1 if failures else 0)
