#!/usr/bin/env python3
"""GGUF -> Hugging Face, judged by transformers, for every architecture:

  1. build a tiny random model of each architecture with transformers
     (vocabulary 512, the corpus's SentencePiece tokenizer files beside it),
     and record its logits for a fixed prompt as reference_logits.json;
  2. convert it to an F32 GGUF with llama.cpp's own convert_hf_to_gguf.py
     (with mlmf-run convert where that converter refuses the model, which
     the results then say);
  3. turn that GGUF back into a folder with mlmf-run (recipes/gguf-to-hf.yaml);
  4. load the folder with transformers and compare its logits with step 1's
     (scripts/hf_logits_check.py's check(), which also checks that the
     special token ids are inside the vocabulary).

With --corpus, the corpus's own llama.cpp GGUFs are also turned back into
folders and compared with the corpus's reference_logits.json. With
--mlmf-before, a second mlmf-run (an older build) runs the same steps 3-4,
to show what a fix changed. Run from the repository root:

    python3 scripts/hf_gguf_roundtrip.py --llama-src LLAMA_CPP_SRC --mlmf ./mlmf-run \\
        --spm CORPUS/tiny-llama-spm --corpus CORPUS --work /tmp/rt --device cuda --tol 1e-4

Prints one line per model and writes --json (default WORK/results.json).
Exit status: 0 when every model loads and matches within --tol, 1 otherwise.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_logits_check import check  # noqa: E402

COMMON = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
GEMMA = dict(head_dim=16, pad_token_id=0)  # Gemma ties lm_head to the embedding
UNTIED = dict(tie_word_embeddings=False)

# name: (transformers config class, model class, extra config); an extra
# config with "own" replaces COMMON (models with their own spellings).
ARCHS = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(UNTIED)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(UNTIED, sliding_window=None)),
    # Phi-3's class default pad_token_id is 32000: a folder whose config.json
    # lacks the id cannot build a 512-row embedding.
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(UNTIED, pad_token_id=0, original_max_position_embeddings=128, sliding_window=None)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(UNTIED)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(UNTIED, head_dim=16)),
    "qwen2moe": ("Qwen2MoeConfig", "Qwen2MoeForCausalLM", dict(UNTIED, num_experts=4, num_experts_per_tok=2,
                                                              moe_intermediate_size=32, shared_expert_intermediate_size=64)),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(GEMMA)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(GEMMA, sliding_window=64)),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", dict(GEMMA, sliding_window=64)),
    "stablelm": ("StableLmConfig", "StableLmForCausalLM", dict(UNTIED, partial_rotary_factor=0.25, layer_norm_eps=1e-5)),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(own=True, vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=128,
                                                  bos_token_id=1, eos_token_id=2)),
    "falcon": ("FalconConfig", "FalconForCausalLM", dict(own=True, vocab_size=512, hidden_size=64, num_hidden_layers=2,
                                                        num_attention_heads=4, max_position_embeddings=128, bos_token_id=1, eos_token_id=2)),
}
TOKENIZER_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json")
PROMPT = [1] + [(i * 37 + 11) % 509 + 3 for i in range(40)]


def build(name, out, spm, device):
    """Save a tiny random model of an architecture and its reference logits."""
    import torch
    import transformers

    cfg_cls, model_cls, extra = ARCHS[name]
    extra = dict(extra)
    kw = extra if extra.pop("own", False) else dict(COMMON, **extra)
    cfg = getattr(transformers, cfg_cls)(**kw)
    torch.manual_seed(0)
    model = getattr(transformers, model_cls)(cfg)
    with torch.no_grad():  # weights large enough to matter, norms away from 1 (or 0)
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
            else:
                p.normal_(0, 0.08)
    model.save_pretrained(out)
    cfg_path = Path(out) / "config.json"
    saved = json.loads(cfg_path.read_text())
    if name == "phi3" and "original_max_position_embeddings" not in saved and \
            "original_max_position_embeddings" not in (saved.get("rope_parameters") or {}):
        saved["original_max_position_embeddings"] = 128  # the converter reads it
        cfg_path.write_text(json.dumps(saved, indent=2))
    for f in TOKENIZER_FILES:
        shutil.copy(Path(spm) / f, Path(out) / f)
    model.to(device).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([PROMPT], device=device)).logits[0].float().cpu()
    ref = {"model": name, "tokens": PROMPT, "logits": logits.tolist()}
    (Path(out) / "reference_logits.json").write_text(json.dumps(ref))
    return ref


def llama_convert(llama_src, folder, out_gguf):
    """llama.cpp's convert_hf_to_gguf.py --outtype f32, in this process."""
    if llama_src not in sys.path:
        sys.path.insert(0, llama_src)
    import convert_hf_to_gguf
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", str(folder), "--outfile", str(out_gguf), "--outtype", "f32"]
    try:
        convert_hf_to_gguf.main()
    finally:
        sys.argv = argv


