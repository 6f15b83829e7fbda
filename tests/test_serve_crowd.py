#!/usr/bin/env python3
"""test_serve_crowd.py — 32 parallel clients on the five real fine-tunes of
stories260K and the base (stdlib only). One `lorc serve --parallel 32`
serves moon-qv (GGUF LoRA), ocean-all (PEFT rsLoRA), moon-head (PEFT with a
trained lm_head), ocean-dora (PEFT DoRA) and moon-full-qvo (the full
fine-tune as an overlay made here with `lorc diff`). Both sides use an F32
KV cache (-ctk/-ctv f32), as the adapters' README asks for DoRA's greedy
texts. First every (model, prompt) is asked ALONE, one request at a time,
and must equal `lorc run --temp 0` with that adapter or overlay; then 32
concurrent requests (streamed and not) mixing all six must each return
exactly its alone text and token count: batching never changes a greedy
request's tokens. The server runs on port 0 and is killed however the test
ends."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
import serve_harness as ts  # noqa: E402
from serve_harness import check, post, stream_text  # noqa: E402

KV = ["-ctk", "f32", "-ctv", "f32"]
BASE = "stories260K"
# Prompts of different lengths and generation lengths, so that a crowded
# step mixes prompt processing with generation of different depths.
PROMPTS = [("Once upon a time", 48), ("Lily and Tom went to the", 32), ("The little dog", 40),
           ("One day, a girl named Sue found a big red box in the garden. She", 24)]


def run_text(prompt, n, lora=None, overlay=None):
    """`lorc run --temp 0` with the F32 KV cache the server uses."""
    return ts.run_text(prompt, n, lora, overlay, extra=KV)


def ask(port, model, prompt, n, stream):
    """(text, completion tokens or None for streams, finish_reason)."""
    body = {"model": model, "prompt": prompt, "max_tokens": n, "temperature": 0}
    if stream:
        text, fin = stream_text(port, "/v1/completions", body, timeout=120)
        return text, None, fin
    status, obj = post(port, "/v1/completions", body, timeout=120)
    check(status == 200, f"{model} {prompt!r}: status {status} {obj}")
    if status != 200:
        return None, None, None
    c = obj["choices"][0]
    return c["text"], obj["usage"]["completion_tokens"], c["finish_reason"]


def crowd(port, paths):
    models = [BASE] + list(paths)
    # Alone: one request at a time, each equal to `lorc run`.
    alone = {}
    for model in models:
        lora, overlay = paths.get(model, (None, None))
        for prompt, n in PROMPTS:
            want = run_text(prompt, n, lora, overlay)
            text, toks, fin = ask(port, model, prompt, n, False)
            check(text == want, f"alone {model} {prompt!r}: server {text!r} != lorc run {want!r}")
            alone[(model, prompt)] = (text, toks, fin)
    first = {m: alone[(m, PROMPTS[0][0])][0] for m in models}
    check(len(set(first.values())) == len(models),
          f"every fine-tune changes the greedy text of {PROMPTS[0][0]!r}: {first}")

    # The crowd: 32 at once, all six models, every prompt, a third streamed.
    jobs = []
    for i in range(32):
        model = models[i % len(models)]
        prompt, n = PROMPTS[(i // len(models) + i) % len(PROMPTS)]
        jobs.append((model, prompt, n, i % 3 == 2))
    results = [None] * len(jobs)
    gate = threading.Barrier(len(jobs))

    def worker(i, model, prompt, n, stream):
        gate.wait()
        try:
            results[i] = ask(port, model, prompt, n, stream)
        except Exception as e:  # noqa: BLE001 — recorded as a failure below
            results[i] = (f"exception {e!r}", None, None)

    threads = [threading.Thread(target=worker, args=(i,) + job) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, ((model, prompt, n, stream), res) in enumerate(zip(jobs, results)):
        text, toks, fin = alone[(model, prompt)]
        got_text, got_toks, got_fin = res
        check(got_text == text, f"crowd #{i} {model} {prompt!r} stream={stream}: {got_text!r} != alone {text!r}")
        check(got_fin == fin, f"crowd #{i} {model}: finish {got_fin} != alone {fin}")
        if not stream:
            check(got_toks == toks, f"crowd #{i} {model} {prompt!r}: {got_toks} tokens != alone {toks}")
    # Nothing left running: every slot was given back.
    status, lst = ts.get(port, "/v1/adapters")
    check(status == 200 and all(a["refs"] == 0 for a in lst), f"no adapter references left: {lst}")


def main():
    tmp = tempfile.mkdtemp(dir=os.environ.get("LORC_TEST_TMP"))
    try:
        overlay = os.path.join(tmp, "moon-full-qvo.overlay.gguf")
        subprocess.run([ts.BIN, "diff", ts.MODEL, ts.FULL_FINETUNE, "-o", overlay], check=True,
                       capture_output=True)
        loras = {"moon-qv": f"{ts.AD}/moon-qv/moon-qv.gguf", "ocean-all": f"{ts.AD}/ocean-all/peft",
                 "moon-head": f"{ts.AD}/moon-head/peft", "ocean-dora": f"{ts.AD}/ocean-dora/peft"}
        paths = {name: (path, None) for name, path in loras.items()}
        paths["moon-full-qvo"] = (None, overlay)
        extra = ["--parallel", "32", "--queue", "0", "--overlay", f"moon-full-qvo={overlay}"] + KV
        ts.with_server(extra, lambda port: crowd(port, paths), adapters=loras)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ts.finish("test_serve_crowd")


if __name__ == "__main__":
    main()
