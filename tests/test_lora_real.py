"""test_lora_real.py — the real stories260K adapters in ../shared/adapters.

Every adapter folder is found by listing the directory (a `peft/` PEFT
directory and/or GGUF files whose general.type is "adapter"); the reference
perplexities and greedy texts are read from the folder's README, so an adapter
added there later is tested the same way:
  * each form (PEFT directory, GGUF adapter) reproduces the README perplexity
    within 0.5% (DoRA rows within 0.05%: the README notes that dropping the
    magnitude moves it by only 0.17%);
  * every form of one adapter gives the same perplexity;
  * `lorc convert` of a PEFT directory without a GGUF twin (or with one)
    gives the same perplexity as the PEFT form, unless it uses DoRA or
    modules_to_save, which convert must refuse;
  * the quoted greedy texts for "Once upon a time" are reproduced by every form.
"""
import os
import re
import struct
import subprocess
import sys

BIN = os.environ["LORC_BIN"]
SHARED = os.environ["LORC_SHARED"]
TMP = os.path.join(os.environ["LORC_TEST_TMP"], "lora_real")
ADAPTERS = os.path.join(SHARED, "adapters")
MODEL = os.path.join(SHARED, "models", "stories260K.gguf")
os.makedirs(TMP, exist_ok=True)
failures = []


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    failures.append(msg)


def gguf_read(path):
    """(metadata {key: scalar or string}, {tensor name: (type, dims, bytes)}) of a GGUF file,
    or None when it is not one (a minimal reader: enough to compare adapters)."""
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    sizes = {0: 4, 1: 2, 30: 2}  # F32, F16, BF16: all an adapter from convert holds
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        return None
    pos = 24
    _version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)

    def read_str():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + n
        return data[pos - n:pos].decode()

    def read_val(t):
        nonlocal pos
        if t in scalar:
            v = struct.unpack_from(scalar[t], data, pos)[0]
            pos += struct.calcsize(scalar[t])
            return v
        if t == 8:
            return read_str()
        if t == 9:
            at, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            return [read_val(at) for _ in range(n)]
        raise ValueError("bad GGUF value type %d" % t)

    meta = {}
    for _ in range(n_kv):
        key = read_str()
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        meta[key] = read_val(t)
    infos = []
    for _ in range(n_tensors):
        name = read_str()
        (nd,) = struct.unpack_from("<I", data, pos)
        dims = struct.unpack_from("<%dQ" % nd, data, pos + 4)
        t, off = struct.unpack_from("<IQ", data, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, t, dims, off))
    align = meta.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = {}
    for name, t, dims, off in infos:
        n = 1
        for d in dims:
            n *= d
        size = n * sizes.get(t, 0)
        tensors[name] = (t, tuple(dims), data[base + off:base + off + size] if size else None)
    return meta, tensors


def gguf_general_type(path):
    try:
        r = gguf_read(path)
    except (ValueError, struct.error, UnicodeDecodeError):
        return None
    return r[0].get("general.type") if r else None


def forms_of(folder):
    """[(label, path)] of the adapter forms in one folder."""
    d = os.path.join(ADAPTERS, folder)
    forms = []
    if os.path.isfile(os.path.join(d, "peft", "adapter_config.json")):
        forms.append(("PEFT", os.path.join(d, "peft")))
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if name.endswith(".gguf") and os.path.isfile(p) and gguf_general_type(p) == "adapter":
            forms.append(("GGUF " + name, p))
    return forms


