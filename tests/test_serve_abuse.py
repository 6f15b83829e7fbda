#!/usr/bin/env python3
"""test_serve_abuse.py — `lorc serve` under hostile or broken clients
(stdlib only). After every case the server must still answer a normal
greedy request with `lorc run`'s text. Cases: truncated and non-object
JSON, wrong field types, invalid UTF-8 bytes, escaped lone surrogates and
NULs, deep nesting, huge and negative max_tokens, an empty prompt, n = 0,
unknown fields, oversized bodies (with and without Content-Length, and past
the discard limit), huge headers, API keys that are almost right, load paths
that leave --adapter-dir in ways test_serve_llama.py does not cover (a
symlinked folder, ../ inside a path, a sibling folder sharing the prefix, the
folder itself), unknown models in chat and `adapters`; then slow clients
(one byte per 100 ms), idle connections closed after --timeout, the
--max-connections limit, a client that disconnects mid-stream and one that
disconnects while waiting for a non-streamed answer (both free their only
slot at once: the next request is accepted long before the abandoned
generation could have ended; a stream still in the queue too), and an unload refused while a stream uses the
adapter, which still gets its full text. Servers run on port 0 and are
killed however the test ends."""
import http.client
import json
import os
import shutil
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import serve_harness as ts  # noqa: E402
from serve_harness import KEY, check, error_shape, get, post, request  # noqa: E402

BASE = "stories260K"
PROMPT, N = "Once upon a time", 24
CTX = 256
WANT = {}


def expect_moon():
    if "moon" not in WANT:
        WANT["moon"] = ts.run_text(PROMPT, N, ts.ADAPTERS["moon"])
    return WANT["moon"]


def healthy(port, after, key=KEY):
    """A normal greedy request still gets `lorc run`'s text."""
    status, obj = post(port, "/v1/completions", {"model": "moon", "prompt": PROMPT, "max_tokens": N,
                                                 "temperature": 0}, key=key)
    ok = status == 200 and obj["choices"][0]["text"] == expect_moon()
    check(ok, f"after {after}: {status} {obj}")


