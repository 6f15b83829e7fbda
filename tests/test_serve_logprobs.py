#!/usr/bin/env python3
"""test_serve_logprobs.py — log-probabilities through `lorc serve` (stdlib
only): OpenAI completions' `logprobs: N` (tokens, token_logprobs,
top_logprobs, text_offset), chat's `logprobs: true, top_logprobs: N`
(content: [{token, logprob, bytes, top_logprobs}]) and llama.cpp's
`n_probs` (completion_probabilities), non-streamed and streamed. Checks
that the tokens spell the text, greedy tokens are the most likely ones,
streamed figures equal non-streamed ones, a stop string cuts the list with
the text, the three APIs report the same numbers, and bad values get 400.
The numbers themselves are checked against lorc_decode's logits in
test_scheduler_logprobs.c."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import serve_harness as h  # noqa: E402
from serve_harness import check, error_shape, post, request  # noqa: E402

PROMPT = "Once upon a time"


def stream_events(port, path, body):
    status, payload = request(port, "POST", path, dict(body, stream=True))
    check(status == 200, f"stream {path}: {status}")
    out = []
    for e in payload.decode().split("\n\n"):
        if e.startswith("data: ") and e != "data: [DONE]":
            out.append(json.loads(e[6:]))
    return out


def completions(port):
    body = {"model": "moon", "prompt": PROMPT, "max_tokens": 16, "temperature": 0, "logprobs": 3}
    status, obj = post(port, "/v1/completions", body)
    check(status == 200, f"completions logprobs: {status} {obj}")
    ch = obj["choices"][0]
    lp = ch["logprobs"]
    text = ch["text"]
    check(text == h.run_text(PROMPT, 16, h.ADAPTERS["moon"]), "logprobs change nothing in the text")
    n = obj["usage"]["completion_tokens"]
    check(len(lp["tokens"]) == n == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]),
          f"one entry per token: {n} {[len(v) for v in lp.values()]}")
    check("".join(lp["tokens"]) == text, f"tokens spell the text: {lp['tokens']} vs {text!r}")
    off = 0
    for i, tok in enumerate(lp["tokens"]):
        check(lp["text_offset"][i] == off, f"text_offset[{i}] = {lp['text_offset'][i]}, want {off}")
        off += len(tok.encode())
        tops = lp["top_logprobs"][i]
        check(1 <= len(tops) <= 3, f"top_logprobs[{i}] has {len(tops)} entries")
        lpv = lp["token_logprobs"][i]
        check(lpv <= 0 and math.isfinite(lpv), f"logprob {lpv}")
        # Greedy: the chosen token is the most likely one.
        check(abs(max(tops.values()) - lpv) < 1e-6 and tops.get(tok) == lpv, f"greedy token {i}: {tok!r} {lpv} {tops}")
        check(sum(math.exp(v) for v in tops.values()) <= 1 + 1e-5, f"probabilities sum over 1: {tops}")
    # logprobs: 0 — the tokens' own figures, no alternatives.
    status, obj0 = post(port, "/v1/completions", dict(body, logprobs=0))
    lp0 = obj0["choices"][0]["logprobs"]
    check(lp0["token_logprobs"] == lp["token_logprobs"] and all(t == {} for t in lp0["top_logprobs"]),
          f"logprobs 0: {lp0}")
    # Without the field: null.
    status, objn = post(port, "/v1/completions", {k: v for k, v in body.items() if k != "logprobs"})
    check(objn["choices"][0]["logprobs"] is None, "no logprobs asked: null")

    # Streamed: the same entries, split over the chunks.
    toks, vals, offs = [], [], []
    for ev in stream_events(port, "/v1/completions", body):
        c = ev["choices"][0]
        if c.get("logprobs"):
            toks += c["logprobs"]["tokens"]
            vals += c["logprobs"]["token_logprobs"]
            offs += c["logprobs"]["text_offset"]
    check(toks == lp["tokens"] and vals == lp["token_logprobs"] and offs == lp["text_offset"],
          f"streamed logprobs {toks} {vals} != {lp['tokens']} {lp['token_logprobs']}")

    # A stop string cuts the list with the text.
    stop = text[len(text) // 2:len(text) // 2 + 3]
    status, objs = post(port, "/v1/completions", dict(body, stop=[stop]))
    cut = objs["choices"][0]
    lps = cut["logprobs"]
    joined = "".join(lps["tokens"])
    check(cut["finish_reason"] == "stop" and joined.startswith(cut["text"]) and
          len(joined) - len(cut["text"]) < len(stop) + max(len(t) for t in lp["tokens"]) and
          lps["tokens"] == lp["tokens"][:len(lps["tokens"])], f"stop cuts logprobs: {cut}")

    # Sampled, not greedy: the figures are still the model's (a sampled
    # token's logprob is its entry among the alternatives when listed).
    status, objt = post(port, "/v1/completions", dict(body, temperature=1.5, seed=3, logprobs=20))
    lpt = objt["choices"][0]["logprobs"]
    for tok, v, tops in zip(lpt["tokens"], lpt["token_logprobs"], lpt["top_logprobs"]):
        check(v <= max(tops.values()) + 1e-6, f"sampled token {tok!r}: {v} above the best {max(tops.values())}")
        if tok in tops:
            check(abs(tops[tok] - v) < 1e-6 or tops[tok] > v, f"sampled token {tok!r} listed as {tops[tok]}, got {v}")
    return lp


def chat_and_llama(port, lp):
    chat = {"model": "ocean", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 10,
            "temperature": 0, "logprobs": True, "top_logprobs": 2}
    status, obj = post(port, "/v1/chat/completions", chat)
    check(status == 200, f"chat logprobs: {status} {obj}")
    content = obj["choices"][0]["logprobs"]["content"]
    msg = obj["choices"][0]["message"]["content"]
    check("".join(e["token"] for e in content) == msg, f"chat tokens spell the message: {content} {msg!r}")
    for e in content:
        check(set(e) >= {"token", "logprob", "bytes", "top_logprobs"} and len(e["top_logprobs"]) == 2,
              f"chat entry shape {e}")
        check(bytes(e["bytes"]).decode(errors="replace") == e["token"], f"bytes of {e}")
        check(e["top_logprobs"][0]["logprob"] >= e["top_logprobs"][1]["logprob"], f"sorted {e}")
        check(abs(e["top_logprobs"][0]["logprob"] - e["logprob"]) < 1e-6, f"greedy chat token {e}")
    streamed = []
    for ev in stream_events(port, "/v1/chat/completions", chat):
        c = ev["choices"][0]
        if c.get("logprobs"):
            streamed += c["logprobs"]["content"]
    check(streamed == content, "streamed chat logprobs equal non-streamed")
    status, obj = post(port, "/v1/chat/completions", {k: v for k, v in chat.items() if k != "top_logprobs"} |
                       {"logprobs": False})
    check(obj["choices"][0].get("logprobs") is None, "chat logprobs false: null")

    # llama.cpp's n_probs on the same request as completions above: the same numbers.
    status, obj = post(port, "/completion", {"prompt": PROMPT, "n_predict": 16, "temperature": 0, "n_probs": 3,
                                             "lora": [{"id": 0, "scale": 1.0}]})
    probs = obj.get("completion_probabilities", [])
    check(status == 200 and len(probs) == obj.get("tokens_predicted"), f"/completion n_probs: {status} {obj}")
    check([p["token"] for p in probs] == lp["tokens"] and
          all(abs(p["logprob"] - v) < 1e-6 for p, v in zip(probs, lp["token_logprobs"])),
          "llama.cpp API and OpenAI API report the same log-probabilities")
    check(all("id" in p and len(p["top_logprobs"]) == 3 and "id" in p["top_logprobs"][0] for p in probs),
          f"completion_probabilities shape {probs[:1]}")


def errors(port):
    for body, param in (({"logprobs": 21}, "logprobs"), ({"logprobs": "yes"}, "logprobs"),
                        ({"logprobs": -1}, "logprobs")):
        status, obj = post(port, "/v1/completions", dict({"model": "moon", "prompt": "a", "max_tokens": 2}, **body))
        error_shape(status, obj, 400, f"completions {body}")
        check(obj.get("error", {}).get("param") == param, f"param of {body}: {obj}")
    chat = {"model": "moon", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    for body in ({"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}, {"logprobs": 3}):
        status, obj = post(port, "/v1/chat/completions", dict(chat, **body))
        error_shape(status, obj, 400, f"chat {body}")
    status, obj = post(port, "/completion", {"prompt": "a", "n_predict": 2, "n_probs": 99})
    error_shape(status, obj, 400, "n_probs 99")


def tests(port):
    lp = completions(port)
    chat_and_llama(port, lp)
    errors(port)


if __name__ == "__main__":
    h.with_server(None, tests)
    h.finish("test_serve_logprobs")
