#!/usr/bin/env python3
"""test_serve.py — `lorc serve` end to end over HTTP (stdlib only): starts
the server on a free loopback port with stories260K and the real moon-qv
(GGUF) and ocean-all (PEFT) adapters, then checks that greedy completions
equal `lorc run --temp 0 -n N` on the base and on each adapter, streamed
equals non-streamed, chat returns a message, /v1/models lists base and
adapters, errors come in OpenAI's shape with the right status (400, 401,
404, 413), /health needs no key, and 8 parallel requests on mixed adapters
all get their greedy texts. The server is killed however the test ends."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from serve_harness import (ADAPTERS, BIN, KEY, MODEL, check, error_shape, finish, post,  # noqa: E402
                           request, stream_text, with_server)
import serve_harness  # noqa: E402


def run_text(prompt, n, adapter):
    return serve_harness.run_text(prompt, n, ADAPTERS[adapter] if adapter else None)


def queue_full(port):
    """One slot, no queue: while a stream holds it, the next request gets
    429; once the stream is over, requests are served again."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "moon", "prompt": "Once", "max_tokens": 400,
                                                             "temperature": 0, "stream": True}))
    resp = conn.getresponse()
    check(resp.status == 200 and resp.readline().startswith(b"data: "), "first stream started")
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "a", "max_tokens": 2}, key=None)
    error_shape(status, obj, 429, "queue full")
    resp.read()
    conn.close()
    # The slot is given back when the server is done with the stream, just
    # after the client has read its end: retry until then.
    for _ in range(200):
        status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "a", "max_tokens": 2},
                           key=None)
        if status != 429:
            break
        time.sleep(0.05)
    check(status == 200, f"after the stream: {status} {obj}")


def main():
    with_server(None, tests)
    with_server(["--parallel", "1", "--queue", "0"], queue_full)
    bad = subprocess.run([BIN, "serve", "-m", MODEL, "--port", "0", "--chat-template", "nope"],
                         capture_output=True, text=True, timeout=30)
    check(bad.returncode == 1 and "nope" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1,
          f"--chat-template nope: rc {bad.returncode} {bad.stderr!r}")
    finish("test_serve")