def raw_status(port, data, timeout=30):
    """Sends raw bytes on a fresh connection; (status, body) or (None, error)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                part = s.recv(65536)
            except (ConnectionResetError, socket.timeout) as e:
                return (None, repr(e)) if not buf else parse_raw(buf)
            if not part:
                break
            buf += part
        return parse_raw(buf) if buf else (None, "closed")
    except (BrokenPipeError, ConnectionResetError) as e:
        return None, repr(e)
    finally:
        s.close()


def parse_raw(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ")[1]), body
    except (IndexError, ValueError):
        return None, buf[:80]


def http_post(path, body, key=KEY, extra=b""):
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n").encode() + auth + extra + b"\r\n" + body


def bodies(port):
    """Malformed bodies and fields: 400 in OpenAI's error shape."""
    bad_raw = {
        "truncated JSON": b'{"model": "stories260K", "prompt": "Once',
        "empty body": b"",
        "array body": b'[{"model": "stories260K"}]',
        "string body": b'"hello"',
        "null body": b"null",
        "number body": b"42",
        "invalid UTF-8 bytes in the prompt": b'{"model": "stories260K", "prompt": "Once \xff\xfe upon"}',
        "overlong UTF-8 encoding": b'{"model": "stories260K", "prompt": "\xc0\xaf"}',
        "lone surrogate escape": b'{"model": "stories260K", "prompt": "Once \\ud800 upon"}',
        "low surrogate alone": b'{"model": "stories260K", "prompt": "\\udc00"}',
        "escaped NUL": b'{"model": "stories260K", "prompt": "Once\\u0000upon"}',
        "deep nesting": b'{"model": "stories260K", "prompt": "a", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        "number overflow": b'{"model": "stories260K", "prompt": "a", "max_tokens": 1e400}',
        "trailing garbage": b'{"model": "stories260K", "prompt": "a"} {}',
    }
    for what, raw in bad_raw.items():
        for path in ("/v1/completions", "/v1/chat/completions", "/completion", "/v1/load_lora_adapter"):
            status, payload = request(port, "POST", path, raw=raw)
            try:
                obj = json.loads(payload)
            except ValueError:
                obj = payload[:80]
            error_shape(status, obj, 400, f"{what} on {path}")
        healthy(port, what)

    m = {"model": BASE, "prompt": "a", "max_tokens": 2}
    chat = {"model": BASE, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    bad = [
        ("/v1/completions", dict(m, model=5)), ("/v1/completions", dict(m, model=None)),
        ("/v1/completions", {"prompt": "a"}), ("/v1/completions", dict(m, prompt=None)),
        ("/v1/completions", dict(m, prompt={"text": "a"})), ("/v1/completions", dict(m, prompt=["a", "b"])),
        ("/v1/completions", dict(m, max_tokens="10")), ("/v1/completions", dict(m, max_tokens=1.5)),
        ("/v1/completions", dict(m, max_tokens=True)), ("/v1/completions", dict(m, max_tokens=-1)),
        ("/v1/completions", dict(m, max_tokens=-(2 ** 63))), ("/v1/completions", dict(m, max_tokens=2 ** 64)),
        ("/v1/completions", dict(m, temperature=-1)), ("/v1/completions", dict(m, temperature=[0])),
        ("/v1/completions", dict(m, top_p=0)), ("/v1/completions", dict(m, top_k=True)),
        ("/v1/completions", dict(m, seed="1")), ("/v1/completions", dict(m, stream="yes")),
        ("/v1/completions", dict(m, stream=1)), ("/v1/completions", dict(m, stop=5)),
        ("/v1/completions", dict(m, stop=[""])), ("/v1/completions", dict(m, stop=["a", 1])),
        ("/v1/completions", dict(m, stop=["a", "b", "c", "d", "e"])), ("/v1/completions", dict(m, n=0)),
        ("/v1/completions", dict(m, n=-1)), ("/v1/completions", dict(m, n="1")),
        ("/v1/completions", dict(m, adapters="moon")), ("/v1/completions", dict(m, adapters=[{"name": 5}])),
        ("/v1/completions", dict(m, adapters=[{"name": "moon", "scale": "big"}])),
        ("/v1/completions", dict(m, adapters=["moon"])),
        ("/v1/chat/completions", dict(chat, messages="hi")), ("/v1/chat/completions", dict(chat, messages=[])),
        ("/v1/chat/completions", dict(chat, messages=[{"role": "user"}])),
        ("/v1/chat/completions", dict(chat, messages=[{"role": "user", "content": 5}])),
        ("/v1/chat/completions", dict(chat, messages=[{"role": 1, "content": "hi"}])),
        ("/v1/chat/completions", dict(chat, messages=["hi"])), ("/v1/chat/completions", dict(chat, messages=None)),
        ("/v1/load_lora_adapter", {"lora_name": 5, "lora_path": "x"}),
        ("/v1/load_lora_adapter", {"lora_name": "x"}), ("/v1/unload_lora_adapter", {"lora_name": 5}),
    ]
    for path, body in bad:
        status, obj = post(port, path, body)
        error_shape(status, obj, 400, f"{path} {json.dumps(body)[:100]}")
    healthy(port, "wrong field types")

    # Accepted: unknown fields are ignored, null means absent.
    extra = dict(model="moon", prompt=PROMPT, max_tokens=N, temperature=0, user="u-1", frequency_penalty=0,
                 presence_penalty=0, logit_bias={}, echo=False, best_of=1, suffix=None, top_p=None,
                 stream_options=None, some_future_field={"nested": [1, 2]})
    status, obj = post(port, "/v1/completions", extra)
    check(status == 200 and obj["choices"][0]["text"] == expect_moon(), f"unknown fields ignored: {status} {obj}")
    # A valid non-ASCII prompt is fine, escaped or not (a surrogate pair).
    for raw in ('{"model": "moon", "prompt": "Once upon a time \\ud83c\\udf19", "max_tokens": 4}'.encode(),
                '{"model": "moon", "prompt": "Once upon a time \U0001F319 é", "max_tokens": 4}'.encode()):
        status, payload = request(port, "POST", "/v1/completions", raw=raw)
        check(status == 200, f"valid non-ASCII prompt {raw!r}: {status} {payload[:200]!r}")

    # max_tokens beyond the context is refused, as OpenAI and vLLM do (400
    # naming the field); without max_tokens generation stops at the context
    # (finish "length"); 0 generates nothing; an empty prompt is the BOS alone.
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": PROMPT, "max_tokens": 1 << 30,
                                                 "temperature": 0})
    error_shape(status, obj, 400, "huge max_tokens")
    check(obj.get("error", {}).get("param") == "max_tokens", f"huge max_tokens names the field: {obj}")
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": PROMPT, "temperature": 0})
    check(status == 200, f"no max_tokens: {status} {obj}")
    if status == 200:
        u = obj["usage"]
        check(u["total_tokens"] == CTX and obj["choices"][0]["finish_reason"] == "length",
              f"no max_tokens stops at the context ({CTX}): {u} {obj['choices'][0]['finish_reason']}")
        want = ts.run_text(PROMPT, u["completion_tokens"])
        check(obj["choices"][0]["text"] == want, "no max_tokens: the text of lorc run up to the context")
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": PROMPT, "max_tokens": 0})
    check(status == 200 and obj["choices"][0]["text"] == "" and obj["usage"]["completion_tokens"] == 0,
          f"max_tokens 0: {status} {obj}")
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": "", "max_tokens": 8, "temperature": 0})
    check(status == 200 and obj["choices"][0]["text"] == ts.run_text("", 8) and obj["usage"]["prompt_tokens"] == 1,
          f"empty prompt: {status} {obj}")
    long_prompt = "Once upon a time " * 200
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": long_prompt, "max_tokens": 2})
    error_shape(status, obj, 400, "a prompt longer than the context")
    healthy(port, "max_tokens and prompt cases")

    # Unknown models, wherever a name is given.
    for path, body in (("/v1/completions", dict(m, model="nope")), ("/v1/chat/completions", dict(chat, model="nope")),
                       ("/v1/completions", dict(m, adapters=[{"name": "nope"}])),
                       ("/v1/completions", dict(m, model="")), ("/v1/completions", dict(m, model="../moon")),
                       ("/v1/unload_lora_adapter", {"lora_name": "nope"})):
        status, obj = post(port, path, body)
        error_shape(status, obj, 404, f"unknown name {json.dumps(body)[:80]}")
    status, obj = request(port, "PUT", "/v1/completions", m)
    error_shape(status, json.loads(obj), 405, "PUT /v1/completions")
    healthy(port, "unknown models")


