#!/usr/bin/env python3
"""serve_bench.py — serving benchmark of `lorc serve` (Python 3 stdlib only).

N concurrent clients (N = 1, 8, 32 by default) send streamed
/v1/completions back to back, in three modes: all on the base ("base"), all
on one adapter ("one"), each client on its own adapter ("mixed": N distinct
adapters). For each (mode, N) it reports requests/s, generated tokens/s,
p50/p99 time to first token, p50/p99 time per output token and errors.

By default it starts the server itself on the synthetic llama-150m that
`lorc bench --synthetic llama-150m --type Q4_0 --mixed N` writes, with that
command's random rank-16 adapters on all seven linears (written once by a
cheap `lorc bench` call, reused from then on). --url points it at a running
server instead (then --base and --adapters name what to use).

Chunks and tokens: the server sends one SSE chunk per generated token unless
text is held back (an unfinished UTF-8 character, a possible stop string) or
the client reads slower than tokens come, when a chunk carries several. So
the per-token latency is taken per request as (last chunk - first chunk) /
(completion_tokens - 1), completion_tokens from the final chunk's `usage`;
the inter-chunk gaps are reported too, with tokens per chunk."""
import argparse
import glob
import http.client
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
import serve_launch  # noqa: E402  (start and stop lorc serve, shared with the tests)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs; None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def synthetic_files(lorc, preset, qtype, n, directory, threads):
    """(model path, [n adapter paths]) of lorc bench's synthetic files,
    written by a minimal `lorc bench` run when missing."""
    args = [lorc, "bench", "--synthetic", preset, "--type", qtype, "-t", str(threads), "-p", "0", "-n", "0",
            "-r", "1", "--lora-ranks", "none", "--bw-mib", "0", "--mixed", str(n), "--mixed-gen", "1",
            "--mixed-prompt", "1", "--json"]
    if directory:
        args += ["--synthetic-dir", directory]
    else:
        directory = os.path.join(os.environ.get("TMPDIR") or "/tmp", "lorc-bench")
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    models = sorted(glob.glob(f"{directory}/{preset}-{qtype}-v*.gguf"))
    if not models:
        raise SystemExit(f"serve_bench: no {preset}-{qtype} model in {directory}")
    ver = re.search(r"-v(\d+)\.gguf$", models[-1]).group(1)
    first = f"{directory}/{preset}-lora-r16-all-F16-v{ver}.gguf"  # lorc bench's default --lora-type
    adapters = [first] + [f"{directory}/{preset}-lora-r16-all-{k}-F16-v{ver}.gguf" for k in range(1, n)]
    missing = [a for a in adapters if not os.path.exists(a)]
    if missing:
        raise SystemExit(f"serve_bench: lorc bench did not write {missing[0]}")
    return models[-1], adapters


def start_server(args, model, adapters):
    cmd = [args.lorc, "serve", "-m", model, "--port", "0", "-t", str(args.threads), "--parallel",
           str(args.parallel), "-c", str(args.ctx)]
    for i, path in enumerate(adapters):
        cmd += ["--lora", f"a{i}={path}"]
    return serve_launch.launch(cmd, timeout=60)


