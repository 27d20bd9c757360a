#!/usr/bin/env python3
"""Makes testdata/arch-hf: tiny checkpoints written by transformers itself
(each architecture's own config and model classes), the converter's GGUFs of
them described, and transformers' logits.

    python3 scripts/make-arch-refs-hf.py write LLAMA_SRC WORK [NAME ...]
    python3 scripts/make-arch-refs-hf.py finish WORK
    python3 scripts/make-arch-refs-hf.py twin WORK exaone

`write` runs where transformers and torch >= 2 are (the GPU machine; nothing
here needs the GPU). For each NAME of testdata/arch whose config names a
class transformers has, it builds that class from the folder's config.json
with AutoConfig, overwrites every parameter with seeded random values
(matrices N(0, 0.05); 1-D parameters that start at one: 1 + N(0, 0.1), the
other 1-D parameters and router correction biases: their start + N(0, 0.05)),
rounds to BF16 and saves with save_pretrained into WORK/arch-hf/NAME/ (the
config.json is transformers' own serialization), next to the shared
SentencePiece tokenizer.model. transformers' float32 logits of those BF16
weights over a fixed token list go to WORK/arch-hf/NAME-ref/
reference_logits.json, in the corpus's format. Then llama.cpp's
convert_hf_to_gguf.py, run with transformers importable (so it reads the
config through AutoConfig, as users run it), converts the folder to BF16,
F16 and Q8_0; each GGUF is described as the corpus' *.gguf.json
(make-arch-refs.py's describe) and the F16 kept in WORK/conv/.

Quantized checkpoints (FP8, compressed-tensors, GPTQ) are testdata/arch's own
(written with numpy in the documented layouts): the converter reads them
as they are; transformers' logits are its plain model class's, loaded
strictly with the checkpoint dequantized in torch by the documented formulas
(dequant below; pack-quantized W4 is left out). gpt-oss's MXFP4 checkpoint
is loaded by transformers with Mxfp4Config(dequantize=True).

`finish` runs here, where llama.cpp's logits harness is (setup-llama.sh):
it runs the converter's F16 through llama.cpp and writes how far its logits
are from transformers' (logits_check.py's figures) to
WORK/arch-hf/NAME-ref/converter-f16-logits.json, the bound the conformance
test holds our F16 to. Copy WORK/arch-hf into testdata/ afterwards; WORK/conv
is not kept.

As in make-arch-refs.py, converter classes that read a byte-level BPE
vocabulary only (its BPE_ONLY) are given the SentencePiece path of the same
converter: the tiny checkpoints share one 512-piece SentencePiece model.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import traceback
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "testdata" / "arch"
OUTTYPES = ["bf16", "f16", "q8_0"]
TEXT = "The quick brown fox converts a model to GGUF, 42 times."
# Folders of testdata/arch left out: remote code only (InternLM2/3, EXAONE 3,
# 1bitLLM's BitNet; make-arch-refs-remote.py builds those through the Hub's
# own files), a layout transformers does not write (the packed BitNet), and
# pack-quantized W4 (needs the compressed-tensors library).
# Checkpoints with no testdata/arch folder of their own: name -> the folder
# whose config they take, and the config entries dropped. bitnet-bf16 is
# BitNet b1.58 as its BF16 master weights (microsoft's -bf16 release): the
# plain BitNetForCausalLM with no quantization_config, its projections set
# to fixed points of the converter's ternarization (ternary_fixed_points).
DERIVED = {"bitnet-bf16": ("bitnet-packed", ["quantization_config"])}
# The architectures mlmf-run had before testdata/arch (checked against the
# corpus and mappings only): tiny configs given here, in each class's own
# keys, with the shared SentencePiece vocabulary (testdata/arch/tokenizer.model
# and the tokenizer_config.json make-arch-refs.py writes). gpt2, falcon,
# stablelm and qwen2moe's converter classes read a byte-level BPE vocabulary
# only: given the same converter's SentencePiece path, as BPE_ONLY.
_TINY = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
         "bos_token_id": 1, "eos_token_id": 2}
INLINE = {
    "qwen2": dict(_TINY, architectures=["Qwen2ForCausalLM"], model_type="qwen2", rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=False),
    "qwen2moe": dict(_TINY, architectures=["Qwen2MoeForCausalLM"], model_type="qwen2_moe", rms_norm_eps=1e-6,
                     rope_theta=10000.0, tie_word_embeddings=False, num_experts=4, num_experts_per_tok=2,
                     moe_intermediate_size=32, shared_expert_intermediate_size=64, decoder_sparse_step=1,
                     mlp_only_layers=[], norm_topk_prob=False),
    "gemma": dict(_TINY, architectures=["GemmaForCausalLM"], model_type="gemma", head_dim=16, rms_norm_eps=1e-6,
                  rope_theta=10000.0, hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh"),
    "gemma2": dict(_TINY, architectures=["Gemma2ForCausalLM"], model_type="gemma2", head_dim=16, rms_norm_eps=1e-6,
                   rope_theta=10000.0, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=16,
                   sliding_window=32, final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    "gpt2": {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 512, "n_embd": 64, "n_layer": 2,
             "n_head": 4, "n_positions": 256, "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2},
    "falcon": {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "vocab_size": 512, "hidden_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "new_decoder_architecture": False,
               "multi_query": True, "parallel_attn": True, "bias": False, "alibi": False,
               "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2},
    "stablelm": dict(_TINY, architectures=["StableLmForCausalLM"], model_type="stablelm", num_key_value_heads=4,
                     partial_rotary_factor=0.25, use_qkv_bias=True, layer_norm_eps=1e-5, qk_layernorm=False,
                     use_parallel_residual=False, rope_theta=10000.0, tie_word_embeddings=False),
}
SPM_VOCAB = {"gpt2", "falcon", "stablelm", "qwen2moe"}
TOKENIZER_CONFIG = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                    "unk_token": "<unk>", "model_max_length": 256, "tokenizer_class": "LlamaTokenizer"}
REMOTE = {"internlm2", "internlm2-vocab", "internlm2-added", "internlm3", "internlm3-prefix-space", "exaone", "bitnet",
          "bitnet-packed", "qwen3-ct-w4", "qwen3-ct-w4-asym"}
# Saved under the Hub's class name, the only one the converter knows:
# transformers 5.17 writes Phi-3.5-MoE as its own PhimoeForCausalLM, which
# the converter refuses ("not supported"); the Hub's config names the remote
# PhiMoEForCausalLM. Everything else in config.json is transformers' own.
HUB_ARCH = {"phimoe": "PhiMoEForCausalLM"}


def arch_refs():
    spec = importlib.util.spec_from_file_location("make_arch_refs", ROOT / "scripts" / "make-arch-refs.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) & 0xFFFF


def tokens() -> list[int]:
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(ARCH / "tokenizer.model"))
    return [1] + sp.encode(TEXT)[:11]


def randomize(model, seed: int) -> None:
    """Every parameter from one generator, in name order."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in sorted(model.named_parameters(), key=lambda x: x[0]):
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim >= 2:
                p.copy_(r * 0.05)
            elif bool(torch.all(p == 1)):
                p.copy_(1 + r * 0.1)
            else:
                p.copy_(p.float() + r * 0.05)
        for n, b in sorted(model.named_buffers(), key=lambda x: x[0]):
            if "correction_bias" in n and b.is_floating_point():
                b.copy_(torch.randn(b.shape, generator=g) * 0.05)


