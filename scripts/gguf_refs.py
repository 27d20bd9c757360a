#!/usr/bin/env python3
"""Standard-library GGUF helpers for scripts/make-imatrix-refs.sh (no numpy here).

  gguf_refs.py odd IN.gguf OUT.gguf N_FF
      writes IN with the feed-forward width cut to N_FF (ffn_gate/ffn_up keep
      their first N_FF rows, ffn_down its first N_FF columns), so ffn_down rows
      are not a multiple of 256: the input for llama-quantize's fallbacks.
  gguf_refs.py moe IN.gguf OUT.gguf
      writes IN as a mixture of 4 experts (2 used) of width 256: the
      ffn_gate/ffn_up/ffn_down rows regrouped into ffn_*_exps stacks and a
      router from attn_q's first rows (F32), for the MoE imatrix paths.
  gguf_refs.py zero-expert IN.imatrix.gguf OUT.imatrix.gguf NAME EXPERT
      writes an imatrix whose entry NAME has count 0 for EXPERT: partial
      expert data, as when calibration never routed a token there.
  gguf_refs.py describe FILE.gguf...
      prints one JSON object per file in the corpus *.gguf.json shape
      (kv with types and values, tensors with type, shape, nbytes and
      sha256(data)[:16], tensor_order), as the conformance tests read it.
"""
import hashlib
import json
import struct
import sys

SCALARS = {0: ("UINT8", "<B"), 1: ("INT8", "<b"), 2: ("UINT16", "<H"), 3: ("INT16", "<h"),
           4: ("UINT32", "<I"), 5: ("INT32", "<i"), 6: ("FLOAT32", "<f"), 7: ("BOOL", "<?"),
           10: ("UINT64", "<Q"), 11: ("INT64", "<q"), 12: ("FLOAT64", "<d")}
STRING, ARRAY = 8, 9
# ggml type -> (name, block size, block bytes) for the types these files hold.
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
         6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84),
         11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
         14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2),
         16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
         19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
         23: ("IQ4_XS", 256, 136), 29: ("IQ1_M", 256, 56), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17),
         41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18)}


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def str(self):
        n = self.take("<Q")
        s = self.b[self.o:self.o + n].decode("utf-8")
        self.o += n
        return s

    def value(self, t):
        if t == STRING:
            return self.str()
        if t == ARRAY:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALARS[t][1])


def parse(b):
    r = Reader(b)
    assert r.take("<I") == 0x46554747, "not a GGUF file"
    version, nt, nkv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kv = []
    for _ in range(nkv):
        k, t = r.str(), r.take("<I")
        kv.append((k, t, r.value(t)))
    tensors = []
    for _ in range(nt):
        name, nd = r.str(), r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        tensors.append([name, ne, r.take("<I"), r.take("<Q")])
    align = next((v for k, t, v in kv if k == "general.alignment"), 32)
    data = (r.o + align - 1) // align * align
    return version, kv, tensors, data, align


def nbytes(t, ne):
    _, bs, bb = TYPES[t]
    n = 1
    for d in ne:
        n *= d
    return n // bs * bb


def describe(path):
    b = open(path, "rb").read()
    _, kv, tensors, data, _ = parse(b)
    out = {"kv": {}, "tensors": {}, "tensor_order": []}
    for k, t, v in kv:
        if t == ARRAY:
            et, items = v
            name = "STRING" if et == STRING else SCALARS[et][0]
            vals = items if et == STRING else [[x] for x in items]
            digest = hashlib.sha256(json.dumps(vals).encode()).hexdigest()[:16]
            out["kv"][k] = {"type": ["ARRAY", name], "len": len(items), "digest": digest, "head": vals[:3]}
        else:
            out["kv"][k] = {"type": ["STRING" if t == STRING else SCALARS[t][0]], "value": v}
    for name, ne, t, off in tensors:
        n = nbytes(t, ne)
        d = b[data + off:data + off + n]
        out["tensors"][name] = {"type": TYPES[t][0], "shape": ne, "nbytes": n,
                                "digest": hashlib.sha256(d).hexdigest()[:16]}
        out["tensor_order"].append(name)
    return out


def put_value(o, t, v):
    if t == STRING:
        e = v.encode("utf-8")
        o += struct.pack("<Q", len(e)) + e
    elif t == ARRAY:
        et, items = v
        o += struct.pack("<IQ", et, len(items))
        for x in items:
            put_value(o, et, x)
    else:
        o += struct.pack(SCALARS[t][1], v)


