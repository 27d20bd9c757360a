#!/usr/bin/env python3
"""Load a Hugging Face folder with transformers, run the token ids of a
reference_logits.json through it, and print the largest absolute logit
difference from the reference (and that difference over the reference's
logit range).

    python3 scripts/hf_logits_check.py OUT_FOLDER ../shared/testdata/corpus/tiny-llama-spm/reference_logits.json
    python3 scripts/hf_logits_check.py OUT_FOLDER REF.json --device cuda --dtype bfloat16 --tol 0.003

The reference file is {"model": ..., "tokens": [ids], "logits": [[vocab floats] per position]}.
Exit status: 0 when the relative difference is within --tol (if given), 1 otherwise, 2 on usage errors.
"""
import argparse
import json
import sys


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

    import torch
    from transformers import AutoModelForCausalLM

    with open(args.reference) as f:
        ref = json.load(f)
    tokens, want = ref["tokens"], ref["logits"]
    if len(tokens) != len(want):
        print(f"{args.reference}: {len(tokens)} tokens but {len(want)} logit rows", file=sys.stderr)
        return 2

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype)
    model = AutoModelForCausalLM.from_pretrained(args.folder, dtype=dtype)
    model.to(device).eval()

    with torch.no_grad():
        ids = torch.tensor([tokens], dtype=torch.long, device=device)
        got = model(input_ids=ids).logits[0].float().cpu()
    want = torch.tensor(want, dtype=torch.float32)
    if got.shape != want.shape:
        print(f"logits shape {tuple(got.shape)}, reference {tuple(want.shape)}", file=sys.stderr)
        return 1
    diff = (got - want).abs()
    worst = diff.max().item()
    span = (want.max() - want.min()).item() or 1.0
    pos, tok = divmod(int(diff.argmax().item()), want.shape[1])
    print(f"model: {args.folder} on {device} in {args.dtype}")
    print(f"positions: {len(tokens)}  vocab: {want.shape[1]}")
    print(f"max abs diff: {worst:.6g} (position {pos}, token {tok})  relative to logit range {span:.4g}: {worst / span:.6g}")
    print(f"mean abs diff: {diff.mean().item():.6g}")
    argmax_same = (got.argmax(-1) == want.argmax(-1)).float().mean().item()
    print(f"same top token at {argmax_same * 100:.1f}% of positions")
    if args.tol is not None and worst / span > args.tol:
        print(f"FAIL: {worst / span:.6g} > tol {args.tol}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