def sizes(port):
    """Oversized bodies and headers: refused, the server keeps serving."""
    big = b'{"model": "stories260K", "prompt": "' + b"x" * (2 << 20) + b'"}'
    # No Content-Length: the body comes in chunks.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions", body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                 headers={"Authorization": f"Bearer {KEY}", "Transfer-Encoding": "chunked"}, encode_chunked=True)
    resp = conn.getresponse()
    error_shape(resp.status, json.loads(resp.read()), 413, "chunked oversized body")
    conn.close()
    healthy(port, "a chunked oversized body")
    # Past what the server is willing to read and drop: the connection is
    # closed (or answered 413); either way nothing else is affected.
    huge = http_post("/v1/completions", b"x" * (80 << 20))
    status, _ = raw_status(port, huge)
    check(status in (None, 413), f"80 MB body: {status}")
    healthy(port, "an 80 MB body")
    # A Content-Length far past the limit, with no body behind it: 413 at
    # once, not a connection left waiting for the body.
    status, _ = raw_status(port, http_post("/v1/completions", b"")[:-2].replace(b"Content-Length: 0",
                                                                                 b"Content-Length: 999999999999")
                           + b"\r\n", timeout=5)
    check(status == 413, f"huge Content-Length: {status}")
    healthy(port, "a huge Content-Length")
    # Headers larger than libmicrohttpd keeps per connection.
    status, _ = raw_status(port, http_post("/v1/completions", b'{"model": "moon"}',
                                           extra=b"X-Filler: " + b"a" * 200000 + b"\r\n"))
    check(status in (None, 413, 431), f"200 kB header: {status}")
    healthy(port, "a 200 kB header")