def write(dst, version, kv, tensors, align):
    """tensors: (name, ne, ggml type, raw bytes)."""
    o = bytearray(struct.pack("<IIQQ", 0x46554747, version, len(tensors), len(kv)))
    for k, t, v in kv:
        put_value(o, STRING, k)
        o += struct.pack("<I", t)
        put_value(o, t, v)
    off = 0
    for name, ne, t, raw in tensors:
        put_value(o, STRING, name)
        o += struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        o += struct.pack("<IQ", t, off)
        off += (len(raw) + align - 1) // align * align
    o += bytes(-len(o) % align)
    for _, _, _, raw in tensors:
        o += raw + bytes(-len(raw) % align)
    open(dst, "wb").write(o)


def moe(src, dst):
    b = open(src, "rb").read()
    version, kv, tensors, data, align = parse(b)
    raw = {n: b[data + off:data + off + nbytes(t, ne)] for n, ne, t, off in tensors}
    arch = next(v for k, t, v in kv if k == "general.architecture")
    kv = [(k, t, 256 if k.endswith(".feed_forward_length") else v) for k, t, v in kv]
    kv += [(arch + ".expert_count", 4, 4), (arch + ".expert_used_count", 4, 2)]
    half = 256 * 256 * 2  # 256 rows of 256 BF16 values
    out = []
    for n, ne, t, _ in tensors:
        if ".ffn_gate." in n or ".ffn_up." in n:
            continue
        if ".ffn_down." not in n:
            out.append((n, ne, t, raw[n]))
            continue
        blk = n[:n.index(".ffn_down.")]
        g, u, d = raw[blk + ".ffn_gate.weight"], raw[blk + ".ffn_up.weight"], raw[blk + ".ffn_down.weight"]
        gs, us = [g[:half], g[half:]], [u[:half], u[half:]]
        # ffn_down rows are 512 wide: expert e takes one half of every row.
        ds = [b"".join(d[r * 1024 + h * 512:r * 1024 + h * 512 + 512] for r in range(256)) for h in (0, 1)]
        q = raw[blk + ".attn_q.weight"][:4 * 256 * 2]
        router = b"".join(b"\0\0" + q[i:i + 2] for i in range(0, len(q), 2))  # BF16 -> F32
        out.append((blk + ".ffn_gate_inp.weight", [256, 4], 0, router))
        out.append((blk + ".ffn_gate_exps.weight", [256, 256, 4], t, b"".join(gs + us)))
        out.append((blk + ".ffn_up_exps.weight", [256, 256, 4], t, b"".join(us + gs)))
        out.append((blk + ".ffn_down_exps.weight", [256, 256, 4], t, b"".join(ds + ds[::-1])))
    write(dst, version, kv, out, align)


def zero_expert(src, dst, name, expert):
    b = open(src, "rb").read()
    version, kv, tensors, data, align = parse(b)
    out = []
    for n, ne, t, off in tensors:
        r = bytearray(b[data + off:data + off + nbytes(t, ne)])
        if n == name + ".counts":
            struct.pack_into("<f", r, 4 * expert, 0.0)
        out.append((n, ne, t, bytes(r)))
    write(dst, version, kv, out, align)


def odd(src, dst, nff):
    b = open(src, "rb").read()
    version, kv, tensors, data, align = parse(b)
    kv = [(k, t, nff if k.endswith(".feed_forward_length") else v) for k, t, v in kv]
    blobs = []
    for tn in tensors:
        name, ne, t, off = tn
        rb = nbytes(t, [ne[0]])
        raw = b[data + off:data + off + nbytes(t, ne)]
        if ".ffn_gate." in name or ".ffn_up." in name:
            ne = [ne[0], nff]
            raw = raw[:nff * rb]
        elif ".ffn_down." in name:
            keep = nbytes(t, [nff])
            raw = b"".join(raw[r * rb:r * rb + keep] for r in range(ne[1]))
            ne = [nff, ne[1]]
        tn[1] = ne
        blobs.append(raw)
    write(dst, version, kv, [(n, ne, t, raw) for (n, ne, t, _), raw in zip(tensors, blobs)], align)


if __name__ == "__main__":
    if sys.argv[1] == "odd":
        odd(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "moe":
        moe(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "zero-expert":
        zero_expert(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif sys.argv[1] == "describe":
        for p in sys.argv[2:]:
            print(json.dumps(describe(p)))
    else:
        sys.exit(__doc__)
