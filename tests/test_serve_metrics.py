#!/usr/bin/env python3
"""test_serve_metrics.py — GET /metrics of `lorc serve` and its limits
(stdlib only). A known set of requests (the base, two adapters — one with a
quote, a backslash and a newline in its name —, a chat, a stream, a stop
string, a repeated prompt (prefix-cache hits), bad requests, an unknown
model, requests over --max-tokens and --max-prompt-tokens) is sent; then the exposition text is parsed line by
line and the per-model request, prompt-token and generated-token counters
must equal what the responses reported in `usage` and `finish_reason`, the
HTTP code counters must equal the statuses the client saw, the queue and
running gauges must be 0 when idle, and the adapter gauges must agree with
GET /v1/adapters. A second server with --adapter-mem room for only one of
the two adapters must count evictions. Without the key /metrics is 401.
Servers run on port 0 and are stopped however the test ends."""
import json
import os
import re
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from serve_harness import ADAPTERS, check, error_shape, finish, request, with_server  # noqa: E402

BASE = "stories260K"
ODD = 'q"uo\\te\nnl'  # an adapter name the label escaping must carry through
MAX_TOKENS, MAX_PROMPT = 64, 100

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse(text):
    """{name: {frozenset(labels): value}} from exposition lines; every
    sample's metric (or histogram base name) must have a # TYPE line first."""
    out, types = defaultdict(dict), {}
    check(text.endswith("\n"), "exposition ends with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(kind in ("counter", "gauge", "histogram"), f"type {kind}")
            check(name not in types, f"{name} typed twice")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        check(m is not None, f"sample line shape: {line!r}")
        if not m:
            continue
        name, labels, value = m.groups()
        base = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        check(base in types, f"{name} has no # TYPE line before it")
        pairs = []
        rest = labels or ""
        while rest:
            lm = LABEL.match(rest)
            check(lm is not None, f"labels of {line!r}")
            if not lm:
                break
            pairs.append((lm.group(1), unescape(lm.group(2))))
            rest = rest[lm.end():]
        out[name][frozenset(pairs)] = float(value)
    return out


def one(metrics, name, **labels):
    return metrics.get(name, {}).get(frozenset(labels.items()))


class Client:
    """Requests that remember every status, and what the completions said."""

    def __init__(self, port):
        self.port = port
        self.codes = Counter()
        self.requests = Counter()            # (model, finish_reason)
        self.tokens = defaultdict(lambda: [0, 0])  # model -> [prompt, completion]

    def call(self, method, path, body=None, **kw):
        status, payload = request(self.port, method, path, body, **kw)
        self.codes[status] += 1
        return status, payload

    def complete(self, path, body):
        status, payload = self.call("POST", path, body)
        obj = json.loads(payload)
        if status == 200:
            self.account(body["model"], obj["choices"][0]["finish_reason"], obj["usage"])
        return status, obj

    def stream(self, path, body):
        status, payload = self.call("POST", path, dict(body, stream=True))
        events = [e for e in payload.decode().split("\n\n") if e]
        check(status == 200 and events[-1] == "data: [DONE]", f"stream {status} {events[-1:]}")
        last = json.loads(events[-2][6:])
        self.account(body["model"], last["choices"][0]["finish_reason"], last.get("usage", {}))

    def account(self, model, fin, usage):
        self.requests[(model, fin)] += 1
        self.tokens[model][0] += usage.get("prompt_tokens", -1)
        self.tokens[model][1] += usage.get("completion_tokens", -1)

    def metrics(self):
        status, payload = self.call("GET", "/metrics")
        check(status == 200, f"/metrics status {status}")
        return parse(payload.decode())


def limits(c):
    long_prompt = " ".join(["moon"] * 150)  # over 100 tokens, under the context
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": "Once", "max_tokens": MAX_TOKENS + 1})
    error_shape(status, obj, 400, "max_tokens over --max-tokens")
    e = obj.get("error", {})
    check(e.get("param") == "max_tokens" and "max_tokens" in e.get("message", "")
          and str(MAX_TOKENS) in e.get("message", ""), f"max_tokens error names the field and limit: {obj}")
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": long_prompt, "max_tokens": 4})
    error_shape(status, obj, 400, "prompt over --max-prompt-tokens")
    e = obj.get("error", {})
    check(e.get("param") == "prompt" and "--max-prompt-tokens" in e.get("message", "")
          and str(MAX_PROMPT) in e.get("message", ""), f"prompt error names the field and limit: {obj}")
    status, obj = c.complete("/v1/chat/completions", {"model": BASE, "max_tokens": 4,
                                                      "messages": [{"role": "user", "content": long_prompt}]})
    error_shape(status, obj, 400, "chat prompt over --max-prompt-tokens")
    check(obj.get("error", {}).get("param") == "messages", f"chat prompt error names messages: {obj}")
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": "x " * 600, "max_tokens": 4})
    error_shape(status, obj, 400, "prompt over the context")
    msg = obj.get("error", {}).get("message", "")
    check(re.search(r"\d+ tokens; the context holds 512", msg), f"names the prompt length and context: {msg}")
    # llama.cpp's /completion: n_predict is the field it names.
    status, payload = c.call("POST", "/completion", {"prompt": "Once", "n_predict": MAX_TOKENS + 1})
    obj = json.loads(payload)
    error_shape(status, obj, 400, "n_predict over --max-tokens")
    check(obj.get("error", {}).get("param") == "n_predict", f"n_predict error names the field: {obj}")
    # Without max_tokens generation ends at --max-tokens at the latest.
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": "Once upon a time", "temperature": 0})
    check(status == 200 and obj["usage"]["completion_tokens"] <= MAX_TOKENS, f"absent max_tokens: {obj}")


def traffic(c):
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": "Once upon a time", "max_tokens": 8,
                                                 "temperature": 0})
    check(status == 200 and obj["choices"][0]["finish_reason"] == "length", f"base: {status} {obj}")
    status, obj = c.complete("/v1/completions", {"model": "moon", "prompt": "Once", "max_tokens": 6,
                                                 "temperature": 0})
    check(status == 200, f"moon: {status} {obj}")
    # moon's greedy story names Zara: the stop string ends it with "stop".
    status, obj = c.complete("/v1/completions", {"model": "moon", "prompt": "Once upon a time", "max_tokens": 40,
                                                 "temperature": 0, "stop": "Zara"})
    check(status == 200 and obj["choices"][0]["finish_reason"] == "stop", f"moon stop: {status} {obj}")
    status, obj = c.complete("/v1/chat/completions", {"model": "ocean", "max_tokens": 5, "temperature": 0,
                                                      "messages": [{"role": "user", "content": "Hi"}]})
    check(status == 200, f"ocean chat: {status} {obj}")
    c.stream("/v1/completions", {"model": "ocean", "prompt": "The sea", "max_tokens": 7, "temperature": 0})
    status, obj = c.complete("/v1/completions", {"model": ODD, "prompt": "Once", "max_tokens": 3})
    check(status == 200, f"odd name: {status} {obj}")
    # The same prompt twice on the base: the second reuses its full pages.
    story = "Once upon a time there was a little girl named Lily who loved to play in the park with her friends"
    for _ in range(2):
        status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": story, "max_tokens": 2})
        check(status == 200 and obj["usage"]["prompt_tokens"] > 16, f"long prompt: {status} {obj}")
    status, obj = c.complete("/v1/completions", {"model": BASE, "prompt": "Once", "temperature": 7})
    error_shape(status, obj, 400, "bad temperature")
    status, obj = c.complete("/v1/completions", {"model": "no-such", "prompt": "Once"})
    error_shape(status, obj, 404, "unknown model")