def logits_json(model, ids: list[int], label: str) -> dict:
    import torch
    model = model.float().eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids])).logits[0].float()
    return {"model": label, "tokens": ids, "logits": [[round(float(v), 6) for v in row] for row in out]}


def source_dir(name: str) -> Path:
    return ARCH / DERIVED.get(name, (name,))[0]


def source_config(name: str) -> dict:
    if name in INLINE:
        return dict(INLINE[name])
    c = json.loads((source_dir(name) / "config.json").read_text())
    for k in DERIVED.get(name, (name, []))[1]:
        c.pop(k, None)
    return c


def load_config(name: str):
    """NAME's config through its own config class. Where transformers 5.17
    refuses testdata/arch's spelling of the rope (OLMo 3 wants it per layer
    type), the rope is given per layer type, then left to the class."""
    import transformers
    c = source_config(name)
    tries = [c]
    if "rope_parameters" in c:
        if "layer_types" in c:
            tries.append(dict(c, rope_parameters={t: c["rope_parameters"] for t in set(c["layer_types"])}))
        tries.append({k: v for k, v in c.items() if k != "rope_parameters"})
    errs = []
    if name not in DERIVED and name not in INLINE:
        try:
            return transformers.AutoConfig.from_pretrained(ARCH / name)
        except Exception as e:  # the next spelling
            errs.append(repr(e))
        tries = tries[1:]
    for t in tries:
        try:
            t = dict(t)
            return transformers.AutoConfig.for_model(t.pop("model_type"), **t)
        except Exception as e:  # the next spelling
            errs.append(repr(e))
    raise ValueError(f"{name}: config refused: {errs}")


