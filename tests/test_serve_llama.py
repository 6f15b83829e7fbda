#!/usr/bin/env python3
"""test_serve_llama.py — llama.cpp's server API in `lorc serve` (stdlib
only): /completion greedy text equals `lorc run --temp 0` on the base and
with `lora: [{id, scale: 1}]`, /lora-adapters GET/POST set the defaults a
/completion without `lora` uses, streaming /completion gives the same
text in llama.cpp's events, /tokenize and /detokenize round trip, and
bad requests get 400 in the error shape. Then, with --adapter-dir: POST
/v1/load_lora_adapter registers an adapter found there (its greedy text
equals `lorc run --lora`), paths that leave the folder (../, absolute,
symlink) get 400, GET /v1/adapters reports it, unloading while a stream uses
it gets 409 and afterwards removes it from /v1/models. The servers run on
port 0 and are killed however the test ends."""
import http.client
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import serve_harness as ts  # noqa: E402
from serve_harness import check, error_shape, get, post, request  # noqa: E402


def run_text(prompt, n, adapter):
    return ts.run_text(prompt, n, ts.ADAPTERS[adapter] if adapter else None)


def tests(port):
    status, lst = get(port, "/lora-adapters")
    check(status == 200 and isinstance(lst, list), f"GET /lora-adapters: {status} {lst}")
    ids = {a.get("path"): a.get("id") for a in lst}
    check(set(ids) == {"moon", "ocean"} and sorted(ids.values()) == [0, 1], f"/lora-adapters ids {lst}")
    check(all(a.get("scale") == 0 for a in lst), f"default scales start at 0: {lst}")

    prompt, n = "Once upon a time", 32
    base = run_text(prompt, n, None)
    moon = run_text(prompt, n, "moon")
    check(base != moon, "moon changes the greedy text (else the test proves nothing)")
    body = {"prompt": prompt, "n_predict": n, "temperature": 0}

    status, obj = post(port, "/completion", body)
    check(status == 200 and obj.get("content") == base, f"/completion base: {status} {obj} != {base!r}")
    if status == 200:
        check(obj["tokens_predicted"] == n and obj["stopped_limit"] is True and obj["stopped_eos"] is False
              and obj["stop"] is True and obj["tokens_evaluated"] > 0, f"/completion fields {obj}")

    # Streamed: {content, stop: false} events, then the stop: true one; no [DONE].
    status, payload = request(port, "POST", "/completion", dict(body, stream=True))
    events = [e for e in payload.decode().split("\n\n") if e]
    check(status == 200 and events and all(e.startswith("data: {") for e in events), f"stream events {events[-2:]}")
    if status == 200 and events and all(e.startswith("data: {") for e in events):
        objs = [json.loads(e[6:]) for e in events]
        check([o["stop"] for o in objs] == [False] * (len(objs) - 1) + [True], "only the last event has stop: true")
        check("".join(o["content"] for o in objs) == base, f"streamed /completion text != {base!r}")
        check(objs[-1].get("tokens_predicted") == n and objs[-1].get("stopped_limit") is True,
              f"last streamed event {objs[-1]}")

    status, obj = post(port, "/completion", dict(body, lora=[{"id": ids["moon"], "scale": 1.0}]))
    check(status == 200 and obj.get("content") == moon, f"/completion lora moon: {status} {obj} != {moon!r}")

    # Defaults: after POST /lora-adapters, a request without `lora` uses moon;
    # a request naming `lora: []` still runs the base.
    status, obj = post(port, "/lora-adapters", [{"id": ids["moon"], "scale": 1.0}])
    check(status == 200, f"POST /lora-adapters: {status} {obj}")
    status, lst = get(port, "/lora-adapters")
    scales = {a["path"]: a["scale"] for a in lst}
    check(scales == {"moon": 1.0, "ocean": 0.0}, f"scales after POST: {scales}")
    status, obj = post(port, "/completion", body)
    check(status == 200 and obj.get("content") == moon, f"/completion with default moon: {obj}")
    status, obj = post(port, "/completion", dict(body, lora=[]))
    check(status == 200 and obj.get("content") == base, f"/completion lora [] is the base: {obj}")
    post(port, "/lora-adapters", [])

    # A stop string ends the text before it.
    cut = base[len(base) // 2:][:4]
    if cut:
        status, obj = post(port, "/completion", dict(body, stop=[cut]))
        check(status == 200 and obj.get("content") == base[:base.index(cut)] and obj.get("stopped_word") is True
              and obj.get("stopping_word") == cut, f"/completion stop {cut!r}: {obj}")

    # Tokenize / detokenize.
    text = "Once upon a time, there was a cat."
    status, obj = post(port, "/tokenize", {"content": text})
    toks = obj.get("tokens") if status == 200 else None
    check(isinstance(toks, list) and toks and all(isinstance(t, int) for t in toks), f"/tokenize: {status} {obj}")
    status, obj = post(port, "/tokenize", {"content": text, "add_special": True})
    check(status == 200 and len(obj["tokens"]) == len(toks) + 1, f"/tokenize add_special adds BOS: {obj}")
    status, obj = post(port, "/tokenize", {"content": text, "with_pieces": True})
    check(status == 200 and [p["id"] for p in obj["tokens"]] == toks
          and "".join(p["piece"] for p in obj["tokens"]) == text, f"/tokenize with_pieces: {obj}")
    status, obj = post(port, "/detokenize", {"tokens": toks})
    check(status == 200 and obj.get("content") == text, f"/detokenize round trip: {status} {obj}")

    # Refusals.
    for path, bad in (("/completion", {"prompt": 3}), ("/completion", {"prompt": "a", "lora": [{"id": 9, "scale": 1}]}),
                      ("/lora-adapters", [{"id": "moon"}]), ("/tokenize", {"content": 1}),
                      ("/detokenize", {"tokens": [-1]}), ("/detokenize", {"tokens": "x"})):
        status, obj = post(port, path, bad)
        error_shape(status, obj, 400, f"{path} {bad}")
    status, obj = request(port, "GET", "/completion")
    check(status == 405, f"GET /completion: {status}")


def admin_tests(port, adir, outside):
    shutil.copy(ts.ADAPTERS["moon"], os.path.join(adir, "sub", "moon-rt.gguf"))
    os.symlink(os.path.join(outside, "moon.gguf"), os.path.join(adir, "link.gguf"))
    status, obj = post(port, "/v1/load_lora_adapter", {"lora_name": "rt", "lora_path": "sub/moon-rt.gguf"})
    check(status == 200, f"load_lora_adapter: {status} {obj}")
    status, obj = get(port, "/v1/models")
    check("rt" in [m["id"] for m in obj["data"]], f"rt in /v1/models: {obj}")
    prompt, n = "Once upon a time", 24
    want = run_text(prompt, n, "moon")
    status, obj = post(port, "/v1/completions", {"model": "rt", "prompt": prompt, "max_tokens": n, "temperature": 0})
    check(status == 200 and obj["choices"][0]["text"] == want, f"completion on rt: {status} {obj} != {want!r}")
    status, lst = get(port, "/v1/adapters")
    rt = [a for a in lst if a.get("name") == "rt"]
    check(status == 200 and len(rt) == 1, f"/v1/adapters lists rt: {lst}")
    if rt:
        a = rt[0]
        check(a["kind"] == "lora" and a["state"] == "ready" and a["bytes"] > 0 and a["pinned"] is False
              and a["refs"] == 0 and a["loads"] >= 1, f"/v1/adapters fields {a}")
    for name, path in (("up", "../outside/moon.gguf"), ("abs", os.path.join(outside, "moon.gguf")),
                       ("link", "link.gguf"), ("none", "sub/missing.gguf"), ("rt", "sub/moon-rt.gguf")):
        status, obj = post(port, "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        error_shape(status, obj, 400, f"load {name} from {path}")
    status, obj = post(port, "/v1/load_lora_adapter",
                       {"lora_name": "rt2", "lora_path": os.path.join(adir, "sub", "moon-rt.gguf")})
    check(status == 200, f"absolute path inside the folder: {status} {obj}")

    # Unloading while a stream runs on it: 409; once it is over: unloaded.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "rt", "prompt": "Once", "max_tokens": 400,
                                                             "temperature": 0, "stream": True}))
    resp = conn.getresponse()
    check(resp.status == 200 and resp.readline().startswith(b"data: "), "stream on rt started")
    status, obj = post(port, "/v1/unload_lora_adapter", {"lora_name": "rt"})
    error_shape(status, obj, 409, "unload while in use")
    resp.read()
    conn.close()
    for _ in range(200):
        status, obj = post(port, "/v1/unload_lora_adapter", {"lora_name": "rt"})
        if status != 409:
            break
        time.sleep(0.05)
    check(status == 200, f"unload after the stream: {status} {obj}")
    status, obj = get(port, "/v1/models")
    check("rt" not in [m["id"] for m in obj["data"]], f"rt gone from /v1/models: {obj}")
    status, obj = post(port, "/v1/completions", {"model": "rt", "prompt": "a", "max_tokens": 2})
    error_shape(status, obj, 404, "completion on unloaded rt")
    status, obj = post(port, "/v1/unload_lora_adapter", {"lora_name": "rt"})
    error_shape(status, obj, 404, "unload twice")


def main():
    ts.with_server(None, tests)
    with ts.adapter_dirs() as (adir, outside):
        ts.with_server(["--adapter-dir", adir], lambda port: admin_tests(port, adir, outside))
    ts.finish("test_serve_llama")


if __name__ == "__main__":
    main()
