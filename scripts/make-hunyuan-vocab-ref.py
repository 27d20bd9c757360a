#!/usr/bin/python3
r"""Writes stages/vocab/testdata/hunyuan-a13b/ and its reference
hunyuan-a13b.gguf.json: Hunyuan-A13B's tokenizer as llama.cpp's
convert_hf_to_gguf.py --vocab-only converts it, made without mlmf-run's code.

    /usr/bin/python3 scripts/make-hunyuan-vocab-ref.py ~/.cache/mlmf-ref/src

tencent/Hunyuan-A13B-Instruct ships no tokenizer.json: its vocabulary is
hy.tiktoken ("base64-token rank" lines), read by remote code
(tokenization_hy.py, class HYTokenizer). HunYuanMoEModel.set_vocab takes the
tokenizer's mergeable_ranks, special_tokens and vocab_size, rebuilds the
merges by BPE over the ranks, and writes the "hunyuan" pre-tokenizer (named
by hashing the real tokenizer's ids: forced here), then gguf-py's
SpecialVocab and a fixed BOS id, 127959.

The folder written:
  config.json            HunYuanMoEV1ForCausalLM with the real config's
                         token-id fields and vocab_size (128167), and the
                         hyperparameters set_gguf_parameters reads
  tokenizer_config.json  the real one's tokenizer_class, auto_map,
                         eos/pad tokens and additional_special_tokens, with
                         a short chat template of our own
  hy.tiktoken            the 256 bytes and the merges make-arch-refs.py's
                         kimi_ranks learns on the project's docs, with one
                         byte repeated after the bytes (the file's rank
                         column numbers its lines, as a tool writing one
                         token per line would): HYTokenizer skips the
                         repeat and numbers the tokens itself. Kept once
                         written: the docs it is learned on change.

No transformers here, and HYTokenizer could not run on a tiny vocabulary in
any case: it builds tiktoken's Encoding from the ranks and its special
tokens, fixed at import time to ids 127957..128166 ("<|endoftext|>",
"<|startoftext|>", "<|bos|>", "<|eos|>", "<|pad|>", "<|extra_0|>" ..
"<|extra_204|>"), and asserts that their count is its n_vocab, which holds
for the real file's 127957 tokens only. The converter therefore meets a
stand-in exposing what HYTokenizer computes: mergeable_ranks as its
_load_tiktoken_bpe builds them (the rank column ignored; each new token the
next rank from 0; a repeated token skipped), special_tokens as above, and
vocab_size as tiktoken's n_vocab (the highest id + 1: 128167). The ids
between the ranks and 127957 become the converter's [PADi] entries.

The reference also holds, as "ids", the token ids of TEXTS as tiktoken
encodes them with HYTokenizer's ranks, special tokens and PAT_STR (all
special tokens allowed, as its tokenize() allows them): tiktoken's byte-pair
merge over each piece of the pattern's split. No tiktoken or regex module
here: the texts are ASCII, for which PAT_STR's \p{L} and \p{N} are
[A-Za-z] and [0-9], and the merge is written out below.
"""
import base64
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "stages" / "vocab" / "testdata"
NAME = "hunyuan-a13b"

SPECIAL_START_ID = 127957  # tokenization_hy.py
SPECIAL = ["<|endoftext|>", "<|startoftext|>", "<|bos|>", "<|eos|>", "<|pad|>"] + [f"<|extra_{i}|>" for i in range(205)]
REPEATED = 0x41  # the byte "A", repeated after the 256 bytes