def write_hf(name: str, dst: Path, ids: list[int]) -> dict:
    """Builds, randomizes and saves NAME with transformers; returns logits."""
    import torch
    import transformers
    torch.set_num_threads(1)
    cfg = load_config(name)
    # Phi-3.5-MoE's config names its remote-code class (PhiMoEForCausalLM);
    # transformers' own is PhimoeForCausalLM, which save_pretrained writes.
    cls = getattr(transformers, cfg.architectures[0], None)
    torch.manual_seed(seed_of(name))
    model = cls(cfg) if cls else transformers.AutoModelForCausalLM.from_config(cfg)
    randomize(model, seed_of(name))
    if name == "bitnet-bf16":
        ternary_fixed_points(model, seed_of(name))
    model = model.to(torch.bfloat16)
    model.save_pretrained(dst)
    if name in HUB_ARCH:
        c = json.loads((dst / "config.json").read_text())
        c["architectures"] = [HUB_ARCH[name]]
        (dst / "config.json").write_text(json.dumps(c, indent=2, sort_keys=True) + "\n")
    if name in INLINE:
        shutil.copy(ARCH / "tokenizer.model", dst / "tokenizer.model")
        (dst / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    else:
        for f in ("tokenizer.model", "tokenizer_config.json"):
            shutil.copy(source_dir(name) / f, dst / f)
    return logits_json(model, ids, "arch-hf/" + name)


def ternary_fixed_points(model, seed: int) -> None:
    """BitNet's projections as +-c with no zeros, c a per-tensor BF16 value:
    the converter's weight_quant (round(w / mean|w|) clamped to -1..1, times
    mean|w|) leaves them as they are, so transformers' plain Linear and
    llama.cpp compute with the same weights."""
    import torch
    g = torch.Generator().manual_seed(seed + 1)
    kinds = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    with torch.no_grad():
        for n, p in sorted(model.named_parameters(), key=lambda x: x[0]):
            if p.ndim == 2 and n.split(".")[-2] in kinds:
                c = float(torch.tensor(0.03 + 0.04 * torch.rand(1, generator=g).item()).to(torch.bfloat16))
                sign = torch.where(torch.rand(p.shape, generator=g) < 0.5, -1.0, 1.0)
                p.copy_(sign * c)


def dequant(name: str) -> dict:
    """testdata/arch/NAME's tensors in float32, dequantized by the documented
    formulas: FP8 x BF16 scale_inv per block (quant_method fp8), FP8 or int8
    x per-channel weight_scale (compressed-tensors float-/int-quantized),
    GPTQ scales[g_idx] x (q - zero) with v1's zeros stored minus one."""
    import torch
    from safetensors.torch import load_file
    qc = json.loads((ARCH / name / "config.json").read_text())["quantization_config"]
    sd = load_file(ARCH / name / "model.safetensors")
    out = {}
    for k, v in sd.items():
        if k.endswith("_scale_inv") or k.endswith("weight_scale") or k.endswith((".qzeros", ".scales", ".g_idx")):
            continue
        if k.endswith(".qweight"):
            b = k[:-len(".qweight")]
            bits = qc["bits"]
            pack, mask = 32 // bits, (1 << bits) - 1
            sh = torch.arange(pack, dtype=torch.int64) * bits
            qw = v.to(torch.int64) & 0xFFFFFFFF
            q = ((qw.unsqueeze(1) >> sh.view(1, -1, 1)) & mask).reshape(-1, qw.shape[1])  # [in, out]
            qz = sd[b + ".qzeros"].to(torch.int64) & 0xFFFFFFFF
            z = ((qz.unsqueeze(2) >> sh.view(1, 1, -1)) & mask).reshape(qz.shape[0], -1)  # [groups, out]
            if qc.get("checkpoint_format", "gptq") == "gptq":
                z = z + 1
            gi = sd[b + ".g_idx"].to(torch.int64)
            sc = sd[b + ".scales"].float()
            out[b + ".weight"] = (sc[gi] * (q - z[gi]).float()).t().contiguous()
        elif k + "_scale_inv" in sd:
            blk = qc["weight_block_size"]
            s = sd[k + "_scale_inv"].float()
            s = s.repeat_interleave(blk[0], 0).repeat_interleave(blk[1], 1)[: v.shape[0], : v.shape[1]]
            out[k] = v.float() * s
        elif k + "_scale" in sd:
            out[k] = v.float() * sd[k + "_scale"].float()
        else:
            out[k] = v.float()
    return out


def quant_logits(name: str, work: Path, ids: list[int]) -> dict:
    """transformers' logits of a quantized checkpoint of testdata/arch: its
    float32 dequantization loaded strictly into the plain model class."""
    import torch
    import transformers
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    if name == "gpt-oss":
        m = transformers.GptOssForCausalLM.from_pretrained(
            ARCH / name, quantization_config=transformers.Mxfp4Config(dequantize=True), dtype=torch.bfloat16)
        return logits_json(m, ids, "arch/" + name)
    cfg = json.loads((ARCH / name / "config.json").read_text())
    del cfg["quantization_config"]
    twin = work / ".twin" / name
    twin.mkdir(parents=True, exist_ok=True)
    (twin / "config.json").write_text(json.dumps(cfg))
    save_file(dequant(name), twin / "model.safetensors", metadata={"format": "pt"})
    cls = getattr(transformers, cfg["architectures"][0])
    m, info = cls.from_pretrained(twin, dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise ValueError(f"{name}: dequantized twin does not load strictly: {bad}")
    return logits_json(m, ids, "arch/" + name)


def convert(src: str, model: Path, outtype: str, outfile: Path, spm: bool) -> None:
    subprocess.run([sys.executable, __file__, "convert", src, str(model), outtype, str(outfile), "1" if spm else "0"],
                   check=True, capture_output=True, text=True)


def convert_child(src: str, model: str, outtype: str, outfile: str, spm: bool) -> None:
    """The converter as users run it: transformers importable, lazy tensors."""
    try:
        import transformers  # noqa: F401
    except ImportError:  # here, for trying the script: make-arch-refs.py's stub
        arch_refs().converter_env(src, "make-arch-refs-hf.py")
    sys.path[:0] = [src, os.path.join(src, "gguf-py")]
    sys.argv = ["convert_hf_to_gguf.py", model, "--outtype", outtype, "--outfile", outfile]
    import convert_hf_to_gguf
    if spm:
        from conversion import get_model_class
        hf = json.loads((Path(model) / "config.json").read_text())["architectures"][0]
        get_model_class(hf).set_vocab = lambda self: self._set_vocab_sentencepiece()
    convert_hf_to_gguf.main()


def one(name: str, src: str, work: Path, ids: list[int]) -> str:
    """Returns "ok" or what failed (exceptions of transformers' validators
    do not survive the process pool's pickling)."""
    try:
        return one_(name, src, work, ids)
    except subprocess.CalledProcessError as e:
        return "converter: " + e.stderr[-3000:]
    except BaseException:
        return traceback.format_exc()[-4000:]


def one_(name: str, src: str, work: Path, ids: list[int]) -> str:
    mar = arch_refs()
    quant = "quantization_config" in source_config(name)
    ref = work / "arch-hf" / (name + "-ref")
    ref.mkdir(parents=True, exist_ok=True)
    if quant:
        model = ARCH / name
        lj = quant_logits(name, work, ids)
    else:
        model = work / "arch-hf" / name
        lj = write_hf(name, model, ids)
    (ref / "reference_logits.json").write_text(json.dumps(lj, separators=(",", ":")) + "\n")
    (work / "conv").mkdir(exist_ok=True)
    for ot in OUTTYPES:
        gg = work / "conv" / f"{name}-{ot}.gguf"
        try:
            convert(src, model, ot, gg, name in mar.BPE_ONLY or name in SPM_VOCAB)
        except subprocess.CalledProcessError as e:
            # the converter refuses transformers' own file: kept, with why
            (ref / "converter-error.txt").write_text(e.stderr[-1500:])
            raise
        (ref / f"{name}-{ot}.gguf.json").write_text(json.dumps(mar.describe(src, str(gg)), indent=1, ensure_ascii=True) + "\n")
        if ot != "f16":
            gg.unlink()
    return "ok"


def write(src: str, work: Path, names: list[str]) -> int:
    import torch
    import transformers
    ids = tokens()
    names = names or sorted([p.parent.name for p in ARCH.glob("*/config.json")
                             if p.parent.name not in REMOTE and not p.parent.name.startswith(".")] + list(DERIVED) + list(INLINE))
    work.mkdir(parents=True, exist_ok=True)
    (work / "versions.json").write_text(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__}))
    with cf.ProcessPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 2)) as ex:
        report({ex.submit(one, n, src, work, ids): n for n in names})
    return 0