def main_server(port):
    c = Client(port)
    status, payload = c.call("GET", "/metrics", key=None)
    error_shape(status, json.loads(payload), 401, "/metrics without the key")
    status, _ = c.call("POST", "/metrics")
    check(status == 405, f"POST /metrics: {status}")
    traffic(c)
    limits(c)
    status, payload = c.call("GET", "/v1/adapters")
    adapters = {a["name"]: a for a in json.loads(payload)}
    codes = dict(c.codes)  # the scrape below is counted after it is answered
    status, payload = request(port, "GET", "/metrics")
    check(status == 200, f"/metrics: {status}")
    m = parse(payload.decode())

    for model in (BASE, "moon", "ocean", ODD):
        for fin in ("stop", "length", "cancelled", "error"):
            got = one(m, "lorc_requests_total", model=model, finish=fin)
            check(got == c.requests[(model, fin)], f"requests {model!r} {fin}: {got} != {c.requests[(model, fin)]}")
        prompt, gen = c.tokens[model]
        check(one(m, "lorc_prompt_tokens_total", model=model) == prompt,
              f"prompt tokens {model!r}: {one(m, 'lorc_prompt_tokens_total', model=model)} != {prompt}")
        check(one(m, "lorc_generation_tokens_total", model=model) == gen,
              f"generated tokens {model!r}: {one(m, 'lorc_generation_tokens_total', model=model)} != {gen}")
    check(one(m, "lorc_requests_total", model="no-such", finish="error") is None, "an unknown model gets no row")
    got_codes = {int(dict(k)["code"]): int(v) for k, v in m.get("lorc_http_responses_total", {}).items()}
    check(got_codes == codes and codes.get(400, 0) >= 6 and codes.get(404) == 1 and codes.get(401) == 1,
          f"HTTP codes {got_codes} != {codes}")
    for g in ("lorc_requests_waiting", "lorc_requests_running", "lorc_requests_in_flight"):
        check(one(m, g) == 0, f"{g} idle: {one(m, g)}")
    check(one(m, "lorc_adapters_registered") == 3 and one(m, "lorc_adapters_resident") == 3,
          f"adapters registered/resident {one(m, 'lorc_adapters_registered')} {one(m, 'lorc_adapters_resident')}")
    check(one(m, "lorc_adapter_loads_total") == sum(a["loads"] for a in adapters.values()) >= 3,
          f"loads {one(m, 'lorc_adapter_loads_total')} vs /v1/adapters {adapters}")
    check(one(m, "lorc_adapter_resident_bytes") == sum(a["bytes"] for a in adapters.values()) > 0,
          "resident bytes agree with /v1/adapters")
    check(one(m, "lorc_adapter_evictions_total") == 0 and one(m, "lorc_adapter_budget_bytes") == 0,
          "no budget, no eviction")
    gen_total = sum(t[1] for t in c.tokens.values())
    check(one(m, "lorc_generation_tokens_per_second") > 0 and one(m, "lorc_busy_seconds_total") > 0,
          "throughput gauges and busy time move")
    check(one(m, "lorc_time_to_first_token_seconds_count") == sum(c.requests.values()) and gen_total > 0,
          "every request that generated has a time to first token")
    hits = one(m, "lorc_prefix_cache_hit_tokens_total", model=BASE)
    check(hits is not None and hits >= 16, f"prefix cache hits on the repeated prompt: {hits}")
    check(one(m, "lorc_prefix_cache_hit_tokens_total", model="ocean") == 0, "no hits for ocean's distinct prompts")
    check(one(m, "lorc_kv_page_bytes") > 0 and one(m, "lorc_kv_pages_free") == -1, "KV gauges (no budget)")
    SIZES.update({name: a["bytes"] for name, a in adapters.items() if name in ADAPTERS})


