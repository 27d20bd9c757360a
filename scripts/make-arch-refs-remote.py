#!/usr/bin/env python3
"""Makes testdata/arch-hf's references for the architectures whose
transformers class exists only as remote code on the Hugging Face Hub:
InternLM2, InternLM3, EXAONE 3, 1bitLLM's BitNet and Phi-3.5-MoE's
PhiMoEForCausalLM.

    python3 scripts/make-arch-refs-remote.py write LLAMA_SRC WORK [NAME ...]

LLAMA_SRC is the folder make-arch-refs-hf.py takes (convert_hf_to_gguf.py,
conversion/, gguf-py/) and also holds LLAMA_SRC/remote/NAME/: the Hub's own
.py files of each model, unmodified, with a PROVENANCE.txt saying where they
were copied from. They are third-party code and never committed here.

For each NAME the tiny model is built through the remote code as users load
it: the .py files are copied next to testdata/arch/NAME/config.json carrying
the Hub's auto_map, then AutoConfig.from_pretrained(dir,
trust_remote_code=True) and AutoModelForCausalLM.from_config(cfg,
trust_remote_code=True). 1bitLLM's BitNet has no auto_map on the Hub and its
modeling_bitnet.py imports its siblings by absolute name
("from configuration_bitnet import ..."), which transformers' dynamic-module
loader refuses; its users put the folder on sys.path and import
BitnetForCausalLM (1bitLLM's eval_ppl.py), and so does this script. Then, as
make-arch-refs-hf.py does (its functions are imported, not copied):
seeded random parameters, BF16, save_pretrained into WORK/arch-hf/NAME/ (the
Hub's .py files that save_pretrained copies along are removed again, the
config's auto_map is set back to the Hub's), transformers' logits into
WORK/arch-hf/NAME-ref/reference_logits.json, and llama.cpp's converter to
BF16, F16 and Q8_0 described in NAME-ref/. `finish` is make-arch-refs-hf.py's.

The remote files were written for transformers 4.3x-4.4x. Names they import
that this transformers lacks are put into transformers' modules before they
load (shim() below: each is added only where missing, so on an older
transformers nothing changes), never by editing the files. The forward runs
with use_cache=False (the files build legacy cache objects only when caching)
and with the eager attention of the remote code.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import math
import multiprocessing
import os
import shutil
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "testdata" / "arch"


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / file)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


HF = _load("make_arch_refs_hf", "make-arch-refs-hf.py")

# NAME -> the Hub's files and config.json keys. auto_map is the Hub's
# (None: the Hub's config.json has none and the model is imported from the
# folder); arch is the Hub config's architectures[0].
SPECS = {
    "internlm2": {
        "repo": "internlm/internlm2_5-7b-chat",
        # the copy used for testdata/arch-hf/internlm2 (xtuner's formatter
        # reflowed it; no functional edit seen)
        "copy": "github.com/InternLM/xtuner@d4d924f6f912ce4971dc753644543b0f75b9081c:xtuner/_lite/modelings/internlm2/",
        "files": ["configuration_internlm2.py", "modeling_internlm2.py"],
        "arch": "InternLM2ForCausalLM",
        "auto_map": {
            "AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM",
            "AutoModel": "modeling_internlm2.InternLM2ForCausalLM",
        },
    },
    "internlm3": {
        "repo": "internlm/internlm3-8b-instruct",
        "copy": "github.com/InternLM/xtuner@d4d924f6f912ce4971dc753644543b0f75b9081c:xtuner/_lite/modelings/internlm3/",
        "files": ["configuration_internlm3.py", "modeling_internlm3.py"],
        "arch": "InternLM3ForCausalLM",
        "auto_map": {
            "AutoConfig": "configuration_internlm3.InternLM3Config",
            "AutoModel": "modeling_internlm3.InternLM3Model",
            "AutoModelForCausalLM": "modeling_internlm3.InternLM3ForCausalLM",
        },
    },
    "exaone": {
        "repo": "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct",
        "files": ["configuration_exaone.py", "modeling_exaone.py"],
        "arch": "ExaoneForCausalLM",
        "auto_map": {
            "AutoConfig": "configuration_exaone.ExaoneConfig",
            "AutoModelForCausalLM": "modeling_exaone.ExaoneForCausalLM",
            "AutoModelForSequenceClassification": "modeling_exaone.ExaoneForSequenceClassification",
        },
    },
    "phimoe": {
        "repo": "microsoft/Phi-3.5-MoE-instruct",
        "files": ["configuration_phimoe.py", "modeling_phimoe.py"],
        "arch": "PhiMoEForCausalLM",
        "auto_map": {
            "AutoConfig": "configuration_phimoe.PhiMoEConfig",
            "AutoModelForCausalLM": "modeling_phimoe.PhiMoEForCausalLM",
        },
    },
    "bitnet": {
        "repo": "1bitLLM/bitnet_b1_58-large",
        "copy": "github.com/jihyung803/1bitllm-data-cleaning@ecd9d055b94695ce215460d970939b5beb1d39ff:/",
        "files": ["configuration_bitnet.py", "modeling_bitnet.py", "utils_quant.py"],
        "arch": "BitnetForCausalLM",
        "auto_map": None,
    },
}


def shim() -> list[str]:
    """Adds to transformers' modules what the 4.3x-4.4x remote files import
    and this transformers no longer has; returns what was added. Each name
    is set only where missing. Nothing here computes a logit: docstring
    decorators become identity decorators, version probes answer False (so
    flash-attention paths stay off), removed registries become empty lists,
    removed cache classes become bare Cache subclasses (the files only test
    isinstance against them, and never with use_cache=False)."""
    import torch
    import transformers
    import transformers.cache_utils as cu
    import transformers.configuration_utils as cfu
    import transformers.modeling_utils as mu
    import transformers.pytorch_utils as pu
    import transformers.utils as tu
    import transformers.utils.import_utils as iu
    added = []

    def put(mod, name, value):
        if not hasattr(mod, name):
            setattr(mod, name, value)
            added.append(f"{mod.__name__}.{name}")

    def keep(*_a, **_k):
        return lambda f: f

    for name in ("add_start_docstrings", "add_start_docstrings_to_model_forward", "add_end_docstrings",
                 "replace_return_docstrings", "add_code_sample_docstrings"):
        put(tu, name, keep)
    for name in ("is_flash_attn_greater_or_equal_2_10", "is_flash_attn_2_available", "is_torch_fx_available"):
        put(tu, name, lambda *a, **k: False)
        put(iu, name, lambda *a, **k: False)
    put(pu, "ALL_LAYERNORM_LAYERS", [torch.nn.LayerNorm])
    put(pu, "is_torch_greater_or_equal_than_1_13", True)
    put(cfu, "PretrainedConfig", getattr(cfu, "PreTrainedConfig", None))
    put(transformers, "PretrainedConfig", cfu.PretrainedConfig)
    for name in ("SlidingWindowCache", "HybridCache", "StaticCache"):
        put(cu, name, type(name, (cu.Cache,), {}))
    import typing
    put(tu, "LossKwargs", typing.TypedDict("LossKwargs", {"num_items_in_batch": typing.Optional[int]}, total=False))
    try:
        import transformers.processing_utils as pru
        import typing_extensions
        put(pru, "Unpack", typing_extensions.Unpack)
    except ImportError:
        added.append("MISSING transformers.processing_utils (not shimmed)")
    if not hasattr(mu, "ALL_ATTENTION_FUNCTIONS") and hasattr(mu, "AttentionInterface"):
        put(mu, "ALL_ATTENTION_FUNCTIONS", mu.AttentionInterface())
    import transformers.modeling_rope_utils as ru
    put(ru, "rope_config_validation", lambda *a, **k: None)
    if hasattr(ru, "ROPE_INIT_FUNCTIONS") and "default" not in ru.ROPE_INIT_FUNCTIONS:
        ru.ROPE_INIT_FUNCTIONS["default"] = _default_rope
        added.append("transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS['default']")
    try:
        import transformers.modeling_attn_mask_utils  # noqa: F401
    except ImportError:
        added.append("MISSING transformers.modeling_attn_mask_utils (not shimmed)")
    put(mu.PreTrainedModel, "all_tied_weights_keys", {})
    _tied_list_shim(mu, added)
    return added


def _default_rope(config, device=None, seq_len=None, **_):
    """Plain RoPE frequencies, theta^(-2i/d), for remote files that look up
    ROPE_INIT_FUNCTIONS["default"] (gone where transformers 5 computes the
    default rope in each model class)."""
    import torch
    rp = getattr(config, "rope_parameters", None) or {}
    base = rp.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head * rp.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", 1.0)))
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim)), 1.0


def rope_parameters(cfg) -> bool:
    """transformers 5's rope functions (ROPE_INIT_FUNCTIONS, which the
    InternLM3 and EXAONE files call) read config.rope_parameters; the 4.x
    remote config classes set rope_theta and rope_scaling only. The same
    values are given under the 5.x name; save() drops it again."""
    if getattr(cfg, "rope_parameters", None) is not None or not hasattr(cfg, "rope_theta"):
        return False
    rs = dict(getattr(cfg, "rope_scaling", None) or {})
    rp = {"rope_type": rs.get("rope_type", rs.get("type", "default")), "rope_theta": cfg.rope_theta}
    rp.update({k: v for k, v in rs.items() if k not in ("type", "rope_type")})
    cfg.rope_parameters = rp
    return True


def _tied_list_shim(mu, added: list[str]) -> None:
    """transformers 5 reads _tied_weights_keys as {tied: source}; the remote
    files give a list of tied names (4.x). Where get_expanded_tied_weights_keys
    exists, a list is read as 4.x did: each listed output embedding is tied
    to the input embedding only when config.tie_word_embeddings."""
    orig = getattr(mu.PreTrainedModel, "get_expanded_tied_weights_keys", None)
    if orig is None or getattr(orig, "_remote_list_shim", False):
        return

    def expanded(self, all_submodels: bool = False, **kw):
        tied = getattr(self, "_tied_weights_keys", None)
        if not isinstance(tied, (list, tuple)):
            return orig(self, all_submodels=all_submodels, **kw)
        if not getattr(self.config, "tie_word_embeddings", False):
            return {}
        names = {id(m): n for n, m in self.named_modules()}
        src = names[id(self.get_input_embeddings())] + ".weight"
        return {k: src for k in tied if k != src}

    expanded._remote_list_shim = True
    mu.PreTrainedModel.get_expanded_tied_weights_keys = expanded
    added.append("transformers.modeling_utils.PreTrainedModel.get_expanded_tied_weights_keys (list form)")


def tied_as_dicts(model) -> None:
    """save_pretrained in transformers 5 reads every module's
    _tied_weights_keys as {tied: source}; the 4.x files list tied names.
    Each list becomes that mapping to the input embedding when the config
    ties the embeddings, else none (4.x's reading)."""
    names = {id(m): n for n, m in model.named_modules()}
    src = names[id(model.get_input_embeddings())] + ".weight"
    tie = getattr(model.config, "tie_word_embeddings", False)
    for n, m in model.named_modules():
        tk = getattr(m, "_tied_weights_keys", None)
        if isinstance(tk, (list, tuple)):
            pre = n + "." if n else ""
            rel = src[len(pre):] if src.startswith(pre) else src
            m._tied_weights_keys = {k: rel for k in tk if k != rel} if tie else {}


def hub_config(name: str) -> dict:
    """testdata/arch/NAME/config.json as the Hub spells it: architectures,
    auto_map, and for Phi-3.5-MoE the LongRoPE factors under rope_scaling
    (type longrope; the remote config class reads rope_scaling, not
    rope_parameters). The remote PhiMoE also wants short_mscale and
    long_mscale: given as sqrt(1 + ln(s) / ln(orig)), s = max / orig
    positions, the factor transformers' and llama.cpp's LongRoPE use when
    none is given."""
    spec = SPECS[name]
    c = json.loads((ARCH / name / "config.json").read_text())
    c["architectures"] = [spec["arch"]]
    if spec["auto_map"]:
        c["auto_map"] = spec["auto_map"]
    rp = c.pop("rope_parameters", None)
    if name == "phimoe" and rp:
        orig = rp["original_max_position_embeddings"]
        s = c["max_position_embeddings"] / orig
        m = math.sqrt(1 + math.log(s) / math.log(orig)) if s > 1 else 1.0
        c["rope_theta"] = rp.get("rope_theta", c.get("rope_theta"))
        c["rope_scaling"] = {"type": "longrope", "short_factor": rp["short_factor"], "long_factor": rp["long_factor"],
                             "short_mscale": m, "long_mscale": m, "original_max_position_embeddings": orig}
    elif rp:
        c["rope_parameters"] = rp
    return c


def build(name: str, src: Path, work: Path):
    """NAME's model built through the Hub's remote code, with the Hub's
    config.json, in eager attention."""
    import transformers
    spec = SPECS[name]
    remote = src / "remote" / name
    missing = [f for f in spec["files"] if not (remote / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{name}: {remote} lacks {missing} (the Hub's files, see PROVENANCE.txt)")
    d = work / ".remote" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for f in spec["files"]:
        shutil.copy(remote / f, d / f)
    (d / "config.json").write_text(json.dumps(hub_config(name), indent=2) + "\n")
    if spec["auto_map"] is None:
        sys.path.insert(0, str(d))
        import modeling_bitnet  # noqa: the Hub's file, imported as 1bitLLM's eval code does
        cfg = modeling_bitnet.BitnetConfig.from_pretrained(d)
        rs = getattr(cfg, "rope_scaling", None)
        if isinstance(rs, dict) and rs.get("rope_type", rs.get("type")) == "default":
            # transformers 5 standardizes a null rope_scaling into the default
            # rope's dict; the 1bitLLM file builds its rope only for None.
            cfg.rope_scaling = None
        return modeling_bitnet.BitnetForCausalLM._from_config(cfg, attn_implementation="eager"), spec
    cfg = transformers.AutoConfig.from_pretrained(d, trust_remote_code=True)
    if rope_parameters(cfg):
        print(f"{name}: config.rope_parameters given from rope_theta/rope_scaling: {cfg.rope_parameters}", flush=True)
    model = transformers.AutoModelForCausalLM.from_config(cfg, trust_remote_code=True, attn_implementation="eager")
    return model, spec


def save(model, name: str, dst: Path) -> None:
    """save_pretrained, less the Hub's .py files it copies along (never
    committed); config.json's architectures and auto_map as the Hub's, and
    its rope keys as the Hub spells them (rope_parameters, given only for
    transformers 5's rope functions, dropped; rope_scaling kept)."""
    spec = SPECS[name]
    hub = hub_config(name)
    tied_as_dicts(model)
    model.save_pretrained(dst)
    for f in spec["files"]:
        (dst / f).unlink(missing_ok=True)
    cj = dst / "config.json"
    c = json.loads(cj.read_text())
    if "rope_parameters" not in hub:
        c.pop("rope_parameters", None)
    if "rope_scaling" in hub and c.get("rope_scaling") != hub["rope_scaling"]:
        print(f"{name}: saved rope_scaling {c.get('rope_scaling')} set back to {hub['rope_scaling']}", flush=True)
        c["rope_scaling"] = hub["rope_scaling"]
    c["architectures"] = [spec["arch"]]
    if spec["auto_map"]:
        c["auto_map"] = spec["auto_map"]
    else:
        c.pop("auto_map", None)
    cj.write_text(json.dumps(c, indent=2, sort_keys=True) + "\n")


def one_(name: str, src: Path, work: Path, ids: list[int]) -> str:
    import torch
    os.environ.setdefault("HF_MODULES_CACHE", str(work / ".modules"))
    vendor = src / "remote" / "_vendor"
    if importlib.util.find_spec("einops") is None and (vendor / "einops").is_dir():
        sys.path.insert(0, str(vendor))  # InternLM2's file imports einops; see _vendor/PROVENANCE.txt
    torch.set_num_threads(1)
    added = shim()
    print(f"{name}: shims added: {added}", flush=True)
    mar = HF.arch_refs()
    ref = work / "arch-hf" / (name + "-ref")
    dst = work / "arch-hf" / name
    torch.manual_seed(HF.seed_of(name))
    model, _ = build(name, src, work)
    HF.randomize(model, HF.seed_of(name))
    model = model.to(torch.bfloat16)
    save(model, name, dst)
    for f in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(ARCH / name / f, dst / f)
    model.config.use_cache = False
    lj = HF.logits_json(model, ids, "arch-hf/" + name)
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "reference_logits.json").write_text(json.dumps(lj, separators=(",", ":")) + "\n")
    (work / "conv").mkdir(exist_ok=True)
    for ot in HF.OUTTYPES:
        gg = work / "conv" / f"{name}-{ot}.gguf"
        try:
            HF.convert(str(src), dst, ot, gg, name in mar.BPE_ONLY)
        except Exception as e:
            (ref / "converter-error.txt").write_text(getattr(e, "stderr", "")[-1500:] or repr(e))
            raise
        desc = mar.describe(str(src), str(gg))
        (ref / f"{name}-{ot}.gguf.json").write_text(json.dumps(desc, indent=1, ensure_ascii=True) + "\n")
        if ot != "f16":
            gg.unlink()
    return "ok"


def one(name: str, src: str, work: str, ids: list[int]) -> str:
    """"ok" or what failed; one item's failure never stops the others."""
    try:
        return one_(name, Path(src).resolve(), Path(work).resolve(), ids)
    except BaseException as e:
        err = getattr(e, "stderr", None)
        return ("converter: " + err[-3000:]) if isinstance(err, str) else traceback.format_exc()[-4000:]


def write(src: str, work: Path, names: list[str]) -> int:
    names = names or sorted(SPECS)
    bad = [n for n in names if n not in SPECS]
    if bad:
        print(f"unknown NAME {bad}; known: {sorted(SPECS)}", file=sys.stderr)
        return 2
    import torch
    import transformers
    ids = HF.tokens()
    work.mkdir(parents=True, exist_ok=True)
    (work / "versions-remote.json").write_text(json.dumps({"transformers": transformers.__version__,
                                                           "torch": torch.__version__}))
    # a fresh process per item: shims, sys.path and imported remote modules stay in it
    kw = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=max(1, min(len(names), (os.cpu_count() or 2) - 2)), mp_context=ctx,
                                **kw) as ex:
        HF.report({ex.submit(one, n, src, str(work), ids): n for n in names})
    return 0


def main() -> int:
    a = sys.argv[1:]
    if a[:1] == ["write"] and len(a) >= 3:
        return write(a[1], Path(a[2]), a[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
