#!/usr/bin/env python3
"""test_serve_llama.py — llama.cpp's server API in `lorc serve` (stdlib
only): /completion greedy text equals `lorc run --temp 0` on the base and
with `lora: [{id, scale: 1}]`, /lora-adapters GET/POST set the defaults a
/completion without `lora` uses, /tokenize and /detokenize round trip, and
bad requests get 400 in the error shape. The server runs on port 0 and is
killed however the test ends."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_serve as ts  # noqa: E402  (shared helpers: server, requests, `lorc run`)

from test_serve import check, error_shape, post, request, run_text  # noqa: E402


def get(port, path):
    import json
    status, payload = request(port, "GET", path)
    return status, json.loads(payload)


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


def main():
    ts.with_server(None, tests)
    if ts.fails:
        print(f"{len(ts.fails)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("test_serve_llama: all checks passed")


if __name__ == "__main__":
    main()