def eviction_server(port):
    c = Client(port)
    for model in ("moon", "ocean", "moon", "ocean"):
        status, obj = c.complete("/v1/completions", {"model": model, "prompt": "Once", "max_tokens": 3})
        check(status == 200, f"{model} under a small budget: {status} {obj}")
    m = c.metrics()
    ev = one(m, "lorc_adapter_evictions_total")
    check(ev is not None and ev >= 3, f"evictions with room for one adapter: {ev}")
    check(one(m, "lorc_adapter_loads_total") >= 4, f"reloads: {one(m, 'lorc_adapter_loads_total')}")
    check(one(m, "lorc_adapters_resident") == 1, f"one resident: {one(m, 'lorc_adapters_resident')}")
    check(one(m, "lorc_adapter_budget_bytes") == BUDGET[0], "budget gauge")
    check(0 < one(m, "lorc_adapter_resident_bytes") <= BUDGET[0], "resident bytes within the budget")
    check(one(m, "lorc_requests_total", model="moon", finish="length") == 2, "moon requests under eviction")


SIZES, BUDGET = {}, [0]


def main():
    with_server(["--parallel", "2", "--api-key", "sekrit-key", "--max-tokens", str(MAX_TOKENS),
                 "--max-prompt-tokens", str(MAX_PROMPT)], main_server, dict(ADAPTERS, **{ODD: ADAPTERS["moon"]}))
    check(len(SIZES) == 2, f"adapter sizes {SIZES}")
    if len(SIZES) == 2:
        # Room for the larger one and half the smaller: never both.
        BUDGET[0] = max(SIZES.values()) + min(SIZES.values()) // 2
        with_server(["--parallel", "1", "--api-key", "sekrit-key", "--adapter-mem", str(BUDGET[0])],
                    eviction_server)
    finish("test_serve_metrics")


if __name__ == "__main__":
    main()
