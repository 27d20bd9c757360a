#!/usr/bin/env python3
"""Makes testdata/vlm: tiny vision-language checkpoints (Gemma 3, Qwen2-VL,
Qwen2.5-VL) and what llama.cpp's convert_hf_to_gguf.py makes of them, the
text GGUF and, with --mmproj, the projector GGUF.

    /usr/bin/python3 scripts/make-vlm-refs.py LLAMA_SRC [NAME ...]

LLAMA_SRC is the llama.cpp source ../shared/tools/setup-llama.sh installs
(its cache's src/). It runs the converter the way scripts/make-arch-refs.py
does (a stub AutoConfig, so config.json is read as written; torch 1.13) and
borrows that script's weights, safetensors writer, tokenizer and GGUF
description. For each checkpoint it writes testdata/vlm/<name>/ (config.json,
preprocessor_config.json, a BF16 model.safetensors, tokenizer.model,
tokenizer_config.json) and testdata/vlm/<name>-ref/: <name>-f16.gguf.json
(the text model) and mmproj-<name>-{f32,f16,bf16,q8_0}.gguf.json, each GGUF
described in the corpus *.gguf.json format. The GGUFs are not kept (but
with KEEP_GGUF=1). With MTMD_EMBED naming a built scripts/mtmd_embed.c,
<name>-ref/mtmd-f16.{embd,logits}.f32 are what llama.cpp's libmtmd computes
from the converter's F16 text and projector files.

Each family comes twice: as Hub checkpoints hold it, and as transformers 5
saves it (language model under model.language_model, the vision side under
model.visual / model.vision_tower / model.multi_modal_projector, text_config
nested), the same weights. The converter's text conversion reads both; its
--mmproj filters keep only names that start with visual. (Qwen2-VL) or
vision_tower. / multi_modal_projector. (Gemma 3), so for a transformers-5
folder it writes a projector file without the vision tensors (this script
records what it wrote as mmproj-<name>-converter-f16.gguf.json). The
reference for that layout's projector is the Hub twin's (the test passes
the Hub folder's name as general.name).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "vlm"
_spec = importlib.util.spec_from_file_location("mar", ROOT / "scripts" / "make-arch-refs.py")
mar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mar)

H, HD, NL, VOCAB = 64, 16, 2, 512
MMPROJ_TYPES = ["f32", "f16", "bf16", "q8_0"]


def text_layers(w, prefix: str, c: dict, bias: bool):
    for i in range(NL):
        p = f"{prefix}layers.{i}."
        mar.attn(w, p, dict(c, head_dim=HD), bias=bias)
        mar.mlp(w, p + "mlp.", H, 128)


# ---- Gemma 3 ------------------------------------------------------------

def gemma3(seed, t5: bool):
    """Gemma3ForConditionalGeneration: SigLIP (2 layers, width 32, 56 px
    images of 14 px patches) and the Gemma 3 projector (soft_emb_norm stored
    minus one, mm_input_projection_weight [vision, text]); 4 image tokens,
    so proj_scale_factor is 2 and written."""
    text = {"model_type": "gemma3_text", "vocab_size": VOCAB + 8, "hidden_size": H, "intermediate_size": 128,
            "num_hidden_layers": NL, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": HD,
            "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": HD, "sliding_window": 32, "final_logit_softcapping": None,
            "attn_logit_softcapping": None, "attention_bias": False,
            "layer_types": ["sliding_attention", "full_attention"],
            "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": NL,
              "num_attention_heads": 2, "num_channels": 3, "image_size": 56, "patch_size": 14,
              "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh", "vision_use_head": False}
    c = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": text,
         "vision_config": vision, "mm_tokens_per_image": 4, "boi_token_index": 505, "eoi_token_index": 506,
         "image_token_index": 507, "initializer_range": 0.02, "tie_word_embeddings": True, "dtype": "bfloat16"}
    pre = {"image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor",
           "do_normalize": True, "do_rescale": True, "do_resize": True, "resample": 2, "rescale_factor": 1 / 255,
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "image_seq_length": 4,
           "size": {"height": 56, "width": 56}}
    lm, vt, mp = ("model.language_model.", "model.vision_tower.vision_model.", "model.multi_modal_projector.") if t5 \
        else ("language_model.model.", "vision_tower.vision_model.", "multi_modal_projector.")
    w = mar.Weights(seed)
    w.w(lm + "embed_tokens.weight", VOCAB + 8, H)
    w.bias(lm + "norm.weight", H)
    for i in range(NL):
        p = f"{lm}layers.{i}."
        mar.attn(w, p, dict(text, head_dim=HD))
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            w.bias(p + n + ".weight", H)
        w.bias(p + "self_attn.q_norm.weight", HD)
        w.bias(p + "self_attn.k_norm.weight", HD)
        mar.mlp(w, p + "mlp.", H, 128)
    w.w(vt + "embeddings.patch_embedding.weight", 32, 3, 14, 14)
    w.bias(vt + "embeddings.patch_embedding.bias", 32)
    w.w(vt + "embeddings.position_embedding.weight", 16, 32)
    for i in range(NL):
        p = f"{vt}encoder.layers.{i}."
        for n in ("layer_norm1", "layer_norm2"):
            w.norm(p + n + ".weight", 32)
            w.bias(p + n + ".bias", 32)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.w(p + "self_attn." + n + ".weight", 32, 32)
            w.bias(p + "self_attn." + n + ".bias", 32)
        w.w(p + "mlp.fc1.weight", 64, 32)
        w.bias(p + "mlp.fc1.bias", 64)
        w.w(p + "mlp.fc2.weight", 32, 64)
        w.bias(p + "mlp.fc2.bias", 32)
    w.norm(vt + "post_layernorm.weight", 32)
    w.bias(vt + "post_layernorm.bias", 32)
    w.w(mp + "mm_input_projection_weight", 32, H)
    w.bias(mp + "mm_soft_emb_norm.weight", 32)
    return c, pre, w.t


# ---- Qwen2-VL / Qwen2.5-VL -------------------------------------------------

def qwen_text(model_type: str) -> dict:
    return {"vocab_size": VOCAB, "hidden_size": H, "intermediate_size": 128, "num_hidden_layers": NL,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0, "hidden_act": "silu", "attention_dropout": 0.0, "use_sliding_window": False,
            "sliding_window": None, "bos_token_id": 1, "eos_token_id": 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}}


def qwen(seed, v25: bool, t5: bool):
    """Qwen2-VL (3 blocks, LayerNorm, fc1/fc2 MLP, embed_dim 48 so Q8_0 rows fall back
    to F16; the converter writes config hidden_size as the feed-forward
    length) or Qwen2.5-VL (4 blocks, RMSNorm, gated MLP, window attention with full
    attention every second block): a Conv3d patch embedding over two frames,
    fused QKV, the 2x2 patch merger. At least three blocks: gguf-py maps
    merger.mlp.2 only in a tensor map of three blocks or more."""
    text = qwen_text("qwen2_5_vl_text" if v25 else "qwen2_vl_text")
    mt = "qwen2_5_vl" if v25 else "qwen2_vl"
    if v25:
        vision = {"model_type": mt, "depth": 4, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                  "out_hidden_size": H, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                  "window_size": 56, "fullatt_block_indexes": [1, 3], "in_chans": 3, "hidden_act": "silu"}
        width, ff = 32, 64
    else:
        vision = {"model_type": mt, "depth": 3, "embed_dim": 48, "hidden_size": H, "mlp_ratio": 4, "num_heads": 2,
                  "in_chans": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                  "hidden_act": "quick_gelu"}
        width, ff = 48, 192
    arch = "Qwen2_5_VLForConditionalGeneration" if v25 else "Qwen2VLForConditionalGeneration"
    ids = {"image_token_id": 500, "video_token_id": 501, "vision_start_token_id": 502, "vision_end_token_id": 503}
    if t5:
        c = {"architectures": [arch], "model_type": mt, "text_config": dict(text, model_type=mt + "_text"),
             "vision_config": vision, **ids, "tie_word_embeddings": False, "dtype": "bfloat16"}
    else:
        c = {"architectures": [arch], "model_type": mt, **text, "vision_config": vision, **ids,
             "tie_word_embeddings": False, "dtype": "bfloat16"}
    pre = {"image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
           "do_normalize": True, "do_rescale": True, "do_resize": True, "do_convert_rgb": True, "resample": 3,
           "rescale_factor": 1 / 255, "image_mean": [0.48145466, 0.4578275, 0.40821073],
           "image_std": [0.26862954, 0.26130258, 0.27577711], "min_pixels": 3136, "max_pixels": 12845056,
           "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}
    lm, vis = ("model.language_model.", "model.visual.") if t5 else ("model.", "visual.")
    w = mar.Weights(seed)
    w.w(lm + "embed_tokens.weight", VOCAB, H)
    w.norm(lm + "norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"{lm}layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        w.norm(p + "post_attention_layernorm.weight", H)
    text_layers(w, lm, dict(text, num_key_value_heads=2, num_attention_heads=4), bias=True)
    w.w(vis + "patch_embed.proj.weight", width, 3, 2, 14, 14)
    for i in range(vision["depth"]):
        p = f"{vis}blocks.{i}."
        for n in ("norm1", "norm2"):
            w.norm(p + n + ".weight", width)
            if not v25:
                w.bias(p + n + ".bias", width)
        w.w(p + "attn.qkv.weight", 3 * width, width)
        w.bias(p + "attn.qkv.bias", 3 * width)
        w.w(p + "attn.proj.weight", width, width)
        w.bias(p + "attn.proj.bias", width)
        if v25:
            for n in ("gate_proj", "up_proj"):
                w.w(p + "mlp." + n + ".weight", ff, width)
                w.bias(p + "mlp." + n + ".bias", ff)
            w.w(p + "mlp.down_proj.weight", width, ff)
            w.bias(p + "mlp.down_proj.bias", width)
        else:
            w.w(p + "mlp.fc1.weight", ff, width)
            w.bias(p + "mlp.fc1.bias", ff)
            w.w(p + "mlp.fc2.weight", width, ff)
            w.bias(p + "mlp.fc2.bias", width)
    w.norm(vis + "merger.ln_q.weight", width)
    if not v25:
        w.bias(vis + "merger.ln_q.bias", width)
    w.w(vis + "merger.mlp.0.weight", 4 * width, 4 * width)
    w.bias(vis + "merger.mlp.0.bias", 4 * width)
    w.w(vis + "merger.mlp.2.weight", H, 4 * width)
    w.bias(vis + "merger.mlp.2.bias", H)
    return c, pre, w.t


# name -> (maker, seed name): a transformers-5 twin shares its Hub folder's seed.
MODELS = {
    "gemma3": (lambda s: gemma3(s, False), "gemma3"),
    "gemma3-t5": (lambda s: gemma3(s, True), "gemma3"),
    "qwen2vl": (lambda s: qwen(s, False, False), "qwen2vl"),
    "qwen2vl-t5": (lambda s: qwen(s, False, True), "qwen2vl"),
    "qwen25vl": (lambda s: qwen(s, True, False), "qwen25vl"),
    "qwen25vl-t5": (lambda s: qwen(s, True, True), "qwen25vl"),
}


def convert(src: str, model: str, outtype: str, outfile: str, mmproj: bool) -> None:
    mar.converter_env(src, "make-vlm-refs.py")
    sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", outfile] + (["--mmproj"] if mmproj else [])
    import convert_hf_to_gguf
    convert_hf_to_gguf.main()


def reference(src: str, model: Path, ref: Path, stem: str, outtype: str, mmproj: bool) -> Path:
    gg = ref / f"{stem}.gguf"
    subprocess.run([sys.executable, __file__, "--convert", src, str(model), outtype, str(gg), "1" if mmproj else "0"], check=True)
    desc = subprocess.run([sys.executable, ROOT / "scripts" / "make-arch-refs.py", "--describe", src, str(gg)],
                          check=True, capture_output=True, text=True).stdout
    (ref / f"{stem}.gguf.json").write_text(desc)
    return gg


def mtmd(ref: Path, name: str) -> None:
    """What llama.cpp's libmtmd computes from the converter's F16 text and
    projector files (scripts/mtmd_embed.c, built and named by $MTMD_EMBED):
    the test image's embeddings and the logits after them, float32."""
    harness = os.environ.get("MTMD_EMBED")
    if harness:
        subprocess.run([harness, str(ref / f"{name}-f16.gguf"), str(ref / f"mmproj-{name}-f16.gguf"),
                        str(ref / "mtmd-f16.embd.f32"), str(ref / "mtmd-f16.logits.f32")], check=True)


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--convert":
        _, _, src, model, outtype, outfile, mm = sys.argv
        convert(src, model, outtype, outfile, mm == "1")
        return 0
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    failed = []
    for name in names:
        make, seed_name = MODELS[name]
        try:
            cfg, pre, tensors = make(zlib.crc32(("vlm-" + seed_name).encode()) & 0xFFFF)
            d = OUT / name
            mar.write_folder(d, cfg, tensors)
            (d / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
            ref = OUT / (name + "-ref")
            ref.mkdir(parents=True, exist_ok=True)
            made = [reference(src, d, ref, f"{name}-f16", "f16", False)]
            if name.endswith("-t5"):  # the converter's projector for this layout, for the record
                made.append(reference(src, d, ref, f"mmproj-{name}-converter-f16", "f16", True))
            else:
                made += [reference(src, d, ref, f"mmproj-{name}-{ot}", ot, True) for ot in MMPROJ_TYPES]
                mtmd(ref, name)
            if not os.environ.get("KEEP_GGUF"):
                for gg in made:
                    gg.unlink()
        except Exception as e:  # one checkpoint failing does not lose the others
            print(f"{name}: {e}", file=sys.stderr)
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
