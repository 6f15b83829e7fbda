#!/usr/bin/env python3
"""test_scale_out.py — two `lorc serve` replicas behind HAProxy running
deploy/haproxy.cfg itself (addresses passed in its environment variables).
Checks: through the balancer each adapter's greedy text equals the
replica's own and `lorc run`'s; all requests for one adapter go to one
replica (X-Lorc-Replica) and both replicas get some adapters, while base
requests are spread; `adapters` mixes and llama.cpp `lora` ids route too;
calls that change one replica's state are refused; streams arrive as SSE
ending in [DONE]. Then the replica of one adapter is killed mid-stream:
that stream ends without [DONE], the health check marks the replica DOWN,
the adapter is served by the other replica with the same text, the
adapters already there stay; restarted on the same port, the replica gets
its adapters back. With no replica left, HAProxy's 503 is in OpenAI's
error shape. HAProxy missing is a failure, not a skip (CI installs
it). HAProxy and the replicas are killed however the test ends."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import serve_harness as ts  # noqa: E402
import serve_launch  # noqa: E402
from serve_harness import check, error_shape, finish  # noqa: E402

CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "haproxy.cfg")
# The real adapters under several names each, so that hashing has enough
# keys to spread over both replicas.
NAMES = {}
for i in range(3):
    for short, path in ts.REAL_LORAS.items():
        NAMES[f"{short}{i}" if i else short] = path
PROMPT, N = "Once upon a time", 24
# A context far beyond the model's 512 makes the stream killed mid-way
# last seconds, so it cannot have ended before the kill.
REPLICA_FLAGS = ["--parallel", "4", "--api-key", ts.KEY, "-c", "8192"]


def find_haproxy():
    # /usr/sbin is not on every user's PATH, but it is where Debian puts it.
    exe = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if not exe:
        print("FAIL: haproxy is not installed (scripts/install-deps.sh installs it)", file=sys.stderr)
        sys.exit(1)
    return exe


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None):
    """(status, parsed JSON or raw bytes, X-Lorc-Replica) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json",
                                                   "Authorization": f"Bearer {ts.KEY}"})
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    try:
        payload = json.loads(payload)
    except ValueError:
        pass
    return resp.status, payload, resp.getheader("X-Lorc-Replica")


def complete(port, model):
    """Greedy text and replica of one completion on `model`."""
    status, obj, replica = call(port, "POST", "/v1/completions",
                                {"model": model, "prompt": PROMPT, "max_tokens": N, "temperature": 0})
    ok = status == 200 and isinstance(obj, dict)
    return (obj["choices"][0]["text"] if ok else f"<{status} {obj}>"), replica


