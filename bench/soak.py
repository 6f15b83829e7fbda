#!/usr/bin/env python3
"""soak.py — `lorc serve` under full concurrency for a while (Python 3 stdlib).

Starts `lorc serve` on stories260K with the real adapters (moon-qv GGUF,
ocean-all, moon-head and ocean-dora PEFT), copied into an --adapter-dir and
served under an --adapter-mem budget smaller than their sum, so adapters are
evicted and reloaded all the time. Then, for --duration seconds:
  * --clients threads send requests back to back: /v1/completions,
    /v1/chat/completions and llama.cpp's /completion, streamed or not, on the
    base, an adapter, or two stacked; some streams are dropped after a few
    chunks (deliberate disconnects);
  * a churn thread loads adapters under new names with
    /v1/load_lora_adapter, uses them, and unloads them;
  * a checker repeats a fixed greedy request on every model under load;
  * the server's RSS (VmRSS), open fds and threads are sampled every few s.
It fails (exit 1) on any status but 200 (bar the churn's 409 "in use,
retry"), a connection error other than the deliberate drops, a malformed
answer, a greedy text that differs from the one at the start, fds or threads
at the end above the start, or RSS growth beyond the stated bounds (not
applied to a sanitizer build, whose allocator quarantine grows by design)."""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
import serve_launch  # noqa: E402  (start and stop lorc serve, shared with the tests)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADAPTERS = {"moon-qv": "moon-qv/moon-qv.gguf", "ocean-all": "ocean-all/peft", "moon-head": "moon-head/peft",
            "ocean-dora": "ocean-dora/peft"}
CHECK_PROMPT = "Once upon a time"