def keys(port):
    """The API key must match exactly; every endpoint but /health needs it."""
    body = json.dumps({"model": "moon", "prompt": "a", "max_tokens": 2}).encode()
    wrong = [None, "", "Bearer", "Bearer ", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", f"Bearer  {KEY}",
             f"Basic {KEY}", KEY, f"Bearer {KEY.upper()}", f"Token {KEY}", f"Bearer \x00{KEY}"]
    for auth in wrong:
        extra = b"" if auth is None else b"Authorization: " + auth.encode("latin-1") + b"\r\n"
        status, payload = raw_status(port, http_post("/v1/completions", body, key=None, extra=extra))
        check(status in (401, 400), f"Authorization {auth!r}: {status} {payload[:120]!r}")
    # The scheme is case-insensitive (RFC 7235); the key is not.
    status, payload = raw_status(port, http_post("/v1/completions", body, key=None,
                                                 extra=f"Authorization: bearer {KEY}\r\n".encode()))
    check(status == 200, f"lower-case bearer scheme: {status} {payload[:120]!r}")
    for method, path in (("GET", "/v1/models"), ("GET", "/v1/adapters"), ("POST", "/v1/load_lora_adapter"),
                         ("POST", "/v1/unload_lora_adapter"), ("GET", "/lora-adapters"), ("POST", "/tokenize"),
                         ("POST", "/completion"), ("POST", "/v1/chat/completions")):
        status, payload = request(port, method, path, {"lora_name": "moon", "lora_path": "x"}, key="wrong")
        error_shape(status, json.loads(payload), 401, f"{method} {path} with a wrong key")
    status, payload = request(port, "GET", "/health", key=None)
    check(status == 200, f"/health without a key: {status}")
    status, obj = get(port, "/v1/models")
    check("moon" in [x["id"] for x in obj["data"]], "moon was not unloaded by a request with a wrong key")
    healthy(port, "API key cases")


