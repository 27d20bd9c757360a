#!/usr/bin/env python3
"""Makes testdata/arch: tiny checkpoints of the architectures mlmf-run knows
beyond LLaMA, and what llama.cpp's convert_hf_to_gguf.py makes of them.

    python3 scripts/make-arch-refs.py LLAMA_SRC [ARCH ...]

LLAMA_SRC is the llama.cpp source that ../shared/tools/setup-llama.sh clones
(its cache's src/: convert_hf_to_gguf.py, conversion/, gguf-py/). For each
architecture this writes testdata/arch/<name>/ (config.json, a BF16
model.safetensors with random weights from a fixed seed, norms and biases
jittered away from 1 and 0, and a SentencePiece tokenizer.model trained once
by sentencepiece and kept in testdata/arch/tokenizer.model), converts it with
the converter to BF16, F16 and Q8_0, and describes each GGUF with gguf-py's
reader in the format of the corpus *.gguf.json (see its README) under
testdata/arch/<name>-ref/. The GGUFs themselves are not kept.

What differs from a run with transformers installed, and why it does not
change the reference:
- No transformers here: a stub module makes AutoConfig fail, so the
  converter takes its own fallback and reads config.json as written. Each
  config.json therefore spells out every field the converter reads (what
  AutoConfig's to_dict would have filled in).
- Architectures whose converter class only knows a byte-level BPE vocabulary
  (it needs transformers' AutoTokenizer) are given the SentencePiece path of
  the same converter (TextModel._set_vocab_sentencepiece), which LLaMA-family
  classes take for the same files. The tokenizer keys are then the
  SentencePiece keys; the architecture keys and tensors are untouched.
- torch may be older than the converter expects (Debian's 1.13 has no float8
  dtypes): the missing dtype names are given placeholders that no tensor of
  these checkpoints uses; in a copy of the converter's package, GPTQ's
  dtype.itemsize (torch 2.1) is spelled element_size() and its int32 g_idx
  is widened to int64 before indexing (torch 1.13 indexes with int64 only).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import types
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "arch"
OUTTYPES = ["bf16", "f16", "q8_0"]
# Converter classes whose set_vocab is byte-level BPE only (TextModel's default).
BPE_ONLY = {"llama4", "qwen3-ct-w4", "qwen3-ct-w4-asym", "minimax-m2", "phi3", "phimoe", "exaone-moe", "bloom", "gptneox", "starcoder", "arcee", "olmo", "phi2", "dots1", "qwen3-ct-int8", "qwen3-fp8", "qwen3-ct-fp8", "qwen3-gptq4", "qwen3-gptq2", "qwen3-gptq8-v2", "olmo2", "olmo3", "olmoe", "seed_oss", "qwen3moe", "glm4", "exaone4", "cohere", "cohere2", "starcoder2", "deepseek2", "deepseek2-lite", "deepseek3", "glm4moe"}


# ---- checkpoints ---------------------------------------------------------

def bf16_bytes(a: np.ndarray) -> bytes:
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.tobytes()


def write_safetensors(path: Path, tensors: dict) -> None:
    """Each value is a float32 array (stored as BF16) or (dtype, shape, bytes)."""
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name in sorted(tensors):
        v = tensors[name]
        if isinstance(v, tuple):
            dtype, shape, b = v
        else:
            dtype, shape, b = "BF16", list(v.shape), bf16_bytes(v)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bf16_round(a: np.ndarray) -> np.ndarray:
    """a rounded to BF16 (nearest even), as float32."""
    u = np.frombuffer(bf16_bytes(a), dtype=np.uint16).astype(np.uint32) << 16
    return u.view(np.float32).reshape(a.shape)


def e4m3_table() -> np.ndarray:
    """The float32 value of every float8_e4m3fn byte (NaN for 0x7f, 0xff)."""
    out = np.zeros(256, dtype=np.float32)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            v = float("nan")
        elif e == 0:
            v = m / 8 * 2.0 ** -6
        else:
            v = (1 + m / 8) * 2.0 ** (e - 7)
        out[b] = -v if s else v
    return out


def fp8_block_quantize(w: np.ndarray, block: int):
    """w as float8_e4m3fn bytes with one BF16 scale_inv per block x block
    (amax / 448), and the float32 values a dequantizer must give back:
    float32(fp8) * float32(scale), the converter's dequant_simple."""
    table = e4m3_table()
    finite = np.where(np.isnan(table), np.inf, table)
    rows, cols = w.shape
    br, bc = -(-rows // block), -(-cols // block)
    scale = np.zeros((br, bc), dtype=np.float32)
    for i in range(br):
        for j in range(bc):
            scale[i, j] = max(np.abs(w[i * block:(i + 1) * block, j * block:(j + 1) * block]).max(), 1e-8) / 448.0
    scale = bf16_round(scale)
    full = np.repeat(np.repeat(scale, block, 0), block, 1)[:rows, :cols]
    q = np.abs(finite[None, :] - (w / full).reshape(-1, 1)).argmin(axis=1).astype(np.uint8).reshape(rows, cols)
    deq = (table[q] * full).astype(np.float32)
    return q, scale, deq


class Weights:
    """Random tensors from one seed: weights ~ N(0, 0.05), norms 1 + N(0, 0.1),
    biases N(0, 0.02)."""

    def __init__(self, seed: int):
        self.rng = np.random.RandomState(seed)
        self.t: dict[str, np.ndarray] = {}

    def w(self, name, *shape):
        self.t[name] = (self.rng.standard_normal(shape) * 0.05).astype(np.float32)

    def norm(self, name, n):
        self.t[name] = (1.0 + self.rng.standard_normal(n) * 0.1).astype(np.float32)

    def bias(self, name, n):
        self.t[name] = (self.rng.standard_normal(n) * 0.02).astype(np.float32)


VOCAB = 512
H, NH, NKV, HD, FF, NL = 64, 4, 2, 16, 128, 2


def base_config(arch: str, model_type: str, **kw) -> dict:
    c = {
        "architectures": [arch], "model_type": model_type,
        "vocab_size": VOCAB, "hidden_size": H, "intermediate_size": FF,
        "num_hidden_layers": NL, "num_attention_heads": NH, "num_key_value_heads": NKV,
        "head_dim": HD, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
        "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None,
        "dtype": "bfloat16",
    }
    c.update(kw)
    return c


def attn(w: Weights, p: str, c: dict, bias=False, o_bias=False):
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    w.w(p + "self_attn.q_proj.weight", q, c["hidden_size"])
    w.w(p + "self_attn.k_proj.weight", kv, c["hidden_size"])
    w.w(p + "self_attn.v_proj.weight", kv, c["hidden_size"])
    w.w(p + "self_attn.o_proj.weight", c["hidden_size"], q)
    if bias:
        w.bias(p + "self_attn.q_proj.bias", q)
        w.bias(p + "self_attn.k_proj.bias", kv)
        w.bias(p + "self_attn.v_proj.bias", kv)
    if o_bias:
        w.bias(p + "self_attn.o_proj.bias", c["hidden_size"])


def mlp(w: Weights, p: str, h: int, ff: int):
    w.w(p + "gate_proj.weight", ff, h)
    w.w(p + "up_proj.weight", ff, h)
    w.w(p + "down_proj.weight", h, ff)


def ends(w: Weights, c: dict):
    w.w("model.embed_tokens.weight", c["vocab_size"], c["hidden_size"])
    w.norm("model.norm.weight", c["hidden_size"])
    if not c.get("tie_word_embeddings"):
        w.w("lm_head.weight", c["vocab_size"], c["hidden_size"])


def experts(w: Weights, p: str, c: dict, n: int, ff: int):
    w.w(p + "gate.weight", n, c["hidden_size"])
    for x in range(n):
        mlp(w, f"{p}experts.{x}.", c["hidden_size"], ff)


def olmo2(seed):
    c = base_config("Olmo2ForCausalLM", "olmo2", attention_bias=False, attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", NH * HD)
        w.norm(p + "self_attn.k_norm.weight", NKV * HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.norm(p + "post_feedforward_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def seed_oss(seed):
    c = base_config("SeedOssForCausalLM", "seed_oss", attention_bias=True, attention_out_bias=False,
                    mlp_bias=False, residual_dropout=0.0, attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c, bias=True)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def qwen3moe(seed):
    c = base_config("Qwen3MoeForCausalLM", "qwen3_moe", num_experts=4, num_experts_per_tok=2,
                    moe_intermediate_size=32, decoder_sparse_step=1, mlp_only_layers=[],
                    norm_topk_prob=True, attention_bias=False, sliding_window=None, use_sliding_window=False,
                    output_router_logits=False, router_aux_loss_coef=0.001)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        experts(w, p + "mlp.", c, 4, 32)
    return c, w.t


def olmoe(seed):
    # llama.cpp's OLMoE has no GQA (its K norm is hidden_size wide), as the releases
    c = base_config("OlmoeForCausalLM", "olmoe", num_key_value_heads=NH, num_experts=4, num_experts_per_tok=2, norm_topk_prob=False,
                    clip_qkv=None, attention_bias=False, output_router_logits=False, router_aux_loss_coef=0.01)
    # rms_norm_eps stays 1e-6: the converter writes 1e-5 whatever the config says
    c["intermediate_size"] = 32
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", NH * HD)
        w.norm(p + "self_attn.k_norm.weight", NH * HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        experts(w, p + "mlp.", c, 4, 32)
    return c, w.t


def granite(seed):
    c = base_config("GraniteForCausalLM", "granite", attention_multiplier=0.0078125, embedding_multiplier=12.0,
                    residual_multiplier=0.22, logits_scaling=8.0, attention_bias=False, mlp_bias=False,
                    attention_dropout=0.0)
    del c["head_dim"]  # Granite has none (the converter drops it)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(c, head_dim=H // NH))
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def olmo3(seed):
    c, t = olmo2(seed)
    c.update(architectures=["Olmo3ForCausalLM"], model_type="olmo3", sliding_window=32,
             layer_types=["sliding_attention", "full_attention"])
    return c, t


def llama_like(seed, c):
    w = Weights(seed)
    ends(w, c)
    hd = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(c, head_dim=hd))
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def smollm3(seed):
    return llama_like(seed, base_config("SmolLM3ForCausalLM", "smollm3", no_rope_layers=[1, 0],
                                        no_rope_layer_interval=4, use_sliding_window=False, sliding_window=None,
                                        attention_bias=False, mlp_bias=False, attention_dropout=0.0))


def ernie4_5(seed):
    return llama_like(seed, base_config("Ernie4_5ForCausalLM", "ernie4_5", use_bias=False))


def glm4(seed):
    c = base_config("Glm4ForCausalLM", "glm4", attention_bias=True, partial_rotary_factor=0.5,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c, bias=True)
        w.norm(p + "post_self_attn_layernorm.weight", H)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.norm(p + "post_mlp_layernorm.weight", H)
        w.w(p + "mlp.gate_up_proj.weight", 2 * FF, H)
        w.w(p + "mlp.down_proj.weight", H, FF)
    return c, w.t


def exaone4(seed):
    c = base_config("Exaone4ForCausalLM", "exaone4", sliding_window=32, sliding_window_pattern="LG",
                    layer_types=["sliding_attention", "full_attention"], attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.norm(p + "post_feedforward_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def cohere(seed):
    c = base_config("CohereForCausalLM", "cohere", logit_scale=0.0625, layer_norm_eps=1e-5, use_qk_norm=False,
                    attention_bias=False, tie_word_embeddings=True, model_max_length=512)
    del c["rms_norm_eps"], c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(c, head_dim=HD))
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def cohere2(seed):
    c = base_config("Cohere2ForCausalLM", "cohere2", logit_scale=0.0625, layer_norm_eps=1e-5, rotary_pct=1.0,
                    sliding_window=32, layer_types=["sliding_attention", "full_attention"],
                    attention_bias=False, tie_word_embeddings=True)
    del c["rms_norm_eps"], c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(c, head_dim=HD))
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def starcoder2(seed):
    c = base_config("Starcoder2ForCausalLM", "starcoder2", norm_epsilon=1e-5, use_bias=True, hidden_act="gelu_pytorch_tanh",
                    tie_word_embeddings=True, residual_dropout=0.0, embedding_dropout=0.0, attention_dropout=0.0)
    del c["rms_norm_eps"], c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    w.bias("model.norm.bias", H)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        w.bias(p + "input_layernorm.bias", H)
        attn(w, p, dict(c, head_dim=HD), bias=True, o_bias=True)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.bias(p + "post_attention_layernorm.bias", H)
        w.w(p + "mlp.c_fc.weight", FF, H)
        w.bias(p + "mlp.c_fc.bias", FF)
        w.w(p + "mlp.c_proj.weight", H, FF)
        w.bias(p + "mlp.c_proj.bias", H)
    return c, w.t


def mistral3(seed):
    """Mistral Small 3.1 layout: a Mistral text model inside the vision wrapper."""
    text = base_config("MistralForCausalLM", "mistral", sliding_window=None, attention_dropout=0.0)
    del text["architectures"], text["dtype"]
    c = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "text_config": text,
         "vision_config": {"model_type": "pixtral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "head_dim": 16, "image_size": 64, "patch_size": 16,
                           "num_channels": 3, "rope_theta": 10000.0},
         "image_token_index": 10, "projector_hidden_act": "gelu", "spatial_merge_size": 2,
         "multimodal_projector_bias": False, "vision_feature_layer": -1, "tie_word_embeddings": False,
         "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("model.language_model.embed_tokens.weight", VOCAB, H)
    w.norm("model.language_model.norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.language_model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, text)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    w.w("model.vision_tower.patch_conv.weight", 32, 3, 16, 16)
    w.norm("model.vision_tower.ln_pre.weight", 32)
    w.norm("model.multi_modal_projector.norm.weight", 32)
    w.w("model.multi_modal_projector.patch_merger.merging_layer.weight", 32, 128)
    w.w("model.multi_modal_projector.linear_1.weight", H, 32)
    w.w("model.multi_modal_projector.linear_2.weight", H, H)
    return c, w.t


def deepseek(seed, v3: bool, lite: bool = False):
    """DeepSeek MLA: V2's shape (query LoRA, softmax router), V2-Lite's (no
    query LoRA) or V3's (query LoRA, sigmoid router with a score correction
    bias, expert groups); the first layer dense, the second MoE with a shared
    expert."""
    n_exp, moe_ff, rank, qrank, nope, rope, vhd = 4, 32, 32, 48, 16, 8, 16
    c = base_config("DeepseekV3ForCausalLM" if v3 else "DeepseekV2ForCausalLM", "deepseek_v3" if v3 else "deepseek_v2",
                    num_key_value_heads=NH, moe_intermediate_size=moe_ff, n_shared_experts=1, n_routed_experts=n_exp,
                    num_experts_per_tok=2, first_k_dense_replace=1, kv_lora_rank=rank,
                    q_lora_rank=None if lite else qrank, qk_rope_head_dim=rope, qk_nope_head_dim=nope, v_head_dim=vhd,
                    routed_scaling_factor=2.5 if v3 else 1.0, norm_topk_prob=v3, topk_method="noaux_tc" if v3 else "greedy",
                    n_group=2 if v3 else None, topk_group=1 if v3 else None, head_dim=rope,
                    scoring_func="sigmoid" if v3 else "softmax", attention_bias=False, attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        if not lite:
            w.w(p + "self_attn.q_a_proj.weight", qrank, H)
            w.norm(p + "self_attn.q_a_layernorm.weight", qrank)
            w.w(p + "self_attn.q_b_proj.weight", NH * (nope + rope), qrank)
        else:
            w.w(p + "self_attn.q_proj.weight", NH * (nope + rope), H)
        w.w(p + "self_attn.kv_a_proj_with_mqa.weight", rank + rope, H)
        w.norm(p + "self_attn.kv_a_layernorm.weight", rank)
        w.w(p + "self_attn.kv_b_proj.weight", NH * (nope + vhd), rank)
        w.w(p + "self_attn.o_proj.weight", H, NH * vhd)
        w.norm(p + "post_attention_layernorm.weight", H)
        if i == 0:
            mlp(w, p + "mlp.", H, FF)
            continue
        experts(w, p + "mlp.", c, n_exp, moe_ff)
        if v3:
            w.bias(p + "mlp.gate.e_score_correction_bias", n_exp)
        mlp(w, p + "mlp.shared_experts.", H, moe_ff)
    if v3:  # V3's multi-token-prediction layer, past num_hidden_layers: the converter drops it
        c["num_nextn_predict_layers"] = 1
        p = f"model.layers.{NL}."
        w.norm(p + "input_layernorm.weight", H)
        w.w(p + "eh_proj.weight", H, 2 * H)
        w.norm(p + "enorm.weight", H)
        w.norm(p + "hnorm.weight", H)
        w.norm(p + "shared_head.norm.weight", H)
        w.w(p + "self_attn.o_proj.weight", H, NH * vhd)
    return c, w.t


def granitemoe(seed, shared: bool):
    """GraniteMoE (JetMoE-style fused experts: input_linear holds gate and up),
    and GraniteMoeShared with a shared MLP."""
    n_exp, ff = 4, 32
    c = base_config("GraniteMoeSharedForCausalLM" if shared else "GraniteMoeForCausalLM",
                    "granitemoeshared" if shared else "granitemoe", num_local_experts=n_exp, num_experts_per_tok=2,
                    attention_multiplier=0.015625, embedding_multiplier=12.0, residual_multiplier=0.22,
                    logits_scaling=6.0, attention_bias=False, tie_word_embeddings=True, router_aux_loss_coef=0.001,
                    output_router_logits=False)
    c["intermediate_size"] = ff
    if shared:
        c["shared_intermediate_size"] = 48
    del c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(c, head_dim=H // NH))
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "block_sparse_moe.router.layer.weight", n_exp, H)
        w.w(p + "block_sparse_moe.input_linear.weight", n_exp, 2 * ff, H)
        w.w(p + "block_sparse_moe.output_linear.weight", n_exp, H, ff)
        if shared:
            w.w(p + "shared_mlp.input_linear.weight", 2 * 48, H)
            w.w(p + "shared_mlp.output_linear.weight", H, 48)
    return c, w.t


def ernie4_5_moe(seed):
    """ERNIE 4.5 MoE: layer 0 dense, layer 1 MoE with two shared experts and
    the router's score correction (moe_statics)."""
    n_exp, ff = 4, 32
    c = base_config("Ernie4_5_MoeForCausalLM", "ernie4_5_moe", use_bias=False, moe_num_experts=n_exp, moe_k=2,
                    moe_layer_start_index=1, moe_layer_end_index=NL - 1, moe_layer_interval=1,
                    moe_intermediate_size=ff, moe_num_shared_experts=2, moe_norm_min=1e-12, moe_capacity=[4, 4, 4],
                    output_router_logits=False, router_aux_loss_coef=0.001)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "post_attention_layernorm.weight", H)
        if i == 0:
            mlp(w, p + "mlp.", H, FF)
            continue
        experts(w, p + "mlp.", c, n_exp, ff)
        w.t[p + "mlp.moe_statics.e_score_correction_bias"] = (w.rng.standard_normal((1, n_exp)) * 0.02).astype(np.float32)
        mlp(w, p + "mlp.shared_experts.", H, 2 * ff)
    return c, w.t


def glm4moe(seed):
    """GLM-4.5: layer 0 dense, layer 1 routed (sigmoid, score correction) with
    a shared expert; Q/K biases and per-head Q/K norms; layer 2 the
    multi-token-prediction layer the converter keeps."""
    n_exp, ff = 4, 32
    c = base_config("Glm4MoeForCausalLM", "glm4_moe", attention_bias=True, partial_rotary_factor=0.5,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
                    n_routed_experts=n_exp, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=ff,
                    first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True, n_group=1, topk_group=1,
                    use_qk_norm=True, num_nextn_predict_layers=1)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL + 1):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c, bias=True)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        if i == 0:
            mlp(w, p + "mlp.", H, FF)
            continue
        experts(w, p + "mlp.", c, n_exp, ff)
        w.bias(p + "mlp.gate.e_score_correction_bias", n_exp)
        mlp(w, p + "mlp.shared_experts.", H, ff)
        if i == NL:
            w.w(p + "eh_proj.weight", H, 2 * H)
            w.norm(p + "enorm.weight", H)
            w.norm(p + "hnorm.weight", H)
            w.norm(p + "shared_head.norm.weight", H)
    return c, w.t


def qwen3(seed):
    c = base_config("Qwen3ForCausalLM", "qwen3", attention_bias=False, use_sliding_window=False, sliding_window=None)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


FP8_BLOCK = 32


def fp8_pair(seed):
    """A Qwen3 checkpoint with its layers' projections in FP8 (DeepSeek/Qwen
    layout: <name>_scale_inv, one BF16 scale per 32x32 block), and its twin
    with those weights dequantized to float32 as the converter would: the
    converter (torch without float8 here) converts the twin, and mlmf-run the
    FP8 checkpoint, to the same reference."""
    c, t = qwen3(seed)
    c = dict(c, quantization_config={"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                     "weight_block_size": [FP8_BLOCK, FP8_BLOCK]})
    fp8, twin = {}, {}
    for name, v in t.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            q, scale, deq = fp8_block_quantize(bf16_round(v), FP8_BLOCK)
            fp8[name] = ("F8_E4M3", list(q.shape), q.tobytes())
            fp8[name + "_scale_inv"] = ("BF16", list(scale.shape), bf16_bytes(scale))
            twin[name] = ("F32", list(deq.shape), deq.tobytes())
        else:
            fp8[name] = twin[name] = v
    return c, fp8, twin


def fp8_channel_quantize(w: np.ndarray):
    """w as float8_e4m3fn bytes with one BF16 scale per row, and the float32
    values the converter's dequant_simple gives back."""
    table = e4m3_table()
    finite = np.where(np.isnan(table), np.inf, table)
    scale = bf16_round((np.maximum(np.abs(w).max(axis=1), 1e-8) / 448.0).astype(np.float32)).reshape(-1, 1)
    q = np.abs(finite[None, :] - (w / scale).reshape(-1, 1)).argmin(axis=1).astype(np.uint8).reshape(w.shape)
    return q, scale, (table[q] * scale).astype(np.float32)


def ct_fp8_pair(seed):
    """The same Qwen3 checkpoint as compressed-tensors float-quantized FP8
    with per-channel weight_scale (llm-compressor's FP8_DYNAMIC), and its
    dequantized twin."""
    c, t = qwen3(seed)
    c = dict(c, quantization_config={
        "quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
        "ignore": ["lm_head"], "config_groups": {"group_0": {"targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False,
                        "group_size": None, "block_structure": None},
            "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": True,
                                  "dynamic": True}}}})
    ct, twin = {}, {}
    for name, v in t.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            q, scale, deq = fp8_channel_quantize(bf16_round(v))
            ct[name] = ("F8_E4M3", list(q.shape), q.tobytes())
            ct[name.removesuffix("weight") + "weight_scale"] = ("BF16", list(scale.shape), bf16_bytes(scale))
            twin[name] = ("F32", list(deq.shape), deq.tobytes())
        else:
            ct[name] = twin[name] = v
    return c, ct, twin


def gptq_pack(w: np.ndarray, bits: int, group: int, rng, v2: bool):
    """GPTQ tensors for a [out, in] weight: qweight [in/pack, out] and qzeros
    [groups, out/pack] int32 (pack = 32/bits values, low bits first), scales
    [groups, out] F16, g_idx [in] int32 in act order (a permutation of the
    inputs, as desc_act checkpoints store). gptq (v1) stores zero - 1."""
    out_f, in_f = w.shape
    maxq, pack = (1 << bits) - 1, 32 // bits
    groups = in_f // group
    g_idx = (rng.permutation(in_f) // group).astype(np.int32)
    wt = w.T.astype(np.float32)  # [in, out]
    scales = np.zeros((groups, out_f), dtype=np.float32)
    zeros = np.zeros((groups, out_f), dtype=np.int64)
    for g in range(groups):
        rows = wt[g_idx == g]
        lo, hi = np.minimum(rows.min(axis=0), 0), np.maximum(rows.max(axis=0), 0)
        sc = np.maximum((hi - lo) / maxq, 1e-5).astype(np.float16).astype(np.float32)
        scales[g], zeros[g] = sc, np.clip(np.round(-lo / sc), 1, maxq)
    q = np.clip(np.round(wt / scales[g_idx]) + zeros[g_idx], 0, maxq).astype(np.int64)
    qweight = np.zeros((in_f // pack, out_f), dtype=np.int64)
    for k in range(pack):
        qweight |= q[k::pack] << (bits * k)
    stored = zeros if v2 else zeros - 1
    qzeros = np.zeros((groups, out_f // pack), dtype=np.int64)
    for k in range(pack):
        qzeros |= stored[:, k::pack] << (bits * k)
    i32 = lambda a: a.astype(np.uint32).view(np.int32)
    return i32(qweight), i32(qzeros), scales.astype(np.float16), g_idx


def gptq_model(seed, bits: int, v2: bool):
    """The Qwen3 checkpoint with its layers' projections GPTQ-quantized
    (group 32, act order); the converter reads it as it is."""
    c, t = qwen3(seed)
    c = dict(c, quantization_config={"quant_method": "gptq", "bits": bits, "group_size": 32, "desc_act": True,
                                     "sym": False, "checkpoint_format": "gptq_v2" if v2 else "gptq"})
    rng = np.random.RandomState(seed + 1)
    out = {}
    for name, v in t.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            base = name.removesuffix(".weight")
            qw, qz, sc, gi = gptq_pack(v, bits, 32, rng, v2)
            out[base + ".qweight"] = ("I32", list(qw.shape), qw.tobytes())
            out[base + ".qzeros"] = ("I32", list(qz.shape), qz.tobytes())
            out[base + ".scales"] = ("F16", list(sc.shape), sc.tobytes())
            out[base + ".g_idx"] = ("I32", list(gi.shape), gi.tobytes())
        else:
            out[name] = v
    return c, out


def ct_int8_model(seed):
    """The Qwen3 checkpoint as compressed-tensors int-quantized W8 (int8 per
    channel with a BF16 weight_scale [rows, 1]); the converter reads it as it is."""
    c, t = qwen3(seed)
    c = dict(c, quantization_config={
        "quant_method": "compressed-tensors", "format": "int-quantized", "quantization_status": "compressed",
        "ignore": ["lm_head"], "config_groups": {"group_0": {"targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True, "dynamic": False,
                        "group_size": None, "block_structure": None}}}})
    out = {}
    for name, v in t.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            scale = bf16_round((np.maximum(np.abs(v).max(axis=1), 1e-8) / 127.0).astype(np.float32)).reshape(-1, 1)
            q = np.clip(np.round(v / scale), -128, 127).astype(np.int8)
            out[name] = ("I8", list(q.shape), q.tobytes())
            out[name.removesuffix("weight") + "weight_scale"] = ("BF16", list(scale.shape), bf16_bytes(scale))
        else:
            out[name] = v
    return c, out


def gemma3(seed):
    """Gemma 3 (text): norms stored minus one, embeddings padded past the
    tokenizer's 512 tokens (the converter truncates them), tied output,
    sliding and global rope thetas."""
    c = base_config("Gemma3ForCausalLM", "gemma3_text", vocab_size=VOCAB + 8, hidden_activation="gelu_pytorch_tanh",
                    query_pre_attn_scalar=HD, sliding_window=32, final_logit_softcapping=None,
                    attn_logit_softcapping=None, tie_word_embeddings=True, attention_bias=False,
                    layer_types=["sliding_attention", "full_attention"],
                    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    del c["rope_theta"], c["hidden_act"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB + 8, H)
    w.bias("model.norm.weight", H)
    for i in range(NL):
        p = f"model.layers.{i}."
        attn(w, p, c)
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            w.bias(p + n + ".weight", H)
        w.bias(p + "self_attn.q_norm.weight", HD)
        w.bias(p + "self_attn.k_norm.weight", HD)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def qwen25vl(seed):
    """Qwen2.5-VL as transformers 5 writes it: the text model under
    model.language_model with M-RoPE sections, a vision tower under
    model.visual that the text conversion leaves out."""
    text = base_config("Qwen2_5_VLTextModel", "qwen2_5_vl_text", attention_dropout=0.0,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
                       rope_theta=1000000.0, use_sliding_window=False, sliding_window=None)
    del text["architectures"], text["dtype"], text["head_dim"]
    c = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "text_config": text,
         "vision_config": {"model_type": "qwen2_5_vl", "depth": 1, "hidden_size": 32, "intermediate_size": 64,
                           "num_heads": 2, "out_hidden_size": H, "patch_size": 14, "spatial_merge_size": 2,
                           "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [0],
                           "in_chans": 3, "hidden_act": "silu"},
         "image_token_id": 500, "video_token_id": 501, "vision_start_token_id": 502, "tie_word_embeddings": False,
         "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("model.language_model.embed_tokens.weight", VOCAB, H)
    w.norm("model.language_model.norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.language_model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, dict(text, head_dim=HD), bias=True)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    w.w("model.visual.patch_embed.proj.weight", 32, 3, 2, 14, 14)
    w.norm("model.visual.blocks.0.norm1.weight", 32)
    w.w("model.visual.merger.mlp.0.weight", 128, 128)
    return c, w.t


def arcee(seed):
    """Arcee AFM: LLaMA with a two-matrix ReLU^2 MLP (no gate)."""
    c = base_config("ArceeForCausalLM", "arcee", hidden_act="relu2", attention_bias=False, mlp_bias=False,
                    attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "mlp.up_proj.weight", FF, H)
        w.w(p + "mlp.down_proj.weight", H, FF)
    return c, w.t


def olmo(seed):
    """OLMo (1): LayerNorms without parameters, clip_qkv, no GQA."""
    c = base_config("OlmoForCausalLM", "olmo", num_key_value_heads=NH, clip_qkv=8.0, attention_bias=False,
                    attention_dropout=0.0, tie_word_embeddings=False)
    del c["rms_norm_eps"], c["head_dim"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB, H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.layers.{i}."
        attn(w, p, dict(c, head_dim=HD))
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def phi2(seed):
    """Phi-2: partial rotary, biased projections and LayerNorms, fc1/fc2 MLP."""
    c = base_config("PhiForCausalLM", "phi", num_key_value_heads=NH, partial_rotary_factor=0.5, layer_norm_eps=1e-5,
                    hidden_act="gelu_new", qk_layernorm=False, resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})
    c["intermediate_size"] = 4 * H
    del c["rms_norm_eps"], c["head_dim"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB, H)
    w.norm("model.final_layernorm.weight", H)
    w.bias("model.final_layernorm.bias", H)
    w.w("lm_head.weight", VOCAB, H)
    w.bias("lm_head.bias", VOCAB)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        w.bias(p + "input_layernorm.bias", H)
        for n in ("q_proj", "k_proj", "v_proj"):
            w.w(p + f"self_attn.{n}.weight", H, H)
            w.bias(p + f"self_attn.{n}.bias", H)
        w.w(p + "self_attn.dense.weight", H, H)
        w.bias(p + "self_attn.dense.bias", H)
        w.w(p + "mlp.fc1.weight", 4 * H, H)
        w.bias(p + "mlp.fc1.bias", 4 * H)
        w.w(p + "mlp.fc2.weight", H, 4 * H)
        w.bias(p + "mlp.fc2.bias", H)
    return c, w.t


def nemotron(seed):
    """Nemotron / Minitron: LayerNorm1P (weights stored minus one, with
    biases), partial rotary, squared-ReLU up/down MLP."""
    c = base_config("NemotronForCausalLM", "nemotron", norm_eps=1e-5, partial_rotary_factor=0.5,
                    hidden_act="relu2", attention_bias=False, mlp_bias=False, attention_dropout=0.0,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5})
    del c["rms_norm_eps"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB, H)
    w.bias("model.norm.weight", H)
    w.bias("model.norm.bias", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.bias(p + n + ".weight", H)
            w.bias(p + n + ".bias", H)
        attn(w, p, c)
        w.w(p + "mlp.up_proj.weight", FF, H)
        w.w(p + "mlp.down_proj.weight", H, FF)
    return c, w.t


def dots1(seed):
    """dots.llm1: Qwen3-style per-head Q/K norms, the first layer dense, then
    routed experts with a score correction bias beside shared experts."""
    n_exp, ff = 4, 32
    # no GQA: llama.cpp's dots1 takes K and V as wide as Q, as the release has them
    c = base_config("Dots1ForCausalLM", "dots1", num_key_value_heads=NH, n_routed_experts=n_exp, num_experts_per_tok=2, n_shared_experts=1,
                    moe_intermediate_size=ff, first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True,
                    n_group=1, topk_group=1, scoring_func="sigmoid", attention_bias=False)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        if i == 0:
            mlp(w, p + "mlp.", H, FF)
            continue
        experts(w, p + "mlp.", c, n_exp, ff)
        w.bias(p + "mlp.gate.e_score_correction_bias", n_exp)
        mlp(w, p + "mlp.shared_experts.", H, ff)
    return c, w.t


def gptneox(seed):
    """GPT-NeoX (Pythia): fused per-head (q, k, v) rows with biases, partial
    rotary, parallel residual, LayerNorms with biases."""
    c = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "vocab_size": VOCAB, "hidden_size": H,
         "intermediate_size": FF, "num_hidden_layers": NL, "num_attention_heads": NH, "max_position_embeddings": 256,
         "rotary_pct": 0.25, "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "use_parallel_residual": True,
         "hidden_act": "gelu", "tie_word_embeddings": False, "attention_bias": True, "bos_token_id": 1,
         "eos_token_id": 2, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
         "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("gpt_neox.embed_in.weight", VOCAB, H)
    w.w("embed_out.weight", VOCAB, H)
    w.norm("gpt_neox.final_layer_norm.weight", H)
    w.bias("gpt_neox.final_layer_norm.bias", H)
    for i in range(NL):
        p = f"gpt_neox.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.norm(p + n + ".weight", H)
            w.bias(p + n + ".bias", H)
        w.w(p + "attention.query_key_value.weight", 3 * H, H)
        w.bias(p + "attention.query_key_value.bias", 3 * H)
        w.w(p + "attention.dense.weight", H, H)
        w.bias(p + "attention.dense.bias", H)
        w.w(p + "mlp.dense_h_to_4h.weight", FF, H)
        w.bias(p + "mlp.dense_h_to_4h.bias", FF)
        w.w(p + "mlp.dense_4h_to_h.weight", H, FF)
        w.bias(p + "mlp.dense_4h_to_h.bias", H)
    return c, w.t


def starcoder(seed):
    """StarCoder (GPTBigCode): multi-query attention fused in c_attn, learned
    positions, tied output."""
    c = {"architectures": ["GPTBigCodeForCausalLM"], "model_type": "gpt_bigcode", "vocab_size": VOCAB, "n_embd": H,
         "n_inner": 4 * H, "n_layer": NL, "n_head": NH, "n_positions": 256, "multi_query": True,
         "layer_norm_epsilon": 1e-5, "activation_function": "gelu_pytorch_tanh", "tie_word_embeddings": True,
         "bos_token_id": 1, "eos_token_id": 2, "scale_attn_weights": True, "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("transformer.wte.weight", VOCAB, H)
    w.w("transformer.wpe.weight", 256, H)
    w.norm("transformer.ln_f.weight", H)
    w.bias("transformer.ln_f.bias", H)
    for i in range(NL):
        p = f"transformer.h.{i}."
        for n in ("ln_1", "ln_2"):
            w.norm(p + n + ".weight", H)
            w.bias(p + n + ".bias", H)
        w.w(p + "attn.c_attn.weight", H + 2 * HD, H)
        w.bias(p + "attn.c_attn.bias", H + 2 * HD)
        w.w(p + "attn.c_proj.weight", H, H)
        w.bias(p + "attn.c_proj.bias", H)
        w.w(p + "mlp.c_fc.weight", 4 * H, H)
        w.bias(p + "mlp.c_fc.bias", 4 * H)
        w.w(p + "mlp.c_proj.weight", H, 4 * H)
        w.bias(p + "mlp.c_proj.bias", H)
    return c, w.t


def ministral3(seed):
    """Ministral 3 as a causal LM: LLaMA tensors, YaRN rope with the log
    multiplier and Llama-4 attention temperature the converter writes."""
    c = base_config("Ministral3ForCausalLM", "ministral3", attention_dropout=0.0, sliding_window=None,
                    rope_parameters={"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 16.0,
                                     "original_max_position_embeddings": 16384, "beta_fast": 32.0, "beta_slow": 1.0,
                                     "mscale": 1.0, "mscale_all_dim": 1.0, "llama_4_scaling_beta": 0.1})
    return llama_like(seed, c)


def bloom(seed):
    """BLOOM: per-head fused (q, k, v) with biases, a LayerNorm right after
    the embeddings, ALiBi (no rotary), tied output."""
    c = {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "vocab_size": VOCAB, "hidden_size": H,
         "n_layer": NL, "n_head": NH, "layer_norm_epsilon": 1e-5, "apply_residual_connection_post_layernorm": False,
         "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": True, "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("transformer.word_embeddings.weight", VOCAB, H)
    w.norm("transformer.word_embeddings_layernorm.weight", H)
    w.bias("transformer.word_embeddings_layernorm.bias", H)
    w.norm("transformer.ln_f.weight", H)
    w.bias("transformer.ln_f.bias", H)
    for i in range(NL):
        p = f"transformer.h.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.norm(p + n + ".weight", H)
            w.bias(p + n + ".bias", H)
        w.w(p + "self_attention.query_key_value.weight", 3 * H, H)
        w.bias(p + "self_attention.query_key_value.bias", 3 * H)
        w.w(p + "self_attention.dense.weight", H, H)
        w.bias(p + "self_attention.dense.bias", H)
        w.w(p + "mlp.dense_h_to_4h.weight", 4 * H, H)
        w.bias(p + "mlp.dense_h_to_4h.bias", 4 * H)
        w.w(p + "mlp.dense_4h_to_h.weight", H, 4 * H)
        w.bias(p + "mlp.dense_4h_to_h.bias", H)
    return c, w.t


def exaone_moe(seed):
    """K-EXAONE: pre-norm blocks with per-head Q/K norms and EXAONE 4's
    sliding-window pattern, the first layer dense, then
    routed sigmoid experts with a score correction bias and a shared expert."""
    n_exp, ff = 4, 32
    c = base_config("ExaoneMoeForCausalLM", "exaone_moe", sliding_window=32,
                    layer_types=["sliding_attention", "full_attention"], num_experts=n_exp, num_experts_per_tok=2,
                    moe_intermediate_size=ff, num_shared_experts=1, routed_scaling_factor=2.5, norm_topk_prob=True,
                    first_k_dense_replace=1, n_group=1, topk_group=1, scoring_func="sigmoid",
                    num_nextn_predict_layers=0, attention_dropout=0.0)
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        if i == 0:
            mlp(w, p + "mlp.", H, FF)
            continue
        experts(w, p + "mlp.", c, n_exp, ff)
        w.bias(p + "mlp.e_score_correction_bias", n_exp)
        mlp(w, p + "mlp.shared_experts.", H, ff)
    return c, w.t


def qwen3vl(seed):
    """Qwen3-VL (dense) as transformers 5 writes it: a Qwen3 text model under
    model.language_model with interleaved M-RoPE, the vision tower under
    model.visual with one deepstack layer."""
    text = base_config("Qwen3VLTextModel", "qwen3_vl_text", attention_bias=False, attention_dropout=0.0,
                       rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 3, 3],
                                        "mrope_interleaved": True}, rope_theta=5000000.0)
    del text["architectures"], text["dtype"]
    c = {"architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl", "text_config": text,
         "vision_config": {"model_type": "qwen3_vl", "depth": 2, "hidden_size": 32, "intermediate_size": 64,
                           "num_heads": 2, "out_hidden_size": H, "patch_size": 16, "spatial_merge_size": 2,
                           "temporal_patch_size": 2, "num_position_embeddings": 16, "deepstack_visual_indexes": [0],
                           "in_channels": 3, "hidden_act": "gelu_pytorch_tanh"},
         "image_token_id": 500, "video_token_id": 501, "vision_start_token_id": 502, "vision_end_token_id": 503,
         "tie_word_embeddings": False, "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("model.language_model.embed_tokens.weight", VOCAB, H)
    w.norm("model.language_model.norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.language_model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, text)
        w.norm(p + "self_attn.q_norm.weight", HD)
        w.norm(p + "self_attn.k_norm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    w.w("model.visual.patch_embed.proj.weight", 32, 3, 2, 16, 16)
    w.norm("model.visual.blocks.0.norm1.weight", 32)
    w.w("model.visual.deepstack_merger_list.0.linear_fc1.weight", 128, 128)
    return c, w.t


def phimoe(seed):
    """Phi-3.5-MoE: LongRoPE (long and short factors, attention factor),
    LayerNorms with biases, biased projections and output, Mixtral-style
    experts (w1, w2, w3)."""
    n_exp = 4
    rng = np.random.RandomState(seed + 7)
    c = base_config("PhiMoEForCausalLM", "phimoe", max_position_embeddings=1024, original_max_position_embeddings=256,
                    num_local_experts=n_exp, num_experts_per_tok=2, rms_norm_eps=1e-5, attention_bias=True,
                    lm_head_bias=True, sliding_window=512, input_jitter_noise=0.0, router_jitter_noise=0.0,
                    rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                     "original_max_position_embeddings": 256,
                                     "long_factor": [round(1.0 + 0.5 * i + float(rng.rand()), 4) for i in range(HD // 2)],
                                     "short_factor": [round(1.0 + 0.01 * i, 4) for i in range(HD // 2)]})
    c["intermediate_size"] = 32
    del c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    w.bias("model.norm.bias", H)
    w.bias("lm_head.bias", VOCAB)
    for i in range(NL):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w.norm(p + n + ".weight", H)
            w.bias(p + n + ".bias", H)
        attn(w, p, dict(c, head_dim=HD), bias=True, o_bias=True)
        w.w(p + "block_sparse_moe.gate.weight", n_exp, H)
        for x in range(n_exp):
            q = f"{p}block_sparse_moe.experts.{x}."
            w.w(q + "w1.weight", 32, H)
            w.w(q + "w2.weight", H, 32)
            w.w(q + "w3.weight", 32, H)
    return c, w.t


def phi3(seed):
    """Phi-3.5-mini: fused qkv_proj and gate_up_proj, LongRoPE."""
    rng = np.random.RandomState(seed + 7)
    c = base_config("Phi3ForCausalLM", "phi3", max_position_embeddings=1024, original_max_position_embeddings=256,
                    num_key_value_heads=NH, rms_norm_eps=1e-5, sliding_window=262, attention_bias=False,
                    rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                     "original_max_position_embeddings": 256,
                                     "long_factor": [round(1.0 + 0.5 * i + float(rng.rand()), 4) for i in range(HD // 2)],
                                     "short_factor": [round(1.0 + 0.01 * i, 4) for i in range(HD // 2)]})
    del c["head_dim"]
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        w.w(p + "self_attn.qkv_proj.weight", 3 * H, H)
        w.w(p + "self_attn.o_proj.weight", H, H)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "mlp.gate_up_proj.weight", 2 * FF, H)
        w.w(p + "mlp.down_proj.weight", H, FF)
    return c, w.t


def minimax_m2(seed):
    """MiniMax-M2: full-width Q/K norms, partial rotary (rotary_dim), every
    layer sigmoid-routed (Mixtral-style w1/w2/w3 experts) with a score
    correction bias."""
    n_exp = 4
    c = base_config("MiniMaxM2ForCausalLM", "minimax_m2", num_local_experts=n_exp, num_experts_per_tok=2,
                    rotary_dim=8, use_qk_norm=True, qk_norm_type="per_layer", scoring_func="sigmoid",
                    use_routing_bias=True, attention_dropout=0.0)
    c["intermediate_size"] = 32
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.q_norm.weight", NH * HD)
        w.norm(p + "self_attn.k_norm.weight", NKV * HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "block_sparse_moe.gate.weight", n_exp, H)
        w.bias(p + "block_sparse_moe.e_score_correction_bias", n_exp)
        for x in range(n_exp):
            q = f"{p}block_sparse_moe.experts.{x}."
            w.w(q + "w1.weight", 32, H)
            w.w(q + "w2.weight", H, 32)
            w.w(q + "w3.weight", 32, H)
    return c, w.t


def ct_w4_model(seed, asym: bool):
    """The Qwen3 checkpoint as compressed-tensors pack-quantized W4A16
    (llm-compressor): int4 per group of 32 columns packed eight to an int32
    (low bits first), BF16 scales, the true shape, and with asym zero points
    packed along the rows; the converter reads it as it is."""
    c, t = qwen3(seed)
    c = dict(c, quantization_config={
        "quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
        "ignore": ["lm_head"], "config_groups": {"group_0": {"targets": ["Linear"],
            "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32, "symmetric": not asym,
                        "dynamic": False, "block_structure": None}}}})
    out = {}
    for name, v in t.items():
        if not (".layers." in name and name.endswith("_proj.weight")):
            out[name] = v
            continue
        base = name.removesuffix(".weight")
        rows, cols = v.shape
        g = v.reshape(rows, cols // 32, 32)
        if asym:
            lo, hi = np.minimum(g.min(axis=2), 0), np.maximum(g.max(axis=2), 0)
            scale = bf16_round(np.maximum((hi - lo) / 15, 1e-5).astype(np.float32))
            zero = np.clip(np.round(-lo / scale), 0, 15).astype(np.int64)
        else:
            scale = bf16_round((np.maximum(np.abs(g).max(axis=2), 1e-5) / 7).astype(np.float32))
            zero = np.full(scale.shape, 8, dtype=np.int64)
        q = np.clip(np.round(g / scale[:, :, None]) + zero[:, :, None], 0, 15).astype(np.int64).reshape(rows, cols)
        packed = np.zeros((rows, cols // 8), dtype=np.int64)
        for k in range(8):
            packed |= q[:, k::8] << (4 * k)
        i32 = lambda a: a.astype(np.uint32).view(np.int32)
        out[base + ".weight_packed"] = ("I32", [rows, cols // 8], i32(packed).tobytes())
        out[base + ".weight_scale"] = ("BF16", list(scale.shape), bf16_bytes(scale))
        out[base + ".weight_shape"] = ("I64", [2], np.array([rows, cols], dtype=np.int64).tobytes())
        if asym:
            zp = np.zeros((-(-rows // 8), cols // 32), dtype=np.int64)
            for k in range(8):
                zp[: len(zero[k::8])] |= zero[k::8] << (4 * k)
            out[base + ".weight_zero_point"] = ("I32", list(zp.shape), i32(zp).tobytes())
    return c, out


def llama4(seed):
    """Llama 4 (text of the vision-language checkpoint, transformers 5
    layout), Scout-like: every layer MoE with fused experts stored
    [experts, in, out] (gate_up_proj, down_proj), a shared expert and a
    router; Llama 3 rope scaling; the vision tower left out."""
    n_exp, ff = 4, 32
    text = base_config("Llama4ForCausalLM", "llama4_text", intermediate_size=ff, intermediate_size_mlp=FF,
                       num_local_experts=n_exp, num_experts_per_tok=1, interleave_moe_layer_step=1,
                       use_qk_norm=True, attention_chunk_size=128, attn_temperature_tuning=True, floor_scale=8192,
                       attn_scale=0.1, no_rope_layers=[1, 1], attention_bias=False, router_aux_loss_coef=0.001,
                       rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 16.0,
                                        "low_freq_factor": 1.0, "high_freq_factor": 1.0,
                                        "original_max_position_embeddings": 64})
    del text["architectures"], text["dtype"], text["rope_theta"]
    c = {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "text_config": text,
         "vision_config": {"model_type": "llama4_vision_model", "hidden_size": 32, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "intermediate_size": 64, "image_size": 64, "patch_size": 16,
                           "pixel_shuffle_ratio": 0.5, "norm_eps": 1e-5, "hidden_act": "gelu",
                           "projector_input_dim": 64, "projector_output_dim": 64, "vision_output_dim": 32},
         "image_token_index": 500, "tie_word_embeddings": False, "dtype": "bfloat16"}
    w = Weights(seed)
    w.w("model.language_model.embed_tokens.weight", VOCAB, H)
    w.norm("model.language_model.norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.language_model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, text)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "feed_forward.router.weight", n_exp, H)
        w.w(p + "feed_forward.experts.gate_up_proj", n_exp, H, 2 * ff)
        w.w(p + "feed_forward.experts.down_proj", n_exp, ff, H)
        mlp(w, p + "feed_forward.shared_expert.", H, ff)
    w.w("model.vision_model.patch_embedding.linear.weight", 32, 768)
    w.w("model.multi_modal_projector.linear_1.weight", H, 64)
    return c, w.t


ARCHS = {
    "llama4": llama4,
    "qwen3-ct-w4": lambda seed: ct_w4_model(seed, False),
    "qwen3-ct-w4-asym": lambda seed: ct_w4_model(seed, True),
    "minimax-m2": minimax_m2,
    "phi3": phi3,
    "phimoe": phimoe,
    "qwen3vl": qwen3vl,
    "exaone-moe": exaone_moe,
    "bloom": bloom,
    "gptneox": gptneox,
    "starcoder": starcoder,
    "ministral3": ministral3,
    "arcee": arcee,
    "olmo": olmo,
    "phi2": phi2,
    "nemotron": nemotron,
    "dots1": dots1,
    "qwen25vl": qwen25vl,
    "gemma3": gemma3,
    "qwen3-ct-int8": ct_int8_model,
    "qwen3-gptq4": lambda seed: gptq_model(seed, 4, False),
    "qwen3-gptq2": lambda seed: gptq_model(seed, 2, False),
    "qwen3-gptq8-v2": lambda seed: gptq_model(seed, 8, True),
    "qwen3-ct-fp8": ct_fp8_pair,
    "qwen3-fp8": fp8_pair,
    "glm4moe": glm4moe,
    "ernie4_5-moe": ernie4_5_moe,
    "granitemoe": lambda seed: granitemoe(seed, False),
    "granitemoeshared": lambda seed: granitemoe(seed, True),
    "deepseek2": lambda seed: deepseek(seed, False),
    "deepseek2-lite": lambda seed: deepseek(seed, False, lite=True),
    "deepseek3": lambda seed: deepseek(seed, True),
    "starcoder2": starcoder2,
    "mistral3": mistral3,
    "olmo3": olmo3,
    "smollm3": smollm3,
    "ernie4_5": ernie4_5,
    "glm4": glm4,
    "exaone4": exaone4,
    "cohere": cohere,
    "cohere2": cohere2,
    "olmo2": olmo2,
    "seed_oss": seed_oss,
    "qwen3moe": qwen3moe,
    "olmoe": olmoe,
    "granite": granite,
}



# ---- gpt-oss (MXFP4 experts) and BitNet ----------------------------------

# E2M1 values of the 16 FP4 codes (sign in bit 3), as transformers' MXFP4.
FP4_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def mxfp4_pair(rng, experts: int, rows: int, cols: int):
    """Random MXFP4 weights in openai/gpt-oss-20b's safetensors layout:
    <name>_blocks uint8 [experts, rows, cols/32, 16] (two FP4 codes a byte,
    element 2j in the low nibble, 2j+1 in the high), <name>_scales uint8
    [experts, rows, cols/32] (E8M0 exponents, 2^(s-127)), written with torch."""
    import torch
    g = torch.Generator().manual_seed(int(rng.randint(1 << 30)))
    blocks = torch.randint(0, 256, (experts, rows, cols // 32, 16), dtype=torch.uint8, generator=g)
    scales = torch.randint(118, 123, (experts, rows, cols // 32), dtype=torch.uint8, generator=g)
    return (("U8", list(blocks.shape), blocks.numpy().tobytes()),
            ("U8", list(scales.shape), scales.numpy().tobytes()))


def gpt_oss(seed, mxfp4: bool = True):
    """openai/gpt-oss-20b's config and tensor layout, tiny: attention with
    biases and sinks, a router with a bias, fused experts (gate and up
    interleaved in gate_up_proj) with biases; their weights as MXFP4
    blocks/scales (quant_method mxfp4), or with mxfp4=False dequantized to
    BF16 [experts, in, out] as unsloth/gpt-oss-20b-BF16 ships them."""
    n_exp, ff = 4, 64
    c = base_config("GptOssForCausalLM", "gpt_oss", attention_bias=True, attention_dropout=0.0,
                    intermediate_size=ff, num_local_experts=n_exp, num_experts_per_tok=2, experts_per_token=2,
                    rms_norm_eps=1e-5, sliding_window=16, swiglu_limit=7.0, initial_context_length=64,
                    layer_types=["sliding_attention", "full_attention"], router_aux_loss_coef=0.9,
                    rope_theta=150000.0, output_router_logits=False, use_cache=True,
                    rope_scaling={"beta_fast": 32.0, "beta_slow": 1.0, "factor": 4.0,
                                  "original_max_position_embeddings": 64, "rope_type": "yarn", "truncate": False})
    del c["rope_parameters"]
    if mxfp4:
        c["quantization_config"] = {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                               "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"}
    w = Weights(seed)
    ends(w, c)
    t = w.t
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c, bias=True, o_bias=True)
        w.w(p + "self_attn.sinks", NH)
        w.norm(p + "post_attention_layernorm.weight", H)
        w.w(p + "mlp.router.weight", n_exp, H)
        w.bias(p + "mlp.router.bias", n_exp)
        e = p + "mlp.experts."
        w.bias(e + "gate_up_proj_bias", n_exp * 2 * ff)
        t[e + "gate_up_proj_bias"] = t[e + "gate_up_proj_bias"].reshape(n_exp, 2 * ff)
        w.bias(e + "down_proj_bias", n_exp * H)
        t[e + "down_proj_bias"] = t[e + "down_proj_bias"].reshape(n_exp, H)
        if mxfp4:
            t[e + "gate_up_proj_blocks"], t[e + "gate_up_proj_scales"] = mxfp4_pair(w.rng, n_exp, 2 * ff, H)
            t[e + "down_proj_blocks"], t[e + "down_proj_scales"] = mxfp4_pair(w.rng, n_exp, H, ff)
        else:
            w.w(e + "gate_up_proj", n_exp, H, 2 * ff)
            w.w(e + "down_proj", n_exp, ff, H)
    return c, t


def bitnet(seed):
    """1bitLLM/bitnet_b1_58's layout (BitnetForCausalLM, full-precision
    weights the converter rounds to ternary): LLaMA's tensors plus the
    sub-norms inside attention (inner_attn_ln) and the MLP (ffn_layernorm),
    embeddings tied (the converter's BitNet has no output tensor)."""
    c = base_config("BitnetForCausalLM", "llama", tie_word_embeddings=True, input_bits=8, weight_bits=1,
                    rope_scaling=None, rms_norm_eps=1e-5)
    del c["rope_parameters"]
    w = Weights(seed)
    ends(w, c)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.inner_attn_ln.weight", H)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
        w.norm(p + "mlp.ffn_layernorm.weight", FF)
    return c, w.t


def bitnet_packed(seed):
    """The BitNet checkpoint with its projections stored as
    microsoft/bitnet-b1.58-2B-4T stores them (quant_method bitnet): ternary
    codes + 1 packed four to a byte (uint8 [out/4, in], row j + k out/4 in
    bits 2k), and a BF16 weight_scale [1] the codes are divided by. The names
    stay 1bitLLM's: the converter maps none of 2B-4T's attn_sub_norm and
    ffn_sub_norm."""
    c, t = bitnet(seed)
    c = dict(c, architectures=["BitNetForCausalLM"], model_type="bitnet",
             quantization_config={"linear_class": "autobitlinear", "quant_method": "bitnet", "quantization_mode": "offline"})
    out = {}
    for name, v in t.items():
        if ".layers." in name and name.endswith("_proj.weight"):
            w = bf16_round(v)
            s = max(float(np.abs(w).mean()), 1e-5)
            q = np.clip(np.round(w / s), -1, 1).astype(np.int64) + 1
            rows = w.shape[0] // 4
            packed = sum((q[k * rows:(k + 1) * rows] << (2 * k)) for k in range(4)).astype(np.uint8)
            out[name] = ("U8", list(packed.shape), packed.tobytes())
            out[name + "_scale"] = np.array([1.0 / s], dtype=np.float32)
        else:
            out[name] = v
    return c, out


ARCHS.update({
    "bitnet-packed": bitnet_packed,
    "gpt-oss": gpt_oss,
    "gpt-oss-bf16": lambda seed: gpt_oss(seed, mxfp4=False),
    "bitnet": bitnet,
})
BPE_ONLY |= {"gpt-oss", "gpt-oss-bf16"}


# ---- InternLM 2 and 3, EXAONE 3, Hunyuan dense and MoE ---------------------
# (a block of its own: other sessions add architectures above)

# Per-checkpoint additions to the shared tokenizer_config.json.
TOKENIZER_CONFIG_EXTRA: dict[str, dict] = {}

# The chat models' end-of-turn token, which InternLM2Model and InternLM3Model
# make the EOS: an added special token (the last piece of the shared
# SentencePiece model becomes it, a CONTROL token with score -1000).
IM_END = {"added_tokens_decoder": {"511": {"content": "<|im_end|>", "lstrip": False, "normalized": False,
                                           "rstrip": False, "single_word": False, "special": True}}}


def internlm2(seed):
    """InternLM2 (remote code): fused wqkv stored per KV group as (its
    queries, one key, one value), dynamic rope scaling (no GGUF keys), no
    head_dim; the chat models' <|im_end|> as an added token."""
    c = base_config("InternLM2ForCausalLM", "internlm2", bias=False, attn_implementation="eager",
                    rope_scaling={"type": "dynamic", "factor": 2.0})
    del c["head_dim"], c["rope_parameters"]
    w = Weights(seed)
    w.w("model.tok_embeddings.weight", VOCAB, H)
    w.norm("model.norm.weight", H)
    w.w("output.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "attention_norm.weight", H)
        w.w(p + "attention.wqkv.weight", (NH + 2 * NKV) * HD, H)
        w.w(p + "attention.wo.weight", H, NH * HD)
        w.norm(p + "ffn_norm.weight", H)
        w.w(p + "feed_forward.w1.weight", FF, H)
        w.w(p + "feed_forward.w3.weight", FF, H)
        w.w(p + "feed_forward.w2.weight", H, FF)
    return c, w.t


def internlm3(seed):
    """InternLM3 (remote code; the converter writes it as llama): LLaMA's
    tensors and Q/K permutation, dynamic rope scaling (no GGUF keys), and
    <|im_end|> as an added special token."""
    c = base_config("InternLM3ForCausalLM", "internlm3", bias=False, qkv_bias=False, attention_dropout=0.0,
                    rope_scaling={"rope_type": "dynamic", "factor": 6.0})
    del c["rope_parameters"]
    return llama_like(seed, c)


def exaone(seed):
    """EXAONE 3.5 (remote code ExaoneConfig): GPT-2-style names
    (transformer.h.N.attn.attention.*, mlp.c_fc_0/c_fc_1/c_proj), num_layers,
    layer_norm_epsilon for its RMSNorms, llama3 rope scaling."""
    c = base_config("ExaoneForCausalLM", "exaone", activation_function="silu", layer_norm_epsilon=1e-5,
                    num_layers=NL, embed_dropout=0.0, attention_dropout=0.0,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 64})
    for k in ("head_dim", "rope_parameters", "rms_norm_eps", "num_hidden_layers", "hidden_act"):
        del c[k]
    w = Weights(seed)
    w.w("transformer.wte.weight", VOCAB, H)
    w.norm("transformer.ln_f.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"transformer.h.{i}."
        w.norm(p + "ln_1.weight", H)
        for n, rows in (("q_proj", NH * HD), ("k_proj", NKV * HD), ("v_proj", NKV * HD)):
            w.w(p + "attn.attention." + n + ".weight", rows, H)
        w.w(p + "attn.attention.out_proj.weight", H, NH * HD)
        w.norm(p + "ln_2.weight", H)
        w.w(p + "mlp.c_fc_0.weight", FF, H)
        w.w(p + "mlp.c_fc_1.weight", FF, H)
        w.w(p + "mlp.c_proj.weight", H, FF)
    return c, w.t


HUNYUAN_ROPE = {"alpha": 1000.0, "beta_fast": 32, "beta_slow": 1, "factor": 1.0, "mscale": 1.0,
                "mscale_all_dim": 1.0, "type": "dynamic"}


def hunyuan_dense(seed):
    """Hunyuan dense (Hunyuan-0.5B..7B): per-head query/key layernorms,
    NTK-alpha ("dynamic") rope scaling with the 32K context the converter
    turns into 256K, num_experts 1 (which the converter keeps out of the
    keys), tied embeddings with an lm_head stored anyway (dropped)."""
    c = base_config("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense", max_position_embeddings=32768,
                    rms_norm_eps=1e-5, rope_scaling=HUNYUAN_ROPE, attention_bias=False, mlp_bias=False,
                    use_qk_norm=True, use_cla=False, num_experts=1, eod_token_id=3, tie_word_embeddings=True)
    del c["rope_parameters"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB, H)
    w.norm("model.norm.weight", H)
    w.w("lm_head.weight", VOCAB, H)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", H)
        attn(w, p, c)
        w.norm(p + "self_attn.query_layernorm.weight", HD)
        w.norm(p + "self_attn.key_layernorm.weight", HD)
        w.norm(p + "post_attention_layernorm.weight", H)
        mlp(w, p + "mlp.", H, FF)
    return c, w.t


def hunyuan_moe(seed):
    """Hunyuan-A13B-like MoE: per-layer lists of top-k, expert widths and
    shared-expert counts, a router at mlp.gate.wg, a shared MLP, experts
    stacked as down, gate, up; NTK-alpha rope scaling, whose converter
    branch insists on a head size of 128 (so hidden 128, one head). The
    experts are as wide as the shared MLP, as in A13B: llama.cpp sizes them
    by feed_forward_length."""
    n_exp, hid, ff_exp, ff_sh = 4, 128, 32, 32
    c = base_config("HunYuanMoEV1ForCausalLM", "hunyuan_v1_moe", hidden_size=hid, intermediate_size=ff_sh,
                    num_attention_heads=1, num_key_value_heads=1, head_dim=hid, max_position_embeddings=32768,
                    rms_norm_eps=1e-5, rope_scaling=HUNYUAN_ROPE, attention_bias=False, mlp_bias=False,
                    use_qk_norm=True, use_cla=False, use_mixed_mlp_moe=True, num_experts=n_exp,
                    moe_topk=[2] * NL, moe_intermediate_size=[ff_exp] * NL, num_shared_expert=[1] * NL,
                    eod_token_id=3, tie_word_embeddings=True)
    del c["rope_parameters"]
    w = Weights(seed)
    w.w("model.embed_tokens.weight", VOCAB, hid)
    w.norm("model.norm.weight", hid)
    for i in range(NL):
        p = f"model.layers.{i}."
        w.norm(p + "input_layernorm.weight", hid)
        attn(w, p, c)
        w.norm(p + "self_attn.query_layernorm.weight", hid)
        w.norm(p + "self_attn.key_layernorm.weight", hid)
        w.norm(p + "post_attention_layernorm.weight", hid)
        w.w(p + "mlp.gate.wg.weight", n_exp, hid)
        mlp(w, p + "mlp.shared_mlp.", hid, ff_sh)
        for x in range(n_exp):
            mlp(w, f"{p}mlp.experts.{x}.", hid, ff_exp)
    return c, w.t


ARCHS.update({
    "internlm2": internlm2,
    "internlm3": internlm3,
    "exaone": exaone,
    "hunyuan-dense": hunyuan_dense,
    "hunyuan-moe": hunyuan_moe,
})
# EXAONE 3 and Hunyuan read a byte-level BPE (or tiktoken) vocabulary only;
# InternLM2 and InternLM3 read the SentencePiece model themselves.
BPE_ONLY.update({"exaone", "hunyuan-dense", "hunyuan-moe"})
TOKENIZER_CONFIG_EXTRA.update({"internlm2": IM_END, "internlm3": IM_END})



# ---- add_prefix_space (LlamaModel.set_vocab) ------------------------------
# LlamaModel.set_vocab writes tokenizer_config.json's add_prefix_space, when
# not null, as tokenizer.ggml.add_space_prefix before the vocabulary: a
# SmolLM3 copy with false, a Granite copy with true.
ARCHS.update({
    "smollm3-prefix-space": smollm3,
    "granite-prefix-space": granite,
})
TOKENIZER_CONFIG_EXTRA.update({
    "smollm3-prefix-space": {"add_prefix_space": False},
    "granite-prefix-space": {"add_prefix_space": True},
})

# InternLM3Model.set_vocab writes tokenizer_config.json's add_prefix_space,
# when present, as tokenizer.ggml.add_space_prefix after the token types.
ARCHS["internlm3-prefix-space"] = internlm3
TOKENIZER_CONFIG_EXTRA["internlm3-prefix-space"] = {**IM_END, "add_prefix_space": False}

# InternLM2Model.set_vocab reads the SentencePiece model itself: a "\x00"
# piece is written as "\U0001f409", pieces starting "[UNUSED" are typed
# unused (the chat tokens then take those slots through tokenizer_config.json),
# added_tokens.json's tokens are appended past the model's pieces. The shared
# model with three pieces renamed ("\x00", two "[UNUSED_TOKEN_n]", one of them
# then <|im_end|>); the second copy also has an added_tokens.json.
def internlm2_pieces(proto):
    proto.pieces[509].piece = "\x00"
    proto.pieces[510].piece = "[UNUSED_TOKEN_145]"
    proto.pieces[511].piece = "[UNUSED_TOKEN_146]"


ARCHS["internlm2-vocab"] = internlm2
ARCHS["internlm2-added"] = internlm2
TOKENIZER_CONFIG_EXTRA["internlm2-vocab"] = IM_END
TOKENIZER_CONFIG_EXTRA["internlm2-added"] = IM_END
TOKENIZER_MODEL_EDIT = {"internlm2-vocab": internlm2_pieces, "internlm2-added": internlm2_pieces}
ADDED_TOKENS_JSON = {"internlm2-added": {"<|action_start|>": 512, "<|action_end|>": 513}}

# ---- Kimi-K2: DeepSeek-V3's layout with a tiktoken vocabulary -------------
# moonshotai/Kimi-K2 ships tiktoken.model (base64 token, rank per line) and
# remote code (tokenization_kimi.py's TikTokenTokenizer) instead of a
# tokenizer.json. DeepseekV2Model.set_vocab then takes the tokenizer's
# mergeable ranks and special tokens (ids from the base count on: the
# added_tokens_decoder's content, else <|reserved_token_i|>, 258 of them),
# rebuilds the merges by BPE over the ranks and writes the "kimi-k2"
# pre-tokenizer (named by hashing real Kimi ids; forced here). A tiny
# vocabulary: the 256 bytes and 250 merges learned on the project's docs.
KIMI_MERGES = 250
KIMI_SPECIAL = {0: "[BOS]", 1: "[EOS]", 2: "<|im_end|>", 3: "<|im_user|>", 4: "<|im_assistant|>", 6: "[EOT]"}


def kimi_ranks() -> dict:
    import re
    text = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    words = [list(bytes([b]) for b in w.encode()) for w in re.findall(r" ?\w+| ?[^\w\s]+|\s+", text)]
    ranks = {bytes([b]): b for b in range(256)}
    for _ in range(KIMI_MERGES):
        pairs: dict = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
        (a, b), _n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        ranks[a + b] = len(ranks)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    return ranks


def kimi_k2(seed):
    global VOCAB
    import base64
    ranks = kimi_ranks()
    n_base = len(ranks)
    old, VOCAB = VOCAB, n_base + 256  # as Kimi-K2: vocab_size = base tokens + 256
    try:
        c, t = deepseek(seed, True)
    finally:
        VOCAB = old
    c = dict(c, model_type="kimi_k2", bos_token_id=n_base, eos_token_id=n_base + 1)
    KIMI_FILES["tiktoken.model"] = "".join(f"{base64.b64encode(k).decode()} {v}\n" for k, v in ranks.items())
    KIMI_FILES["tokenizer_config.json"] = json.dumps({
        "added_tokens_decoder": {str(n_base + i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                                   "single_word": False, "special": True} for i, s in KIMI_SPECIAL.items()},
        "auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", None]},
        "bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[EOS]", "unk_token": "[EOS]",
        "model_max_length": 1000000, "tokenizer_class": "TikTokenTokenizer"}, indent=2) + "\n"
    return c, t


KIMI_FILES: dict = {}
ARCHS["kimi-k2"] = kimi_k2
BPE_ONLY.add("kimi-k2")  # no SentencePiece fallback: handled by kimi_stub


def kimi_stub(model: Path):
    """transformers' AutoTokenizer as the converter meets it for Kimi-K2:
    no fast tokenizer (its _set_vocab_gpt2 attempt fails), then the remote
    TikTokenTokenizer's ranks and special tokens, as tokenization_kimi.py
    builds them."""
    import base64
    ranks = {}
    for line in (model / "tiktoken.model").read_text().splitlines():
        tok, rank = line.split()
        ranks[base64.b64decode(tok)] = int(rank)
    tc = json.loads((model / "tokenizer_config.json").read_text())
    names = {int(k): v["content"] for k, v in tc["added_tokens_decoder"].items()}
    n = len(ranks)
    special = {names.get(i, f"<|reserved_token_{i}|>"): i for i in range(n, n + 256 + 2)}

    class Tik:
        model = types.SimpleNamespace(_mergeable_ranks=ranks)
        special_tokens = special

    class AutoTokenizer:
        @staticmethod
        def from_pretrained(path, trust_remote_code=False, **k):
            if not trust_remote_code:
                raise OSError("Kimi-K2 has no fast tokenizer (make-arch-refs.py)")
            return Tik()

    def bytes_to_unicode():
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
        cs = bs[:]
        k = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + k)
                k += 1
        return dict(zip(bs, map(chr, cs)))

    sys.modules["transformers"].AutoTokenizer = AutoTokenizer
    cst = types.ModuleType("transformers.convert_slow_tokenizer")
    cst.bytes_to_unicode = bytes_to_unicode
    sys.modules["transformers.convert_slow_tokenizer"] = cst
    from conversion.base import TextModel
    TextModel.get_vocab_base_pre = lambda self, tok: "kimi-k2"


# ---- tokenizer -----------------------------------------------------------

def tokenizer_model() -> Path:
    """A SentencePiece model trained once on the project's own docs, then kept."""
    path = OUT / "tokenizer.model"
    if path.exists():
        return path
    import sentencepiece as spm
    text = OUT / "tokenizer-train.txt"
    parts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text.write_text("\n".join(p.read_text(encoding="utf-8") for p in parts), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(OUT / "tokenizer"), vocab_size=VOCAB,
                                   model_type="bpe", character_coverage=1.0, byte_fallback=True,
                                   normalization_rule_name="identity", num_threads=1, bos_id=1, eos_id=2, unk_id=0, pad_id=-1)
    text.unlink()
    (OUT / "tokenizer.vocab").unlink()
    return path


def write_folder(d: Path, c: dict, t: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(c, indent=2) + "\n")
    write_safetensors(d / "model.safetensors", t)
    tok = tokenizer_model().read_bytes()
    if d.name in TOKENIZER_MODEL_EDIT:
        from sentencepiece import sentencepiece_model_pb2
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(tok)
        TOKENIZER_MODEL_EDIT[d.name](proto)
        tok = proto.SerializeToString()
    if d.name == "kimi-k2":
        for f, text in KIMI_FILES.items():
            (d / f).write_text(text)
        return
    if d.name in ADDED_TOKENS_JSON:
        (d / "added_tokens.json").write_text(json.dumps(ADDED_TOKENS_JSON[d.name], indent=2) + "\n")
    (d / "tokenizer.model").write_bytes(tok)
    (d / "tokenizer_config.json").write_text(json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "model_max_length": 256, "tokenizer_class": "LlamaTokenizer",
        **TOKENIZER_CONFIG_EXTRA.get(d.name, {})}, indent=2) + "\n")


def write_model(name: str, seed: int) -> tuple[Path, Path]:
    """Writes testdata/arch/<name>; returns it and the folder the converter
    reads: the same, or for a quantized checkpoint its dequantized twin
    (not kept)."""
    d = OUT / name
    made = ARCHS[name](seed)
    write_folder(d, made[0], made[1])
    if len(made) == 2:
        return d, d
    twin = OUT / ".twin" / name  # same folder name: the converter names the model from it
    cfg = {k: v for k, v in made[0].items() if k != "quantization_config"}
    write_folder(twin, cfg, made[2])
    return d, twin


# ---- the converter, run without transformers -----------------------------

# Checkpoints whose dequantization calls .tolist() on a tensor, or (BitNet's
# packed weights) combines one with an eager CPU tensor, which the
# converter's lazy (meta-device) tensors of torch 1.13 cannot do: converted
# with --no-lazy (the same computation, done before writing).
NO_LAZY = {"qwen3-ct-w4", "qwen3-ct-w4-asym", "bitnet-packed"}


def converter_env(src: str, who: str):
    """Prepares this process to import llama.cpp's converter from src
    without transformers: a stub whose AutoConfig fails, so the converter
    reads config.json itself; placeholders for the float8 dtype names torch
    1.13 lacks (no tensor here uses them); the converter's folders first on
    sys.path. Returns torch. Shared by make-vlm-refs.py and make-vlm-refs-b.py."""
    stub = types.ModuleType("transformers")

    class AutoConfig:  # the converter falls back to config.json
        @staticmethod
        def from_pretrained(*a, **k):
            raise OSError(f"transformers is not installed ({who})")

    stub.AutoConfig = AutoConfig
    sys.modules["transformers"] = stub
    import torch
    for n in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, n):
            setattr(torch, n, torch.int8 if n.endswith("fn") else torch.uint8)
    sys.path[:0] = [src, os.path.join(src, "gguf-py")]
    return torch


def run_converter(src: str, model: str, outtype: str, outfile: str, spm_vocab: bool) -> None:
    torch = converter_env(src, "make-arch-refs.py")
    if not hasattr(torch.int32, "itemsize"):
        # torch < 2.1 has no dtype.itemsize (GPTQ's dequant reads it): the
        # converter's package, copied with that one expression spelled for
        # older torch, is imported instead.
        import tempfile
        tmp = tempfile.mkdtemp()
        shutil.copytree(os.path.join(src, "conversion"), os.path.join(tmp, "conversion"))
        base = Path(tmp, "conversion", "base.py")
        text = base.read_text().replace("qweight.dtype.itemsize", "torch.empty(0, dtype=qweight.dtype).element_size()")
        # torch < 2 indexes only with int64: g_idx (int32) is widened first
        text = text.replace("scales[g_idx]", "scales[g_idx.long()]").replace("zeros[g_idx]", "zeros[g_idx.long()]")
        base.write_text(text)
        sys.path.insert(0, tmp)
    sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", outfile]
    if Path(model).name in NO_LAZY:
        sys.argv.append("--no-lazy")
    import convert_hf_to_gguf
    if (Path(model) / "tiktoken.model").exists():
        kimi_stub(Path(model))
    elif spm_vocab:
        from conversion import get_model_class
        hf_arch = json.loads((Path(model) / "config.json").read_text())["architectures"][0]
        get_model_class(hf_arch).set_vocab = lambda self: self._set_vocab_sentencepiece()
    convert_hf_to_gguf.main()


# ---- the reference description (the corpus *.gguf.json format) ----------

def describe(src: str, path: str) -> dict:
    sys.path[:0] = [os.path.join(src, "gguf-py")]
    from gguf import GGUFReader, GGUFValueType
    r = GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF."):
            continue
        types_ = [t.name for t in f.types]
        if f.types[0] == GGUFValueType.ARRAY:
            if f.types[-1] == GGUFValueType.STRING:
                vals = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
                head = vals[:3]
            else:
                # as the corpus: each element as gguf-py's one-item part list
                vals = [f.parts[i].tolist() for i in f.data]
                head = vals[:3]
            kv[f.name] = {"type": types_, "len": len(f.data), "head": head,
                          "digest": hashlib.sha256(json.dumps(vals).encode()).hexdigest()[:16]}
        elif f.types[0] == GGUFValueType.STRING:
            kv[f.name] = {"type": types_, "value": bytes(f.parts[-1]).decode("utf-8")}
        else:
            kv[f.name] = {"type": types_, "value": f.parts[-1].tolist()[0]}
    tensors = {}
    for t in r.tensors:
        data = bytes(t.data.tobytes())
        tensors[t.name] = {"type": t.tensor_type.name, "shape": [int(x) for x in t.shape],
                           "nbytes": int(t.n_bytes), "digest": hashlib.sha256(data).hexdigest()[:16]}
    return {"kv": kv, "tensors": tensors, "tensor_order": [t.name for t in r.tensors]}


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--convert":
        _, _, src, model, outtype, outfile, spm = sys.argv
        run_converter(src, model, outtype, outfile, spm == "1")
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "--describe":
        print(json.dumps(describe(sys.argv[2], sys.argv[3]), indent=1, ensure_ascii=True))
        return 0
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    names = sys.argv[2:] or list(ARCHS)
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in names:
        seed = zlib.crc32(name.encode()) & 0xFFFF
        try:
            _, conv = write_model(name, seed)
            ref = OUT / (name + "-ref")
            ref.mkdir(exist_ok=True)
            for ot in OUTTYPES:
                gg = ref / f"{name}-{ot}.gguf"
                subprocess.run([sys.executable, __file__, "--convert", src, str(conv), ot, str(gg),
                                "1" if name in BPE_ONLY else "0"], check=True)
                desc = subprocess.run([sys.executable, __file__, "--describe", src, str(gg)],
                                      check=True, capture_output=True, text=True).stdout
                (ref / f"{name}-{ot}.gguf.json").write_text(desc)
                if not os.environ.get("KEEP_GGUF"):
                    gg.unlink()
            if conv.parent.name == ".twin":
                shutil.rmtree(conv.parent)
        except Exception as e:  # one architecture failing does not lose the others
            print(f"{name}: {e}", file=sys.stderr)
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
