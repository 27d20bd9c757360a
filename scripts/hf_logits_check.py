#!/usr/bin/env python3
"""Load a Hugging Face folder with transformers, run the token ids of a
reference_logits.json through it, and print the largest absolute logit
difference from the reference (and that difference over the reference's
logit range). It also checks the special token ids transformers took from
config.json (or, where config.json has none, from the model class's
defaults): an id outside the vocabulary stops a model from loading
(pad_token_id becomes the embedding's padding_idx) or from generating.

    python3 scripts/hf_logits_check.py OUT_FOLDER ../shared/testdata/corpus/tiny-llama-spm/reference_logits.json
    python3 scripts/hf_logits_check.py OUT_FOLDER REF.json --device cuda --dtype bfloat16 --tol 0.003

The reference file is {"model": ..., "tokens": [ids], "logits": [[vocab floats] per position]}.
Exit status: 0 when the relative difference is within --tol (if given) and
the special ids are in range, 1 otherwise, 2 on usage errors.
scripts/hf_gguf_roundtrip.py imports check() from here.
"""
import argparse
import json
import sys

SPECIAL_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")


def special_ids(config):
    """The special ids config holds, and a list of those outside [0, vocab_size)."""
    ids, bad = {}, []
    for name in SPECIAL_IDS:
        v = getattr(config, name, None)
        ids[name] = v
        for x in (v if isinstance(v, (list, tuple)) else [v]):
            if x is not None and not 0 <= x < config.vocab_size:
                bad.append(f"{name} {x} is outside the vocabulary of {config.vocab_size}")
    return ids, bad


def check(folder, tokens, want, device="auto", dtype="float32", tol=None, log=print):
    """Load folder, compare its logits for tokens with want; returns a dict
    of the measurements with ok (bool) and error (str or None)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    res = {"folder": str(folder), "device": device, "dtype": dtype, "ok": False, "error": None}
    try:
        config = AutoConfig.from_pretrained(folder)
        res["special_ids"], bad = special_ids(config)
        log(f"special ids: {res['special_ids']} (vocab {config.vocab_size})")
        if bad:
            res["error"] = "; ".join(bad)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    except Exception as e:  # a folder transformers cannot load is a result, not a crash
        res["error"] = f"load failed: {type(e).__name__}: {e}"
        log(res["error"])
        return res
    model.to(device).eval()
    with torch.no_grad():
        ids = torch.tensor([tokens], dtype=torch.long, device=device)
        got = model(input_ids=ids).logits[0].float().cpu()
    want = torch.tensor(want, dtype=torch.float32)
    if got.shape != want.shape:
        res["error"] = f"logits shape {tuple(got.shape)}, reference {tuple(want.shape)}"
        log(res["error"])
        return res
    diff = (got - want).abs()
    worst = diff.max().item()
    span = (want.max() - want.min()).item() or 1.0
    pos, tok = divmod(int(diff.argmax().item()), want.shape[1])
    same = (got.argmax(-1) == want.argmax(-1)).float().mean().item()
    res.update(max_abs=worst, relative=worst / span, mean_abs=diff.mean().item(), same_top=same)
    log(f"model: {folder} on {device} in {dtype}")
    log(f"positions: {len(tokens)}  vocab: {want.shape[1]}")
    log(f"max abs diff: {worst:.6g} (position {pos}, token {tok})  relative to logit range {span:.4g}: {worst / span:.6g}")
    log(f"mean abs diff: {diff.mean().item():.6g}")
    log(f"same top token at {same * 100:.1f}% of positions")
    if tol is not None and worst / span > tol:
        res["error"] = f"{worst / span:.6g} > tol {tol}"
        log(f"FAIL: {res['error']}")
    res["ok"] = res["error"] is None
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="Hugging Face model folder (config.json + safetensors)")
    ap.add_argument("reference", help="reference_logits.json")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                    help="dtype to run the model in (default float32)")
    ap.add_argument("--tol", type=float, default=None,
                    help="fail when max |diff| / logit range exceeds this (e.g. 0.002 for F32/F16, 0.003 for BF16)")
    args = ap.parse_args()

    with open(args.reference) as f:
        ref = json.load(f)
    tokens, want = ref["tokens"], ref["logits"]
    if len(tokens) != len(want):
        print(f"{args.reference}: {len(tokens)} tokens but {len(want)} logit rows", file=sys.stderr)
        return 2
    res = check(args.folder, tokens, want, args.device, args.dtype, args.tol)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
