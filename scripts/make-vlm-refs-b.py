#!/usr/bin/env python3
"""Makes testdata/vlm-b: tiny vision-language checkpoints of the Mistral 3 /
Pixtral and InternVL families, and what llama.cpp's convert_hf_to_gguf.py
makes of them: the text GGUF and, with --mmproj, the projector GGUF.

    /usr/bin/python3 scripts/make-vlm-refs-b.py LLAMA_SRC [NAME ...]

LLAMA_SRC is the llama.cpp source ../shared/tools/setup-llama.sh clones
(its cache's src/). The method is scripts/make-arch-refs.py's (imported
from it): checkpoints written by this script with numpy (BF16 safetensors,
weights from a seed fixed per name), the converter run with a stub for
transformers' AutoConfig so that it reads config.json as written, each GGUF
described in the corpus *.gguf.json format. The F16 mmproj GGUFs are small
and kept whole (<name>-ref/mmproj-<name>-f16.gguf) so the tests compare bytes.

Checkpoints (<name>/):
- mistral3: Mistral3ForConditionalGeneration as the Hub has it
  (language_model.model.*, vision_tower.*, multi_modal_projector.* with the
  RMS norm and patch merger of Mistral Small 3.1), pixtral vision.
- mistral3-t5: the same weights under the names transformers 5 saves
  (model.language_model.*, model.vision_tower.*, lm_head). The converter's
  LlavaVisionModel keeps only names starting vision_tower. or
  multi_modal_projector., so its mmproj for this folder has no tensors:
  the reference for this folder is the Hub twin's files (the tests ask
  mlmf-run for the Hub twin's bytes from either layout).
- pixtral: LlavaForConditionalGeneration with pixtral vision (the
  mistral-community/pixtral-12b layout: a Mistral text model, projector
  linear_1/linear_2 with biases, no merger).
- internvl-hf: the same weights in transformers 5's InternVL layout
  (Intern-S1's names; vision_config names InternVisionModel so that the
  converter takes it).
- llava15: LlavaForConditionalGeneration with a CLIP tower (llava-hf's
  LLaVA-1.5 layout): the converter writes its text model; --mmproj raises
  (LlavaVisionModel takes only pixtral towers), and its last error line is
  kept as llava15-ref/mmproj-refused.txt.
- llavanext: LlavaNextForConditionalGeneration (llava-hf's LLaVA-NeXT
  layout, image_newline): text converted, --mmproj refused likewise.
- internvl: InternVLChatModel (OpenGVLab/InternVL3-*, remote code layout:
  vision_model.*, mlp1.*, language_model.model.*; llm_config a Qwen2).
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
OUT = ROOT / "testdata" / "vlm-b"
_spec = importlib.util.spec_from_file_location("make_arch_refs", ROOT / "scripts" / "make-arch-refs.py")
ar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ar)

VOCAB, H, NH, NKV, HD, FF, NL = ar.VOCAB, ar.H, ar.NH, ar.NKV, ar.HD, ar.FF, ar.NL
OUTTYPES = ["f16", "q8_0", "f32", "bf16"]
# the vision tower: 3 layers (the converter maps linear_2 as a block number below it), hidden 32, 2 heads, 32x32 images of 8x8 patches
VH, VFF, VNH, VL, IMG, PATCH = 32, 64, 2, 3, 32, 8
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


def text_layers(w, prefix, c, bias=False):
    for i in range(NL):
        p = f"{prefix}layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        ar.attn(w, p, c, bias=bias)
        w.norm(p + "post_attention_layernorm.weight", H)
        ar.mlp(w, p + "mlp.", H, FF)


def pixtral_tower(w, p):
    w.w(p + "patch_conv.weight", VH, 3, PATCH, PATCH)
    w.norm(p + "ln_pre.weight", VH)
    for i in range(VL):
        q = f"{p}transformer.layers.{i}."
        w.norm(q + "attention_norm.weight", VH)
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            w.w(q + f"attention.{n}.weight", VH, VH)
        w.norm(q + "ffn_norm.weight", VH)
        w.w(q + "feed_forward.gate_proj.weight", VFF, VH)
        w.w(q + "feed_forward.up_proj.weight", VFF, VH)
        w.w(q + "feed_forward.down_proj.weight", VH, VFF)


def pixtral_vision_config():
    return {"model_type": "pixtral", "hidden_size": VH, "intermediate_size": VFF, "num_hidden_layers": VL,
            "num_attention_heads": VNH, "head_dim": VH // VNH, "image_size": IMG, "patch_size": PATCH,
            "num_channels": 3, "rope_theta": 10000.0, "hidden_act": "silu", "attention_dropout": 0.0}


def mistral_text_config():
    c = ar.base_config("MistralForCausalLM", "mistral", sliding_window=None, attention_dropout=0.0)
    del c["architectures"], c["dtype"]
    return c


def mistral3(seed):
    text = mistral_text_config()
    c = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "text_config": text,
         "vision_config": pixtral_vision_config(), "image_token_index": 10, "projector_hidden_act": "gelu",
         "spatial_merge_size": 2, "multimodal_projector_bias": False, "vision_feature_layer": -1,
         "tie_word_embeddings": False, "dtype": "bfloat16"}
    w = ar.Weights(seed)
    w.w("language_model.model.embed_tokens.weight", VOCAB, H)
    w.norm("language_model.model.norm.weight", H)
    w.w("language_model.lm_head.weight", VOCAB, H)
    text_layers(w, "language_model.model.", text)
    pixtral_tower(w, "vision_tower.")
    w.norm("multi_modal_projector.norm.weight", VH)
    w.w("multi_modal_projector.patch_merger.merging_layer.weight", VH, VH * 4)
    w.w("multi_modal_projector.linear_1.weight", H, VH)
    w.w("multi_modal_projector.linear_2.weight", H, H)
    return c, w.t, pixtral_preprocessor()


def t5_names(t):
    """The names transformers 5 saves a Mistral3 / LLaVA model under."""
    out = {}
    for k, v in t.items():
        if k.startswith("language_model.model."):
            k = "model.language_model." + k[len("language_model.model."):]
        elif k == "language_model.lm_head.weight":
            k = "lm_head.weight"
        else:
            k = "model." + k
        out[k] = v
    return out


def mistral3_t5(seed):
    c, t, pre = mistral3(zlib.crc32(b"mistral3") & 0xFFFF)
    return c, t5_names(t), pre


def pixtral(seed):
    text = mistral_text_config()
    c = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text,
         "vision_config": pixtral_vision_config(), "image_token_index": 10, "projector_hidden_act": "gelu",
         "multimodal_projector_bias": True, "vision_feature_layer": -1, "vision_feature_select_strategy": "full",
         "tie_word_embeddings": False, "dtype": "bfloat16"}
    w = ar.Weights(seed)
    w.w("language_model.model.embed_tokens.weight", VOCAB, H)
    w.norm("language_model.model.norm.weight", H)
    w.w("language_model.lm_head.weight", VOCAB, H)
    text_layers(w, "language_model.model.", text)
    pixtral_tower(w, "vision_tower.")
    w.w("multi_modal_projector.linear_1.weight", H, VH)
    w.bias("multi_modal_projector.linear_1.bias", H)
    w.w("multi_modal_projector.linear_2.weight", H, H)
    w.bias("multi_modal_projector.linear_2.bias", H)
    return c, w.t, pixtral_preprocessor()


def pixtral_preprocessor():
    return {"image_processor_type": "PixtralImageProcessor", "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
            "patch_size": {"height": PATCH, "width": PATCH}, "size": {"longest_edge": IMG}}


# InternVL's tower: 4 layers (the converter maps mlp1.3 as a block number below it)
IVL = 4


def internvl(seed):
    text = ar.base_config("Qwen2ForCausalLM", "qwen2", attention_bias=True, use_sliding_window=False,
                          sliding_window=None, max_window_layers=NL)
    del text["dtype"]
    vision = {"architectures": ["InternVisionModel"], "model_type": "intern_vit_6b", "hidden_size": VH,
              "intermediate_size": VFF, "num_hidden_layers": IVL, "num_attention_heads": VNH,
              "image_size": IMG, "patch_size": PATCH, "num_channels": 3, "layer_norm_eps": 1e-6,
              "hidden_act": "gelu", "norm_type": "layer_norm", "qkv_bias": True, "qk_normalization": False,
              "use_flash_attn": False, "drop_path_rate": 0.0}
    c = {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "llm_config": text,
         "vision_config": vision, "downsample_ratio": 0.5, "min_dynamic_patch": 1, "max_dynamic_patch": 12,
         "dynamic_image_size": True, "force_image_size": IMG, "select_layer": -1, "ps_version": "v2",
         "template": "internvl2_5", "use_thumbnail": True, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    w = ar.Weights(seed)
    w.w("language_model.model.embed_tokens.weight", VOCAB, H)
    w.norm("language_model.model.norm.weight", H)
    w.w("language_model.lm_head.weight", VOCAB, H)
    text_layers(w, "language_model.model.", text, bias=True)
    p = "vision_model."
    w.w(p + "embeddings.class_embedding", 1, 1, VH)
    w.w(p + "embeddings.patch_embedding.weight", VH, 3, PATCH, PATCH)
    w.bias(p + "embeddings.patch_embedding.bias", VH)
    w.w(p + "embeddings.position_embedding", 1, (IMG // PATCH) ** 2 + 1, VH)
    for i in range(IVL):
        q = f"{p}encoder.layers.{i}."
        w.w(q + "attn.qkv.weight", 3 * VH, VH)
        w.bias(q + "attn.qkv.bias", 3 * VH)
        w.w(q + "attn.proj.weight", VH, VH)
        w.bias(q + "attn.proj.bias", VH)
        w.norm(q + "ls1", VH)
        w.norm(q + "ls2", VH)
        w.norm(q + "norm1.weight", VH)
        w.bias(q + "norm1.bias", VH)
        w.norm(q + "norm2.weight", VH)
        w.bias(q + "norm2.bias", VH)
        w.w(q + "mlp.fc1.weight", VFF, VH)
        w.bias(q + "mlp.fc1.bias", VFF)
        w.w(q + "mlp.fc2.weight", VH, VFF)
        w.bias(q + "mlp.fc2.bias", VH)
    w.norm("mlp1.0.weight", VH * 4)
    w.bias("mlp1.0.bias", VH * 4)
    w.w("mlp1.1.weight", H, VH * 4)
    w.bias("mlp1.1.bias", H)
    w.w("mlp1.3.weight", H, H)
    w.bias("mlp1.3.bias", H)
    pre = {"crop_size": IMG, "do_center_crop": True, "do_normalize": True, "do_resize": True,
           "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "size": IMG}
    return c, w.t, pre


def llava15(seed):
    """llava-hf/llava-1.5-7b-hf's layout: a CLIP vision tower, which
    convert_hf_to_gguf.py --mmproj refuses (LlavaVisionModel knows only
    pixtral); its text model converts as LLaMA."""
    text = ar.base_config("LlamaForCausalLM", "llama", attention_bias=False, mlp_bias=False, attention_dropout=0.0)
    del text["architectures"], text["dtype"]
    vision = {"model_type": "clip_vision_model", "hidden_size": VH, "intermediate_size": VFF, "num_hidden_layers": VL,
              "num_attention_heads": VNH, "image_size": IMG, "patch_size": PATCH, "projection_dim": H,
              "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu", "num_channels": 3}
    c = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava", "text_config": text,
         "vision_config": vision, "image_token_index": 10, "projector_hidden_act": "gelu",
         "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "tie_word_embeddings": False,
         "dtype": "bfloat16"}
    w = ar.Weights(seed)
    w.w("language_model.model.embed_tokens.weight", VOCAB, H)
    w.norm("language_model.model.norm.weight", H)
    w.w("language_model.lm_head.weight", VOCAB, H)
    text_layers(w, "language_model.model.", dict(text, head_dim=HD))
    p = "vision_tower.vision_model."
    w.w(p + "embeddings.class_embedding", VH)
    w.w(p + "embeddings.patch_embedding.weight", VH, 3, PATCH, PATCH)
    w.w(p + "embeddings.position_embedding.weight", (IMG // PATCH) ** 2 + 1, VH)
    w.norm(p + "pre_layrnorm.weight", VH)
    w.bias(p + "pre_layrnorm.bias", VH)
    for i in range(VL):
        q = f"{p}encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w.w(q + f"self_attn.{n}.weight", VH, VH)
            w.bias(q + f"self_attn.{n}.bias", VH)
        for n in ("layer_norm1", "layer_norm2"):
            w.norm(q + n + ".weight", VH)
            w.bias(q + n + ".bias", VH)
        w.w(q + "mlp.fc1.weight", VFF, VH)
        w.bias(q + "mlp.fc1.bias", VFF)
        w.w(q + "mlp.fc2.weight", VH, VFF)
        w.bias(q + "mlp.fc2.bias", VH)
    w.norm(p + "post_layernorm.weight", VH)
    w.bias(p + "post_layernorm.bias", VH)
    w.w("multi_modal_projector.linear_1.weight", H, VH)
    w.bias("multi_modal_projector.linear_1.bias", H)
    w.w("multi_modal_projector.linear_2.weight", H, H)
    w.bias("multi_modal_projector.linear_2.bias", H)
    pre = {"crop_size": {"height": IMG, "width": IMG}, "do_center_crop": True, "do_normalize": True,
           "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "size": {"shortest_edge": IMG},
           "image_processor_type": "CLIPImageProcessor"}
    return c, w.t, pre


def llavanext(seed):
    """llava-hf/llava-v1.6-mistral-7b-hf's layout: LLaVA-1.5's plus
    image_newline and the anyres grid; text_config names its architecture,
    so the converter writes the text model; --mmproj has no class for
    LlavaNextForConditionalGeneration."""
    c, t, pre = llava15(seed)
    c["architectures"] = ["LlavaNextForConditionalGeneration"]
    c["model_type"] = "llava_next"
    c["text_config"] = dict(c["text_config"], architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=None)
    c["image_grid_pinpoints"] = [[IMG, 2 * IMG], [2 * IMG, IMG], [2 * IMG, 2 * IMG]]
    w = ar.Weights(seed + 1)
    w.w("image_newline", H)
    t["image_newline"] = w.t["image_newline"]
    pre = dict(pre, image_processor_type="LlavaNextImageProcessor", image_grid_pinpoints=c["image_grid_pinpoints"])
    return c, t, pre


def internvl_hf(seed):
    """The same weights as internvl under the names transformers 5 saves an
    InternVLForConditionalGeneration with (and Intern-S1 ships): q, k, v
    apart, layernorm_before/after, lambda_1/2, projector layer_norm,
    linear_1, linear_2. Its vision_config names InternVisionModel, the
    class the converter converts it with (InternVL3-*-hf configs name none,
    and the converter refuses them)."""
    c, t, pre = internvl(zlib.crc32(b"internvl") & 0xFFFF)
    text = dict(c["llm_config"])
    vision = dict(c["vision_config"], model_type="internvl_vision", image_size=[IMG, IMG], patch_size=[PATCH, PATCH],
                  use_qk_norm=False, use_absolute_position_embeddings=True, use_mean_pooling=True,
                  layer_scale_init_value=0.1, attention_bias=True, projection_dropout=0.0)
    for k in ("qkv_bias", "qk_normalization", "use_flash_attn", "drop_path_rate"):
        vision.pop(k, None)
    hf = {"architectures": ["InternVLForConditionalGeneration"], "model_type": "internvl", "text_config": text,
          "vision_config": vision, "downsample_ratio": 0.5, "image_token_id": 10, "projector_hidden_act": "gelu",
          "vision_feature_layer": -1, "vision_feature_select_strategy": "default", "tie_word_embeddings": False,
          "dtype": "bfloat16"}
    out = {}
    for k, v in t.items():
        if k.startswith("language_model.model."):
            out["model.language_model." + k[len("language_model.model."):]] = v
        elif k == "language_model.lm_head.weight":
            out["lm_head.weight"] = v
        elif k.startswith("mlp1."):
            n = {"0": "layer_norm", "1": "linear_1", "3": "linear_2"}[k.split(".")[1]]
            out[f"model.multi_modal_projector.{n}.{k.split('.')[2]}"] = v
        elif ".attn.qkv." in k:
            i, kind = k.split(".")[3], k.split(".")[-1]
            for j, part in enumerate(("q_proj", "k_proj", "v_proj")):
                out[f"model.vision_tower.encoder.layer.{i}.attention.{part}.{kind}"] = v[j * VH:(j + 1) * VH]
        else:
            r = k.replace("vision_model.encoder.layers.", "model.vision_tower.encoder.layer.")
            r = r.replace("vision_model.embeddings.class_embedding", "model.vision_tower.embeddings.cls_token")
            r = r.replace("vision_model.embeddings.patch_embedding", "model.vision_tower.embeddings.patch_embeddings.projection")
            r = r.replace("vision_model.embeddings.position_embedding", "model.vision_tower.embeddings.position_embeddings")
            for a, b in ((".attn.proj.", ".attention.projection_layer."), (".ls1", ".lambda_1"), (".ls2", ".lambda_2"),
                         (".norm1.", ".layernorm_before."), (".norm2.", ".layernorm_after.")):
                r = r.replace(a, b)
            out[r] = v
    return hf, out, pre


MODELS = {"mistral3": mistral3, "mistral3-t5": mistral3_t5, "pixtral": pixtral, "internvl": internvl, "internvl-hf": internvl_hf, "llava15": llava15,
          "llavanext": llavanext}
# folders --mmproj refuses: the reference is its error (<name>-ref/mmproj-refused.txt)
MMPROJ_REFUSED = {"llava15", "llavanext"}
# the folder whose converter output is each folder's reference
REF_OF = {"mistral3-t5": "mistral3"}


def write_folder(name: str, seed: int) -> Path:
    d = OUT / name
    c, t, pre = MODELS[name](seed)
    ar.write_folder(d, c, t)
    (d / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    if c["model_type"] in ("mistral3", "llava"):
        # the converter's pixtral path looks up [IMG_BREAK] (an added special token)
        tc = json.loads((d / "tokenizer_config.json").read_text())
        tc["added_tokens_decoder"] = {"12": {"content": "[IMG_BREAK]", "lstrip": False, "normalized": False,
                                             "rstrip": False, "single_word": False, "special": True}}
        (d / "tokenizer_config.json").write_text(json.dumps(tc, indent=2) + "\n")
    return d


def run_converter(src: str, model: str, outtype: str, outfile: str, mmproj: bool) -> None:
    ar.converter_env(src, "make-vlm-refs-b.py")
    sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", outfile]
    if mmproj:
        sys.argv.append("--mmproj")
    import convert_hf_to_gguf
    convert_hf_to_gguf.main()


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--convert":
        _, _, src, model, outtype, outfile, mm = sys.argv
        run_converter(src, model, outtype, outfile, mm == "1")
        return 0
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        try:
            d = write_folder(name, zlib.crc32(name.encode()) & 0xFFFF)
            if name in REF_OF:
                continue
            ref = OUT / (name + "-ref")
            ref.mkdir(exist_ok=True)
            for ot in OUTTYPES:
                for mm in (False, True):
                    gg = ref / (f"mmproj-{name}-{ot}.gguf" if mm else f"{name}-{ot}.gguf")
                    cmd = [sys.executable, __file__, "--convert", src, str(d), ot, str(gg), "1" if mm else "0"]
                    if mm and name in MMPROJ_REFUSED:
                        r = subprocess.run(cmd, capture_output=True, text=True)
                        if r.returncode == 0:
                            raise RuntimeError(f"{name}: --mmproj was expected to refuse")
                        (ref / "mmproj-refused.txt").write_text(r.stderr.strip().splitlines()[-1] + "\n")
                        continue
                    subprocess.run(cmd, check=True)
                    desc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make-arch-refs.py"), "--describe", src, str(gg)],
                                          check=True, capture_output=True, text=True).stdout
                    (ref / (gg.name + ".json")).write_text(desc)
                    if not mm or ot != "f16":
                        gg.unlink()
        except Exception as e:  # one model failing does not lose the others
            print(f"{name}: {e}", file=sys.stderr)
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