def start_haproxy(exe, lb_port, replica_ports, log_path):
    env = dict(os.environ, LORC_LB_BIND=f"127.0.0.1:{lb_port}", LORC_BASE_MODEL="stories260K",
               LORC_REPLICA_1=f"127.0.0.1:{replica_ports[0]}", LORC_REPLICA_2=f"127.0.0.1:{replica_ports[1]}")
    log = open(log_path, "w")
    proc = subprocess.Popen([exe, "-f", CFG, "-db"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 10
    while time.time() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", lb_port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    with open(log_path) as f:
        raise SystemExit(f"haproxy did not start: {f.read()}")


def log_has(log_path, text):
    with open(log_path) as f:
        return text in f.read()


def routing(lb, direct, want):
    """(a), (b): texts, affinity and spread; returns model -> replica."""
    home = {}
    for name in NAMES:
        text, replica = complete(lb, name)
        check(text == want[name], f"{name} through HAProxy: {text!r} != lorc run's {want[name]!r}")
        check(replica in direct, f"{name}: X-Lorc-Replica {replica!r}")
        if replica in direct:
            own, _ = complete(direct[replica], name)
            check(own == text, f"{name}: replica {replica} directly {own!r} != through HAProxy {text!r}")
        seen = {replica} | {complete(lb, name)[1] for _ in range(4)}
        check(len(seen) == 1, f"5 requests for {name} went to one replica: {seen}")
        home[name] = replica
    check(set(home.values()) == set(direct), f"both replicas get some adapters: {home}")
    print("placement:", {r: sorted(n for n in home if home[n] == r) for r in sorted(direct)})

    # The base is everywhere: its requests are spread, not pinned. (Keyless
    # requests walk the hash ring, so they alternate only loosely: 8 of
    # them reach both replicas, a run of 3 might not.)
    base = {complete(lb, "stories260K")[1] for _ in range(8)}
    check(base == set(direct), f"base requests reach both replicas: {base}")
    # Chat on an adapter, a base request mixing adapters, and llama.cpp's
    # /completion with a lora id each keep one replica; the mix follows its
    # first adapter's name.
    for name in ("moon", "ocean1"):
        chat = {call(lb, "POST", "/v1/chat/completions", {"model": name, "max_tokens": 4,
                                                          "messages": [{"role": "user", "content": "Hi"}]})[2]
                for _ in range(3)}
        check(chat == {home[name]}, f"chat on {name} goes to {home[name]}: {chat}")
        mix = {call(lb, "POST", "/v1/completions", {"model": "stories260K", "prompt": "a", "max_tokens": 2,
                                                    "adapters": [{"name": name, "scale": 0.5}]})[2]
               for _ in range(6)}
        check(mix == {home[name]}, f"base + adapters [{name}] goes to {home[name]}: {mix}")
    status, lst, _ = call(lb, "GET", "/lora-adapters")
    ids = {a["path"]: a["id"] for a in lst} if status == 200 else {}
    check(set(ids) == set(NAMES), f"/lora-adapters through HAProxy: {status} {lst}")
    moon = want["moon"]
    got = [call(lb, "POST", "/completion", {"prompt": PROMPT, "n_predict": N, "temperature": 0,
                                            "lora": [{"id": ids.get("moon", 0), "scale": 1}]}) for _ in range(8)]
    check(all(s == 200 and o.get("content") == moon for s, o, _ in got), f"/completion lora moon: {got[0][:2]}")
    check(len({r for _, _, r in got}) == 1, f"/completion with one lora id keeps one replica: {[r for _, _, r in got]}")

    # Per-replica state cannot be changed through the balancer.
    for path, body in (("/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "x.gguf"}),
                       ("/v1/unload_lora_adapter", {"lora_name": "moon"}), ("/lora-adapters", [])):
        status, obj, replica = call(lb, "POST", path, body)
        error_shape(status, obj, 403, f"POST {path} through HAProxy")
        check(replica is None and "every replica" in str(obj), f"POST {path}: refused by HAProxy itself: {obj}")
    return home


def streams(lb, want):
    """(d): a streamed completion and chat through HAProxy are SSE ending in [DONE]."""
    text, fin = ts.stream_text(lb, "/v1/completions", {"model": "ocean", "prompt": PROMPT, "max_tokens": N,
                                                       "temperature": 0})
    check(text == want["ocean"] and fin == "length", f"streamed ocean through HAProxy: {text!r} {fin}")
    text, fin = ts.stream_text(lb, "/v1/chat/completions", {"model": "moon1", "max_tokens": 8, "temperature": 0,
                                                            "messages": [{"role": "user", "content": "Hi"}]})
    check(text and fin in ("length", "stop"), f"streamed chat through HAProxy: {text!r} {fin}")


def failover(lb, replicas, ports, home, want, log_path):
    """(c): kill the replica of one adapter while it streams it."""
    victim = home["moon"]
    survivor = next(r for r in replicas if r != victim)
    conn = http.client.HTTPConnection("127.0.0.1", lb, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "moon", "prompt": "Once", "max_tokens": 8000,
                                                             "temperature": 0, "stream": True}),
                 headers={"Authorization": f"Bearer {ts.KEY}"})
    resp = conn.getresponse()
    check(resp.status == 200 and resp.getheader("X-Lorc-Replica") == victim and
          resp.readline().startswith(b"data: "), "a stream on moon started on its replica")
    replicas[victim].kill()
    replicas[victim].wait()
    try:
        rest = resp.read()
    except http.client.IncompleteRead as e:
        rest = e.partial
    conn.close()
    check(b"[DONE]" not in rest, "the stream in flight on the killed replica is cut, not completed")

    # Until the health check notices, a refused connection is redispatched;
    # afterwards the adapter hashes to the survivor directly. Either way
    # every request must succeed there with the same text.
    deadline = time.time() + 10
    while time.time() < deadline and not log_has(log_path, f"lorc_replicas/{victim} is DOWN"):
        text, replica = complete(lb, "moon")
        check(text == want["moon"] and replica == survivor, f"moon while {victim} dies: {replica} {text!r}")
        time.sleep(0.1)
    check(log_has(log_path, f"lorc_replicas/{victim} is DOWN"), f"health check marks {victim} DOWN within 10 s")
    for name, was in home.items():
        text, replica = complete(lb, name)
        check(text == want[name] and replica == survivor, f"{name} after failover: {replica} {text!r}")
        if was == survivor:
            check(replica == was, f"{name} stayed on {survivor}")

    # The replica comes back on its port: once it is UP again (rise 2), its
    # adapters return to it and the survivor's do not move.
    replicas[victim], port = ts.start_server(adapters=NAMES, extra=REPLICA_FLAGS + ["--port", str(ports[victim])])
    check(port == ports[victim], f"restarted on port {ports[victim]}: {port}")
    deadline = time.time() + 10
    while time.time() < deadline and not log_has(log_path, f"lorc_replicas/{victim} is UP"):
        time.sleep(0.1)
    check(log_has(log_path, f"lorc_replicas/{victim} is UP"), f"health check marks {victim} UP within 10 s")
    back = {name: complete(lb, name)[1] for name in home}
    check(back == home, f"after {victim} is back, every adapter is on its first replica: {back} != {home}")


def main():
    exe = find_haproxy()
    tmp = os.environ.get("LORC_TEST_TMP", "/tmp")
    os.makedirs(tmp, exist_ok=True)
    log_path = os.path.join(tmp, f"scale_out_haproxy_{os.getpid()}.log")
    want_by_path = {}
    want = {name: want_by_path.setdefault(path, ts.run_text(PROMPT, N, path)) for name, path in NAMES.items()}
    check(len(set(want_by_path.values())) == len(want_by_path), f"the adapters give distinct texts: {want_by_path}")
    replicas, ports, lb_proc = {}, {}, None
    try:
        for name in ("replica1", "replica2"):
            replicas[name], ports[name] = ts.start_server(adapters=NAMES, extra=REPLICA_FLAGS)
        lb = free_port()
        lb_proc = start_haproxy(exe, lb, [ports["replica1"], ports["replica2"]], log_path)
        home = routing(lb, ports, want)
        streams(lb, want)
        if set(home.values()) == set(ports):
            failover(lb, replicas, ports, home, want, log_path)
        # The replicas stop cleanly (a sanitizer report would make the exit
        # status nonzero); then, with no replica left, HAProxy's own 503
        # comes in OpenAI's error shape.
        for name, proc in replicas.items():
            if proc.poll() is None:
                rc = ts.stop_server(proc)
                check(rc == 0, f"{name} exit status {rc}")
        status, obj, _ = call(lb, "POST", "/v1/completions", {"model": "moon", "prompt": "a", "max_tokens": 2})
        error_shape(status, obj if isinstance(obj, dict) else {}, 503, "no replica up")
    finally:
        if lb_proc:
            serve_launch.stop(lb_proc, timeout=10)
        for proc in replicas.values():
            if proc.poll() is None:
                ts.stop_server(proc)
    if ts.fails:
        with open(log_path) as f:
            print("haproxy log:\n" + f.read(), file=sys.stderr)
    else:
        os.unlink(log_path)
    finish("test_scale_out")


if __name__ == "__main__":
    main()