# tokenization_hy.py's PAT_STR with \p{L} and \p{N} spelled for ASCII text.
PAT_ASCII = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*|"""
             r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
TEXTS = [
    "Hello world! How are you today?",
    "  leading spaces, trailing spaces   ",
    "\n\n\tTabs\tand\nnewlines\r\n\r\nmixed \n \n",
    "1 12 123 1234 3.14159 2024-11-30",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL DON'T",
    "The pipeline converts a model: mlmf-run reads the tokenizer and writes the GGUF file.",
    "def f(x):\n    return x**2  # square\n",
    "<|startoftext|>You are helpful.<|extra_4|>Hi there<|extra_0|>Hello!<|eos|>",
]

CONFIG = {
    "architectures": ["HunYuanMoEV1ForCausalLM"], "model_type": "hunyuan_v1_moe",
    # token ids and vocabulary size as tencent/Hunyuan-A13B-Instruct's config.json
    "bos_token_id": 1, "eos_token_id": 127960, "pad_token_id": 127961, "sep_token_id": 127962,
    "eod_token_id": 127967, "vocab_size": 128167, "org_vocab_size": 128167,
    # what set_gguf_parameters reads (the real values; one layer)
    "hidden_size": 4096, "intermediate_size": 3072, "num_attention_heads": 32, "num_key_value_heads": 8,
    "attention_head_dim": 128, "num_hidden_layers": 1, "num_experts": 64, "moe_topk": [8],
    "moe_intermediate_size": [3072], "num_shared_expert": [1], "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": True,
    "rope_scaling": {"alpha": 1000.0, "beta_fast": 32, "beta_slow": 1, "factor": 1.0, "mscale": 1.0,
                     "mscale_all_dim": 1.0, "type": "dynamic"},
}
TOKENIZER_CONFIG = {
    "model_max_length": 1048576, "tokenizer_class": "HYTokenizer",
    "auto_map": {"AutoTokenizer": ["tokenization_hy.HYTokenizer", None]},
    "eos_token": "<|eos|>",
    "additional_special_tokens": ["<|startoftext|>", "<|extra_0|>", "<|extra_4|>", "<|extra_5|>", "<|eos|>"],
    "pad_token": "<|pad|>",
    # ours: the real template's plain branch, shortened
    "chat_template": "{% for message in messages %}{% if message['role'] == 'user' %}"
                     "{{ '<|startoftext|>' + message['content'] + '<|extra_0|>' }}"
                     "{% elif message['role'] == 'assistant' %}{{ message['content'] + '<|eos|>' }}"
                     "{% endif %}{% endfor %}",
}


def make_arch_refs():
    spec = importlib.util.spec_from_file_location("make_arch_refs", ROOT / "scripts" / "make-arch-refs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_folder(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    (d / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2, ensure_ascii=False) + "\n")
    tik = d / "hy.tiktoken"
    if tik.exists():
        return
    toks = list(make_arch_refs().kimi_ranks())  # the 256 bytes, then the merges
    toks.insert(256, bytes([REPEATED]))
    tik.write_text("".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(toks)))


def hy_stand_in(model: Path):
    """What HYTokenizer computes from model/hy.tiktoken (see the module doc)."""
    ranks = {}
    for line in open(model / "hy.tiktoken", "rb"):
        if line:
            token, _ = line.split()
            token = base64.b64decode(token)
            if token not in ranks:
                ranks[token] = len(ranks)
    special = {s: SPECIAL_START_ID + i for i, s in enumerate(SPECIAL)}
    return types.SimpleNamespace(mergeable_ranks=ranks, special_tokens=special,
                                 vocab_size=max(max(ranks.values()), max(special.values())) + 1)


def tiktoken_ids(tok, text: str) -> list:
    """tiktoken's encode(text, allowed_special="all") for ASCII text."""
    import re
    assert text.isascii()
    ranks, special = tok.mergeable_ranks, tok.special_tokens
    ids = []
    for part in re.split("(" + "|".join(map(re.escape, special)) + ")", text):
        if part in special:
            ids.append(special[part])
            continue
        for piece in re.findall(PAT_ASCII, part):
            if piece.encode() in ranks:
                ids.append(ranks[piece.encode()])
                continue
            parts = [bytes([b]) for b in piece.encode()]
            while len(parts) > 1:
                r, i = min((ranks.get(parts[i] + parts[i + 1], 1 << 62), i) for i in range(len(parts) - 1))
                if r == 1 << 62:
                    break
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
            ids += [ranks[p] for p in parts]
    return ids


def convert(src: str, model: Path, outfile: str) -> None:
    make_arch_refs().converter_env(src, "make-hunyuan-vocab-ref.py")

    class AutoTokenizer:
        @staticmethod
        def from_pretrained(path, trust_remote_code=False, **k):
            if not trust_remote_code:
                raise OSError("HYTokenizer is remote code (make-hunyuan-vocab-ref.py)")
            return hy_stand_in(Path(path))

    sys.modules["transformers"].AutoTokenizer = AutoTokenizer
    from gguf.vocab import bytes_to_unicode  # GPT-2's, as transformers' own
    cst = types.ModuleType("transformers.convert_slow_tokenizer")
    cst.bytes_to_unicode = bytes_to_unicode
    sys.modules["transformers.convert_slow_tokenizer"] = cst
    from conversion.base import TextModel
    TextModel.get_vocab_base_pre = lambda self, tok: "hunyuan"
    sys.argv = ["convert_hf_to_gguf.py", str(model), "--vocab-only", "--outfile", outfile]
    import convert_hf_to_gguf
    convert_hf_to_gguf.main()


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--convert":
        convert(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
        return 0
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1]
    d = OUT / NAME
    write_folder(d)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        gg = str(Path(tmp) / (NAME + ".gguf"))
        subprocess.run([sys.executable, __file__, "--convert", src, str(d), gg], check=True)
        d_ = make_arch_refs().describe(src, gg)
    desc = {"kv": {k: v for k, v in d_["kv"].items() if k.startswith("tokenizer.")},
            "source": "convert_hf_to_gguf.py --vocab-only with a stand-in for HYTokenizer "
                      "(scripts/make-hunyuan-vocab-ref.py) and get_vocab_base_pre forced to \"hunyuan\"",
            "texts": TEXTS, "ids": [tiktoken_ids(hy_stand_in(d), t) for t in TEXTS],
            "ids_source": "tiktoken's byte-pair merge with HYTokenizer's ranks, special tokens and PAT_STR (ASCII texts)"}
    (OUT / (NAME + ".gguf.json")).write_text(json.dumps(desc, indent=1, ensure_ascii=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
