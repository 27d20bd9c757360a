#!/usr/bin/env python3
"""Standard-library GGUF helpers for scripts/make-iqmix-refs.sh.

  iqmix_refs.py deep IN.gguf OUT.gguf
      writes IN (the corpus tiny llama, BF16) as a 16-layer model with one KV
      head (GQA 4), feed-forward width 320 (ffn_down rows are not a multiple
      of 256) and tied embeddings (no output.weight): layers copied from IN's
      alternately, K/V rows and FFN rows/columns cut. An input on which most
      of llama-quantize's per-layer and fallback rules fire.
  iqmix_refs.py types FILE.gguf
      prints {"tensor": "TYPE", ...} for the tensors of FILE.
  iqmix_refs.py model FILE.gguf
      prints FILE's hyperparameters and tensors (name, type, ggml shape).
"""
import json
import struct
import sys

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# ggml type numbers -> names (ggml.h), for the types llama-quantize writes here.
NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K",
         11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
         19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 29: "IQ1_M", 30: "BF16",
         34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4", 41: "Q1_0", 42: "Q2_0"}


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def value(self, t):
        if t == STRING:
            n = self.take("<Q")
            s = self.b[self.o:self.o + n].decode("utf-8")
            self.o += n
            return s
        if t == ARRAY:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALARS[t])


def parse(b):
    r = Reader(b)
    assert r.take("<I") == 0x46554747, "not a GGUF file"
    version, nt, nkv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kv = []
    for _ in range(nkv):
        k = r.value(STRING)
        t = r.take("<I")
        kv.append((k, t, r.value(t)))
    tensors = []
    for _ in range(nt):
        name, nd = r.value(STRING), r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        tensors.append((name, ne, r.take("<I"), r.take("<Q")))
    align = next((v for k, t, v in kv if k == "general.alignment"), 32)
    return version, kv, tensors, (r.o + align - 1) // align * align, align


def put(o, t, v):
    if t == STRING:
        e = v.encode("utf-8")
        o += struct.pack("<Q", len(e)) + e
    elif t == ARRAY:
        et, items = v
        o += struct.pack("<IQ", et, len(items))
        for x in items:
            put(o, et, x)
    else:
        o += struct.pack(SCALARS[t], v)


def deep(src, dst, layers=16, ff=320, kv_rows=64):
    b = open(src, "rb").read()
    version, kv, tensors, data, align = parse(b)
    assert all(t in (0, 30) for _, _, t, _ in tensors), "want a BF16/F32 input"
    raw = {}
    for n, ne, t, off in tensors:
        size = (4 if t == 0 else 2)
        for d in ne:
            size *= d
        raw[n] = (ne, t, b[data + off:data + off + size])
    fix = {"llama.block_count": layers, "llama.attention.head_count_kv": 1, "llama.feed_forward_length": ff}
    kv = [(k, t, fix.get(k, v)) for k, t, v in kv]
    out = []
    for n in ["token_embd.weight", "output_norm.weight"]:
        ne, t, r = raw[n]
        out.append((n, ne, t, r))
    for i in range(layers):
        for n, (ne, t, r) in raw.items():
            p = "blk.%d." % (i % 2)
            if not n.startswith(p):
                continue
            name = "blk.%d." % i + n[len(p):]
            if ".attn_k." in n or ".attn_v." in n:
                ne, r = [ne[0], kv_rows], r[:ne[0] * kv_rows * 2]
            elif ".ffn_gate." in n or ".ffn_up." in n:
                ne, r = [ne[0], ff], r[:ne[0] * ff * 2]
            elif ".ffn_down." in n:
                r = b"".join(r[row * ne[0] * 2:row * ne[0] * 2 + ff * 2] for row in range(ne[1]))
                ne = [ff, ne[1]]
            out.append((name, ne, t, r))
    o = bytearray(struct.pack("<IIQQ", 0x46554747, version, len(out), len(kv)))
    for k, t, v in kv:
        put(o, STRING, k)
        o += struct.pack("<I", t)
        put(o, t, v)
    off = 0
    for name, ne, t, r in out:
        put(o, STRING, name)
        o += struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        o += struct.pack("<IQ", t, off)
        off += (len(r) + align - 1) // align * align
    o += bytes(-len(o) % align)
    for _, _, _, r in out:
        o += r + bytes(-len(r) % align)
    open(dst, "wb").write(o)


def model(path):
    _, kv, tensors, _, _ = parse(open(path, "rb").read())
    kv = {k: v for k, _, v in kv}
    a = kv["general.architecture"]
    return {"arch": a, "block_count": kv[a + ".block_count"], "head_count": kv[a + ".attention.head_count"],
            "head_count_kv": kv[a + ".attention.head_count_kv"], "expert_count": kv.get(a + ".expert_count", 0),
            "tensors": [[n, NAMES[t], ne] for n, ne, t, _ in tensors]}


def types(path):
    _, _, tensors, _, _ = parse(open(path, "rb").read())
    return {n: NAMES[t] for n, _, t, _ in tensors}


if __name__ == "__main__":
    if sys.argv[1] == "deep":
        deep(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "types":
        json.dump(types(sys.argv[2]), sys.stdout)
    elif sys.argv[1] == "model":
        json.dump(model(sys.argv[2]), sys.stdout)
    else:
        sys.exit(__doc__)