def tests(port):
    status, payload = request(port, "GET", "/health", key=None)
    check(status == 200 and json.loads(payload) == {"status": "ok"}, f"/health: {status} {payload!r}")

    status, payload = request(port, "GET", "/v1/models")
    models = json.loads(payload)
    ids = {m["id"]: m for m in models["data"]}
    check(status == 200 and models["object"] == "list", f"/v1/models: {status}")
    check(set(ids) == {"stories260K", "moon", "ocean"}, f"/v1/models ids {sorted(ids)}")
    check(all(ids[a].get("parent") == "stories260K" for a in ADAPTERS), "adapters have parent = base")

    prompts = [("Once upon a time", 40), ("Lily and Tom went to the", 24)]
    expect = {}
    for model, adapter in (("stories260K", None), ("moon", "moon"), ("ocean", "ocean")):
        for prompt, n in prompts:
            want = run_text(prompt, n, adapter)
            expect[(model, prompt)] = want
            body = {"model": model, "prompt": prompt, "max_tokens": n, "temperature": 0}
            status, obj = post(port, "/v1/completions", body)
            check(status == 200, f"{model}: status {status} {obj}")
            if status != 200:
                continue
            got = obj["choices"][0]["text"]
            check(got == want, f"{model} {prompt!r}: server {got!r} != lorc run {want!r}")
            check(obj["object"] == "text_completion" and obj["model"] == model, f"{model}: shape {obj}")
            u = obj["usage"]
            check(u["completion_tokens"] == n and u["total_tokens"] == u["prompt_tokens"] + n, f"usage {u}")
            check(obj["choices"][0]["finish_reason"] == "length", f"finish {obj['choices'][0]}")
            text, finish = stream_text(port, "/v1/completions", body)
            check(text == got and finish == "length", f"{model}: streamed {text!r} != {got!r} ({finish})")
    check(expect[("moon", "Once upon a time")] != expect[("stories260K", "Once upon a time")],
          "the moon adapter changes the text")

    # The base under the adapters field: same as naming the adapter as model.
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "Once upon a time",
                                                 "max_tokens": 40, "temperature": 0,
                                                 "adapters": [{"name": "moon", "scale": 1.0}]})
    check(status == 200 and obj["choices"][0]["text"] == expect[("moon", "Once upon a time")],
          f"adapters field: {status} {obj}")

    # A stop string cuts the text before it.
    full = expect[("moon", "Once upon a time")]
    status, obj = post(port, "/v1/completions", {"model": "moon", "prompt": "Once upon a time", "max_tokens": 40,
                                                 "temperature": 0, "stop": ["Zara"]})
    check(status == 200 and obj["choices"][0]["text"] == full[:full.index("Zara")]
          and obj["choices"][0]["finish_reason"] == "stop", f"stop: {obj}")
    text, finish = stream_text(port, "/v1/completions", {"model": "moon", "prompt": "Once upon a time",
                                                         "max_tokens": 40, "temperature": 0, "stop": "Zara"})
    check(text == full[:full.index("Zara")] and finish == "stop", f"streamed stop: {text!r} {finish}")

    chat = {"model": "ocean", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 16,
            "temperature": 0}
    status, obj = post(port, "/v1/chat/completions", chat)
    msg = obj.get("choices", [{}])[0].get("message", {}) if status == 200 else {}
    check(status == 200 and obj["object"] == "chat.completion" and msg.get("role") == "assistant"
          and isinstance(msg.get("content"), str) and msg["content"], f"chat: {status} {obj}")
    if status == 200:
        text, _ = stream_text(port, "/v1/chat/completions", chat)
        check(text == msg["content"], f"streamed chat {text!r} != {msg['content']!r}")

    # The chat format (chatml: stories260K has no template) refuses unknown roles.
    status, obj = post(port, "/v1/chat/completions", {"model": "ocean", "max_tokens": 4,
                                                      "messages": [{"role": "robot", "content": "hi"}]})
    check(status == 400 and "robot" in obj.get("error", {}).get("message", ""), f"chat role robot: {status} {obj}")

    # Errors.
    status, payload = request(port, "POST", "/v1/completions", raw=b"{not json")
    error_shape(status, json.loads(payload), 400, "malformed JSON")
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": 5})
    error_shape(status, obj, 400, "prompt of the wrong type")
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "a", "n": 2})
    error_shape(status, obj, 400, "n = 2")
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "a", "temperature": "hot"})
    error_shape(status, obj, 400, "temperature string")
    status, obj = post(port, "/v1/completions", {"model": "nope", "prompt": "a"})
    error_shape(status, obj, 404, "unknown model")
    status, payload = request(port, "GET", "/v1/nothing")
    error_shape(status, json.loads(payload), 404, "unknown route")
    status, payload = request(port, "GET", "/v1/models", key=None)
    error_shape(status, json.loads(payload), 401, "no api key")
    status, payload = request(port, "POST", "/v1/completions", {"model": "stories260K", "prompt": "a"},
                              key="wrong-key")
    error_shape(status, json.loads(payload), 401, "wrong api key")
    big = json.dumps({"model": "stories260K", "prompt": "x" * (2 << 20)}).encode()
    status, payload = request(port, "POST", "/v1/completions", raw=big)
    error_shape(status, json.loads(payload), 413, "oversized body")

    # 8 parallel requests on mixed adapters (4 slots): all get their texts.
    jobs = [(m, p) for m in ("stories260K", "moon", "ocean") for p, _ in prompts][:8]
    while len(jobs) < 8:
        jobs.append(("moon", "Once upon a time"))
    results = [None] * len(jobs)

    def worker(i, model, prompt):
        n = dict(prompts)[prompt]
        results[i] = post(port, "/v1/completions", {"model": model, "prompt": prompt, "max_tokens": n,
                                                    "temperature": 0})

    threads = [threading.Thread(target=worker, args=(i, m, p)) for i, (m, p) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (model, prompt), res in zip(jobs, results):
        ok = res and res[0] == 200 and res[1]["choices"][0]["text"] == expect[(model, prompt)]
        check(ok, f"parallel {model} {prompt!r}: {res}")

    # A client that goes away mid-stream: the server stays healthy.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "moon", "prompt": "Once", "max_tokens": 200,
                                                             "temperature": 0, "stream": True}),
                 headers={"Authorization": f"Bearer {KEY}"})
    resp = conn.getresponse()
    resp.read(64)
    conn.close()
    status, obj = post(port, "/v1/completions", {"model": "stories260K", "prompt": "Once upon a time",
                                                 "max_tokens": 40, "temperature": 0})
    check(status == 200 and obj["choices"][0]["text"] == expect[("stories260K", "Once upon a time")],
          "after a disconnect")


if __name__ == "__main__":
    main()