def report(futs: dict) -> None:
    """Prints each item's "ok" or what failed as it ends, then the failures."""
    failed = []
    for f in cf.as_completed(futs):
        n = futs[f]
        try:
            r = f.result()
        except Exception:
            r = traceback.format_exc()[-3000:]
        if r != "ok":
            failed.append(n)
        print(f"{n}: {'ok' if r == 'ok' else 'FAILED ' + r}", flush=True)
    print("failed: " + " ".join(sorted(failed)) if failed else "all ok", flush=True)


# Twins: a testdata/arch checkpoint whose own class transformers lacks,
# renamed into a transformers class that computes the same function, for
# logits only. EXAONE 3 is LLaMA with GPT-2-style names (RMSNorm, rotary
# with its rope_scaling, bias-free projections, SiLU gate c_fc_0 / up c_fc_1 /
# down c_proj, untied head): LlamaForCausalLM with the converter's name map.
EXAONE_AS_LLAMA = [("transformer.wte.", "model.embed_tokens."), ("transformer.ln_f.", "model.norm."),
                   (".ln_1.", ".input_layernorm."), (".ln_2.", ".post_attention_layernorm."),
                   (".attn.attention.out_proj.", ".self_attn.o_proj."), (".attn.attention.", ".self_attn."),
                   (".mlp.c_fc_0.", ".mlp.gate_proj."), (".mlp.c_fc_1.", ".mlp.up_proj."),
                   (".mlp.c_proj.", ".mlp.down_proj."), ("transformer.h.", "model.layers.")]


