"""serve_harness.py — what every `lorc serve` test needs (stdlib only):
start a server on a free loopback port and always stop it, plain HTTP
requests, SSE streams, `lorc run`'s greedy text for comparison, OpenAI's
error shape, and failure bookkeeping (checks record, main exits 1)."""
import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile

import serve_launch

BIN = os.environ["LORC_BIN"]
SHARED = os.environ["LORC_SHARED"]
MODEL = f"{SHARED}/models/stories260K.gguf"
AD = f"{SHARED}/adapters"
ADAPTERS = {"moon": f"{AD}/moon-qv/moon-qv.gguf", "ocean": f"{AD}/ocean-all/peft"}
# The five real fine-tunes of stories260K (../shared/adapters/README.md):
# the four adapters by --lora, the full q,v,o fine-tune as an overlay made
# with `lorc diff` (tests that need it build it first).
REAL_LORAS = {"moon": f"{AD}/moon-qv/moon-qv.gguf", "ocean": f"{AD}/ocean-all/peft",
              "moonhead": f"{AD}/moon-head/peft", "dora": f"{AD}/ocean-dora/peft"}
FULL_FINETUNE = f"{AD}/moon-full-qvo/stories260K-moon-full-qvo-F32.gguf"
KEY = "sekrit-key"
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what, file=sys.stderr)


def finish(name):
    """Exit status of a test: 1 when any check failed."""
    if fails:
        print(f"{len(fails)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: all checks passed")


def start_server(extra=None, adapters=None, env=None):
    """`lorc serve` on port 0; returns (process, port) once it listens.
    extra: flags (default: --parallel 4 --api-key KEY); adapters: name ->
    path registered with --lora (default ADAPTERS)."""
    args = [BIN, "serve", "-m", MODEL, "--port", "0", "-t", "2"]
    args += extra if extra is not None else ["--parallel", "4", "--api-key", KEY]
    for name, path in (adapters if adapters is not None else ADAPTERS).items():
        args += ["--lora", f"{name}={path}"]
    return serve_launch.launch(args, env=env)


def stop_server(proc):
    """SIGTERM, then SIGKILL after 20 s; returns the exit status."""
    return serve_launch.stop(proc)


@contextlib.contextmanager
def adapter_dirs():
    """(adir, outside): a scratch --adapter-dir with an empty subfolder
    `sub`, and a folder beside it holding a copy of moon-qv that loads must
    not reach; removed afterwards."""
    tmp = tempfile.mkdtemp(dir=os.environ.get("LORC_TEST_TMP"))
    try:
        adir, outside = os.path.join(tmp, "adapters"), os.path.join(tmp, "outside")
        os.makedirs(os.path.join(adir, "sub"))
        os.makedirs(outside)
        shutil.copy(ADAPTERS["moon"], os.path.join(outside, "moon.gguf"))
        yield adir, outside
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def with_server(extra, body, adapters=None):
    """Runs body(port) against a fresh server; the server must exit 0."""
    proc, port = start_server(extra, adapters)
    try:
        body(port)
    finally:
        rc = stop_server(proc)
    check(rc == 0, f"server exit status {rc}")


def request(port, method, path, body=None, key=KEY, raw=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, payload


def post(port, path, body, **kw):
    status, payload = request(port, "POST", path, body, **kw)
    return status, json.loads(payload)


def get(port, path, **kw):
    status, payload = request(port, "GET", path, **kw)
    return status, json.loads(payload)


def stream_text(port, path, body, **kw):
    """Text and finish_reason of a streamed OpenAI completion or chat."""
    status, payload = request(port, "POST", path, dict(body, stream=True), **kw)
    events = [e for e in payload.decode().split("\n\n") if e]
    check(status == 200, f"stream status {status}")
    check(events and events[-1] == "data: [DONE]", f"stream ends with [DONE]: {events[-1:]}")
    text, fin = "", None
    for e in events[:-1]:
        check(e.startswith("data: "), f"SSE event shape: {e[:40]!r}")
        c = json.loads(e[6:])["choices"][0]
        text += c.get("text", "") or c.get("delta", {}).get("content", "")
        fin = c["finish_reason"] or fin
    return text, fin


def run_text(prompt, n, adapter_path=None, overlay_path=None, extra=()):
    """`lorc run --temp 0`'s generated text (the prompt stripped); extra:
    more flags (e.g. the KV cache types a server was started with)."""
    args = [BIN, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1", *extra]
    if adapter_path:
        args += ["--lora", adapter_path]
    if overlay_path:
        args += ["--overlay", overlay_path]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    # `lorc run` prints the prompt, then the generated text, then a newline.
    assert out.startswith(prompt), out
    return out[len(prompt):].rstrip("\n")


def error_shape(status, obj, want, what):
    check(status == want, f"{what}: status {status}, want {want}")
    e = obj.get("error") if isinstance(obj, dict) else None
    check(isinstance(e, dict) and all(k in e for k in ("message", "type", "param", "code")),
          f"{what}: error shape {obj}")
