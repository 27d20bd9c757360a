#!/usr/bin/env python3
"""Standard-library GGUF helpers for scripts/make-iqmix-refs.sh (the GGUF reading
and writing is gguf_refs.py's).

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
import sys

from gguf_refs import TYPES, nbytes, parse, write


def deep(src, dst, layers=16, ff=320, kv_rows=64):
    b = open(src, "rb").read()
    version, kv, tensors, data, align = parse(b)
    assert all(t in (0, 30) for _, _, t, _ in tensors), "want a BF16/F32 input"
    raw = {n: (ne, t, b[data + off:data + off + nbytes(t, ne)]) for n, ne, t, off in tensors}
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
    write(dst, version, kv, out, align)


def model(path):
    _, kv, tensors, _, _ = parse(open(path, "rb").read())
    kv = {k: v for k, _, v in kv}
    a = kv["general.architecture"]
    return {"arch": a, "block_count": kv[a + ".block_count"], "head_count": kv[a + ".attention.head_count"],
            "head_count_kv": kv[a + ".attention.head_count_kv"], "expert_count": kv.get(a + ".expert_count", 0),
            "tensors": [[n, TYPES[t][0], ne] for n, ne, t, _ in tensors]}


def types(path):
    _, _, tensors, _, _ = parse(open(path, "rb").read())
    return {n: TYPES[t][0] for n, _, t, _ in tensors}


if __name__ == "__main__":
    if sys.argv[1] == "deep":
        deep(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "types":
        json.dump(types(sys.argv[2]), sys.stdout)
    elif sys.argv[1] == "model":
        json.dump(model(sys.argv[2]), sys.stdout)
    else:
        sys.exit(__doc__)
