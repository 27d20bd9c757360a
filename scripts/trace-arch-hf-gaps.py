#!/usr/bin/env python3
"""Traces where llama.cpp and transformers part on testdata/arch-hf.

    python3 scripts/trace-arch-hf-gaps.py write WORK [SRC]

Runs where transformers is (the GPU machine; no GPU needed). Each entry of
testdata/arch-hf/gaps/variants.json is a checkpoint of testdata/arch-hf with
some config.json entries replaced (the weights are the same file): transformers
loads it (its own classes, float32, strictly) and its logits for the base
reference's tokens go to WORK/gaps/<variant>-ref/reference_logits.json in the
corpus format. A variant with "remote" is built through that remote code as
make-arch-refs-remote.py builds it (SRC: the folder holding remote/, as for
that script) and loaded from the base's safetensors. A variant may also name patches: transformers' own
functions replaced at run time by what llama.cpp computes instead (PATCHES),
for differences no config entry can remove. probe.json records what transformers made of the configs
(rotary dimensions, the narrowest top-k router margin). If llama.cpp on the
variant's conversion then agrees with transformers, the replaced entries are
where the two part (conformance/TestArchitectureGapTraces).
"""
from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HF = ROOT / "testdata" / "arch-hf"


def variant_dir(base: str, override: dict, tmp: Path) -> Path:
    d = tmp / base
    d.mkdir()
    cfg = json.loads((HF / base / "config.json").read_text())
    cfg.update(override)
    (d / "config.json").write_text(json.dumps(cfg))
    for f in (HF / base).iterdir():
        if f.name != "config.json":
            (d / f.name).symlink_to(f)
    return d


def rms_norm_with_bias(model) -> None:
    """Each nn.LayerNorm computed as llama.cpp's phimoe does (phi3's graph):
    RMS norm, then the LayerNorm's weight and bias; no mean subtracted."""
    import torch

    def fwd(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.float() + self.bias.float()).to(x.dtype)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.forward = fwd.__get__(m)


def softmax_top_k(model) -> None:
    """Phi-3.5-MoE's sparsemixer routing replaced by llama.cpp's: softmax
    over the experts, the top k, renormalized to sum to one."""
    import torch
    import transformers.models.phimoe.modeling_phimoe as mp

    def sm(scores, jitter_eps, training, top_k=2):
        p = torch.softmax(scores.float(), dim=-1)
        w, idx = torch.topk(p, top_k, dim=-1)
        return (w / w.sum(dim=-1, keepdim=True)).to(scores.dtype), idx
    mp.sparsemixer = sm


def no_activation_quant(model) -> None:
    """1bitLLM's BitLinear without its 8-bit per-token activation rounding
    (utils_quant.activation_quant), which llama.cpp's F16 graph does not do;
    the ternary weights stay."""
    sys.modules["utils_quant"].activation_quant = lambda x, num_bits=8: x


PATCHES = {"layernorm-as-rmsnorm": rms_norm_with_bias, "softmax-top-k": softmax_top_k,
           "no-activation-quant": no_activation_quant}


def remote_model(v: dict, work: Path, src: Path):
    """The base checkpoint through its remote code (make-arch-refs-remote.py's
    build), its saved tensors loaded; tied embeddings tied back."""
    import importlib.util
    import torch
    from safetensors.torch import load_file
    spec = importlib.util.spec_from_file_location("make_arch_refs_remote", ROOT / "scripts" / "make-arch-refs-remote.py")
    r = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(r)
    r.shim()
    m, _ = r.build(v["remote"], src.resolve(), work.resolve())
    sd = {k: t.float() for k, t in load_file(HF / v["base"] / "model.safetensors").items()}
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"remote {v['remote']}: missing {missing}, unexpected {unexpected}")
    if missing:
        m.lm_head.weight = m.get_input_embeddings().weight
    m.config.use_cache = False
    return m.float()


def probe(model) -> dict:
    """What transformers built: rotary sizes, the narrowest router margin."""
    import torch
    out = {}
    for n, b in model.named_buffers():
        if n.endswith("inv_freq"):
            out[n] = list(b.shape)
    margins = []

    def hook(mod, inp, res):
        logits = res[0] if isinstance(res, tuple) else res
        if logits.dim() == 2 and logits.shape[-1] <= 64:
            s = torch.sort(logits.float(), dim=-1, descending=True).values
            k = getattr(model.config, "num_experts_per_tok", 1)
            if s.shape[-1] > k:
                margins.append(float((s[:, k - 1] - s[:, k]).min()))
    hs = [m.register_forward_hook(hook) for n, m in model.named_modules() if n.endswith("mlp.gate")]
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    for h in hs:
        h.remove()
    if margins:
        out["min_router_margin"] = min(margins)
    return out


def one(name: str, v: dict, work: Path, src: Path) -> dict:
    import torch
    import transformers
    base = json.loads((HF / (v["base"] + "-ref") / "reference_logits.json").read_text())
    with tempfile.TemporaryDirectory() as t:
        d = variant_dir(v["base"], v["config"], Path(t))
        if v.get("remote"):
            m = remote_model(v, work, src)
        else:
            m, info = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, output_loading_info=True)
            bad = {k: x for k, x in info.items() if x and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
            if bad:
                raise ValueError(f"{name}: does not load strictly: {bad}")
        m.eval()
        for p in v.get("patches", []):
            PATCHES[p](m)
        with torch.no_grad():
            lg = m(input_ids=torch.tensor([base["tokens"]])).logits[0].float()
        ref = work / "gaps" / (name + "-ref")
        ref.mkdir(parents=True, exist_ok=True)
        lj = {"model": "arch-hf/" + v["base"], "config": v["config"], "patches": v.get("patches", []), "tokens": base["tokens"],
              "logits": [[round(float(x), 6) for x in row] for row in lg]}
        (ref / "reference_logits.json").write_text(json.dumps(lj, separators=(",", ":")) + "\n")
        return probe(m)


def write(work: Path, src: Path) -> int:
    import transformers
    variants = json.loads((HF / "gaps" / "variants.json").read_text())
    probes = {"transformers": transformers.__version__}
    for name, v in variants.items():
        try:
            probes[name] = one(name, v, work, src)
            print(f"{name}: ok {probes[name]}", flush=True)
        except Exception:
            probes[name] = {"error": traceback.format_exc()[-2000:]}
            print(f"{name}: FAILED {probes[name]['error']}", flush=True)
    for base in sorted({v["base"] for v in variants.values() if not v.get("remote")}):
        try:
            import torch
            m = transformers.AutoModelForCausalLM.from_pretrained(HF / base, dtype=torch.float32)
            probes["base:" + base] = probe(m.eval())
        except Exception:
            probes["base:" + base] = {"error": traceback.format_exc()[-2000:]}
    (work / "gaps").mkdir(parents=True, exist_ok=True)
    (work / "gaps" / "probe.json").write_text(json.dumps(probes, indent=1) + "\n")
    print(json.dumps(probes, indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) in (3, 4):
        sys.exit(write(Path(sys.argv[2]), Path(sys.argv[3] if len(sys.argv) == 4 else ".hfconv")))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