def mlmf_convert(mlmf, folder, out_gguf):
    """mlmf-run's own conversion, for models llama.cpp's converter refuses
    here (it names byte-level BPE tokenizers by a hash of known ones, and
    some architectures take no SentencePiece tokenizer)."""
    p = subprocess.run([mlmf, "convert", str(folder), "-o", str(out_gguf), "--type", "F32", "-q", "--no-manifest"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"mlmf-run convert exit {p.returncode}: {p.stderr.strip()}")


def gguf_ids(path):
    """The special token ids a GGUF records, as gguf-py reads them."""
    import gguf
    r = gguf.GGUFReader(str(path))
    out = {}
    for key in ("bos_token_id", "eos_token_id", "padding_token_id"):
        f = r.fields.get("tokenizer.ggml." + key)
        if f is not None:
            out[key] = int(f.parts[f.data[0]][0])
    return out


def to_hf(mlmf, gguf_path, out, tokenizer):
    cmd = [mlmf, "recipes/gguf-to-hf.yaml", "--set", f"model={gguf_path}", "--set", f"out={out}",
           "--set", "dtype=F32", "--set", f"tokenizer={tokenizer}", "-q", "--no-manifest"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"mlmf-run exit {p.returncode}: {p.stderr.strip()}")
    return json.loads((Path(out) / "config.json").read_text())


def judge(label, mlmf, gguf_path, tokenizer, ref, work, device, tol, log):
    out = Path(work) / ("hf-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label))
    shutil.rmtree(out, ignore_errors=True)
    row = {"model": label}
    try:
        cfg = to_hf(mlmf, gguf_path, out, tokenizer)
        row["config_ids"] = {k: cfg.get(k, "absent") for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        log(f"{label}: config.json ids {row['config_ids']}")
        row.update(check(out, ref["tokens"], ref["logits"], device, "float32", tol, log=lambda s: log(f"  {s}")))
    except Exception as e:
        row.update(ok=False, error=f"{type(e).__name__}: {e}")
        log(f"{label}: {row['error']}")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-src", required=True, help="llama.cpp source folder (convert_hf_to_gguf.py, conversion/, gguf-py/)")
    ap.add_argument("--mlmf", required=True, help="mlmf-run binary")
    ap.add_argument("--mlmf-before", help="an older mlmf-run to run steps 3-4 with as well")
    ap.add_argument("--spm", required=True, help="folder with tokenizer.model, tokenizer_config.json, special_tokens_map.json")
    ap.add_argument("--corpus", help="conformance corpus folder: also judge its llama.cpp GGUFs")
    ap.add_argument("--archs", default=",".join(ARCHS), help="comma-separated subset of: " + ", ".join(ARCHS))
    ap.add_argument("--work", required=True, help="scratch folder")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest |diff| / logit range accepted")
    ap.add_argument("--json", help="results file (default WORK/results.json)")
    args = ap.parse_args()

    import torch
    import transformers
    sys.path.insert(1, str(Path(args.llama_src) / "gguf-py"))
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    def log(s):
        print(f"[{time.time() - t0:6.1f}s] {s}", flush=True)

    log(f"torch {torch.__version__}, transformers {transformers.__version__}, device {device}")
    jobs = []  # (label, gguf, tokenizer folder, reference)
    if args.corpus:
        c = Path(args.corpus)
        for model, ref_gguf in (("tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-f32.gguf"),
                                ("tiny-llama-bpe", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf")):
            ref = json.loads((c / model / "reference_logits.json").read_text())
            jobs.append((model, c / ref_gguf, c / model, ref))
    results = []
    for name in args.archs.split(","):
        src = work / f"{name}-src"
        shutil.rmtree(src, ignore_errors=True)
        try:
            ref = build(name, src, args.spm, device)
            gg = work / f"{name}-f32.gguf"
            label = name
            try:
                llama_convert(args.llama_src, src, gg)
            except BaseException as e:  # the converter exits through SystemExit
                log(f"{name}: llama.cpp's converter: {type(e).__name__}: {e}; converting with mlmf-run instead")
                mlmf_convert(args.mlmf, src, gg)
                label = name + " (GGUF by mlmf-run)"
            log(f"{label}: the GGUF records {gguf_ids(gg)}")
            jobs.append((label, gg, src, ref))
        except BaseException as e:  # the converter exits through SystemExit
            results.append({"model": name, "ok": False, "error": f"building or converting: {type(e).__name__}: {e}"})
            log(f"{name}: {results[-1]['error']}")
    for label, gg, tok, ref in jobs:
        results.append(judge(label, args.mlmf, gg, tok, ref, work, device, args.tol, log))
        if args.mlmf_before:
            before = judge(label + "-before", args.mlmf_before, gg, tok, ref, work, device, args.tol, log)
            results.append(before)
    print("\n| model | loads | max abs diff | relative to logit range | same top token | config ids (bos, eos, pad) | error |")
    print("|---|---|---|---|---|---|---|")
    num = lambda r, k: format(r[k], ".3g") if k in r else ""  # noqa: E731
    for r in results:
        ids = r.get("config_ids") or {}
        print(f"| {r['model']} | {'yes' if 'max_abs' in r else 'no'} | {num(r, 'max_abs')} | {num(r, 'relative')} | "
              f"{'' if 'same_top' not in r else format(r['same_top'], '.0%')} | "
              f"{ids.get('bos_token_id', '')}, {ids.get('eos_token_id', '')}, {ids.get('pad_token_id', '')} | {r.get('error') or ''} |")
    Path(args.json or work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    want = [r for r in results if not r["model"].endswith("-before")]
    return 0 if all(r["ok"] for r in want) else 1


if __name__ == "__main__":
    sys.exit(main())