def paths(port, adir, outside):
    """Load paths that leave --adapter-dir in ways not covered elsewhere."""
    os.symlink(outside, os.path.join(adir, "linkdir"))
    sibling = adir + "-evil"
    os.makedirs(sibling)
    shutil.copy(ts.ADAPTERS["moon"], os.path.join(sibling, "moon.gguf"))
    shutil.copy(ts.ADAPTERS["moon"], os.path.join(adir, "sub", "moon-in.gguf"))
    for name, path in (("a", "linkdir/moon.gguf"), ("b", "sub/../../outside/moon.gguf"),
                       ("c", "../" + os.path.basename(sibling) + "/moon.gguf"),
                       ("d", os.path.join(sibling, "moon.gguf")), ("e", "."), ("f", ""), ("g", "/"),
                       ("h", "/etc/passwd"), ("i", "sub"), ("j", "sub/moon-in.gguf/.."),
                       (BASE, "sub/moon-in.gguf")):
        status, obj = post(port, "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        error_shape(status, obj, 400, f"load {name} from {path!r}")
    status, obj = get(port, "/v1/models")
    ids = [x["id"] for x in obj["data"]]
    check(not set("abcdefghij") & set(ids), f"no refused name was registered: {ids}")
    # A file inside through a ./ detour is fine.
    status, obj = post(port, "/v1/load_lora_adapter", {"lora_name": "in", "lora_path": "./sub/./moon-in.gguf"})
    check(status == 200, f"load from ./sub/./moon-in.gguf: {status} {obj}")
    status, obj = post(port, "/v1/completions", {"model": "in", "prompt": PROMPT, "max_tokens": N,
                                                 "temperature": 0})
    check(status == 200 and obj["choices"][0]["text"] == expect_moon(), f"completion on 'in': {status} {obj}")
    healthy(port, "load paths")


def slow_and_idle(port):
    """Idle connections and a client sending one byte per 100 ms: other
    clients are served meanwhile; idle ones are closed after --timeout; the
    slow one, never silent that long, gets its answer."""
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    body = json.dumps({"model": "moon", "prompt": PROMPT, "max_tokens": N, "temperature": 0}).encode()
    data = http_post("/v1/completions", body)
    slow_result = {}

    def slow():
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            # The first and last 25 bytes one by one, 100 ms apart (the rest
            # at once, to keep the test short).
            for i, b in enumerate(data):
                s.sendall(bytes([b]))
                if i < 25 or i >= len(data) - 25:
                    time.sleep(0.1)
            buf = b""
            while True:
                part = s.recv(65536)
                if not part:
                    break
                buf += part
            slow_result["reply"] = parse_raw(buf)
        except OSError as e:
            slow_result["reply"] = (None, repr(e))
        finally:
            s.close()

    t = threading.Thread(target=slow)
    t.start()
    # Meanwhile, several normal requests in parallel, all correct.
    results = []
    workers = [threading.Thread(target=lambda: results.append(
        post(port, "/v1/completions", {"model": "moon", "prompt": PROMPT, "max_tokens": N, "temperature": 0})))
        for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    check(len(results) == 4 and all(st == 200 and o["choices"][0]["text"] == expect_moon() for st, o in results),
          f"served during slow/idle clients: {[r[0] for r in results]}")
    t.join()
    status, payload = slow_result.get("reply", (None, "no reply"))
    check(status == 200 and json.loads(payload)["choices"][0]["text"] == expect_moon(),
          f"slow client's answer: {status} {payload[:200]!r}")
    # Idle connections are closed by the server (--timeout 2): recv sees EOF.
    for s in idle:
        s.settimeout(15)
        try:
            got = s.recv(100)
        except socket.timeout:
            got = "still open after 15 s"
        except ConnectionResetError:
            got = b""
        check(got == b"", f"idle connection closed by the server: {got!r}")
        s.close()
    healthy(port, "slow and idle clients", key=None)


def conn_limit(port, limit):
    """--max-connections: past the limit a connection waits (the kernel
    holds it) until one of the open ones goes away."""
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(limit)]
    for s in idle:  # each one is accepted: a tiny request on it works
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(1000).startswith(b"HTTP/1.1 200"), "kept-alive /health at the limit")
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", post(port, "/v1/completions", {
        "model": "moon", "prompt": PROMPT, "max_tokens": N, "temperature": 0}, key=None)))
    t.start()
    t.join(1.0)
    check(t.is_alive(), "a connection past the limit waits")
    idle[0].close()
    t.join(30)
    status, obj = done.get("r", (None, {}))
    check(status == 200 and obj["choices"][0]["text"] == expect_moon(), f"served once a slot freed: {status} {obj}")
    for s in idle[1:]:
        s.close()
    healthy(port, "the connection limit", key=None)


def accepted_soon(port, what):
    """On a 1-slot server with no queue: the next request is accepted
    within 10 s (an abandoned 8000-token generation takes far longer)."""
    for _ in range(200):
        status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": "a", "max_tokens": 2}, key=None)
        if status != 429:
            break
        time.sleep(0.05)
    check(status == 200, f"the slot is free again after {what}: {status} {obj}")


def moon_refs(port):
    status, lst = get(port, "/v1/adapters", key=None)
    return sum(a["refs"] for a in lst if a["name"] == "moon")