def readme_figures(readme):
    """{folder: [(text file, ppl, is_dora)]} and {folder: greedy text}."""
    figs, greedy = {}, {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        # "| base + moon-qv (GGUF, ...) | heldout_moon.txt | 3.4527 |"
        m = re.match(r"base \+ ([\w.-]+)", cells[0])
        if m and re.fullmatch(r"[\d.]+", cells[-1]) and cells[1].endswith(".txt"):
            figs.setdefault(m.group(1), []).append((cells[1], float(cells[-1]), False))
            continue
        # "| `moon-head/peft/` | ... | heldout_moon: 3.4268 (base 3.7992) |"
        m = re.match(r"`([\w.-]+)/", cells[0])
        f = re.match(r"(heldout_\w+): ([\d.]+)", cells[-1])
        if m and f:
            figs.setdefault(m.group(1), []).append((f.group(1) + ".txt", float(f.group(2)), "DoRA" in line))
    for m in re.finditer(r"[Ww]ith ([\w.-]+): `([^`]+)`", readme):
        if not m.group(2).startswith("..."):
            greedy[m.group(1)] = m.group(2)
    return figs, greedy


def perplexity(text, lora):
    out = subprocess.run(
        [BIN, "perplexity", "-m", MODEL, "-f", os.path.join(ADAPTERS, text), "-c", "256", "-t", "2", "--lora", lora],
        capture_output=True, text=True)
    m = re.search(r"^Final estimate: PPL = ([\d.]+)", out.stdout, re.M)
    if out.returncode != 0 or not m:
        fail("perplexity --lora %s on %s: %s" % (lora, text, out.stderr.strip().splitlines()[-1:]))
        return None
    return float(m.group(1))


def greedy_text(lora):
    out = subprocess.run([BIN, "run", "-m", MODEL, "-p", "Once upon a time", "--temp", "0", "-n", "60", "-t", "2",
                          "--lora", lora], capture_output=True, text=True)
    if out.returncode != 0:
        fail("run --lora %s: %s" % (lora, out.stderr.strip()))
    return out.stdout


def same_as_twin(conv, twins):
    """The GGUF twin whose alpha/r scales and tensors equal the converted file's exactly, or None."""
    c = gguf_read(conv)
    for twin in twins:
        t = gguf_read(twin)
        if not t or set(t[1]) != set(c[1]) or t[0].get("general.architecture") != c[0].get("general.architecture"):
            continue
        if t[0].get("adapter.lora.alpha") != c[0].get("adapter.lora.alpha"):
            continue
        if all(t[1][n][2] is not None and t[1][n] == c[1][n] for n in c[1]):
            return os.path.basename(twin)
    return None


def convert(peft, out):
    return subprocess.run([BIN, "convert", peft, "-m", MODEL, "-o", out], capture_output=True, text=True)


def main():
    with open(os.path.join(ADAPTERS, "README.md")) as f:
        figs, greedy = readme_figures(f.read())
    folders = sorted(d for d in os.listdir(ADAPTERS) if os.path.isdir(os.path.join(ADAPTERS, d)))
    tested = 0
    for folder in folders:
        forms = forms_of(folder)
        if not forms:
            continue  # e.g. a complete fine-tuned model, for diff/extract
        tested += 1
        peft = dict(forms).get("PEFT")
        if peft:
            conv = os.path.join(TMP, folder + ".converted.gguf")
            r = convert(peft, conv)
            with open(os.path.join(peft, "adapter_config.json")) as f:
                cfg = f.read()
            inexpressible = re.search(r'"use_dora":\s*true', cfg) or re.search(r'"modules_to_save":\s*\[', cfg)
            if inexpressible:
                if r.returncode != 1 or len(r.stderr.strip().splitlines()) != 1:
                    fail("%s: convert should refuse DoRA/modules_to_save in one line: %r" % (folder, r.stderr))
            elif r.returncode != 0:
                fail("%s: convert failed: %s" % (folder, r.stderr.strip()))
            else:
                twin = same_as_twin(conv, [p for label, p in forms if label.startswith("GGUF")])
                if twin:
                    print("%-14s converted GGUF   equals %s (alpha and every tensor, bit for bit)" % (folder, twin))
                else:
                    forms.append(("converted GGUF", conv))
        rows = figs.get(folder)
        if not rows:
            # No reference yet: every form loads, and the forms agree with each other.
            rows = [("heldout_base.txt", None, False)]
        for text, ref, is_dora in rows:
            ppls = []
            for label, path in forms:
                ppl = perplexity(text, path)
                if ppl is None:
                    continue
                ppls.append(ppl)
                tol = 0.0005 if is_dora else 0.005
                ok = ref is None or abs(ppl - ref) <= tol * ref
                print("%-14s %-16s %-18s PPL %.4f (README %s)%s" % (folder, label, text, ppl, ref, "" if ok else "  <-- FAIL"))
                if not ok:
                    fail("%s %s on %s: PPL %.4f, README %.4f (tolerance %.2f%%)" % (folder, label, text, ppl, ref, tol * 100))
            if ppls and max(ppls) - min(ppls) > 1e-4 * max(ppls):
                fail("%s: forms disagree on %s: %s" % (folder, text, ppls))
        if folder in greedy:
            for label, path in forms:
                got = greedy_text(path)
                if not got.startswith(greedy[folder]):
                    fail("%s %s greedy: got %r" % (folder, label, got[:160]))
                else:
                    print("%-14s %-16s greedy text matches the README" % (folder, label))
    if tested == 0:
        fail("no adapter folders found in %s" % ADAPTERS)
    print("test_lora_real: %d adapter folders, %d failures" % (tested, len(failures)))
    sys.exit(1 if failures else 0)


main()