class Soak:
    def __init__(self, args, port, pid):
        self.args, self.port, self.pid = args, port, pid
        self.lock = threading.Lock()
        self.failures, self.counts, self.samples = [], {}, []
        self.stop = threading.Event()

    def fail(self, what):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(what)
        print("FAIL:", what, file=sys.stderr)

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def call(self, method, path, body=None, stream=False, drop_after=None):
        """(status, parsed body or list of SSE events); drop_after: close the
        connection after that many events (a deliberate disconnect)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if not stream or resp.status != 200:
                data = resp.read()
                return resp.status, json.loads(data) if data else None
            events = []
            while True:
                line = resp.readline()
                if not line:
                    return resp.status, events
                if line.startswith(b"data: "):
                    events.append(line[6:].strip())
                    if drop_after is not None and len(events) >= drop_after:
                        return resp.status, None
        finally:
            conn.close()

    def completion(self, model, prompt, max_tokens):
        status, obj = self.call("POST", "/v1/completions",
                                {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
        return obj["choices"][0]["text"] if status == 200 else f"<HTTP {status}: {obj}>"

    def one_request(self, rng, models):
        """One random client request, checked; returns its kind."""
        endpoint = rng.choice(["openai", "chat", "llama"])
        stream = rng.random() < 0.6
        drop = stream and endpoint != "llama" and rng.random() < 0.15
        n = rng.randint(4, 48)
        body = {"max_tokens": n, "temperature": rng.choice([0, 0.7, 1.0]), "seed": rng.randint(0, 1 << 30)}
        if endpoint == "llama":
            path, ids = "/completion", self.args.lora_ids
            body = {"prompt": "Once upon a time, " + rng.choice(["a cat", "a dog", "Lily"]), "n_predict": n,
                    "temperature": body["temperature"], "seed": body["seed"]}
            if rng.random() < 0.7:
                body["lora"] = [{"id": rng.choice(ids), "scale": 1.0}]
        else:
            model = rng.choice(models)
            body["model"] = model
            if model == "moon-qv" and rng.random() < 0.5:
                body["adapters"] = [{"name": "ocean-all", "scale": 0.5}]
            if endpoint == "chat":
                path = "/v1/chat/completions"
                body["messages"] = [{"role": "user", "content": rng.choice(["Tell me a story.", "Hi!"])}]
            else:
                path = "/v1/completions"
                body["prompt"] = rng.choice(["Once upon a time", "The little dog", "One day, Tom"])
        body["stream"] = stream
        kind = f"{endpoint}{'-stream' if stream else ''}{'-drop' if drop else ''}"
        try:
            status, got = self.call("POST", path, body, stream, rng.randint(1, 3) if drop else None)
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.fail(f"{kind}: {type(e).__name__}: {e}")
            return kind
        self.count(f"status {status}")
        if status != 200:
            self.fail(f"{kind} {path} {body.get('model')}: HTTP {status}: {got}")
        elif not drop:
            self.check_answer(kind, endpoint, stream, got)
        return kind

    def check_answer(self, kind, endpoint, stream, got):
        try:
            if not stream:
                ok = ("content" in got and got["stop"] is True) if endpoint == "llama" else \
                    got["usage"]["completion_tokens"] >= 1 and got["choices"][0]["finish_reason"] in ("stop", "length")
            elif endpoint == "llama":
                ok = bool(got) and json.loads(got[-1])["stop"] is True
            else:
                ok = len(got) >= 2 and got[-1] == b"[DONE]" and "usage" in json.loads(got[-2])
        except (KeyError, IndexError, TypeError, ValueError):
            ok = False
        if not ok:
            self.fail(f"{kind}: malformed answer {str(got)[:300]}")

    def client(self, i, models):
        rng = random.Random(self.args.seed * 1000 + i)
        while not self.stop.is_set():
            self.count(self.one_request(rng, models))

    def churn(self):
        """Load, use and unload adapters under a few recycled names."""
        k = 0
        while not self.stop.is_set():
            name, path = f"churn{k % 4}", ["ocean-all", "moon-qv.gguf", "moon-head"][k % 3]
            k += 1
            try:
                if k % 10 == 0:
                    # A refused load's reply quotes the name (once read after its JSON was freed).
                    status, obj = self.call("POST", "/v1/load_lora_adapter",
                                            {"lora_name": "stories260K", "lora_path": path})
                    if status != 400 or "'stories260K' is the base model's name" not in obj["error"]["message"]:
                        self.fail(f"load under the base's name: HTTP {status}: {obj}")
                    self.count("churn load refused: base name")
                status, obj = self.call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
                if status == 400 and "held by entries in use" in obj["error"]["message"]:
                    # Documented: a load that fits only by evicting what
                    # running requests use is refused, not over budget.
                    self.count("churn load refused: budget in use")
                    time.sleep(0.05)
                    continue
                if status != 200:
                    self.fail(f"load {name}={path}: HTTP {status}: {obj}")
                    continue
                self.count("churn load")
                text = self.completion(name, CHECK_PROMPT, 8)
                if text.startswith("<HTTP"):
                    self.fail(f"completion on loaded {name}: {text}")
                while True:
                    status, obj = self.call("POST", "/v1/unload_lora_adapter", {"lora_name": name})
                    if status != 409:
                        break
                    self.count("churn unload 409")
                    time.sleep(0.05)
                if status != 200:
                    self.fail(f"unload {name}: HTTP {status}: {obj}")
                self.count("churn unload")
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.fail(f"churn: {type(e).__name__}: {e}")

    def checker(self, want):
        """The fixed greedy request under load: the same text as at the start."""
        rng = random.Random(self.args.seed)
        while not self.stop.wait(self.args.check_every):
            m = rng.choice(sorted(want))
            try:
                got = self.completion(m, CHECK_PROMPT, self.args.check_tokens)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.fail(f"check on {m}: {type(e).__name__}: {e}")
                continue
            self.count("check under load")
            if got != want[m]:
                self.fail(f"greedy text on {m} under load changed: {got!r} != {want[m]!r}")

    def sample(self):
        s = proc_stats(self.pid)
        s["t"] = round(time.time() - self.t0, 1)
        with self.lock:
            self.samples.append(s)
        return s

    def sampler(self):
        while not self.stop.wait(self.args.sample_every):
            self.sample()


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
    return {"rss_kb": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "threads": len(os.listdir(f"/proc/{pid}/task"))}


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line or "libtsan" in line for line in f)


def start_server(args, adapter_dir):
    cmd = [args.lorc, "serve", "-m", f"{args.shared}/models/stories260K.gguf", "--port", "0", "-t", str(args.threads),
           "--parallel", str(args.parallel), "--queue", str(args.clients + 16), "--adapter-dir", adapter_dir,
           "--adapter-mem", args.adapter_mem]
    # The last stderr lines are shown when the soak fails (a sanitizer's report).
    return serve_launch.launch(cmd, timeout=60, keep_lines=60)


def settle(pid, start, seconds=10):
    """fds and threads once connection threads are gone (they end a moment
    after their response)."""
    deadline = time.time() + seconds
    while True:
        s = proc_stats(pid)
        if (s["fds"] <= start["fds"] and s["threads"] <= start["threads"]) or time.time() > deadline:
            return s
        time.sleep(0.2)


def run(args, soak, proc):
    models = ["stories260K"] + list(ADAPTERS)
    status, lst = soak.call("GET", "/lora-adapters")
    args.lora_ids = [a["id"] for a in lst if a["path"] in ADAPTERS]
    if status != 200 or len(args.lora_ids) != len(ADAPTERS):
        soak.fail(f"GET /lora-adapters: {status} {lst}")
        return
    # Warm-up, then the reference texts: each model's greedy answer alone.
    for m in models:
        soak.completion(m, CHECK_PROMPT, args.check_tokens)
    want = {m: soak.completion(m, CHECK_PROMPT, args.check_tokens) for m in models}
    if len({want["stories260K"], want["moon-qv"], want["ocean-all"]}) != 3:
        soak.fail(f"the adapters do not change the greedy text, the check proves nothing: {want}")
    soak.t0 = time.time()
    start = soak.sample()
    threads = [threading.Thread(target=soak.client, args=(i, models)) for i in range(args.clients)]
    threads += [threading.Thread(target=soak.churn), threading.Thread(target=soak.checker, args=(want,)),
                threading.Thread(target=soak.sampler)]
    for t in threads:
        t.start()
    try:
        soak.stop.wait(args.duration)
    finally:
        soak.stop.set()
        for t in threads:
            t.join()
    if proc.poll() is not None:
        soak.fail(f"the server exited ({proc.returncode}) during the soak")
        return
    loaded = soak.samples[1:]
    end = settle(proc.pid, start)
    end["t"] = round(time.time() - soak.t0, 1)
    for m in models:
        got = soak.completion(m, CHECK_PROMPT, args.check_tokens)
        if got != want[m]:
            soak.fail(f"greedy text on {m} at the end changed: {got!r} != {want[m]!r}")
    status, lst = soak.call("GET", "/v1/models")
    left = sorted(d["id"] for d in lst["data"] if d["id"].startswith("churn"))
    if left:
        soak.fail(f"unloaded adapters still in /v1/models: {left}")
    status, adapters = soak.call("GET", "/v1/adapters")
    resident = sum(a["bytes"] for a in adapters if a["state"] == "ready")
    peak = max([s["rss_kb"] for s in loaded] + [start["rss_kb"]])
    # The RSS once the load has run a quarter of the time vs at its end: a leak
    # shows as growth between them.
    q = len(loaded) // 4
    early = sum(s["rss_kb"] for s in loaded[q:2 * q]) / q if q else start["rss_kb"]
    late = sum(s["rss_kb"] for s in loaded[-q:]) / q if q else end["rss_kb"]
    soak.report = {
        "duration_s": args.duration, "clients": args.clients, "parallel": args.parallel,
        "adapter_mem": args.adapter_mem, "requests": dict(sorted(soak.counts.items())),
        "rss_kb": {"start": start["rss_kb"], "peak": peak, "end": end["rss_kb"], "loaded_early_mean": round(early),
                   "loaded_late_mean": round(late)},
        "fds": {"start": start["fds"], "end": end["fds"], "peak": max(s["fds"] for s in soak.samples)},
        "threads": {"start": start["threads"], "end": end["threads"], "peak": max(s["threads"] for s in soak.samples)},
        "adapters_resident_bytes_end": resident, "adapter_loads": {a["name"]: a["loads"] for a in adapters},
        "samples": len(soak.samples), "sanitized": sanitized(proc.pid)}
    if end["fds"] > start["fds"]:
        soak.fail(f"open fds {start['fds']} at the start, {end['fds']} at the end")
    if end["threads"] > start["threads"]:
        soak.fail(f"threads {start['threads']} at the start, {end['threads']} at the end")
    if soak.report["sanitized"]:
        return
    mib = 1024
    if end["rss_kb"] - start["rss_kb"] > args.rss_growth_mib * mib:
        soak.fail(f"RSS grew {start['rss_kb']} -> {end['rss_kb']} kB, over {args.rss_growth_mib} MiB")
    if late - early > args.rss_growth_mib * mib:
        soak.fail(f"RSS under load grew {early:.0f} -> {late:.0f} kB, over {args.rss_growth_mib} MiB")
    if peak - start["rss_kb"] > args.rss_peak_mib * mib:
        soak.fail(f"RSS peak {peak} kB is over {args.rss_peak_mib} MiB above the start ({start['rss_kb']} kB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lorc", default=os.environ.get("LORC_BIN", os.path.join(ROOT, "build", "lorc")))
    ap.add_argument("--shared", default=os.environ.get("LORC_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--tmp", default=os.environ.get("LORC_TEST_TMP"), help="scratch folder (default: a new one)")
    ap.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    ap.add_argument("--clients", type=int, default=32, help="client threads (default 32)")
    ap.add_argument("--parallel", type=int, default=16, help="server's --parallel (default 16)")
    ap.add_argument("--adapter-mem", default="450K", help="server's adapter budget (default 450K; the four need 572K)")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--check-tokens", type=int, default=48, help="tokens of the fixed greedy check (default 48)")
    ap.add_argument("--check-every", type=float, default=2, help="seconds between checks under load (default 2)")
    ap.add_argument("--sample-every", type=float, default=2, help="seconds between RSS samples (default 2)")
    ap.add_argument("--rss-growth-mib", type=float, default=16, help="allowed RSS growth (default 16 MiB)")
    ap.add_argument("--rss-peak-mib", type=float, default=128, help="allowed peak above the start (default 128 MiB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the report here too")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="soak-", dir=args.tmp)
    adapter_dir = os.path.join(scratch, "adapters")
    os.mkdir(adapter_dir)
    for name, rel in ADAPTERS.items():
        src = os.path.join(args.shared, "adapters", rel)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(adapter_dir, name))
        else:
            shutil.copy(src, os.path.join(adapter_dir, name + ".gguf"))
    for d, _, files in os.walk(adapter_dir):  # the shared copies are read-only; the scratch must be removable
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    proc, port = start_server(args, os.path.realpath(adapter_dir))
    soak = Soak(args, port, proc.pid)
    soak.report = {}
    try:
        run(args, soak, proc)
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
        soak.fail(f"soak: {type(e).__name__}: {e}")
    finally:
        rc = serve_launch.stop(proc, timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    if rc != 0:
        soak.fail(f"server exit status {rc} after SIGTERM")
    soak.report["failures"] = soak.failures
    text = json.dumps(soak.report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    if soak.failures:
        proc.drain.join(timeout=5)  # the server has exited: its stderr is at its end
        sys.stderr.write("soak: the server's last stderr lines:\n" + "".join(proc.log))
    print(f"soak: {'FAILED, ' + str(len(soak.failures)) + ' failure(s)' if soak.failures else 'passed'}",
          file=sys.stderr)
    return 1 if soak.failures else 0


if __name__ == "__main__":
    sys.exit(main())