def disconnects(port):
    long_req = {"model": "moon", "prompt": PROMPT, "max_tokens": 8000, "temperature": 0}
    # Mid-stream.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps(dict(long_req, stream=True)))
    resp = conn.getresponse()
    check(resp.status == 200 and resp.readline().startswith(b"data: "), "long stream started")
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": "a", "max_tokens": 2}, key=None)
    error_shape(status, obj, 429, "the only slot is taken by the stream")
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    accepted_soon(port, "a disconnect mid-stream")
    # While waiting for a non-streamed answer.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(http_post("/v1/completions", json.dumps(long_req).encode(), key=None))
    for _ in range(500):  # until it runs (watched without competing for the slot)
        if moon_refs(port) == 1:
            break
        time.sleep(0.01)
    status, obj = post(port, "/v1/completions", {"model": BASE, "prompt": "a", "max_tokens": 2}, key=None)
    error_shape(status, obj, 429, "the only slot is taken by the non-streamed request")
    s.close()
    accepted_soon(port, "a disconnect while waiting")
    healthy(port, "disconnects", key=None)


def status_line(sock):
    """The status of the response on sock (its first line), None if closed."""
    line = sock.makefile("rb").readline()
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def queued_disconnect(port):
    """One slot, one queue place: a stream waiting in the queue whose client
    goes away gives its place back at once (nothing is written to it, so
    only watching the socket can tell)."""
    long_req = {"model": "moon", "prompt": PROMPT, "max_tokens": 8000, "temperature": 0}
    a = socket.create_connection(("127.0.0.1", port))
    a.sendall(http_post("/v1/completions", json.dumps(long_req).encode(), key=None))
    for _ in range(500):
        if moon_refs(port) == 1:
            break
        time.sleep(0.01)
    check(moon_refs(port) == 1, "the long request runs")
    stream_body = json.dumps(dict(long_req, model=BASE, stream=True)).encode()
    b = socket.create_connection(("127.0.0.1", port), timeout=30)
    b.sendall(http_post("/v1/completions", stream_body, key=None))
    check(status_line(b) == 200, "the stream is accepted into the queue")
    b.close()
    status = None
    for _ in range(200):
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        c.sendall(http_post("/v1/completions", stream_body, key=None))
        status = status_line(c)
        c.close()
        if status != 429:
            break
        time.sleep(0.05)
    check(status == 200, f"the queue place is free again after the queued stream's client left: {status}")
    a.close()
    accepted_soon(port, "the queued stream and the long request left")
    healthy(port, "a queued stream's disconnect", key=None)


def unload_in_use(port):
    """An unload refused (409) while a stream uses the adapter leaves the
    stream whole: it still gets `lorc run`'s text."""
    n = 1500
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "moon", "prompt": PROMPT, "max_tokens": n,
                                                             "temperature": 0, "stream": True}))
    resp = conn.getresponse()
    first = resp.readline()
    check(resp.status == 200 and first.startswith(b"data: "), "stream on moon started")
    status, obj = post(port, "/v1/unload_lora_adapter", {"lora_name": "moon"}, key=None)
    error_shape(status, obj, 409, "unload while a stream uses it")
    payload = first + resp.read()
    conn.close()
    text = ""
    for e in payload.decode().split("\n\n"):
        if e.startswith("data: {"):
            text += json.loads(e[6:])["choices"][0]["text"]
    want = ts.run_text(PROMPT, n, ts.ADAPTERS["moon"], extra=("-c", "8192"))
    check(text == want, "the stream survived the refused unload with its full text")
    healthy(port, "a refused unload", key=None)


def main():
    with ts.adapter_dirs() as (adir, outside):

        def main_server(port):
            bodies(port)
            sizes(port)
            keys(port)
            paths(port, adir, outside)

        ts.with_server(["--parallel", "4", "--api-key", KEY, "-c", str(CTX), "--adapter-dir", adir], main_server)
        ts.with_server(["--parallel", "4", "--timeout", "2"], slow_and_idle)
        ts.with_server(["--parallel", "4", "--max-connections", "4"], lambda port: conn_limit(port, 4))
        ts.with_server(["--parallel", "1", "--queue", "0", "-c", "8192"], disconnects)
        ts.with_server(["--parallel", "1", "--queue", "1", "-c", "8192"], queued_disconnect)
        ts.with_server(["--parallel", "2", "-c", "8192"], unload_in_use)
    ts.finish("test_serve_abuse")


if __name__ == "__main__":
    main()
