"""test_forward_numpy.py — lorc's forward pass against an independent numpy
implementation of the llama / qwen2 architectures.

tool_forward_dump writes a synthetic F32 model with the project's GGUF writer
and dumps lorc's logits (a batched prompt, then single-token steps). This
test reads the GGUF with its own small parser, runs the architecture in
float64 numpy (RMSNorm, RoPE in the adjacent-pair or NeoX layout, rope
factors, GQA causal attention, SwiGLU, QKV biases, tied or untied output)
and requires max|lorc - numpy| / max|numpy| <= 1e-4 for every position.
It also requires -t 1 and -t 2 to give bit-identical logits.
"""
import os
import struct
import subprocess
import sys

import numpy as np

TOOLS = os.environ.get("LORC_TEST_TOOLS", "build/test-tools")
TMP = os.environ.get("LORC_TEST_TMP", "/tmp")
TOL = 1e-4

# ------------------------------------------------------------------ GGUF


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.d[self.p:self.p + n].decode("utf-8")
        self.p += n
        return s


SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_value(r, t):
    if t in SCALARS:
        return r.take(SCALARS[t])
    if t == 8:
        return r.string()
    if t == 9:
        et = r.take("I")
        n = r.take("Q")
        return [read_value(r, et) for _ in range(n)]
    raise ValueError("bad GGUF value type %d" % t)


def read_gguf(path):
    """Returns (metadata dict, {name: numpy array}) for an all-F32 GGUF."""
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    assert data[:4] == b"GGUF", "not a GGUF file"
    r.p = 4
    version = r.take("I")
    assert version in (2, 3)
    n_tensors = r.take("Q")
    n_kv = r.take("Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = read_value(r, r.take("I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("I")
        ne = [r.take("Q") for _ in range(nd)]
        ttype = r.take("I")
        off = r.take("Q")
        infos.append((name, ne, ttype, off))
    align = meta.get("general.alignment", 32)
    base = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, ttype, off in infos:
        assert ttype == 0, "%s: only F32 is parsed here" % name
        count = int(np.prod(ne))
        arr = np.frombuffer(data, dtype="<f4", count=count, offset=base + off).astype(np.float64)
        # ne[0] is the contiguous dimension: numpy shape is reversed.
        tensors[name] = arr.reshape(list(reversed(ne)))
    return meta, tensors


# ------------------------------------------------------------------ model


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, n_rot, base, neox, factors):
    """x: [T, heads, head_dim]; rotates the first n_rot dims of each head."""
    half = n_rot // 2
    inv = base ** (-np.arange(half) * 2.0 / n_rot)
    if factors is not None:
        inv = inv / factors
    ang = np.outer(pos, inv)  # [T, half]
    c = np.cos(ang)[:, None, :]
    s = np.sin(ang)[:, None, :]
    out = x.copy()
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * c - b * s
        out[..., half:n_rot] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * c - b * s
        out[..., 1:n_rot:2] = a * s + b * c
    return out


def forward(meta, t, tokens):
    arch = meta["general.architecture"]
    g = lambda k, d=None: meta.get("%s.%s" % (arch, k), d)
    n_embd = g("embedding_length")
    n_head = g("attention.head_count")
    n_kv = g("attention.head_count_kv", n_head)
    hd = g("attention.key_length", n_embd // n_head)
    n_rot = g("rope.dimension_count", hd)
    eps = g("attention.layer_norm_rms_epsilon")
    base = g("rope.freq_base", 10000.0)
    neox = arch == "qwen2"
    factors = t.get("rope_freqs.weight")
    T = len(tokens)
    pos = np.arange(T)
    x = t["token_embd.weight"][tokens]  # [T, n_embd]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(g("block_count")):
        w = lambda n: t["blk.%d.%s" % (l, n)]
        h = rmsnorm(x, w("attn_norm.weight"), eps)
        q = h @ w("attn_q.weight").T
        k = h @ w("attn_k.weight").T
        v = h @ w("attn_v.weight").T
        if "blk.%d.attn_q.bias" % l in t:
            q = q + w("attn_q.bias")
            k = k + w("attn_k.bias")
            v = v + w("attn_v.bias")
        q = rope(q.reshape(T, n_head, hd), pos, n_rot, base, neox, factors)
        k = rope(k.reshape(T, n_kv, hd), pos, n_rot, base, neox, factors)
        v = v.reshape(T, n_kv, hd)
        out = np.zeros((T, n_head, hd))
        for hh in range(n_head):
            kv = hh // (n_head // n_kv)
            s = q[:, hh, :] @ k[:, kv, :].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            out[:, hh, :] = s @ v[:, kv, :]
        x = x + out.reshape(T, n_head * hd) @ w("attn_output.weight").T
        h = rmsnorm(x, w("ffn_norm.weight"), eps)
        gate = h @ w("ffn_gate.weight").T
        up = h @ w("ffn_up.weight").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w("ffn_down.weight").T
    x = rmsnorm(x, t["output_norm.weight"], eps)
    out_w = t.get("output.weight", t["token_embd.weight"])
    return x @ out_w.T


# ------------------------------------------------------------------ test


def run_tool(preset, threads):
    model = os.path.join(TMP, "fwd_%s.gguf" % preset)
    logits = os.path.join(TMP, "fwd_%s_t%d.f32" % (preset, threads))
    tool = os.path.join(TOOLS, "tool_forward_dump")
    res = subprocess.run([tool, preset, model, logits, str(threads)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("%s failed: %s" % (tool, res.stderr.strip()))
    lines = dict(line.split(" ", 1) for line in res.stdout.strip().splitlines())
    tokens = [int(v) for v in lines["tokens"].split()]
    n_vocab = int(lines["n_vocab"])
    with open(logits, "rb") as f:
        raw = f.read()
    return model, tokens, raw, np.frombuffer(raw, dtype="<f4").reshape(len(tokens), n_vocab)


def main():
    failures = 0
    for preset, want_arch in (("llama-gqa", "llama"), ("llama-ropefreqs", "llama"), ("qwen2-bias", "qwen2")):
        model, tokens, raw1, got = run_tool(preset, 1)
        _, _, raw2, _ = run_tool(preset, 2)
        meta, tensors = read_gguf(model)
        assert meta["general.architecture"] == want_arch
        ref = forward(meta, tensors, np.array(tokens))
        worst = 0.0
        for i in range(len(tokens)):
            err = np.max(np.abs(got[i] - ref[i])) / np.max(np.abs(ref[i]))
            worst = max(worst, err)
        ok = worst <= TOL
        same = raw1 == raw2
        print("%-16s max rel err %.3g (%s); -t 1 vs -t 2 %s" %
              (preset, worst, "ok" if ok else "FAIL", "identical" if same else "DIFFERENT"))
        failures += (not ok) + (not same)
        # Sanity of the test itself: the features under test are present.
        if preset == "llama-gqa":
            assert meta["llama.attention.head_count_kv"] < meta["llama.attention.head_count"]
            assert "output.weight" not in tensors
        if preset == "llama-ropefreqs":
            assert "rope_freqs.weight" in tensors and "output.weight" in tensors
        if preset == "qwen2-bias":
            assert "blk.0.attn_q.bias" in tensors
    print("test_forward_numpy: %s" % ("ok" if failures == 0 else "%d failures" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