def twin(work: Path, name: str) -> int:
    """transformers' logits for testdata/arch/NAME through its twin class,
    loaded strictly from the same tensors renamed, to
    WORK/arch-hf/twins/NAME-ref/reference_logits.json."""
    import torch
    import transformers
    from safetensors.torch import load_file
    if name != "exaone":
        raise ValueError(f"no twin for {name}")
    c = json.loads((ARCH / name / "config.json").read_text())
    rs = dict(c.get("rope_scaling") or {"rope_type": "default"})
    rs["rope_theta"] = c["rope_theta"]
    cfg = transformers.LlamaConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
        num_hidden_layers=c["num_layers"], num_attention_heads=c["num_attention_heads"],
        num_key_value_heads=c["num_key_value_heads"], max_position_embeddings=c["max_position_embeddings"],
        rms_norm_eps=c["layer_norm_epsilon"], hidden_act=c["activation_function"], rope_parameters=rs,
        tie_word_embeddings=c["tie_word_embeddings"], attention_bias=False, mlp_bias=False)
    sd = {}
    for k, v in load_file(ARCH / name / "model.safetensors").items():
        for a, b in EXAONE_AS_LLAMA:
            k = k.replace(a, b)
        sd[k] = v.float()
    m = transformers.LlamaForCausalLM(cfg).float().eval()
    missing, unexpected = m.load_state_dict(sd, strict=True), None
    del missing, unexpected
    ref = work / "arch-hf" / "twins" / (name + "-ref")
    ref.mkdir(parents=True, exist_ok=True)
    lj = logits_json(m, tokens(), "arch/" + name)
    lj["twin"] = "LlamaForCausalLM"
    (ref / "reference_logits.json").write_text(json.dumps(lj, separators=(",", ":")) + "\n")
    print(f"{name}: twin logits written")
    return 0


def finish(work: Path) -> int:
    """The converter's F16 through llama.cpp, against transformers' logits."""
    bin_ = os.environ["LLAMA_LOGITS"]
    check = ROOT.parent / "shared" / "tools" / "logits_check.py"
    for ref in sorted((work / "arch-hf").glob("*-ref/reference_logits.json")):
        name = ref.parent.name[:-4]
        if (ref.parent / "converter-error.txt").exists():
            continue  # no converter file to run
        gg = work / "conv" / f"{name}-f16.gguf"
        line = subprocess.run([sys.executable, str(check), bin_, str(gg), str(ref)],
                              check=True, capture_output=True, text=True).stdout.strip()
        print(f"{name}: {line}")
        res = {"harness": "shared/tools/logits_check.py", "converter_f16": line}
        (ref.parent / "converter-f16-logits.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


def main() -> int:
    a = sys.argv[1:]
    if a[:1] == ["convert"]:
        convert_child(a[1], a[2], a[3], a[4], a[5] == "1")
        return 0
    if a[:1] == ["write"] and len(a) >= 3:
        return write(a[1], Path(a[2]), a[3:])
    if a[:1] == ["twin"] and len(a) == 3:
        return twin(Path(a[1]), a[2])
    if a[:1] == ["finish"] and len(a) == 2:
        return finish(Path(a[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