class Client:
    def __init__(self, host, port, key):
        self.host, self.port, self.key = host, port, key

    def headers(self):
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        return h

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("GET", path, headers=self.headers())
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, json.loads(body)

    def stream(self, body):
        """One streamed completion: dict with ttft, chunk times, tokens, or error."""
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            conn.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)), headers=self.headers())
            resp = conn.getresponse()
            if resp.status != 200:
                return {"error": f"HTTP {resp.status}: {resp.read()[:200]!r}"}
            times, tokens, prompt_tokens, done = [], None, None, False
            while True:
                line = resp.readline()
                if not line:
                    break
                if not line.startswith(b"data: "):
                    continue
                now = time.perf_counter()
                data = line[6:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                obj = json.loads(data)
                if "error" in obj:
                    return {"error": obj["error"].get("message", "stream error")}
                if obj["choices"][0].get("text"):
                    times.append(now)
                if obj.get("usage"):
                    tokens = obj["usage"]["completion_tokens"]
                    prompt_tokens = obj["usage"]["prompt_tokens"]
            if not done or tokens is None:
                return {"error": "stream ended without usage and [DONE]"}
            return {"start": t0, "times": times, "tokens": tokens, "prompt_tokens": prompt_tokens}
        except (OSError, http.client.HTTPException, ValueError) as e:
            return {"error": f"{type(e).__name__}: {e}"}
        finally:
            conn.close()


def run_cell(client, models, n, seconds, args, tag):
    """n clients, client i on models[i], for `seconds` (or args.requests
    each); returns (results, wall seconds)."""
    results, lock = [], threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def worker(i):
        k = 0
        while (k < args.requests) if args.requests else (time.perf_counter() < deadline):
            # A prompt no other request has: no prefix-cache hits anywhere.
            prompt = f"{tag} client {i} request {k}: " + args.prompt
            body = {"model": models[i], "prompt": prompt, "max_tokens": args.max_tokens, "temperature": 0}
            r = client.stream(body)
            with lock:
                results.append(r)
            k += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def summary(results, wall):
    ok = [r for r in results if "error" not in r]
    ttft = [r["times"][0] - r["start"] for r in ok if r["times"]]
    tpot = [(r["times"][-1] - r["times"][0]) / (r["tokens"] - 1) for r in ok if r["tokens"] > 1 and len(r["times"]) > 1]
    gaps = [b - a for r in ok for a, b in zip(r["times"], r["times"][1:])]
    tokens = sum(r["tokens"] for r in ok)
    chunks = sum(len(r["times"]) for r in ok)
    errors = [r["error"] for r in results if "error" in r]
    ms = lambda x: None if x is None else round(x * 1000, 1)  # noqa: E731
    return {"requests": len(ok), "errors": len(errors), "first_error": errors[0] if errors else None,
            "seconds": round(wall, 2), "req_per_s": round(len(ok) / wall, 3), "tok_per_s": round(tokens / wall, 2),
            "tokens": tokens, "tokens_per_chunk": round(tokens / chunks, 3) if chunks else None,
            "prompt_tokens_mean": round(sum(r["prompt_tokens"] for r in ok) / len(ok), 1) if ok else None,
            "ttft_p50_ms": ms(pct(ttft, 50)), "ttft_p99_ms": ms(pct(ttft, 99)),
            "tpot_p50_ms": ms(pct(tpot, 50)), "tpot_p99_ms": ms(pct(tpot, 99)),
            "gap_p50_ms": ms(pct(gaps, 50)), "gap_p99_ms": ms(pct(gaps, 99))}


def table(cells, out):
    cols = [("mode", "mode", 6), ("N", "n", 3), ("req/s", "req_per_s", 7), ("tok/s", "tok_per_s", 7),
            ("ttft p50", "ttft_p50_ms", 9), ("ttft p99", "ttft_p99_ms", 9), ("tpot p50", "tpot_p50_ms", 9),
            ("tpot p99", "tpot_p99_ms", 9), ("gap p99", "gap_p99_ms", 8), ("tok/chunk", "tokens_per_chunk", 9),
            ("reqs", "requests", 5), ("errors", "errors", 6)]
    out.write(" ".join(f"{h:>{w}}" for h, _, w in cols) + "\n")
    for c in cells:
        out.write(" ".join(f"{'-' if c[k] is None else c[k]:>{w}}" for _, k, w in cols) + "\n")
    out.write("(times in ms; tpot = time per output token after the first)\n")
    by = {(c["mode"], c["n"]): c for c in cells}
    for n in sorted({c["n"] for c in cells}):
        base, one, mixed = by.get(("base", n)), by.get(("one", n)), by.get(("mixed", n))
        parts = []
        if base and one and base["tok_per_s"]:
            parts.append(f"one/base {one['tok_per_s'] / base['tok_per_s']:.3f}")
        if one and mixed and one["tok_per_s"]:
            parts.append(f"mixed/one {mixed['tok_per_s'] / one['tok_per_s']:.3f}")
        if parts:
            out.write(f"N={n}: tok/s ratios " + ", ".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lorc", default=os.path.join(ROOT, "build", "lorc"), help="the lorc binary")
    ap.add_argument("--url", help="a running server (http://HOST:PORT) instead of starting one")
    ap.add_argument("--api-key", help="Bearer key of --url's server")
    ap.add_argument("--base", help="with --url: the base model's name (default: the first of /v1/models)")
    ap.add_argument("--adapters", help="with --url: comma-separated adapter names (default: the others of /v1/models)")
    ap.add_argument("--synthetic", default="llama-150m", help="lorc bench's synthetic model (default llama-150m)")
    ap.add_argument("--type", default="Q4_0", help="its weight type (default Q4_0)")
    ap.add_argument("--synthetic-dir", help="where lorc bench keeps its files (default lorc bench's)")
    ap.add_argument("--clients", default="1,8,32", help="the N to run (default 1,8,32)")
    ap.add_argument("--modes", default="base,one,mixed", help="default base,one,mixed")
    ap.add_argument("--seconds", type=float, default=25, help="each (mode, N) cell's length (default 25)")
    ap.add_argument("--requests", type=int, default=0, help="requests per client and round instead of --seconds")
    ap.add_argument("--rounds", type=int, default=2, help="rounds the modes of one N alternate in (default 2)")
    ap.add_argument("--max-tokens", type=int, default=32, help="tokens per request (default 32)")
    ap.add_argument("--prompt", default="Once upon a time there was a little girl who lived in a small house")
    ap.add_argument("-t", "--threads", type=int, default=2, help="server's forward threads (default 2)")
    ap.add_argument("--parallel", type=int, default=32, help="server's --parallel (default 32)")
    ap.add_argument("-c", "--ctx", type=int, default=256, help="server's context per request (default 256)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")
    args = ap.parse_args()
    ns = [int(x) for x in args.clients.split(",")]
    modes = args.modes.split(",")
    if any(m not in ("base", "one", "mixed") for m in modes):
        raise SystemExit("serve_bench: --modes takes base, one, mixed")

    proc, info = None, {}
    if args.url:
        u = urllib.parse.urlparse(args.url)
        client = Client(u.hostname, u.port or 80, args.api_key)
    else:
        model, paths = synthetic_files(args.lorc, args.synthetic, args.type, max(ns), args.synthetic_dir, args.threads)
        proc, port = start_server(args, model, paths)
        client = Client("127.0.0.1", port, None)
        info = {"model": os.path.basename(model), "adapters": f"{len(paths)} x rank 16 on q,k,v,o,gate,up,down",
                "threads": args.threads, "parallel": args.parallel, "ctx": args.ctx}
    try:
        status, lst = client.get("/v1/models")
        if status != 200:
            raise SystemExit(f"serve_bench: GET /v1/models: {status}")
        names = [m["id"] for m in lst["data"]]
        base = args.base or names[0]
        adapters = args.adapters.split(",") if args.adapters else [m for m in names if m != base]
        if ("one" in modes or "mixed" in modes) and len(adapters) < (max(ns) if "mixed" in modes else 1):
            raise SystemExit(f"serve_bench: {len(adapters)} adapters; mixed mode at N={max(ns)} needs {max(ns)}")
        # Warm-up: pages the weights in and loads every adapter once, so no
        # cell pays for first loads.
        for m in [base] + adapters[:max(ns)]:
            r = client.stream({"model": m, "prompt": args.prompt, "max_tokens": 2, "temperature": 0})
            if "error" in r:
                raise SystemExit(f"serve_bench: warm-up on {m}: {r['error']}")
        cells = []
        for n in ns:
            # The modes of one N take turns, round by round, so a burst of
            # load from elsewhere on the machine hits them alike.
            got = {mode: ([], 0.0) for mode in modes}
            for rnd in range(args.rounds):
                for mode in modes:
                    models = [base] * n if mode == "base" else [adapters[0]] * n if mode == "one" else adapters[:n]
                    res, wall = run_cell(client, models, n, args.seconds / args.rounds, args, f"{mode}{n}.{rnd}")
                    got[mode] = (got[mode][0] + res, got[mode][1] + wall)
            for mode in modes:
                c = dict(mode=mode, n=n, **summary(*got[mode]))
                cells.append(c)
                print(f"serve_bench: {mode} N={n}: {c['tok_per_s']} tok/s, {c['errors']} errors", file=sys.stderr)
    finally:
        if proc:
            serve_launch.stop(proc, timeout=30)
    report = {"server": info or {"url": args.url}, "max_tokens": args.max_tokens,
              "seconds": None if args.requests else args.seconds, "requests_per_client": args.requests or None,
              "rounds": args.rounds,
              "cells": cells}
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        table(cells, sys.stdout)
    return 1 if any(c["errors"] for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
